"""moto server as the local stack runs it: every resource of template.yaml created in it, the
renewal queue drained with its redrive policy, what was sent read back over HTTP, alone, and a
memory that holds the state, not every object moto ever made."""

from __future__ import annotations

import json
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from billing.domain.accounts import Account
from billing.domain.state_machine import EmailCustomer, EmailTemplate, apply
from billing.domain.subscription import ChargeKind
from billing.notifications.emails import Links, render
from billing.notifications.sender import DeliveryKind, Notifier
from billing.settings import ContactSettings, NotificationSettings, StorageSettings
from devstack.event_sources import SqsPoller, sqs_event_sources
from devstack.moto_server import KEPT
from devstack.outbox import SENT_EMAILS, SentEmail, sent_emails
from devstack.resources import LocalResources, create_resources, environment
from devstack.template import resources_of_type
from tests.support.aws import template
from tests.support.moto_server import MotoServer
from tests.support.notifications import open_server_outbox
from tests.support.subscriptions import FIRST_END, declined, past_due

SENDER = "billing@example.com"
CUSTOMER = Account(id="acct_1", email="camille@example.fr")


@pytest.fixture
def stack(moto: MotoServer) -> LocalResources:
    return create_resources(
        template(),
        dynamodb=moto.client("dynamodb"),
        sqs=moto.client("sqs"),
        sns=moto.client("sns"),
        prefix="local-",
    )


def test_every_table_queue_and_topic_of_the_template_is_created(
    moto: MotoServer, stack: LocalResources
) -> None:
    tables = resources_of_type(template(), "AWS::DynamoDB::Table")
    queues = resources_of_type(template(), "AWS::SQS::Queue")
    topics = resources_of_type(template(), "AWS::SNS::Topic")
    sqs = moto.client("sqs")

    assert sorted(moto.client("dynamodb").list_tables()["TableNames"]) == sorted(
        f"local-{logical_id}" for logical_id in tables
    )
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted(
        f"{moto.url}/123456789012/local-{logical_id}" for logical_id in queues
    )
    assert sorted(t["TopicArn"] for t in moto.client("sns").list_topics()["Topics"]) == sorted(
        f"arn:aws:sns:us-east-1:123456789012:local-{logical_id}" for logical_id in topics
    )
    renewal = sqs.get_queue_attributes(
        QueueUrl=stack.queues["RenewalQueue"].url, AttributeNames=["All"]
    )["Attributes"]
    assert json.loads(renewal["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.queues["RenewalDeadLetterQueue"].arn,
        "maxReceiveCount": 5,
    }
    # What the functions are given is what their settings models accept.
    worker = environment(template(), "RenewalWorkerFunction", stack)
    assert StorageSettings.from_environment(worker).subscriptions_table == (
        "local-SubscriptionsTable"
    )
    assert NotificationSettings.from_environment(worker).sales_topic_arn == (
        stack.topics["SalesTopic"].arn
    )
    dispatcher = environment(template(), "RenewalDispatcherFunction", stack)
    assert dispatcher["RENEWAL_QUEUE_URL"] == stack.queues["RenewalQueue"].url


def test_the_renewal_queue_drains_and_redrives_after_five_receives(
    moto: MotoServer, stack: LocalResources
) -> None:
    sqs = moto.client("sqs")
    queue = stack.queues["RenewalQueue"]
    for body in ("sub_ok", "sub_poison"):
        sqs.send_message(QueueUrl=queue.url, MessageBody=body)
    received: list[str] = []

    def worker(event: dict[str, Any], context: Any) -> dict[str, Any]:
        received.extend(record["body"] for record in event["Records"])
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]}
                for r in event["Records"]
                if "poison" in r["body"]
            ]
        }

    [source] = sqs_event_sources(template())
    report = SqsPoller(sqs, queue.url, worker, source).drain(concurrency=2)

    assert received.count("sub_ok") == 1
    assert received.count("sub_poison") == 5
    assert (report.received, report.deleted, report.failed_items, report.drained) == (
        6,
        1,
        5,
        True,
    )
    dead_letters = sqs.receive_message(
        QueueUrl=stack.queues["RenewalDeadLetterQueue"].url, MaxNumberOfMessages=10
    )["Messages"]
    assert [m["Body"] for m in dead_letters] == ["sub_poison"]


def test_the_server_outbox_reads_emails_and_sales_notices(
    moto: MotoServer, stack: LocalResources
) -> None:
    outbox = open_server_outbox(moto.url, SENDER, stack.topics["SalesTopic"].arn)
    settings = NotificationSettings.from_environment(
        environment(template(), "RetryNowFunction", stack)
    )
    assert outbox.settings == settings
    decision = apply(past_due(), declined(FIRST_END + timedelta(hours=2), ChargeKind.RETRY_NOW))
    [email] = decision.of_type(EmailCustomer)
    notifier = Notifier(settings, ses=moto.client("sesv2"), sns=moto.client("sns"))

    deliveries = notifier.deliver(CUSTOMER, decision.effects)

    assert {d.kind for d in deliveries} == {DeliveryKind.CUSTOMER_EMAIL, DeliveryKind.SALES_NOTICE}
    [sent] = outbox.emails
    assert isinstance(sent, SentEmail)
    assert sent.source == SENDER
    assert sent.destinations == {"ToAddresses": [CUSTOMER.email]}
    assert sent.recipients == [CUSTOMER.email]
    contacts = ContactSettings()
    links = Links(contacts.customer_portal_url, contacts.sales)
    expected = render(EmailTemplate.RETRY_NOW_RESULT, CUSTOMER.locale, email.details, links)
    assert (sent.subject, sent.body) == (expected.subject, expected.text)
    assert sent.id == next(
        d.message_id for d in deliveries if d.kind is DeliveryKind.CUSTOMER_EMAIL
    )
    assert outbox.emails_to(CUSTOMER.email) == [sent]
    assert outbox.emails_to("someone.else@example.com") == []
    [notice] = outbox.sales_notices()
    assert notice["notice"] == "retry_now_outcome"
    assert notice["details"] == dict(email.details)

    moto.reset()

    assert outbox.emails == []
    assert moto.client("dynamodb").list_tables()["TableNames"] == []


def _emails_route(moto: MotoServer) -> bytes:
    with urllib.request.urlopen(f"{moto.url}{SENT_EMAILS}", timeout=10) as response:
        answer: bytes = response.read()
    return answer


def test_the_outbox_reads_what_ses_sent_and_nothing_else(
    moto: MotoServer, stack: LocalResources
) -> None:
    ses = moto.client("sesv2")
    ses.create_email_identity(EmailIdentity=SENDER)
    for subject in ("first", "second"):
        ses.send_email(
            FromEmailAddress=SENDER,
            Destination={"ToAddresses": [CUSTOMER.email]},
            Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": "."}}}},
        )
    before = _emails_route(moto)

    # The rest of a long-running stack's state: items and messages by the hundred.
    sqs, dynamodb = moto.client("sqs"), moto.client("dynamodb")
    for n in range(200):
        sqs.send_message(QueueUrl=stack.queues["RenewalQueue"].url, MessageBody=f"sub_{n}")
        dynamodb.put_item(
            TableName=stack.tables["IdempotencyTable"].name, Item={"id": {"S": f"key-{n}"}}
        )

    assert _emails_route(moto) == before, "what is read does not grow with the rest"
    assert [(e.subject, e.recipients) for e in sent_emails(moto.url)] == [
        ("first", [CUSTOMER.email]),
        ("second", [CUSTOMER.email]),
    ]


def test_moto_keeps_the_state_not_every_object_it_ever_made(
    moto: MotoServer, stack: LocalResources
) -> None:
    sqs, queue = moto.client("sqs"), stack.queues["RenewalQueue"].url
    deleted: list[str] = []
    while len(deleted) <= KEPT:
        sqs.send_message_batch(
            QueueUrl=queue,
            Entries=[{"Id": str(n), "MessageBody": f"sub_{len(deleted) + n}"} for n in range(10)],
        )
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
        sqs.delete_message_batch(
            QueueUrl=queue,
            Entries=[
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)
            ],
        )
        deleted += [message["ReceiptHandle"] for message in received]
    table = stack.tables["IdempotencyTable"].name
    for n in range(10):
        moto.client("dynamodb").put_item(
            TableName=table, Item={"id": {"S": "key"}, "n": {"N": str(n)}}
        )

    # A message deleted twice is still fine, as in SQS, for the last KEPT deleted ...
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=deleted[-1])
    # ... and the handles of older ones are forgotten.
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=deleted[0])
    # No object is listed for moto's dashboard: not the messages deleted, not the item's
    # versions.
    with urllib.request.urlopen(f"{moto.url}/moto-api/data.json", timeout=10) as response:
        listed: dict[str, dict[str, list[Any]]] = json.load(response)
    assert [name for models in listed.values() for name, made in models.items() if made] == []
