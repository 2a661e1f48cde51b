"""The sample events in events/: REST proxy events of routes template.yaml declares, with the
claims where the Cognito authorizer puts them, those that need no AWS answered by the real
handler in the error shape; and the renewal run's events, checked offline against the template,
Powertools' parser models and the code that reads them: the EventBridge Scheduler invocation of
the dispatcher and an SQS batch of the worker (events/renew/README.md says where their shapes
come from); and the notify function's: its sweep's schedule, a batch of the outbox table's
stream and an SES feedback notification from SNS, checked against the template, Powertools'
parser models, the local stack's event sources and the models that read the outbox."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import SQSEvent
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.parser.models import (
    DynamoDBStreamModel,
    EventBridgeModel,
    SnsModel,
    SqsModel,
)

from billing.api.http import STATUS, AccountRole
from billing.domain.errors import ErrorCode
from billing.domain.locales import Locale
from billing.domain.state_machine import EmailTemplate, SalesNotice
from billing.notifications.emails import Links, render
from billing.notifications.sender import sales_subject
from billing.operations.invoices import issued_document
from billing.persistence.items import to_item
from billing.persistence.models import OutboxRecord
from billing.persistence.webhook_events import (
    KEPT,
    EventStatus,
    WebhookEventRecord,
    event_id,
    event_of,
    recorded_event,
)
from billing.renewals import DueMessage, PendingMessage, parse_message
from billing.settings import ContactSettings
from devstack.api_gateway import LocalLambdaContext, Route, import_handler, routes_from_template
from devstack.event_sources import (
    dynamodb_event_sources,
    sns_event_sources,
    sns_record,
    sqs_record,
    stream_record,
)
from devstack.resources import LocalResources, resolve
from tests.support.aws import TEMPLATE, resources_of_type, template

EVENTS = TEMPLATE.parent / "events"
EVENT_FILES = sorted(path.relative_to(EVENTS).as_posix() for path in EVENTS.rglob("*.json"))

SCHEDULER_EVENTS: Mapping[str, str] = {
    "renew/scheduled_run.json": "RenewalDispatcherFunction",
    "notify/swept.json": "NotifyFunction",
    "webhooks/swept.json": "WebhookEventsFunction",
}
"""EventBridge Scheduler invocations, and the function whose ``ScheduleV2`` event sends them."""
QUEUE_EVENTS: Mapping[str, str] = {"renew/queued_renewals.json": "RenewalWorkerFunction"}
"""SQS batches, and the function whose ``SQS`` event sends them."""
OUTBOX_STREAM_EVENTS: Mapping[str, str] = {"notify/outbox_batch.json": "NotifyFunction"}
WEBHOOK_STREAM_EVENTS: Mapping[str, str] = {
    "webhooks/webhook_events_batch.json": "WebhookEventsFunction"
}
DOCUMENT_STREAM_EVENTS: Mapping[str, str] = {"invoices/documents_batch.json": "InvoicesFunction"}
STREAM_EVENTS: Mapping[str, str] = {
    **OUTBOX_STREAM_EVENTS,
    **WEBHOOK_STREAM_EVENTS,
    **DOCUMENT_STREAM_EVENTS,
}
"""DynamoDB stream batches, and the function whose ``DynamoDB`` event sends them."""
SNS_EVENTS: Mapping[str, str] = {"notify/email_feedback.json": "NotifyFunction"}
"""SNS notifications, and the function whose ``SNS`` event sends them."""
API_EVENT_FILES = [
    name
    for name in EVENT_FILES
    if name not in {**SCHEDULER_EVENTS, **QUEUE_EVENTS, **STREAM_EVENTS, **SNS_EVENTS}
]
"""Every other sample: a REST proxy event of a route."""

ANSWERED_WITHOUT_AWS: Mapping[str, int] = {
    "subscriptions/plans.json": 200,
    "subscriptions/purchase_invalid_cycle.json": 422,
    "subscriptions/invoice_malformed_number.json": 422,
    "admin/put_account_as_customer.json": 403,
}
"""Events the handler answers before reaching DynamoDB or a provider, and the status it gives:
the public catalogue, a body that fails validation, an invoice number that is not one, a
customer's token on an admin route."""

_PROXY_EVENT_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}
_GROUPS_CLAIM = re.compile(r"^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$")
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _load(name: str) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    assert isinstance(event, dict), f"{name} is not a JSON object"
    return event


def _routes() -> dict[tuple[str, str], Route]:
    return {
        (route.method, route.path_template): route for route in routes_from_template(template())
    }


def _function_folder(logical_id: str) -> str:
    """A function's folder under events/: the last part of its CodeUri."""
    code_uri: str = resources_of_type("AWS::Serverless::Function")[logical_id]["Properties"][
        "CodeUri"
    ]
    return Path(code_uri).name


def _route_of(name: str, event: Mapping[str, Any]) -> Route:
    route = _routes().get((event["httpMethod"], event["resource"]))
    assert route is not None, f"{name}: no Api event for {event['httpMethod']} {event['resource']}"
    return route


def _response_headers(answer: Mapping[str, Any]) -> dict[str, str]:
    """A proxy response's headers as API Gateway merges them, names in lower case."""
    multi = {
        name: ", ".join(values) for name, values in (answer.get("multiValueHeaders") or {}).items()
    }
    merged = {**(answer.get("headers") or {}), **multi}
    return {name.lower(): value for name, value in merged.items()}


def test_every_api_function_has_a_sample_event() -> None:
    folders = {name.split("/", maxsplit=1)[0] for name in API_EVENT_FILES}

    missing = {_function_folder(route.function) for route in _routes().values()} - folders

    assert not missing, f"no sample event under events/ for {sorted(missing)}"


def test_events_answered_without_aws_are_sample_events() -> None:
    assert set(ANSWERED_WITHOUT_AWS) <= set(API_EVENT_FILES)


@pytest.mark.parametrize("name", API_EVENT_FILES)
def test_sample_is_a_rest_proxy_event_of_a_route_in_the_template(name: str) -> None:
    event = _load(name)
    assert set(event) == _PROXY_EVENT_KEYS, "not a REST proxy event (nor a renewal run event)"

    route = _route_of(name, event)

    assert name.split("/", maxsplit=1)[0] == _function_folder(route.function), (
        "in another function's folder"
    )
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"]) == (route.path_template, route.method)
    parameters = event["pathParameters"] or {}
    assert event["path"] == re.sub(
        r"\{(\w+)\}", lambda part: parameters[part.group(1)], route.path_template
    )
    assert context["path"] == f"/{context['stage']}{event['path']}"
    assert context["requestId"]
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize("name", API_EVENT_FILES)
def test_sample_headers_are_the_last_of_their_repeated_values(name: str) -> None:
    event = _load(name)

    multi: dict[str, list[str]] = event["multiValueHeaders"] or {}

    assert (event["headers"] or {}) == {header: values[-1] for header, values in multi.items()}


@pytest.mark.parametrize("name", API_EVENT_FILES)
def test_sample_body_is_json_text_when_it_says_so(name: str) -> None:
    event = _load(name)
    headers = {header.lower(): value for header, value in (event["headers"] or {}).items()}

    if event["body"] is None:
        assert "content-type" not in headers
    else:
        assert headers["content-type"] == "application/json"
        assert isinstance(event["body"], str)
        json.loads(event["body"])


@pytest.mark.parametrize("name", API_EVENT_FILES)
def test_sample_claims_are_where_the_cognito_authorizer_puts_them(name: str) -> None:
    event = _load(name)
    route = _route_of(name, event)
    context = event["requestContext"]

    if not route.authorized:
        assert "authorizer" not in context, "a route without an authorizer gets no claims"
        return
    claims = context["authorizer"]["claims"]
    assert isinstance(claims, dict)
    # A REST API's Cognito authorizer hands every claim over as a string.
    assert all(isinstance(value, str) for value in claims.values()), claims
    assert claims["custom:account_id"]
    assert claims["sub"]
    assert claims["token_use"] == "id"
    assert claims["custom:account_role"] in set(AccountRole), "the user's role in its account"
    if "cognito:groups" in claims:
        assert _GROUPS_CLAIM.fullmatch(claims["cognito:groups"]), claims["cognito:groups"]
    if not route.path_template.startswith("/admin/"):
        # Only the account's administrators reach its billing; a plain user would get a 403.
        assert claims["custom:account_role"] == AccountRole.ADMIN
    assert event["headers"]["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(("name", "status"), sorted(ANSWERED_WITHOUT_AWS.items()))
def test_real_handler_answers_the_sample_in_the_spec_shape(name: str, status: int) -> None:
    event = _load(name)
    route = _route_of(name, event)
    handler = import_handler(route.handler)

    answer = handler(event, LocalLambdaContext.for_function(route.function))

    assert answer["statusCode"] == status, answer["body"]
    assert _response_headers(answer)["content-type"] == "application/json"
    body = json.loads(answer["body"])
    if status < 400:
        assert body["items"], "the catalogue lists its plans under items"
        return
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert _ERROR_CODE.fullmatch(error["code"]), error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert STATUS[ErrorCode(error["code"])] == status


# --- The renewal run's events ------------------------------------------------------------------

_SCHEDULER_EVENT_KEYS = {
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
}
_SECOND_PRECISION_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_QUEUE_ARN = re.compile(r"^arn:aws:sqs:(?P<region>[a-z0-9-]+):\d{12}:(?P<name>[A-Za-z0-9_-]+)$")


def _events_of_type(function: str, kind: str) -> dict[str, dict[str, Any]]:
    """The function's template events of type `kind`, by name, with their properties."""
    properties = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    return {
        name: event.get("Properties") or {}
        for name, event in (properties.get("Events") or {}).items()
        if event["Type"] == kind
    }


def _functions_with(kind: str) -> set[str]:
    return {
        function
        for function in resources_of_type("AWS::Serverless::Function")
        if _events_of_type(function, kind)
    }


def test_every_scheduled_queue_stream_or_topic_function_has_a_sample_event() -> None:
    assert _functions_with("ScheduleV2") <= set(SCHEDULER_EVENTS.values())
    assert _functions_with("SQS") <= set(QUEUE_EVENTS.values())
    assert _functions_with("DynamoDB") <= set(STREAM_EVENTS.values())
    assert _functions_with("SNS") <= set(SNS_EVENTS.values())
    assert {**SCHEDULER_EVENTS, **QUEUE_EVENTS, **STREAM_EVENTS, **SNS_EVENTS}.keys() <= set(
        EVENT_FILES
    )


@pytest.mark.parametrize(
    ("name", "function", "kind"),
    [(name, function, "ScheduleV2") for name, function in SCHEDULER_EVENTS.items()]
    + [(name, function, "SQS") for name, function in QUEUE_EVENTS.items()]
    + [(name, function, "DynamoDB") for name, function in STREAM_EVENTS.items()]
    + [(name, function, "SNS") for name, function in SNS_EVENTS.items()],
)
def test_renewal_sample_is_in_its_function_folder(name: str, function: str, kind: str) -> None:
    assert _events_of_type(function, kind), f"{function} has no {kind} event"

    assert name.split("/", maxsplit=1)[0] == _function_folder(function)


@pytest.mark.parametrize(("name", "function"), sorted(SCHEDULER_EVENTS.items()))
def test_scheduler_sample_is_the_default_notification_of_the_template_schedule(
    name: str, function: str
) -> None:
    event = _load(name)
    [(event_name, schedule)] = _events_of_type(function, "ScheduleV2").items()
    assert "Input" not in schedule, "with an Input, Scheduler sends the Input instead"

    parsed = EventBridgeModel.model_validate(event)

    assert set(event) == _SCHEDULER_EVENT_KEYS
    assert (parsed.source, parsed.detail_type, parsed.version) == (
        "aws.scheduler",
        "Scheduled Event",
        "0",
    )
    # The default notification carries its (empty) detail as JSON text, not as an object.
    assert event["detail"] == "{}"
    assert parsed.detail == {}
    assert _SECOND_PRECISION_UTC.fullmatch(event["time"]), event["time"]
    # SAM names the schedule after its logical id, in the default group, unless told otherwise;
    # with OmitName, CloudFormation generates the name.
    group = schedule.get("GroupName", "default")
    schedule_name = (
        r"[\w.-]+"
        if schedule.get("OmitName")
        else re.escape(schedule.get("Name", f"{function}{event_name}"))
    )
    [resource] = parsed.resources
    assert re.fullmatch(
        rf"arn:aws:scheduler:{parsed.region}:{parsed.account}:schedule/{group}/{schedule_name}",
        resource,
    ), resource


def _as_received(record: Mapping[str, Any]) -> dict[str, Any]:
    """The ReceiveMessage entry a record was made from (the inverse of `sqs_record`)."""
    assert not record["messageAttributes"], "the dispatcher sends no message attributes"
    return {
        "MessageId": record["messageId"],
        "ReceiptHandle": record["receiptHandle"],
        "Body": record["body"],
        "Attributes": record["attributes"],
        "MD5OfBody": record["md5OfBody"],
    }


@pytest.mark.parametrize(("name", "function"), sorted(QUEUE_EVENTS.items()))
def test_queue_sample_is_a_batch_as_lambda_sends_it(name: str, function: str) -> None:
    event = _load(name)
    [queue_event] = _events_of_type(function, "SQS").values()
    queue = queue_event["Queue"]["Fn::GetAtt"][0]

    records = event["Records"]

    assert set(event) == {"Records"}
    assert 1 <= len(records) <= queue_event["BatchSize"]
    for record in records:
        arn = _QUEUE_ARN.fullmatch(record["eventSourceARN"])
        assert arn is not None, record["eventSourceARN"]
        assert arn["region"] == record["awsRegion"]
        assert f"-{queue}-" in arn["name"], "CloudFormation names a queue stack-logicalid-suffix"
        assert record == sqs_record(_as_received(record), arn[0], arn["region"])
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        attributes = record["attributes"]
        assert int(attributes["ApproximateFirstReceiveTimestamp"]) >= int(
            attributes["SentTimestamp"]
        )
    assert len({record["messageId"] for record in records}) == len(records)
    SqsModel.model_validate(event)


@pytest.mark.parametrize("name", sorted(QUEUE_EVENTS))
def test_queue_sample_bodies_are_renewal_messages_as_the_dispatcher_writes_them(name: str) -> None:
    bodies = [record.body for record in SQSEvent(_load(name)).records]

    messages = [parse_message(body) for body in bodies]

    assert {type(message) for message in messages} == {DueMessage, PendingMessage}
    assert [message.model_dump_json() for message in messages] == bodies
    assert len({message.run for message in messages}) == 1, "one dispatcher run queued them"
    assert all(message.run for message in messages)


_STREAM_ARN = re.compile(
    r"arn:aws:dynamodb:(?P<region>[a-z0-9-]+):\d{12}:table/(?P<table>[\w.-]+)"
    r"/stream/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}"
)


def _as_read(record: Mapping[str, Any]) -> dict[str, Any]:
    """The GetRecords entry a record was made from (the inverse of `stream_record`)."""
    read = {key: value for key, value in record.items() if key != "eventSourceARN"}
    read["dynamodb"] = dict(record["dynamodb"])
    return read


@pytest.mark.parametrize(("name", "function"), sorted(STREAM_EVENTS.items()))
def test_stream_sample_is_a_batch_as_lambda_sends_it(name: str, function: str) -> None:
    event = _load(name)
    [source] = [s for s in dynamodb_event_sources(template()) if s.function == function]

    records = event["Records"]

    assert set(event) == {"Records"}
    assert 1 <= len(records) <= source.batch_size
    for record in records:
        arn = _STREAM_ARN.fullmatch(record["eventSourceARN"])
        assert arn is not None, record["eventSourceARN"]
        assert arn["region"] == record["awsRegion"]
        assert f"-{source.table}-" in arn["table"], "CloudFormation names it stack-logicalid-suffix"
        assert record == stream_record(_as_read(record), record["eventSourceARN"])
        assert source.selects(record), "the template's filter lets it through"
        assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    sequence_numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequence_numbers == sorted(set(sequence_numbers)), "in stream order"
    DynamoDBStreamModel.model_validate(event)
    # What the functions read of it: the item's key, its image, and the sequence number.
    table = resources_of_type("AWS::DynamoDB::Table")[source.table]["Properties"]
    key = [part["AttributeName"] for part in table["KeySchema"]]
    for read, record in zip(DynamoDBStreamEvent(event).records, records, strict=True):
        assert read.event_name is DynamoDBRecordEventName.INSERT
        assert read.dynamodb is not None
        image = record["dynamodb"]["NewImage"]
        assert record["dynamodb"]["Keys"] == {name: image[name] for name in key}
        assert read.dynamodb.sequence_number == record["dynamodb"]["SequenceNumber"]


@pytest.mark.parametrize("name", sorted(WEBHOOK_STREAM_EVENTS))
def test_stream_sample_images_are_webhook_events_as_the_receiver_records_them(name: str) -> None:
    for record in _load(name)["Records"]:
        image = record["dynamodb"]["NewImage"]
        recorded = recorded_event(image)
        stored = WebhookEventRecord.from_raw_data(image)
        assert stored.id == event_id(recorded.event.provider, recorded.event.id)
        assert event_of(stored.id) == (recorded.event.provider, recorded.event.id)
        assert (recorded.status, recorded.processed_at) == (EventStatus.RECEIVED, None)
        assert stored.expires_at == recorded.received_at + KEPT
        assert recorded.event.reference is not None


@pytest.mark.parametrize("name", sorted(DOCUMENT_STREAM_EVENTS))
def test_stream_sample_images_are_documents_as_the_persistence_writes_them(name: str) -> None:
    for record in _load(name)["Records"]:
        image = record["dynamodb"]["NewImage"]
        document = issued_document(image)
        assert document is not None
        assert {**to_item(document), "entity": image["entity"]} == image
        assert image["entity"] == {"S": document.seller.entity}


@pytest.mark.parametrize("name", sorted(OUTBOX_STREAM_EVENTS))
def test_stream_sample_images_are_outbox_messages_the_sender_can_write(name: str) -> None:
    for record in _load(name)["Records"]:
        stored = OutboxRecord.from_raw_data(record["dynamodb"]["NewImage"])
        details = dict(stored.details.as_dict())  # type: ignore[no-untyped-call]
        assert (stored.status, stored.attempts) == ("pending", 0)
        assert stored.id.split("#")[1] in {details["subscription_id"], stored.account_id}
        if stored.kind == "customer_email":
            contacts = ContactSettings()
            links = Links(contacts.customer_portal_url, contacts.sales)
            assert render(EmailTemplate(stored.name), Locale.EN, details, links).subject
        else:
            assert stored.kind == "sales_notice"
            assert sales_subject(SalesNotice(stored.name), details)


@pytest.mark.parametrize(("name", "function"), sorted(SNS_EVENTS.items()))
def test_sns_sample_is_an_ses_event_of_the_template_feedback_topic(
    name: str, function: str
) -> None:
    event = _load(name)
    [source] = [s for s in sns_event_sources(template()) if s.function == function]
    topic = resources_of_type("AWS::SNS::Topic")[source.topic]["Properties"]["TopicName"]
    configuration_set = resources_of_type("AWS::SES::ConfigurationSet")["EmailConfigurationSet"]
    destination = resources_of_type("AWS::SES::ConfigurationSetEventDestination")[
        "EmailFeedbackDestination"
    ]["Properties"]["EventDestination"]
    local = LocalResources(region="eu-west-1")

    [record] = event["Records"]

    SnsModel.model_validate(event)
    assert record["Sns"]["TopicArn"].endswith(f":{resolve(topic, template(), local)}")
    assert record["EventSubscriptionArn"].startswith(record["Sns"]["TopicArn"] + ":")
    envelope = {
        **record["Sns"],
        "SigningCertURL": record["Sns"]["SigningCertUrl"],
        "UnsubscribeURL": record["Sns"]["UnsubscribeUrl"],
    }
    assert record == sns_record(envelope, record["EventSubscriptionArn"])
    published = json.loads(record["Sns"]["Message"])
    assert published["eventType"].lower() in destination["MatchingEventTypes"]
    assert published["mail"]["tags"]["ses:configuration-set"] == [
        resolve(configuration_set["Properties"]["Name"], template(), local)
    ]
