"""What the system sent, as moto server received it: SES's emails (customers' and partners')
and the notices published to an SNS topic (the sales team's); and what the outbox table holds
to send (the messages the `notify` function sends from its stream), read back for developers."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SENT_EMAILS = "/_devstack/ses/sent-emails"
"""moto server's route (`devstack.moto_server`) listing the emails SES sent, and nothing else."""


@dataclass(frozen=True)
class SentEmail:
    """An email SES accepted, as moto records it (the same attributes as moto's own record)."""

    id: str
    source: str
    destinations: dict[str, list[str]]
    """``{"ToAddresses": [...]}``, and ``CcAddresses`` / ``BccAddresses`` when there were any."""
    subject: str
    body: str
    """The text body."""

    @classmethod
    def recorded(cls, message: Mapping[str, Any]) -> SentEmail:
        return cls(
            id=message["id"],
            source=message["source"],
            destinations={key: list(value) for key, value in message["destinations"].items()},
            subject=message["subject"],
            body=message["body"],
        )

    @property
    def recipients(self) -> list[str]:
        return [address for addresses in self.destinations.values() for address in addresses]


def sent_emails(endpoint_url: str) -> list[SentEmail]:
    """Every email the moto server at `endpoint_url` (run as `devstack.moto_server` runs it)
    sent, oldest first, whatever its account or region."""
    # moto's own listing, /moto-api/data.json, is every instance of every model: its cost grows
    # with everything the stack ever stored, until it times out.
    with urllib.request.urlopen(f"{endpoint_url}{SENT_EMAILS}", timeout=10) as response:
        return [SentEmail.recorded(message) for message in json.load(response)]


def subscribe_queue(sns: Any, sqs: Any, topic_arn: str, name: str, **attributes: str) -> str:
    """A new queue `name` subscribed to `topic_arn` (raw delivery); its URL."""
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


@dataclass(frozen=True)
class Notice:
    """A message published to the topic: its subject, its (JSON) body, its attributes."""

    subject: str | None
    message: Any
    attributes: dict[str, str]


class NoticeTap:
    """Every notice published to a topic since the tap was opened, oldest first, read through
    a queue of its own subscribed to the topic (not part of the system: the stack's window)."""

    def __init__(self, sns: Any, sqs: Any, topic_arn: str, name: str) -> None:
        self._sqs = sqs
        # Not raw: the SNS envelope carries the subject, which raw delivery drops.
        self._queue_url = subscribe_queue(sns, sqs, topic_arn, name, RawMessageDelivery="false")
        self._seen: list[Notice] = []
        self._lock = threading.Lock()

    def notices(self) -> list[Notice]:
        with self._lock:
            while received := self._sqs.receive_message(
                QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", []):
                self._seen.extend(_notice(json.loads(m["Body"])) for m in received)
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(received)
                    ],
                )
            return list(self._seen)


def _notice(envelope: Mapping[str, Any]) -> Notice:
    text = envelope["Message"]
    try:
        message = json.loads(text)
    except ValueError:
        message = text
    return Notice(
        subject=envelope.get("Subject"),
        message=message,
        attributes={
            name: value["Value"]
            for name, value in (envelope.get("MessageAttributes") or {}).items()
        },
    )


@dataclass(frozen=True)
class StoredMessage:
    """A message of the outbox table (the transactional outbox the `notify` function sends
    from), as a developer reads it."""

    id: str
    account_id: str
    kind: str
    """``customer_email``, ``sales_notice`` or ``partner_email``."""
    name: str
    """The email template or the notice."""
    status: str
    """``pending``, ``sent``, ``skipped`` or ``failed``."""
    attempts: int
    created_at: str
    sent_at: str | None = None
    message_id: str | None = None
    """SES's or SNS's id of the message sent."""
    error: str | None = None

    @classmethod
    def stored(cls, item: Mapping[str, Any]) -> StoredMessage:
        """From an item as the low-level DynamoDB client returns it."""

        def text(name: str) -> str | None:
            value = item.get(name)
            return None if value is None else str(value.get("S", value.get("N")))

        return cls(
            id=item["id"]["S"],
            account_id=text("account_id") or "",
            kind=text("kind") or "",
            name=text("name") or "",
            status=text("status") or "",
            attempts=int(text("attempts") or 0),
            created_at=text("created_at") or "",
            sent_at=text("sent_at"),
            message_id=text("message_id"),
            error=text("error"),
        )


def outbox_messages(dynamodb: Any, table: str) -> list[StoredMessage]:
    """Every message of the outbox `table`, oldest first (a scan: a development page, not a
    path of the system)."""
    paginator = dynamodb.get_paginator("scan")
    messages = [
        StoredMessage.stored(item)
        for page in paginator.paginate(TableName=table, ConsistentRead=True)
        for item in page.get("Items", [])
    ]
    return sorted(messages, key=lambda message: (message.created_at, message.id))
