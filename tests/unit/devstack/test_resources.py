"""Tables, queues and topics created from a template in moto, and the environment a function
would get in Lambda, resolved against them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.resources import (
    SET_DIRECTLY_LOCALLY,
    LocalResources,
    Queue,
    UnresolvableValue,
    create_queues,
    create_resources,
    create_tables,
    create_topics,
    environment,
    function_environment,
    parameter_value,
    table_variables,
)
from devstack.template import TemplateError, parse_template, resources_of_type
from tests.support.aws import TABLE_SETTINGS, template
from tests.support.aws import create_tables as create_test_tables

REGION = "us-east-1"


@pytest.fixture
def clients() -> Iterator[dict[str, Any]]:
    with mock_aws():
        yield {
            name: boto3.client(name, region_name=REGION)
            for name in ("dynamodb", "sqs", "sns", "sesv2", "s3")
        }


@pytest.fixture
def stack(clients: dict[str, Any]) -> LocalResources:
    return create_resources(template(), prefix="t-", **clients)


def _queue_attributes(sqs: Any, queue: Queue) -> dict[str, str]:
    attributes: dict[str, str] = sqs.get_queue_attributes(
        QueueUrl=queue.url, AttributeNames=["All"]
    )["Attributes"]
    return attributes


# --- the template's own resources ---


def test_every_table_queue_and_topic_of_the_template_is_created(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    tables = set(resources_of_type(template(), "AWS::DynamoDB::Table"))
    queues = set(resources_of_type(template(), "AWS::SQS::Queue"))
    topics = set(resources_of_type(template(), "AWS::SNS::Topic"))
    assert {"RenewalQueue", "RenewalDeadLetterQueue", "SalesTopic"} <= queues | topics

    assert set(stack.tables) == tables
    assert set(stack.queues) == queues
    assert set(stack.topics) == topics
    assert set(clients["dynamodb"].list_tables()["TableNames"]) == {f"t-{t}" for t in tables}
    assert sorted(clients["sqs"].list_queues()["QueueUrls"]) == sorted(
        queue.url for queue in stack.queues.values()
    )
    assert {t["TopicArn"] for t in clients["sns"].list_topics()["Topics"]} == {
        topic.arn for topic in stack.topics.values()
    }
    assert stack.topics["SalesTopic"].arn.endswith(":t-SalesTopic")


def test_tables_have_the_template_keys_and_indexes(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    for logical_id, resource in resources_of_type(template(), "AWS::DynamoDB::Table").items():
        properties = resource["Properties"]
        table = clients["dynamodb"].describe_table(TableName=stack.tables[logical_id].name)["Table"]
        assert table["TableArn"] == stack.tables[logical_id].arn
        assert table["KeySchema"] == properties["KeySchema"]
        assert sorted(table["AttributeDefinitions"], key=str) == sorted(
            properties["AttributeDefinitions"], key=str
        )
        indexes = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
        expected = properties.get("GlobalSecondaryIndexes", [])
        assert set(indexes) == {index["IndexName"] for index in expected}
        for index in expected:
            assert indexes[index["IndexName"]]["KeySchema"] == index["KeySchema"]
            assert indexes[index["IndexName"]]["Projection"] == index["Projection"]


def test_the_renewal_queue_redrives_to_its_dead_letter_queue(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    renewal = _queue_attributes(clients["sqs"], stack.queues["RenewalQueue"])

    assert json.loads(renewal["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.queues["RenewalDeadLetterQueue"].arn,
        "maxReceiveCount": 5,
    }
    assert renewal["VisibilityTimeout"] == "540"
    assert renewal["MessageRetentionPeriod"] == "345600"
    assert renewal["SqsManagedSseEnabled"] == "true"
    dead_letters = _queue_attributes(clients["sqs"], stack.queues["RenewalDeadLetterQueue"])
    assert dead_letters["MessageRetentionPeriod"] == "1209600"
    assert "RedrivePolicy" not in dead_letters


def test_two_prefixes_make_two_independent_sets(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    other = create_resources(template(), prefix="u-", **clients)

    assert other.queues["RenewalQueue"].url != stack.queues["RenewalQueue"].url
    other_policy = _queue_attributes(clients["sqs"], other.queues["RenewalQueue"])["RedrivePolicy"]
    assert json.loads(other_policy)["deadLetterTargetArn"].endswith(":u-RenewalDeadLetterQueue")
    assert len(clients["dynamodb"].list_tables()["TableNames"]) == 2 * len(other.tables)


def test_ref_and_get_att_give_what_cloudformation_gives(stack: LocalResources) -> None:
    queue = stack.queues["RenewalQueue"]
    assert stack.ref("AccountsTable") == "t-AccountsTable"
    assert stack.ref("RenewalQueue") == queue.url
    assert stack.ref("SalesTopic") == stack.topics["SalesTopic"].arn
    assert stack.ref("StripeSecret") is None
    assert stack.get_att("RenewalQueue", "Arn") == queue.arn
    assert stack.get_att("RenewalQueue", "QueueName") == "t-RenewalQueue"
    assert stack.get_att("AccountsTable", "Arn") == stack.tables["AccountsTable"].arn
    assert stack.get_att("SalesTopic", "TopicName") == "t-SalesTopic"
    assert stack.get_att("AccountsTable", "StreamArn") is None, "no stream"
    assert stack.ref("EmailConfigurationSet") == "t-EmailConfigurationSet"


def test_a_table_with_a_stream_gives_its_stream_arn(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    described = clients["dynamodb"].describe_table(TableName="t-OutboxTable")["Table"]

    assert described["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert stack.tables["OutboxTable"].stream_arn == described["LatestStreamArn"]
    assert stack.get_att("OutboxTable", "StreamArn") == described["LatestStreamArn"]


def test_every_ses_configuration_set_is_created_by_its_logical_id(
    clients: dict[str, Any], stack: LocalResources
) -> None:
    listed = clients["sesv2"].list_configuration_sets()["ConfigurationSets"]

    assert listed == ["t-EmailConfigurationSet"]
    assert set(stack.configuration_sets) == set(
        resources_of_type(template(), "AWS::SES::ConfigurationSet")
    )


# --- environments ---


def test_the_worker_gets_globals_and_its_own_variables_without_secret_names(
    stack: LocalResources,
) -> None:
    resolved = function_environment(template(), "RenewalWorkerFunction", stack)

    assert resolved.variables == {
        "POWERTOOLS_SERVICE_NAME": "billing",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "POWERTOOLS_METRICS_NAMESPACE": "SubscriptionBilling",
        "PYDANTIC_DISABLE_PLUGINS": "__all__",
        "ACCOUNTS_TABLE": "t-AccountsTable",
        "SUBSCRIPTIONS_TABLE": "t-SubscriptionsTable",
        "CHARGE_ATTEMPTS_TABLE": "t-ChargeAttemptsTable",
        "AUDIT_EVENTS_TABLE": "t-AuditEventsTable",
        "OUTBOX_TABLE": "t-OutboxTable",
        "IDEMPOTENCY_TABLE": "t-IdempotencyTable",
        "WEBHOOK_EVENTS_TABLE": "t-WebhookEventsTable",
        "DOCUMENTS_TABLE": "t-DocumentsTable",
        "EMAIL_SENDER": "billing@example.com",
        "SALES_TOPIC_ARN": stack.topics["SalesTopic"].arn,
        "DUNNING_RETRY_DAYS": "1,3,7,14",
        "PROVIDER_ERROR_GRACE_HOURS": "72",
        "RENEWAL_NOTICE_DAYS": "45",
        "CUSTOMER_PORTAL_URL": "https://app.example.com/billing",
        "SALES_CONTACT_EMAIL": "sales@example.com",
        "SALES_CHAT_URL": "https://app.example.com/support/chat",
        "PAYPAL_API_BASE": "https://api-m.sandbox.paypal.com",
        "VIES_API_BASE": "https://ec.europa.eu/taxation_customs/vies/rest-api",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_local",
    }
    assert set(resolved.unset) == {"STRIPE_SECRET_NAME", "PAYPAL_SECRET_NAME"}
    assert "AWS::SecretsManager::Secret" in resolved.unset["STRIPE_SECRET_NAME"]


def test_the_dispatcher_gets_the_queue_url(stack: LocalResources) -> None:
    variables = environment(template(), "RenewalDispatcherFunction", stack)

    assert variables["RENEWAL_QUEUE_URL"] == stack.queues["RenewalQueue"].url
    assert variables["SUBSCRIPTIONS_TABLE"] == "t-SubscriptionsTable"
    assert not any(name.endswith("_SECRET_NAME") for name in variables)


def test_every_function_of_the_template_resolves_locally(stack: LocalResources) -> None:
    for function in resources_of_type(template(), "AWS::Serverless::Function"):
        resolved = function_environment(template(), function, stack)
        assert all(isinstance(value, str) and value for value in resolved.variables.values())
        assert not set(resolved.variables) & set(resolved.unset)


def test_parameters_take_a_given_value_over_their_default(stack: LocalResources) -> None:
    variables = environment(
        template(), "RenewalWorkerFunction", stack, parameters={"LogLevel": "DEBUG"}
    )
    assert variables["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert parameter_value(template(), "RenewalWorkerConcurrency") == "2"
    assert (
        parameter_value(template(), "RenewalWorkerConcurrency", {"RenewalWorkerConcurrency": "8"})
        == "8"
    )


SMALL = """
Parameters:
  Stage: {Type: String, Default: local}
  Required: {Type: String}
Globals:
  Function:
    Environment:
      Variables:
        STAGE: !Ref Stage
        SHARED: from-globals
        ORDERS_TABLE: !Ref OrdersTable
Resources:
  OrdersTable:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      StreamSpecification: {StreamViewType: NEW_IMAGE}
      TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
  Events:
    Type: AWS::SNS::Topic
  Last:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 5}
  Middle:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Last.Arn, maxReceiveCount: 2}
  First:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Middle.Arn, maxReceiveCount: 3}
  Secret:
    Type: AWS::SecretsManager::Secret
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Environment:
        Variables:
          SHARED: from-function
          QUEUE_URL: !Ref First
          QUEUE_ARN: !GetAtt First.Arn
          TOPIC: !Ref Events
          DESCRIBED: !Sub "${Stage}-${AWS::Region}-${Middle.QueueName}-${!Literal}"
          ENABLED: true
          COUNT: 3
          SECRET_NAME: !Ref Secret
  NeedsAParameter:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {VALUE: !Ref Required}}
  RefersToAFunction:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {OTHER: !GetAtt Worker.Arn}}
  UnknownAttribute:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {STREAM: !GetAtt OrdersTable.StreamLabel}}
  Intrinsic:
    Type: AWS::Serverless::Function
    Properties:
      Environment: {Variables: {JOINED: !Join ["-", [a, b]]}}
"""


@pytest.fixture
def small(clients: dict[str, Any]) -> tuple[dict[str, Any], LocalResources]:
    parsed = parse_template(SMALL)
    return parsed, create_resources(parsed, prefix="s-", **clients)


def test_queues_are_created_after_the_queues_they_redrive_to(
    clients: dict[str, Any], small: tuple[dict[str, Any], LocalResources]
) -> None:
    _, stack = small
    first = _queue_attributes(clients["sqs"], stack.queues["First"])
    middle = _queue_attributes(clients["sqs"], stack.queues["Middle"])

    assert json.loads(first["RedrivePolicy"])["deadLetterTargetArn"] == stack.queues["Middle"].arn
    assert json.loads(middle["RedrivePolicy"]) == {
        "deadLetterTargetArn": stack.queues["Last"].arn,
        "maxReceiveCount": 2,
    }
    assert _queue_attributes(clients["sqs"], stack.queues["Last"])["VisibilityTimeout"] == "5"


def test_queues_that_redrive_to_each_other_are_refused(clients: dict[str, Any]) -> None:
    cyclic = parse_template("""
Resources:
  A: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt B.Arn}}}
  B: {Type: AWS::SQS::Queue, Properties: {RedrivePolicy: {deadLetterTargetArn: !GetAtt A.Arn}}}
""")
    with pytest.raises(TemplateError, match="cycle"):
        create_queues(cyclic, clients["sqs"])
    assert "QueueUrls" not in clients["sqs"].list_queues()


def test_fifo_queues_and_topics_are_refused_rather_than_made_standard(
    clients: dict[str, Any],
) -> None:
    fifo = parse_template("""
Resources:
  Q: {Type: AWS::SQS::Queue, Properties: {FifoQueue: true}}
  T: {Type: AWS::SNS::Topic, Properties: {FifoTopic: true}}
""")
    with pytest.raises(TemplateError, match="FIFO"):
        create_queues(fifo, clients["sqs"])
    with pytest.raises(TemplateError, match="FIFO"):
        create_topics(fifo, clients["sns"])


def test_a_stream_specification_turns_the_stream_on(
    clients: dict[str, Any], small: tuple[dict[str, Any], LocalResources]
) -> None:
    _, stack = small
    table = clients["dynamodb"].describe_table(TableName="s-OrdersTable")["Table"]

    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert stack.tables["OrdersTable"].name == "s-OrdersTable"
    assert stack.get_att("OrdersTable", "StreamArn") == table["LatestStreamArn"]


def test_function_variables_override_globals_and_every_form_resolves(
    small: tuple[dict[str, Any], LocalResources],
) -> None:
    parsed, stack = small
    resolved = function_environment(parsed, "Worker", stack)

    assert resolved.variables == {
        "STAGE": "local",
        "SHARED": "from-function",
        "ORDERS_TABLE": "s-OrdersTable",
        "QUEUE_URL": stack.queues["First"].url,
        "QUEUE_ARN": stack.queues["First"].arn,
        "TOPIC": stack.topics["Events"].arn,
        "DESCRIBED": "local-us-east-1-s-Middle-${Literal}",
        "ENABLED": "true",
        "COUNT": "3",
    }
    assert set(resolved.unset) == {"SECRET_NAME"}
    assert {"AWS::SecretsManager::Secret"} == SET_DIRECTLY_LOCALLY


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("NeedsAParameter", "VALUE: parameter Required has no Default"),
        ("RefersToAFunction", r"OTHER: Worker \(AWS::Serverless::Function\) is not created"),
        ("UnknownAttribute", "STREAM: OrdersTable.StreamLabel is not known locally"),
        ("Intrinsic", "JOINED: .*Fn::Join.* cannot be worked out locally"),
    ],
)
def test_what_cannot_be_resolved_is_an_error_naming_the_variable(
    small: tuple[dict[str, Any], LocalResources], function: str, reason: str
) -> None:
    parsed, stack = small
    with pytest.raises(UnresolvableValue, match=f"^{function}: {reason}"):
        environment(parsed, function, stack)


def test_an_unknown_function_is_an_error(small: tuple[dict[str, Any], LocalResources]) -> None:
    parsed, stack = small
    with pytest.raises(TemplateError, match="Nobody is not an AWS::Serverless::Function"):
        environment(parsed, "Nobody", stack)


def test_a_given_parameter_resolves_one_without_default(
    small: tuple[dict[str, Any], LocalResources],
) -> None:
    parsed, stack = small
    assert environment(parsed, "NeedsAParameter", stack, {"Required": "yes"}) == {
        "STAGE": "local",
        "SHARED": "from-globals",
        "ORDERS_TABLE": "s-OrdersTable",
        "VALUE": "yes",
    }


# --- the test support built on it ---


def test_table_settings_are_the_variables_that_refer_to_each_table() -> None:
    assert table_variables(template()) == {
        "ACCOUNTS_TABLE": "AccountsTable",
        "SUBSCRIPTIONS_TABLE": "SubscriptionsTable",
        "CHARGE_ATTEMPTS_TABLE": "ChargeAttemptsTable",
        "AUDIT_EVENTS_TABLE": "AuditEventsTable",
        "OUTBOX_TABLE": "OutboxTable",
        "IDEMPOTENCY_TABLE": "IdempotencyTable",
        "WEBHOOK_EVENTS_TABLE": "WebhookEventsTable",
        "DOCUMENTS_TABLE": "DocumentsTable",
    }
    assert {v: k for k, v in TABLE_SETTINGS.items()} == table_variables(template())


def test_create_tables_for_tests_returns_each_setting_with_its_table(
    clients: dict[str, Any],
) -> None:
    settings = create_test_tables(clients["dynamodb"], prefix="p-")

    assert settings == {
        variable: f"p-{logical_id}" for variable, logical_id in table_variables(template()).items()
    }
    assert sorted(clients["dynamodb"].list_tables()["TableNames"]) == sorted(settings.values())


def test_create_tables_alone_creates_only_tables(clients: dict[str, Any]) -> None:
    tables = create_tables(template(), clients["dynamodb"])

    assert tables["AccountsTable"].name == "AccountsTable"
    assert "QueueUrls" not in clients["sqs"].list_queues()
