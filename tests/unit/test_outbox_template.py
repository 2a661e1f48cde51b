"""The outbox as template.yaml deploys it: a table whose stream hands new messages to
NotifyFunction (partial batch failures, bisection, a bounded retry age, a destination for what is
given up, and a sweep for what that leaves pending), SES's bounces and complaints published to a
topic NotifyFunction reads, and no other function able to send anything."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from billing.delivery import STALE
from billing.domain.outbox import LEASE
from tests.support.aws import resources_of_type, template

pytestmark = pytest.mark.unit

SENDS = {"ses:SendEmail", "ses:SendRawEmail", "sns:Publish"}


def _function(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = resources_of_type("AWS::Serverless::Function")[logical_id][
        "Properties"
    ]
    return properties


def _events(logical_id: str, kind: str) -> list[dict[str, Any]]:
    return [
        event["Properties"]
        for event in _function(logical_id)["Events"].values()
        if event["Type"] == kind
    ]


def _actions(logical_id: str) -> set[str]:
    actions: set[str] = set()
    for policy in _function(logical_id).get("Policies") or []:
        for statement in policy.get("Statement", []):
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


def test_the_outbox_table_streams_new_items_and_expires_done_ones() -> None:
    table = resources_of_type("AWS::DynamoDB::Table")["OutboxTable"]["Properties"]

    assert table["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    [unsent] = table["GlobalSecondaryIndexes"]
    assert unsent["IndexName"] == "unsent-index"


def test_notify_reads_the_stream_with_partial_failures_bisection_and_a_bounded_age() -> None:
    [stream] = _events("NotifyFunction", "DynamoDB")

    assert stream["Stream"] == {"Fn::GetAtt": ["OutboxTable", "StreamArn"]}
    assert stream["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert 0 < stream["MaximumRecordAgeInSeconds"] <= 6 * 3600
    assert stream["MaximumRetryAttempts"] > 0
    failure = stream["DestinationConfig"]["OnFailure"]
    assert (failure["Type"], failure["Destination"]) == (
        "SQS",
        {"Fn::GetAtt": ["NotifyFailureQueue", "Arn"]},
    )
    [only_new] = stream["FilterCriteria"]["Filters"]
    assert json.loads(only_new["Pattern"]) == {"eventName": ["INSERT"]}


def test_what_the_stream_gives_up_on_is_swept_before_it_is_old() -> None:
    [sweep] = _events("NotifyFunction", "ScheduleV2")

    every = sweep["ScheduleExpression"]
    assert every == "rate(5 minutes)"
    assert timedelta(minutes=5) < STALE, "a message is swept once its stream had its chance"


def test_a_sender_never_outlives_its_lease() -> None:
    assert timedelta(seconds=_function("NotifyFunction")["Timeout"]) < LEASE


def test_bounces_and_complaints_reach_notify() -> None:
    destination = resources_of_type("AWS::SES::ConfigurationSetEventDestination")[
        "EmailFeedbackDestination"
    ]["Properties"]
    [feedback] = _events("NotifyFunction", "SNS")

    assert destination["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    assert sorted(destination["EventDestination"]["MatchingEventTypes"]) == [
        "bounce",
        "complaint",
    ]
    assert destination["EventDestination"]["SnsDestination"] == {
        "TopicARN": {"Ref": "EmailFeedbackTopic"}
    }
    assert feedback["Topic"] == {"Ref": "EmailFeedbackTopic"}
    variables = _function("NotifyFunction")["Environment"]["Variables"]
    assert variables["SES_CONFIGURATION_SET"] == {"Ref": "EmailConfigurationSet"}


@pytest.mark.parametrize(
    "logical_id", sorted(set(resources_of_type("AWS::Serverless::Function")) - {"NotifyFunction"})
)
def test_no_other_function_can_send_it_only_writes_the_outbox(logical_id: str) -> None:
    assert not _actions(logical_id) & SENDS


def test_only_notify_sends() -> None:
    assert {"ses:SendEmail", "sns:Publish"} <= _actions("NotifyFunction")
    assert "OUTBOX_TABLE" in template()["Globals"]["Function"]["Environment"]["Variables"]
