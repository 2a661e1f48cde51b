"""What the billing operations need from storage, independent of DynamoDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import count
from typing import TYPE_CHECKING, Protocol

from billing.domain.errors import DomainError, ErrorCode
from billing.domain.values import frozen

if TYPE_CHECKING:
    # Named for the type checker only: the renewal dispatcher reads the indexes through this
    # module without loading the domain (billing.persistence.renewal_indexes); what a change
    # runs of the domain is imported where it runs.
    from billing.domain.accounts import Account, PendingPurchase, VatIdCheck
    from billing.domain.charges import ChargeAttempt
    from billing.domain.invoices import Document
    from billing.domain.outbox import OutboxEntry, OutboxMessage, OutboxStatus
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


@frozen
class SubscriptionChange:
    """One state change, written all or nothing: the new state (checked against the version
    it was read at), the charge attempts it settles, the payments it revises, the audit
    entries it appends and the emails and notices it owes (into the outbox)."""

    before: Subscription | None
    """The state as read; None when the subscription is being created."""
    after: Subscription
    attempts: Sequence[ChargeAttempt] = ()
    """Attempts settled by this change: each must still be pending (settled once)."""
    audit: Sequence[Audit] = ()
    messages: Sequence[OutboxMessage] = ()
    payments: Sequence[ChargeAttempt] = ()
    """Settled payments changed by this change (a refund, a dispute), each one `revision`
    after the stored one: ConcurrentModification if another change revised it first."""
    at: datetime | None = None
    """When the change is made: the date of the invoices and credit notes it issues. Every
    attempt or payment it writes that is owed a document (`owes_documents`) gets it, numbered
    in the same transaction."""

    def owes_documents(self) -> bool:
        from billing.domain.invoices import owes_documents  # noqa: PLC0415 - see the imports

        return any(owes_documents(p) for p in (*self.attempts, *self.payments))

    def issuing(self, first: int) -> tuple[SubscriptionChange, list[Document]]:
        """This change with the documents its attempts and payments are owed numbered from
        `first` on, its receipts and refund emails naming them; and those documents."""
        if self.at is None:
            raise ValueError("a change that issues documents says when it is made (`at`)")
        from billing.domain.invoices import issue, naming_documents  # noqa: PLC0415 - as above

        numbers = count(first)
        attempts = [issue(a, self.after, numbers, self.at) for a in self.attempts]
        payments = [issue(p, self.after, numbers, self.at) for p in self.payments]
        documents = [d for i in (*attempts, *payments) for d in i.documents]
        issued = replace(
            self,
            attempts=[i.payment for i in attempts],
            payments=[i.payment for i in payments],
            messages=naming_documents(self.messages, documents),
        )
        return issued, documents


@frozen
class Committed:
    """A change as written: the subscription at its new version, and its attempts and payments
    with the numbers of the documents they were issued."""

    subscription: Subscription
    attempts: tuple[ChargeAttempt, ...] = ()
    payments: tuple[ChargeAttempt, ...] = ()


@frozen
class DueEntry:
    subscription_id: str
    account_id: str
    due_at: datetime


@frozen
class PendingEntry:
    """A charge attempt whose outcome is not known yet."""

    subscription_id: str
    account_id: str
    cycle: int
    attempt: int
    kind: ChargeKind
    created_at: datetime


class RenewalIndexes(Protocol):
    """What a renewal run reads: the due and pending indexes, shard by shard."""

    def shards(self) -> Sequence[str]:
        """The partitions of the due and pending indexes: a renewal run reads them all."""
        ...

    def due_in_shard(self, shard: str, now: datetime) -> Iterator[DueEntry]:
        """The subscriptions of `shard` with something due at or before `now`, page by page."""
        ...

    def pending_in_shard(self, shard: str, claimed_before: datetime) -> Iterator[PendingEntry]:
        """The attempts of `shard` claimed before `claimed_before` and still pending."""
        ...


class BillingRepository(RenewalIndexes, Protocol):
    def get_account(self, account_id: str) -> Account: ...

    def save_account(
        self,
        account: Account,
        audit: Sequence[Audit] = (),
        messages: Sequence[OutboxMessage] = (),
    ) -> Account:
        """Create or replace an account, append `audit` to its trail and put `messages` in the
        outbox, all or nothing; ConcurrentModification when its version is stale."""
        ...

    def save_vat_id_check(
        self, account: Account, check: VatIdCheck, audit: Sequence[Audit] = ()
    ) -> Account:
        """Store VIES's new `check` on the account (nothing else of it) and append `audit`, all
        or nothing; ConcurrentModification when the account changed since `account` was read.
        The account as saved."""
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

    def get_attempt(self, subscription_id: str, cycle: int, attempt: int) -> ChargeAttempt:
        """One charge attempt; NotFound when it was never claimed."""
        ...

    def commit(self, change: SubscriptionChange) -> Committed:
        """Write `change` in one transaction; returns what was stored (the new version, the
        documents' numbers).
        The attempts it settles must still be pending: AttemptAlreadySettled if one is not,
        ConcurrentModification if the subscription or a payment it revises changed since it
        was read."""
        ...

    def get_document(self, number: int) -> Document:
        """The seller's invoice or credit note numbered `number`; NotFound if none was issued."""
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


class OutboxStore(Protocol):
    """The outbox's side of storage: messages are written by `BillingRepository`'s changes, in
    their transactions; these take them out one at a time for sending."""

    def take_message(self, message_id: str, now: datetime, lease: timedelta) -> OutboxEntry | None:
        """Hold a pending message for sending until `now + lease` and count the attempt; None
        when it is done, or another sender holds it (NotFound: no such message)."""
        ...

    def finish_message(
        self,
        message_id: str,
        status: OutboxStatus,
        at: datetime,
        *,
        message_id_sent: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record a held message's end (sent, skipped or failed); False if it was already done."""
        ...

    def release_message(self, message_id: str, error: str) -> None:
        """Give back a held message that could not be sent now, so that a retry takes it at
        once; it stays pending."""
        ...

    def unsent_in_shard(self, shard: str, created_before: datetime) -> Iterator[str]:
        """The ids of the messages of `shard` (`BillingRepository.shards`) written before
        `created_before` and still pending."""
        ...
