"""What moto received for sending, in-process or in moto server: SES's sent emails and the sales
team's SNS topic, read through an SQS queue subscribed to it; each read first lets
NotifyFunction send what the outbox holds, fed by the outbox table's stream as Lambda's event
source mapping feeds it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import Message, ses_backends

from billing.settings import NotificationSettings
from devstack.api_gateway import Handler, import_handler
from devstack.event_sources import StreamPoller, stream_poller_for
from devstack.outbox import SentEmail, sent_emails, subscribe_queue
from devstack.resources import LocalResources, Queue, Table
from tests.support.aws import template

REGION = "us-east-1"
NOTIFY = "NotifyFunction"

Deliver = Callable[[], object]
"""Sends what the outbox holds (NotifyFunction over the outbox's stream)."""


def _nothing() -> None:
    return None


@dataclass(frozen=True)
class Outbox:
    """Where moto keeps what was sent: SES's sent messages and the sales team's queue. Reading
    them first runs `deliver`: the outbox's messages are sent asynchronously, as in AWS."""

    settings: NotificationSettings
    sqs: Any
    sales_queue_url: str
    deliver: Deliver

    @property
    def emails(self) -> list[SentEmail]:
        """Every email sent, oldest first, once the outbox's stream has been delivered."""
        self.deliver()
        # SES v2 send_email is served by moto's SES (v1) backend, which records it here; raw
        # and templated sends (which the code does not make) are recorded as other classes.
        sent = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        return [SentEmail.recorded(vars(m)) for m in sent if isinstance(m, Message)]

    def emails_to(self, address: str) -> list[SentEmail]:
        return [email for email in self.emails if address in email.recipients]

    def sales_messages(self) -> list[dict[str, Any]]:
        self.deliver()
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
        """Every email the server sent, oldest first, whatever its account or region, once the
        outbox's stream has been delivered."""
        self.deliver()
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


def open_outbox(sender: str, deliver: Deliver = _nothing) -> Outbox:
    """A verified sender and a sales topic with a queue on it, in the active moto mock;
    `deliver` sends the outbox's messages before each read (nothing, for tests that hand the
    notifier its messages themselves)."""
    clients = {name: boto3.client(name, region_name=REGION) for name in ("sesv2", "sns", "sqs")}
    settings, queue_url = _sales_follow_up(clients, sender, None)
    return Outbox(settings, clients["sqs"], queue_url, deliver)


def open_server_outbox(
    endpoint_url: str, sender: str, sales_topic_arn: str | None = None, deliver: Deliver = _nothing
) -> ServerOutbox:
    """A verified sender and a queue on the sales topic (`sales_topic_arn`, e.g. the template's
    ``SalesTopic``, or a new one), in the moto server at `endpoint_url`."""
    clients = {
        name: boto3.client(name, region_name=REGION, endpoint_url=endpoint_url)
        for name in ("sesv2", "sns", "sqs")
    }
    settings, queue_url = _sales_follow_up(clients, sender, sales_topic_arn)
    return ServerOutbox(settings, clients["sqs"], queue_url, deliver, endpoint_url)


def outbox_stream(
    clients: Callable[[str], Any],
    resources: LocalResources | None = None,
    load_handler: Callable[[str], Handler] = import_handler,
) -> StreamPoller:
    """NotifyFunction fed by the outbox table's stream as Lambda's event source mapping feeds
    it, with the clients `clients(service)` makes: on `resources` created from the template, or,
    without them, on the tables of the active moto mock (the outbox table named by
    ``OUTBOX_TABLE``) with a failure queue made for it."""
    return table_stream(
        NOTIFY, ("OutboxTable", "OUTBOX_TABLE", "NotifyFailureQueue"), clients, resources,
        load_handler,
    )  # fmt: skip


def table_stream(
    function: str,
    source: tuple[str, str, str],
    clients: Callable[[str], Any],
    resources: LocalResources | None = None,
    load_handler: Callable[[str], Handler] = import_handler,
) -> StreamPoller:
    """`function` fed by its table's stream as Lambda's event source mapping feeds it. `source`
    names the table (its logical id and the variable holding its name) and the failure queue,
    made in the active moto mock when no `resources` are given."""
    if resources is None:
        resources = _in_process_resources(clients, *source)
    return stream_poller_for(
        template(),
        function,
        clients("dynamodbstreams"),
        resources,
        sqs=clients("sqs"),
        load_handler=load_handler,
    )


def in_process_client(service: str) -> Any:
    """A client of moto in-process. Stream calls naming a stream's ARN would go to an endpoint
    of the ARN's account, which moto in-process routes to DynamoDB, not its streams: the
    account's endpoint is turned off."""
    return boto3.client(
        service, region_name=REGION, config=Config(account_id_endpoint_mode="disabled")
    )


def _in_process_resources(
    clients: Callable[[str], Any], table: str, variable: str, failure_queue: str
) -> LocalResources:
    described = clients("dynamodb").describe_table(TableName=os.environ[variable])["Table"]
    sqs = clients("sqs")
    url = sqs.create_queue(QueueName=failure_queue)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    return LocalResources(
        region=REGION,
        tables={
            table: Table(
                described["TableName"], described["TableArn"], described["LatestStreamArn"]
            )
        },
        queues={failure_queue: Queue(failure_queue, url, arn)},
    )
