"""What moto received for sending, in-process or in moto server: SES's sent emails and the sales
team's SNS topic, read through an SQS queue subscribed to it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import Message, ses_backends

from billing.settings import NotificationSettings
from devstack.outbox import SentEmail, sent_emails, subscribe_queue

REGION = "us-east-1"


@dataclass(frozen=True)
class Outbox:
    """Where moto keeps what was sent: SES's sent messages and the sales team's queue."""

    settings: NotificationSettings
    sqs: Any
    sales_queue_url: str

    @property
    def emails(self) -> list[SentEmail]:
        """Every email sent, oldest first."""
        # SES v2 send_email is served by moto's SES (v1) backend, which records it here; raw
        # and templated sends (which the code does not make) are recorded as other classes.
        sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return [SentEmail.recorded(vars(m)) for m in sent if isinstance(m, Message)]

    def emails_to(self, address: str) -> list[SentEmail]:
        return [email for email in self.emails if address in email.recipients]

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


@dataclass(frozen=True)
class ServerOutbox(Outbox):
    """The same, for a moto server at `endpoint_url`."""

    endpoint_url: str

    @property
    def emails(self) -> list[SentEmail]:
        """Every email the server sent, oldest first, whatever its account or region."""
        return sent_emails(self.endpoint_url)


def _sales_follow_up(
    clients: Mapping[str, Any], sender: str, topic_arn: str | None
) -> tuple[NotificationSettings, str]:
    """A verified sender and a queue on the sales topic (a new one unless `topic_arn` is given):
    the notification settings for them, and the queue's URL."""
    clients["sesv2"].create_email_identity(EmailIdentity=sender)
    if topic_arn is None:
        topic_arn = str(clients["sns"].create_topic(Name="sales-notices")["TopicArn"])
    queue_url = subscribe_queue(clients["sns"], clients["sqs"], topic_arn, "sales-follow-up")
    settings = NotificationSettings.from_environment(
        {"EMAIL_SENDER": sender, "SALES_TOPIC_ARN": topic_arn}
    )
    return settings, queue_url


def open_outbox(sender: str) -> Outbox:
    """A verified sender and a sales topic with a queue on it, in the active moto mock."""
    clients = {name: boto3.client(name, region_name=REGION) for name in ("sesv2", "sns", "sqs")}
    settings, queue_url = _sales_follow_up(clients, sender, None)
    return Outbox(settings, clients["sqs"], queue_url)


def open_server_outbox(
    endpoint_url: str, sender: str, sales_topic_arn: str | None = None
) -> ServerOutbox:
    """A verified sender and a queue on the sales topic (`sales_topic_arn`, e.g. the template's
    ``SalesTopic``, or a new one), in the moto server at `endpoint_url`."""
    clients = {
        name: boto3.client(name, region_name=REGION, endpoint_url=endpoint_url)
        for name in ("sesv2", "sns", "sqs")
    }
    settings, queue_url = _sales_follow_up(clients, sender, sales_topic_arn)
    return ServerOutbox(settings, clients["sqs"], queue_url, endpoint_url)
