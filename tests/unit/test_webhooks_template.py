"""The providers' webhooks as template.yaml deploys them: two public routes whose function can
only record an event (one put on the webhook events table, the signing secrets), a table whose
stream hands each new event to the function that acts on it (partial batch failures, bisection,
bounded retries and age, a failure queue that is alarmed), and the URLs to register in the
Outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pytest

from billing.settings import WebhookSettings
from devstack.resources import references
from tests.support.aws import resources_of_type, template

pytestmark = pytest.mark.unit

RECEIVER = "WebhooksFunction"
ACTOR = "WebhookEventsFunction"
ROUTES = {("/webhooks/stripe", "post"), ("/webhooks/paypal", "post")}
STREAM_RETENTION_SECONDS = 24 * 3600
PAYPAL_WEBHOOK_ID = re.compile(r"^[a-zA-Z0-9]+$")
"""PayPal's pattern for ``webhook_id`` (verify-webhook-signature's request)."""


def _function(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources_of_type("AWS::Serverless::Function")[logical_id][
        "Properties"
    ]
    return properties


def _events(logical_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        event["Properties"]
        for event in (_function(logical_id).get("Events") or {}).values()
        if event["Type"] == kind
    ]


def _statements(logical_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in _function(logical_id).get("Policies") or []
        for statement in policy.get("Statement", [])
    ]


def _grants(statement: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(action, logical id of the resource) pairs of one statement."""
    listed = statement["Action"]
    actions = [listed] if isinstance(listed, str) else listed
    return {
        (action, resource) for action in actions for resource in references(statement["Resource"])
    }


def _variables(logical_id: str) -> dict[str, Any]:
    variables: dict[str, Any] = {
        **template()["Globals"]["Function"]["Environment"]["Variables"],
        **((_function(logical_id).get("Environment") or {}).get("Variables") or {}),
    }
    return variables


def test_the_events_table_keys_each_event_once_streams_new_ones_and_expires_them() -> None:
    """And indexes those not acted on yet, for the sweep (the model matches the index:
    tests/integration/test_template_tables.py)."""
    table = resources_of_type("AWS::DynamoDB::Table")["WebhookEventsTable"]
    properties = table["Properties"]

    assert properties["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    [index] = properties["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "unprocessed-index"
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    assert properties["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert _variables(RECEIVER)["WEBHOOK_EVENTS_TABLE"] == {"Ref": "WebhookEventsTable"}
    assert _variables(ACTOR)["WEBHOOK_EVENTS_TABLE"] == {"Ref": "WebhookEventsTable"}


def test_the_webhook_routes_are_public_and_the_only_public_routes_besides_the_catalogue() -> None:
    routes = {(event["Path"], event["Method"]) for event in _events(RECEIVER, "Api")}
    public = {
        (event["Path"], event["Method"])
        for function in resources_of_type("AWS::Serverless::Function")
        for event in _events(function, "Api")
        if (event.get("Auth") or {}).get("Authorizer") == "NONE"
    }

    assert routes == ROUTES
    assert all(event["Auth"] == {"Authorizer": "NONE"} for event in _events(RECEIVER, "Api"))
    assert all(event["RestApiId"] == {"Ref": "BillingApi"} for event in _events(RECEIVER, "Api"))
    assert public == ROUTES | {("/plans", "get")}


def test_the_refund_route_is_on_retry_now_behind_the_cognito_authorizer() -> None:
    [refund] = [
        event
        for event in _events("RetryNowFunction", "Api")
        if event["Path"] == "/admin/payments/{payment_id}/refund"
    ]

    assert refund["Method"] == "post"
    assert "Auth" not in refund, "the API's default authorizer (Cognito); the handler checks sales"
    assert template()["Resources"]["BillingApi"]["Properties"]["Auth"]["DefaultAuthorizer"] == (
        "CognitoAuthorizer"
    )


def test_the_receiver_answers_within_seconds() -> None:
    assert _function(RECEIVER)["Timeout"] <= 10
    assert _function(RECEIVER)["Handler"] == "webhooks.handler.lambda_handler"
    assert _function(ACTOR)["Handler"] == "webhooks.events.lambda_handler"
    assert _function(RECEIVER)["CodeUri"] == _function(ACTOR)["CodeUri"] == "functions/webhooks/"


def test_the_receiver_can_only_record_an_event_and_read_the_secrets_that_verify_it() -> None:
    grants = set().union(*map(_grants, _statements(RECEIVER)))

    assert grants == {
        ("dynamodb:PutItem", "WebhookEventsTable"),
        ("secretsmanager:GetSecretValue", "StripeWebhookSecret"),
        ("secretsmanager:GetSecretValue", "PayPalSecret"),
    }
    assert not _events(RECEIVER, "DynamoDB"), "no stream: SAM would add stream reads to its role"


def test_the_receiver_is_given_the_signing_secret_the_paypal_credentials_and_webhook_id() -> None:
    variables = _variables(RECEIVER)

    assert variables["STRIPE_WEBHOOK_SECRET_NAME"] == {"Ref": "StripeWebhookSecret"}
    assert variables["PAYPAL_SECRET_NAME"] == {"Ref": "PayPalSecret"}
    assert variables["PAYPAL_API_BASE"] == {"Ref": "PayPalApiBase"}
    assert variables["PAYPAL_WEBHOOK_ID"] == {"Ref": "PayPalWebhookId"}
    assert "STRIPE_SECRET_NAME" not in variables, "a signature is checked without the API key"
    secret = resources_of_type("AWS::SecretsManager::Secret")["StripeWebhookSecret"]
    assert secret["Properties"]["Name"] == {"Fn::Sub": "billing/${Stage}/stripe-webhook-secret"}
    assert "SecretString" not in secret["Properties"], "set by hand after registering"


@pytest.mark.parametrize("function", [RECEIVER, ACTOR])
def test_the_webhook_settings_required_variables_are_given(function: str) -> None:
    required = {
        field.alias
        for field in WebhookSettings.model_fields.values()
        if field.is_required() and field.alias
    }

    assert required <= set(_variables(function))


def test_the_paypal_webhook_id_placeholder_is_a_valid_id_until_it_is_registered() -> None:
    parameter = template()["Parameters"]["PayPalWebhookId"]

    assert re.fullmatch(parameter["AllowedPattern"], parameter["Default"])
    assert PAYPAL_WEBHOOK_ID.match(parameter["Default"])
    for pattern_test in ("1JE4291016473214C", "8PT597110X687430LKGECATA"):
        assert re.fullmatch(parameter["AllowedPattern"], pattern_test)
    assert not re.fullmatch(parameter["AllowedPattern"], "")
    assert not re.fullmatch(parameter["AllowedPattern"], "WH 1; DROP")


def test_the_actor_reads_new_events_with_partial_failures_bisection_and_a_failure_queue() -> None:
    [stream] = _events(ACTOR, "DynamoDB")

    assert stream["Stream"] == {"Fn::GetAtt": ["WebhookEventsTable", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] > 0
    assert 0 < stream["MaximumRecordAgeInSeconds"] < STREAM_RETENTION_SECONDS
    [only_new] = stream["FilterCriteria"]["Filters"]
    assert json.loads(only_new["Pattern"]) == {"eventName": ["INSERT"]}
    failure = stream["DestinationConfig"]["OnFailure"]
    assert (failure["Type"], failure["Destination"]) == (
        "SQS",
        {"Fn::GetAtt": ["WebhookFailureQueue", "Arn"]},
    )
    assert _events(ACTOR, "Api") == [], "not reachable from the API"


def test_the_actor_has_the_renewal_workers_table_access_and_its_own_tables() -> None:
    """And writes accounts: a saved method the provider updated or removed."""
    worker = set().union(*map(_grants, _statements("RenewalWorkerFunction")))
    actor = set().union(*map(_grants, _statements(ACTOR)))

    assert actor - worker == {
        ("dynamodb:GetItem", "WebhookEventsTable"),
        ("dynamodb:UpdateItem", "WebhookEventsTable"),
        ("dynamodb:Query", "WebhookEventsTable"),
        ("dynamodb:PutItem", "AccountsTable"),
    }
    assert worker <= actor
    variables = _variables(ACTOR)
    assert variables["STRIPE_SECRET_NAME"] == {"Ref": "StripeSecret"}
    assert variables["PAYPAL_SECRET_NAME"] == {"Ref": "PayPalSecret"}
    assert "STRIPE_WEBHOOK_SECRET_NAME" not in variables


def test_only_the_two_webhook_functions_reach_the_events_table() -> None:
    reaching = {
        function
        for function in resources_of_type("AWS::Serverless::Function")
        for statement in _statements(function)
        if "WebhookEventsTable" in references(statement["Resource"])
    }

    assert reaching == {RECEIVER, ACTOR}


def test_the_failure_queue_is_alarmed_and_so_is_the_receiver() -> None:
    alarms = resources_of_type("AWS::CloudWatch::Alarm")
    failures = alarms["WebhookFailureAlarm"]["Properties"]
    errors = alarms["WebhooksErrorAlarm"]["Properties"]

    assert (failures["Namespace"], failures["MetricName"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
    )
    assert failures["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["WebhookFailureQueue", "QueueName"]}}
    ]
    assert (errors["Namespace"], errors["MetricName"]) == ("AWS/Lambda", "Errors")
    assert errors["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": RECEIVER}}]
    for alarm in (failures, errors):
        assert alarm["Threshold"] == 1
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert alarm["AlarmActions"] == [{"Ref": "OperationsTopic"}]
    queue = resources_of_type("AWS::SQS::Queue")["WebhookFailureQueue"]["Properties"]
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_the_outputs_give_the_urls_to_register_and_the_secret_to_set() -> None:
    outputs = template()["Outputs"]

    for name, path in (
        ("StripeWebhookUrl", "/webhooks/stripe"),
        ("PayPalWebhookUrl", "/webhooks/paypal"),
    ):
        url = outputs[name]["Value"]["Fn::Sub"]
        assert url == outputs["ApiUrl"]["Value"]["Fn::Sub"] + path
        assert (path, "post") in ROUTES
    assert outputs["StripeWebhookSecretArn"]["Value"] == {"Ref": "StripeWebhookSecret"}
    assert outputs["WebhookEventsFunctionName"]["Value"] == {"Ref": ACTOR}
