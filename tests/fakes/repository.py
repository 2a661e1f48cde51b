"""`BillingRepository` and `OutboxStore` in memory, with DynamoDBRepository's rules: versions,
all-or-nothing writes, the account's one open slot, settle-once attempts, append-only trails,
messages written with their change, the sharded due, pending and unsent indexes, instants kept
to the second; and hooks to inject faults before any call."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from billing.domain.accounts import Account, PendingPurchase, VatIdCheck
from billing.domain.billing_calendar import format_instant, instant
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.invoices import Document
from billing.domain.outbox import Message, OutboxEntry, OutboxMessage, OutboxStatus
from billing.domain.state_machine import Audit
from billing.domain.subscription import Channel, Status, Subscription
from billing.persistence.dynamodb import index_shard
from billing.persistence.repository import (
    AttemptAlreadyClaimed,
    AttemptAlreadySettled,
    Committed,
    ConcurrentModification,
    DueEntry,
    NotFound,
    PendingEntry,
    StorageUnavailable,
    SubscriptionChange,
    SubscriptionExists,
)

Action = Callable[..., object]
"""Run before an operation with the operation's arguments: it may raise (a crash, storage
failing) or wait (a race), or write through the repository itself (another writer winning)."""

AttemptKey = tuple[str, int, int]


def _as_stored[T](value: T) -> T:
    """`value` as it reads back from storage: every instant in UTC to the second, nested
    dataclasses, mappings and tuples copied."""
    if isinstance(value, datetime):
        return cast(T, instant(value))
    if is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _as_stored(getattr(value, f.name)) for f in fields(value) if f.init}
        return cast(T, replace(cast(Any, value), **changes))
    if isinstance(value, Mapping):
        return cast(T, {key: _as_stored(item) for key, item in value.items()})
    if isinstance(value, tuple):
        return cast(T, tuple(_as_stored(item) for item in value))
    return value


def _key(attempt: ChargeAttempt) -> AttemptKey:
    return (attempt.subscription_id, attempt.cycle, attempt.attempt)


def _account_stream(account_id: str) -> str:
    return f"account#{account_id}"


def _subscription_stream(subscription_id: str) -> str:
    return f"subscription#{subscription_id}"


class InMemoryRepository:
    """One process's storage. Every call is recorded in `calls` (its name); `before[name]`
    runs ahead of the call, outside the repository's lock, so that it may block or write."""

    def __init__(self, *, shards: int = 16) -> None:
        self._shards = shards
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}
        self._subscriptions: dict[str, Subscription] = {}
        self._attempts: dict[AttemptKey, ChargeAttempt] = {}
        self._streams: dict[str, dict[str, Audit]] = {}
        self._outbox: dict[str, OutboxEntry] = {}
        self._documents: dict[int, Document] = {}
        self.posted: list[str] = []
        """The ids of the messages written, in order: what the table's stream would carry."""
        self.calls: list[str] = []
        self.before: dict[str, Action] = {}

    # --- fault injection ---

    def fail_next(self, operation: str, error: Exception) -> None:
        """The next call of `operation` raises `error` having written nothing."""

        def fail(*_: object) -> None:
            del self.before[operation]
            raise error

        self.before[operation] = fail

    def _enter(self, operation: str, *arguments: object) -> None:
        with self._lock:
            self.calls.append(operation)
        action = self.before.get(operation)
        if action is not None:
            action(*arguments)

    # --- accounts ---

    def get_account(self, account_id: str) -> Account:
        self._enter("get_account", account_id)
        with self._lock:
            return self._account(account_id)

    def _account(self, account_id: str) -> Account:
        try:
            return self._accounts[account_id]
        except KeyError:
            raise NotFound("Account") from None

    def save_account(
        self,
        account: Account,
        audit: Sequence[Audit] = (),
        messages: Sequence[OutboxMessage] = (),
    ) -> Account:
        self._enter("save_account", account, audit, messages)
        saved = self._write_account(account, audit, lambda _: account, messages)
        return replace(account, version=saved.version)

    def save_vat_id_check(
        self, account: Account, check: VatIdCheck, audit: Sequence[Audit] = ()
    ) -> Account:
        self._enter("save_vat_id_check", account, check, audit)

        def checked(stored: Account | None) -> Account:
            if stored is None:  # the update's condition: the account exists
                raise ConcurrentModification
            return replace(stored, vat_id_check=check)

        return self._write_account(account, audit, checked)

    def _write_account(
        self,
        account: Account,
        audit: Sequence[Audit],
        new: Callable[[Account | None], Account],
        messages: Sequence[OutboxMessage] = (),
    ) -> Account:
        """Store `new(stored)` as the version after `account`'s, with its trail entries and
        messages, all or nothing: ConcurrentModification unless `account`'s version is the
        stored one. The account as stored."""
        version = account.version + 1
        stream = _account_stream(account.id)
        seqs = [
            f"{format_instant(entry.at)}#account#{version:010d}#{index:02d}"
            for index, entry in enumerate(audit)
        ]
        with self._lock:
            stored = self._accounts.get(account.id)
            current = 0 if stored is None else stored.version
            if current != account.version or self._taken(stream, seqs):
                raise ConcurrentModification
            saved = _as_stored(replace(new(stored), version=version))
            self._accounts[account.id] = saved
            self._append(stream, zip(seqs, audit, strict=True))
            self._post(f"account#{account.id}#{version:010d}", account.id, messages)
        return saved

    # --- subscriptions ---

    def get_subscription(self, subscription_id: str) -> Subscription:
        self._enter("get_subscription", subscription_id)
        with self._lock:
            return self._subscription(subscription_id)

    def _subscription(self, subscription_id: str) -> Subscription:
        try:
            return self._subscriptions[subscription_id]
        except KeyError:
            raise NotFound("Subscription") from None

    def load(self, subscription_id: str, account_id: str) -> tuple[Subscription, Account]:
        self._enter("load", subscription_id, account_id)
        with self._lock:
            sub = self._subscription(subscription_id)
            if sub.account_id != account_id:
                raise NotFound("Subscription")
            return sub, self._account(account_id)

    def subscriptions_of(self, account_id: str) -> list[Subscription]:
        self._enter("subscriptions_of", account_id)
        with self._lock:
            owned = [s for s in self._subscriptions.values() if s.account_id == account_id]
        return sorted(owned, key=lambda s: (s.anchor, s.id), reverse=True)

    def retry_requests(self) -> list[Subscription]:
        self._enter("retry_requests")
        with self._lock:
            asked = [
                (s.retry_now_requested_at, s.id, s)
                for s in self._subscriptions.values()
                if s.retry_now_requested_at is not None
            ]
        return [s for _, _, s in sorted(asked, key=lambda row: row[:2], reverse=True)]

    # --- the renewal run's indexes ---

    def shards(self) -> Sequence[str]:
        return [f"{shard:03d}" for shard in range(self._shards)]

    def due_in_shard(self, shard: str, now: datetime) -> Iterator[DueEntry]:
        self._enter("due_in_shard", shard, now)
        until = instant(now)
        with self._lock:
            due = [
                DueEntry(sub.id, sub.account_id, instant(sub.due_at))
                for sub in self._subscriptions.values()
                if sub.due_at is not None
                and instant(sub.due_at) <= until
                and index_shard(sub.id, self._shards) == shard
            ]
        return iter(sorted(due, key=lambda entry: (entry.due_at, entry.subscription_id)))

    def pending_in_shard(self, shard: str, claimed_before: datetime) -> Iterator[PendingEntry]:
        self._enter("pending_in_shard", shard, claimed_before)
        before = instant(claimed_before)
        with self._lock:
            pending = [
                PendingEntry(
                    a.subscription_id, a.account_id, a.cycle, a.attempt, a.kind, a.created_at
                )
                for a in self._attempts.values()
                if a.status is ChargeStatus.PENDING
                and a.created_at < before
                and index_shard(a.subscription_id, self._shards) == shard
            ]
        return iter(sorted(pending, key=lambda entry: (entry.created_at, entry.subscription_id)))

    # --- charge attempts ---

    def get_attempt(self, subscription_id: str, cycle: int, attempt: int) -> ChargeAttempt:
        self._enter("get_attempt", subscription_id, cycle, attempt)
        with self._lock:
            try:
                return self._attempts[(subscription_id, cycle, attempt)]
            except KeyError:
                raise NotFound("Charge attempt") from None

    def charge_attempts(self, subscription_id: str) -> list[ChargeAttempt]:
        self._enter("charge_attempts", subscription_id)
        with self._lock:
            found = [a for key, a in self._attempts.items() if key[0] == subscription_id]
        return sorted(found, key=lambda a: (a.cycle, a.attempt), reverse=True)

    def claim(
        self, attempt: ChargeAttempt, request: Audit, purchase: PendingPurchase | None = None
    ) -> None:
        self._enter("claim", attempt, request, purchase)
        stream = _account_stream(attempt.account_id)
        seq = f"{format_instant(request.at)}#charge#{attempt.id}"
        with self._lock:
            existing = self._attempts.get(_key(attempt))
            if existing is not None:
                raise AttemptAlreadyClaimed(existing)
            account = self._accounts.get(attempt.account_id)
            if purchase is not None:
                if account is None:
                    raise NotFound("Account")
                if account.open_subscription_id or account.pending_purchase:
                    raise SubscriptionExists
            if self._taken(stream, [seq]):
                raise StorageUnavailable(f"audit entry {seq} exists")
            self._attempts[_key(attempt)] = _as_stored(attempt)
            self._append(stream, [(seq, request)])
            if purchase is not None and account is not None:
                self._bump(account, pending_purchase=purchase)

    def release_purchase(self, attempt: ChargeAttempt) -> None:
        self._enter("release_purchase", attempt)
        with self._lock:
            stored = self._attempts.get(_key(attempt))
            if stored is None or stored.status is not ChargeStatus.PENDING:
                raise AttemptAlreadySettled
            account = self._accounts.get(attempt.account_id)
            held = None if account is None else account.pending_purchase
            if account is None or held is None or held.subscription_id != attempt.subscription_id:
                raise ConcurrentModification
            self._attempts[_key(attempt)] = _as_stored(attempt)
            self._bump(account, pending_purchase=None)

    # --- one change of a subscription ---

    def commit(self, change: SubscriptionChange) -> Committed:
        self._enter("commit", change)
        before, after = change.before, change.after
        expected = 0 if before is None else before.version
        stream = _subscription_stream(after.id)
        seqs = [f"{expected + 1:010d}#{index:02d}" for index in range(len(change.audit))]
        with self._lock:
            account = self._accounts.get(after.account_id)
            pointer = self._pointer(before, after, account)
            if any(not self._pending(attempt) for attempt in change.attempts):
                raise AttemptAlreadySettled
            if before is None and pointer is None:
                raise SubscriptionExists if account is not None else NotFound("Account")
            stored = self._subscriptions.get(after.id)
            if (
                (0 if stored is None else stored.version) != expected
                or self._taken(stream, seqs)
                or pointer is None
                or not all(self._revises(payment) for payment in change.payments)
            ):
                raise ConcurrentModification
            self._subscriptions[after.id] = _as_stored(replace(after, version=expected + 1))
            issued = self._issue(change)
            for attempt in (*issued.attempts, *issued.payments):
                self._attempts[_key(attempt)] = _as_stored(attempt)
            self._append(stream, zip(seqs, change.audit, strict=True))
            self._post(
                f"subscription#{after.id}#{expected + 1:010d}", after.account_id, issued.messages
            )
            if pointer and account is not None:
                self._bump(account, **pointer)
        return Committed(
            replace(after, version=expected + 1), tuple(issued.attempts), tuple(issued.payments)
        )

    def _issue(self, change: SubscriptionChange) -> SubscriptionChange:
        """The change with the documents its attempts and payments are owed numbered next in
        the sequence, and stored (under the lock: the sequence moves with the change)."""
        if not change.owes_documents():
            return change
        issued, documents = change.issuing(len(self._documents) + 1)
        for document in documents:
            self._documents[document.number] = _as_stored(document)
        return issued

    def get_document(self, number: int) -> Document:
        self._enter("get_document", number)
        with self._lock:
            try:
                return self._documents[number]
            except KeyError:
                raise NotFound("Invoice") from None

    def documents(self) -> list[Document]:
        """Every document issued, by number."""
        with self._lock:
            return [self._documents[n] for n in sorted(self._documents)]

    def add_document(self, document: Document) -> None:
        """`document` as issued: what a commit that settles its payment will store."""
        with self._lock:
            self._documents[document.number] = _as_stored(document)

    @staticmethod
    def _pointer(
        before: Subscription | None, after: Subscription, account: Account | None
    ) -> dict[str, Any] | None:
        """How the account's open slot changes with the subscription: the fields to set ({} for
        no change), or None when the slot is not as the change requires."""
        change: dict[str, Any]
        if before is None and after.channel is Channel.DIRECT:
            held = None if account is None else account.pending_purchase
            allowed = held is not None and held.subscription_id == after.id
            change = {"open_subscription_id": after.id, "pending_purchase": None}
        elif before is None:
            allowed = account is not None and not (
                account.open_subscription_id or account.pending_purchase
            )
            change = {"open_subscription_id": after.id}
        elif before.status is not Status.CANCELLED and after.status is Status.CANCELLED:
            allowed = account is not None and account.open_subscription_id == after.id
            change = {"open_subscription_id": None}
        else:
            return {}
        return change if allowed else None

    def _revises(self, payment: ChargeAttempt) -> bool:
        """Whether `payment` is the revision after the stored one."""
        stored = self._attempts.get(_key(payment))
        return stored is not None and (stored.revision or 0) == (payment.revision or 0) - 1

    def _pending(self, attempt: ChargeAttempt) -> bool:
        stored = self._attempts.get(_key(attempt))
        return stored is not None and stored.status is ChargeStatus.PENDING

    def _bump(self, account: Account, **slot: Any) -> None:
        """Change the account's slot fields, one version on: an account write from an older
        read then fails."""
        self._accounts[account.id] = _as_stored(
            replace(account, version=account.version + 1, **slot)
        )

    # --- audit trails ---

    def audit_trail(self, subscription_id: str) -> list[Audit]:
        self._enter("audit_trail", subscription_id)
        return self._trail(_subscription_stream(subscription_id))

    def account_trail(self, account_id: str) -> list[Audit]:
        self._enter("account_trail", account_id)
        return self._trail(_account_stream(account_id))

    def _trail(self, stream: str) -> list[Audit]:
        with self._lock:
            entries = self._streams.get(stream, {})
            return [entries[seq] for seq in sorted(entries)]

    def _taken(self, stream: str, seqs: Sequence[str]) -> bool:
        entries = self._streams.get(stream, {})
        return len(set(seqs)) < len(seqs) or any(seq in entries for seq in seqs)

    def _append(self, stream: str, entries: Iterable[tuple[str, Audit]]) -> None:
        trail = self._streams.setdefault(stream, {})
        for seq, entry in entries:
            trail[seq] = _as_stored(entry)

    # --- the outbox ---

    def _post(self, change: str, account_id: str, messages: Sequence[OutboxMessage]) -> None:
        for index, message in enumerate(messages):
            message_id = f"{change}#{index:02d}"
            assert message_id not in self._outbox, "a change is written once"
            self._outbox[message_id] = _as_stored(
                OutboxEntry(message_id, account_id, message.message, message.at)
            )
            self.posted.append(message_id)

    def take_message(self, message_id: str, now: datetime, lease: timedelta) -> OutboxEntry | None:
        self._enter("take_message", message_id, now, lease)
        with self._lock:
            entry = self._outbox.get(message_id)
            if entry is None:
                raise NotFound("Outbox message")
            if entry.status is not OutboxStatus.PENDING or (
                entry.lease_until is not None and entry.lease_until >= instant(now)
            ):
                return None
            taken = _as_stored(replace(entry, lease_until=now + lease, attempts=entry.attempts + 1))
            self._outbox[message_id] = taken
            return taken

    def finish_message(
        self,
        message_id: str,
        status: OutboxStatus,
        at: datetime,
        *,
        message_id_sent: str | None = None,
        error: str | None = None,
    ) -> bool:
        self._enter("finish_message", message_id, status, at)
        with self._lock:
            entry = self._outbox[message_id]
            if entry.status is not OutboxStatus.PENDING:
                return False
            self._outbox[message_id] = _as_stored(
                replace(
                    entry,
                    status=status,
                    lease_until=None,
                    sent_at=at if status is OutboxStatus.SENT else entry.sent_at,
                    message_id=message_id_sent or entry.message_id,
                    error=error,
                )
            )
            return True

    def release_message(self, message_id: str, error: str) -> None:
        self._enter("release_message", message_id, error)
        with self._lock:
            entry = self._outbox[message_id]
            if entry.status is OutboxStatus.PENDING:
                self._outbox[message_id] = replace(entry, lease_until=None, error=error)

    def unsent_in_shard(self, shard: str, created_before: datetime) -> Iterator[str]:
        self._enter("unsent_in_shard", shard, created_before)
        before = instant(created_before)
        with self._lock:
            unsent = sorted(
                (entry.created_at, entry.id)
                for entry in self._outbox.values()
                if entry.status is OutboxStatus.PENDING
                and index_shard(entry.id, self._shards) == shard
                and entry.created_at < before
            )
        yield from (message_id for _, message_id in unsent)

    def outbox_entry(self, message_id: str) -> OutboxEntry:
        """A message as stored (tests)."""
        with self._lock:
            return self._outbox[message_id]

    def posted_messages(self) -> list[Message]:
        """What the outbox was given to send, oldest first (tests)."""
        with self._lock:
            return [self._outbox[message_id].message for message_id in self.posted]
