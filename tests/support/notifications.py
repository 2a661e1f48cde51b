"""What moto received for sending: SES's sent emails and the sales team's SNS topic, read
through an SQS queue subscribed to it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from billing.settings import NotificationSettings

REGION = "us-east-1"


@dataclass(frozen=True)
class Outbox:
    """Where moto keeps what was sent: SES's sent messages and the sales team's queue."""

    settings: NotificationSettings
    sqs: Any
    sales_queue_url: str

    @property
    def emails(self) -> list[Any]:
        # SES v2 send_email is served by moto's SES (v1) backend, which records it here.
        messages: list[Any] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return messages

    def emails_to(self, address: str) -> list[Any]:
        return [m for m in self.emails if address in m.destinations["ToAddresses"]]

    def sales_messages(self) -> list[dict[str, Any]]:
        received = self.sqs.receive_message(
            QueueUrl=self.sales_queue_url,
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
        )
        return received.get("Messages", [])  # type: ignore[no-any-return]

    def sales_notices(self) -> list[dict[str, Any]]:
        """The JSON bodies of the sales messages received so far (each read once)."""
        return [json.loads(message["Body"]) for message in self.sales_messages()]


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, name: str, **attributes: str) -> str:
    queue_url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", **attributes},
    )
    return queue_url


def open_outbox(sender: str) -> Outbox:
    """A verified sender and a sales topic with a queue on it, in the active moto mock."""
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=sender)
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    topic_arn = sns.create_topic(Name="sales-notices")["TopicArn"]
    queue_url = subscribe_queue(sns, sqs, topic_arn, "sales-follow-up")
    settings = NotificationSettings.from_environment(
        {"EMAIL_SENDER": sender, "SALES_TOPIC_ARN": topic_arn}
    )
    return Outbox(settings, sqs, queue_url)
