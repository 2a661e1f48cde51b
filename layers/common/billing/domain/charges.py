"""Charge attempts: every time money is asked of a provider, with its deterministic key."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

from billing.domain.accounts import Party, PaymentProvider
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.domain.state_machine import Actor, Requester
from billing.domain.subscription import ChargeKind
from billing.domain.tax import Tax
from billing.domain.values import frozen


class ChargeStatus(StrEnum):
    PENDING = "pending"
    """Claimed, outcome not known yet: reconciled by looking the charge up, never by recharging."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def attempt_key(subscription_id: str, cycle: int, attempt: int) -> str:
    """The deterministic idempotency key of attempt number `attempt` to pay cycle `cycle`."""
    return f"{subscription_id}.c{cycle:05d}.a{attempt:03d}"


_ATTEMPT_KEY = re.compile(r"^(?P<subscription>.+)\.c(?P<cycle>\d{5})\.a(?P<attempt>\d{3})$")


def parse_attempt_key(key: str) -> tuple[str, int, int] | None:
    """The subscription, cycle and attempt number an `attempt_key` names; None for any other
    text (a payment id typed by hand, a provider's payment we did not make)."""
    matched = _ATTEMPT_KEY.match(key)
    if matched is None:
        return None
    return matched["subscription"], int(matched["cycle"]), int(matched["attempt"])


UNAPPLIED = Requester(Actor.ADMIN, "unapplied_payment")
"""Who gives back a payment that paid for nothing (its period paid by another payment, or its
subscription ended while it was made): the billing system itself, by rule."""

IN_FLIGHT = timedelta(minutes=5)
"""Longer than any provider call can last (the functions' timeout is shorter): a pending claim
older than this has no caller left waiting on it and may be reconciled."""


class RefundStatus(StrEnum):
    PENDING = "pending"
    """Claimed before the provider was asked: its amount is taken from what is left to refund
    until the provider's answer (or its webhook) settles it."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@frozen
class Refund:
    """Money given back on a payment: asked for by sales, or made at the provider (its
    dashboard) and learnt from its webhook."""

    amount: Money
    at: datetime
    by: Requester
    """Who gave it back: a sales user, or the provider (``provider``/``stripe``) for a refund
    made outside this system."""
    status: RefundStatus = RefundStatus.SUCCEEDED
    key: str | None = None
    """Our idempotency key when we asked for it; None for a refund made at the provider."""
    reference: str | None = None
    """The provider's refund id, once known."""
    credit_note: int | None = None
    """The number of the credit note issued once it was given back."""


def merge_refunds(
    recorded: tuple[Refund, ...], reported: tuple[Refund, ...]
) -> tuple[tuple[Refund, ...], tuple[Refund, ...]]:
    """The payment's refunds once the provider's `reported` ones (succeeded) are known, and
    those of them that are new to us. A reported refund is the recorded one with its provider
    reference, or with its key (one we asked for: it now has its reference and has succeeded,
    in the name of whoever asked); any other is new (made at the provider's dashboard)."""
    merged = list(recorded)
    new: list[Refund] = []
    for refund in reported:
        if any(r.reference == refund.reference for r in merged if r.reference is not None):
            continue
        mine = next(
            (i for i, r in enumerate(merged) if refund.key is not None and r.key == refund.key),
            None,
        )
        if mine is None:
            merged.append(refund)
            new.append(refund)
            continue
        ours = merged[mine]
        if ours.status is not RefundStatus.SUCCEEDED:
            done = replace(ours, status=RefundStatus.SUCCEEDED, reference=refund.reference)
            merged[mine] = done
            new.append(done)
    return tuple(merged), tuple(new)


class DisputeStatus(StrEnum):
    OPEN = "open"
    """The payer disputed the payment (a chargeback, a PayPal dispute): the money is held."""
    WON = "won"
    """Decided for us: the money stays."""
    LOST = "lost"
    """Decided for the payer: the money went back to them, the payment no longer pays."""


@frozen
class Dispute:
    """The payer's dispute of a payment, as the provider last reported it."""

    reference: str
    status: DisputeStatus
    reason: str
    """The provider's reason code."""
    amount: Money
    opened_at: datetime
    closed_at: datetime | None = None


@frozen
class ChargeAttempt:
    subscription_id: str
    account_id: str
    cycle: int
    attempt: int
    kind: ChargeKind
    amount: Money
    """What the provider is asked for: the net price with its VAT (`tax`)."""
    status: ChargeStatus
    created_at: datetime
    requested_by: Requester
    """Who started the charge: its outcome is recorded in their name."""
    provider: PaymentProvider | None = None
    payment_method_id: str | None = None
    provider_reference: str | None = None
    failure_reason: FailureReason | None = None
    refunds: tuple[Refund, ...] = ()
    dispute: Dispute | None = None
    revision: int | None = None
    """How many times the payment was changed after it settled (a refund, a dispute), None for
    never: each change is written on condition that no other came first."""
    tax: Tax | None = None
    """How `amount` splits into net and VAT, and why: decided when the charge was claimed."""
    buyer: Party | None = None
    """Who is charged, as their billing information said when the charge was claimed: the
    invoice's buyer."""
    invoice: int | None = None
    """The number of the invoice issued once it succeeded."""

    @property
    def id(self) -> str:
        return attempt_key(self.subscription_id, self.cycle, self.attempt)

    @property
    def refunded(self) -> Money:
        """What was given back or is being given back: succeeded and pending refunds."""
        total = sum(r.amount.amount for r in self.refunds if r.status is not RefundStatus.FAILED)
        return Money(total, self.amount.currency)

    @property
    def refundable(self) -> Money:
        """What is left to give back of a succeeded payment; nothing for any other."""
        if self.status is not ChargeStatus.SUCCEEDED:
            return Money(0, self.amount.currency)
        return Money(max(self.amount.amount - self.refunded.amount, 0), self.amount.currency)

    def next_refund(self, amount: Money, by: Requester, at: datetime) -> Refund:
        """A refund of `amount` claimed on this payment, pending, numbered after its others:
        its deterministic key is the provider's idempotency key."""
        key = f"{self.id}.r{len(self.refunds) + 1:02d}"
        return Refund(amount, at, by, RefundStatus.PENDING, key=key)

    def revised(self, **changes: object) -> ChargeAttempt:
        """This settled payment changed (`changes`), one revision later."""
        return replace(self, revision=(self.revision or 0) + 1, **changes)  # type: ignore[arg-type]
