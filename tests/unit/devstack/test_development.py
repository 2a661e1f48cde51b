"""The development routes that show the outbox and move the clock: what the outbox table holds
beside what SES and SNS sent, and the stream delivered before the clock moves."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack import development
from devstack.api_gateway import LocalApiGateway
from devstack.clock import StackClock
from devstack.outbox import SentEmail, StoredMessage
from devstack.tokens import TokenIssuer, generate_secret

START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
ITEM = {
    "id": {"S": "subscription#sub_1#0000000001#00"},
    "account_id": {"S": "demo"},
    "kind": {"S": "customer_email"},
    "name": {"S": "purchase_receipt"},
    "details": {"M": {"amount": {"S": "49.00 EUR"}}},
    "created_at": {"S": "2026-01-31T09:30:00Z"},
    "status": {"S": "sent"},
    "attempts": {"N": "2"},
    "sent_at": {"S": "2026-01-31T09:30:01Z"},
    "message_id": {"S": "ses-1"},
    "expires_at": {"N": "1777541400"},
}
"""An outbox item as the low-level DynamoDB client returns it."""


class Stack:
    def __init__(self, messages: list[StoredMessage]) -> None:
        self.clock = StackClock(START)
        self.settled_at: list[datetime] = []
        self.read: list[str] = []
        """What the outbox page read, in order."""

        def emails() -> list[SentEmail]:
            self.read.append("emails")
            return [
                SentEmail("e-1", "billing@example.com", {"ToAddresses": ["a@x.com"]}, "Hi", "…")
            ]

        def notices() -> list[Any]:
            self.read.append("notices")
            return []

        def stored() -> list[StoredMessage]:
            self.read.append("messages")
            return messages

        routes = development.Development(
            clock=self.clock,
            issuer=TokenIssuer(generate_secret(), clock=self.clock),
            groups=frozenset({"admin"}),
            run_renewals=lambda: pytest.fail("not a run"),
            emails=emails,
            notices=notices,
            messages=stored,
            settle=lambda: self.settled_at.append(self.clock()),
        )
        self.gateway = LocalApiGateway(
            development.routes(),
            verifier=lambda token: pytest.fail("no authorizer"),
            load_handler=lambda _: development.handler(routes),
        )

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self.gateway.invoke(
            method,
            path,
            headers={"Content-Type": "application/json"},
            body=None if body is None else json.dumps(body),
        )
        assert answer.status == 200, answer.body
        return answer.json()


def test_a_stored_message_is_read_from_its_item() -> None:
    message = StoredMessage.stored(ITEM)

    assert message == StoredMessage(
        id="subscription#sub_1#0000000001#00",
        account_id="demo",
        kind="customer_email",
        name="purchase_receipt",
        status="sent",
        attempts=2,
        created_at="2026-01-31T09:30:00Z",
        sent_at="2026-01-31T09:30:01Z",
        message_id="ses-1",
    )
    pending = StoredMessage.stored({key: ITEM[key] for key in ITEM if key not in {"sent_at"}})
    assert pending.sent_at is None


def test_the_outbox_page_shows_the_messages_with_what_was_sent() -> None:
    pending = StoredMessage.stored({**ITEM, "status": {"S": "pending"}, "attempts": {"N": "0"}})

    page = Stack([StoredMessage.stored(ITEM), pending]).call("GET", "/_dev/outbox")

    assert [email["subject"] for email in page["emails"]] == ["Hi"]
    assert page["sales_notices"] == []
    assert [(m["status"], m["attempts"]) for m in page["messages"]] == [("sent", 2), ("pending", 0)]
    assert page["messages"][0] == {
        "id": "subscription#sub_1#0000000001#00",
        "account_id": "demo",
        "kind": "customer_email",
        "name": "purchase_receipt",
        "status": "sent",
        "attempts": 2,
        "message_id": "ses-1",
        "error": None,
        "created_at": "2026-01-31T09:30:00Z",
        "sent_at": "2026-01-31T09:30:01Z",
    }


def test_the_page_reads_the_messages_before_what_was_sent() -> None:
    # A message marked sent between the two reads would otherwise be shown sent without its
    # email: SES takes the email before the notify function marks the message.
    stack = Stack([])

    stack.call("GET", "/_dev/outbox")

    assert stack.read == ["messages", "emails", "notices"]


def test_the_stream_is_settled_at_the_old_instant_before_the_clock_moves() -> None:
    stack = Stack([])

    stack.call("POST", "/_dev/clock", {})
    assert stack.settled_at == [], "reading the clock moves nothing"
    stack.call("POST", "/_dev/clock", {"days": 1})
    stack.call("POST", "/_dev/clock", {"now": "2026-03-01T00:00:00Z"})

    assert stack.settled_at == [START, datetime(2026, 2, 1, 9, 30, tzinfo=UTC)]
    assert stack.clock() == datetime(2026, 3, 1, tzinfo=UTC)
