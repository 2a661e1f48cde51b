"""What the billing operations need from storage, independent of DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from billing.domain.accounts import Account, PendingPurchase
from billing.domain.charges import ChargeAttempt
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.state_machine import Audit
from billing.domain.subscription import ChargeKind, Subscription


class NotFound(DomainError):
    def __init__(self, what: str) -> None:
        super().__init__(ErrorCode.NOT_FOUND, f"{what} not found.")


class ConcurrentModification(DomainError):
    """The stored copy changed since it was read: nothing of the change was written."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.CONCURRENT_MODIFICATION)


class SubscriptionExists(DomainError):
    """The account already has a subscription that is not cancelled."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.SUBSCRIPTION_EXISTS)


class AttemptAlreadyClaimed(Exception):
    """The attempt's key is taken: another caller is charging it, or already has."""

    def __init__(self, existing: ChargeAttempt) -> None:
        super().__init__(f"charge attempt {existing.id} is already claimed")
        self.existing = existing


class AttemptAlreadySettled(Exception):
    """Another caller wrote this attempt's outcome first: nothing of this change was written."""


class StorageUnavailable(Exception):
    """Storage failed after the SDK's own retries (throttling, service errors)."""


@dataclass(frozen=True, slots=True)
class SubscriptionChange:
    """One state change, written all or nothing: the new state (checked against the version
    it was read at), the charge attempts it records and the audit entries it appends."""

    before: Subscription | None
    """The state as read; None when the subscription is being created."""
    after: Subscription
    attempts: Sequence[ChargeAttempt] = ()
    audit: Sequence[Audit] = ()


@dataclass(frozen=True, slots=True)
class DueEntry:
    subscription_id: str
    account_id: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class PendingEntry:
    """A charge attempt whose outcome is not known yet."""

    subscription_id: str
    account_id: str
    cycle: int
    attempt: int
    kind: ChargeKind
    created_at: datetime


class BillingRepository(Protocol):
    def get_account(self, account_id: str) -> Account: ...

    def save_account(self, account: Account, audit: Sequence[Audit] = ()) -> Account:
        """Create or replace an account and append `audit` to its trail, all or nothing;
        ConcurrentModification when its version is stale."""
        ...

    def get_subscription(self, subscription_id: str) -> Subscription: ...

    def load(self, subscription_id: str, account_id: str) -> tuple[Subscription, Account]:
        """The subscription and its account, read together and consistently; NotFound when
        either is missing or the subscription belongs to another account."""
        ...

    def claim(
        self, attempt: ChargeAttempt, request: Audit, purchase: PendingPurchase | None = None
    ) -> None:
        """Write `attempt` (pending) and `request` (to the account's trail) only if the key is
        free, AttemptAlreadyClaimed if not; for a `purchase`, only if it can also take the
        account's open slot, SubscriptionExists if another subscription or purchase holds it
        (NotFound: no such account). All or nothing, before any provider call."""
        ...

    def release_purchase(self, attempt: ChargeAttempt) -> None:
        """Settle a purchase's attempt that opened nothing (declined, or never made) and free
        the open slot it held; AttemptAlreadySettled if another caller settled it first."""
        ...

    def subscriptions_of(self, account_id: str) -> list[Subscription]:
        """Purchase history: the account's subscriptions, newest first."""
        ...

    def retry_requests(self) -> list[Subscription]:
        """Past-due subscriptions whose Retry Now failed, most recent request first."""
        ...

    def shards(self) -> Sequence[str]:
        """The partitions of the due and pending indexes: a renewal run reads them all."""
        ...

    def due_in_shard(self, shard: str, now: datetime) -> Iterator[DueEntry]:
        """The subscriptions of `shard` with something due at or before `now`, page by page."""
        ...

    def pending_in_shard(self, shard: str, claimed_before: datetime) -> Iterator[PendingEntry]:
        """The attempts of `shard` claimed before `claimed_before` and still pending."""
        ...

    def get_attempt(self, subscription_id: str, cycle: int, attempt: int) -> ChargeAttempt:
        """One charge attempt; NotFound when it was never claimed."""
        ...

    def commit(self, change: SubscriptionChange) -> Subscription:
        """Write `change` in one transaction; returns the state as stored (new version).
        The attempts it settles must still be pending: AttemptAlreadySettled if one is not,
        ConcurrentModification if the subscription changed since it was read."""
        ...

    def charge_attempts(self, subscription_id: str) -> list[ChargeAttempt]:
        """A subscription's charge attempts, newest first."""
        ...

    def audit_trail(self, subscription_id: str) -> list[Audit]:
        """A subscription's audit entries, oldest first."""
        ...

    def account_trail(self, account_id: str) -> list[Audit]:
        """An account's own audit entries (changes to it, charges requested), oldest first."""
        ...
