"""Charge attempts: every time money is asked of a provider, with its deterministic key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from billing.domain.accounts import PaymentProvider
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.domain.state_machine import Requester
from billing.domain.subscription import ChargeKind


class ChargeStatus(StrEnum):
    PENDING = "pending"
    """Claimed, outcome not known yet: reconciled by looking the charge up, never by recharging."""
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def attempt_key(subscription_id: str, cycle: int, attempt: int) -> str:
    """The deterministic idempotency key of attempt number `attempt` to pay cycle `cycle`."""
    return f"{subscription_id}.c{cycle:05d}.a{attempt:03d}"


IN_FLIGHT = timedelta(minutes=5)
"""Longer than any provider call can last (the functions' timeout is shorter): a pending claim
older than this has no caller left waiting on it and may be reconciled."""


@dataclass(frozen=True, slots=True)
class ChargeAttempt:
    subscription_id: str
    account_id: str
    cycle: int
    attempt: int
    kind: ChargeKind
    amount: Money
    status: ChargeStatus
    created_at: datetime
    requested_by: Requester
    """Who started the charge: its outcome is recorded in their name."""
    provider: PaymentProvider | None = None
    payment_method_id: str | None = None
    provider_reference: str | None = None
    failure_reason: FailureReason | None = None

    @property
    def id(self) -> str:
        return attempt_key(self.subscription_id, self.cycle, self.attempt)
