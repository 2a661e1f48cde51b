"""SNS invoking a function, locally: the template's SNS events and the event SNS sends (the
delivery itself, through a queue subscribed to the topic, is exercised in tests/devstack)."""

from __future__ import annotations

import json

import pytest

from devstack.event_sources import SnsEventSource, sns_event_sources, sns_record
from devstack.template import TemplateError, parse_template
from tests.support.aws import template

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:EmailFeedbackTopic"
SUBSCRIPTION_ARN = f"{TOPIC_ARN}:0b1c2d3e"


def test_the_email_feedback_is_the_template_sns_event_source() -> None:
    assert sns_event_sources(template()) == [
        SnsEventSource(
            function="NotifyFunction",
            handler="notify.handler.lambda_handler",
            topic="EmailFeedbackTopic",
            maximum_retry_attempts=2,
            on_failure_queue="NotifyFailureQueue",
        )
    ]


def test_lambdas_async_defaults_apply_without_an_event_invoke_config() -> None:
    parsed = parse_template("""
Resources:
  T: {Type: AWS::SNS::Topic}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events: {Feed: {Type: SNS, Properties: {Topic: !Ref T}}}
""")
    assert sns_event_sources(parsed) == [SnsEventSource("F", "app.handler", "T")]
    assert SnsEventSource("F", "h", "T").maximum_retry_attempts == 2


def test_a_filter_policy_is_refused_rather_than_ignored() -> None:
    parsed = parse_template("""
Resources:
  T: {Type: AWS::SNS::Topic}
  F:
    Type: AWS::Serverless::Function
    Properties:
      Handler: app.handler
      Events:
        Feed:
          Type: SNS
          Properties: {Topic: !Ref T, FilterPolicy: {kind: [bounce]}}
""")
    with pytest.raises(TemplateError, match=r"^F: the local stack delivers an SNS event with only"):
        sns_event_sources(parsed)


def test_a_notification_is_shaped_as_sns_sends_it_to_a_function() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC_ARN,
        "Message": json.dumps({"notificationType": "Bounce"}),
        "Timestamp": "2026-01-31T09:30:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": {"kind": {"Type": "String", "Value": "bounce"}},
    }

    record = sns_record(envelope, SUBSCRIPTION_ARN)

    assert {key: record[key] for key in ("EventSource", "EventVersion")} == {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
    }
    assert record["EventSubscriptionArn"] == SUBSCRIPTION_ARN
    assert record["Sns"] == {
        "Type": "Notification",
        "MessageId": "m-1",
        "TopicArn": TOPIC_ARN,
        "Subject": None,
        "Message": envelope["Message"],
        "Timestamp": "2026-01-31T09:30:00.000Z",
        "SignatureVersion": "1",
        "Signature": "c2ln",
        "SigningCertUrl": envelope["SigningCertURL"],
        "UnsubscribeUrl": envelope["UnsubscribeURL"],
        "MessageAttributes": {"kind": {"Type": "String", "Value": "bounce"}},
    }
