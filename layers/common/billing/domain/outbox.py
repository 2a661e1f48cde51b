"""The outbox: every email and notice a change owes someone, written with the change itself and
sent afterwards by the `notify` function (`billing.delivery`).

A change and the messages it produces are one DynamoDB transaction, so a message exists exactly
when its change does. A message is pending until the sender marks it sent (or skipped, or
failed); it is never deleted before that, so nothing the system owes can be lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from billing.domain.billing_calendar import instant
from billing.domain.state_machine import (
    Effect,
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    NotifySales,
)
from billing.domain.values import frozen

Message = EmailCustomer | NotifySales | NotifyPartner
"""What the outbox carries: the effects that are sent to someone."""

REQUIRED_BY_LAW = frozenset(
    {
        EmailTemplate.RENEWAL_NOTICE,
        EmailTemplate.AUTO_RENEW_OFF,
        EmailTemplate.SUBSCRIPTION_CANCELLED,
    }
)
"""Customer emails sent even to an address that bounced or complained: the notice before a tacit
renewal (Code de la consommation, L215-1) and the confirmation that a contract was terminated,
which the consumer code requires on a durable medium."""

LEASE = timedelta(minutes=2)
"""How long a sender holds a message it is sending: longer than one send with its retries, so
that a second sender (a redelivered batch, the sweep) waits instead of sending it again."""

KEPT_AFTER_SENDING = timedelta(days=90)
"""A message that is done (sent, skipped or failed) is kept this long, for support, then expires."""


class OutboxStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    SKIPPED = "skipped"
    """Not sent on purpose: the address bounced or complained and the email is not one the law
    requires."""
    FAILED = "failed"
    """Could not be written (a wording that asks for a detail the change did not give): a bug,
    alarmed, kept for a person to look at."""


@frozen
class OutboxMessage:
    """A message to write with a change: what to send, and when the change was made."""

    message: Message
    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", instant(self.at))


def outgoing(effects: Iterable[Effect], at: datetime) -> tuple[OutboxMessage, ...]:
    """The messages among a decision's `effects` (charges and audit entries are not sent)."""
    return tuple(
        OutboxMessage(effect, at)
        for effect in effects
        if isinstance(effect, EmailCustomer | NotifySales | NotifyPartner)
    )


@frozen
class OutboxEntry:
    """A stored message. Its id is deterministic: the change that wrote it, and its place in it."""

    id: str
    account_id: str
    message: Message
    created_at: datetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    """Sends started (claims taken): more than one means a retry, and possibly a duplicate."""
    lease_until: datetime | None = None
    sent_at: datetime | None = None
    message_id: str | None = None
    """SES's or SNS's id of the message sent."""
    error: str | None = None
    """Why the last send did not go through (SES's error code), or why it was skipped."""
