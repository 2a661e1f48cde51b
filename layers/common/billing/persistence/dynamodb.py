"""The DynamoDB adapter of `BillingRepository` and `OutboxStore`, on PynamoDB.

Every subscription write is one TransactWriteItems call: the subscription (optimistic lock on
its version), the charge attempts, the audit entries (append-only), the messages it owes (the
outbox) and, when the subscription opens or is cancelled, the account's pointer to its one open
subscription. Account writes and charge claims carry their account-level audit entry and
messages in the same way.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta
from itertools import count
from typing import Any

from pynamodb.connection import Connection
from pynamodb.constants import ALL_OLD
from pynamodb.exceptions import (
    DoesNotExist,
    TransactWriteError,
    UpdateError,
)
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactGet, TransactWrite

from billing.domain.accounts import Account, PendingPurchase, VatIdCheck
from billing.domain.billing_calendar import format_instant
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.invoices import Document, default_seller
from billing.domain.outbox import (
    KEPT_AFTER_SENDING,
    Message,
    OutboxEntry,
    OutboxMessage,
    OutboxStatus,
)
from billing.domain.state_machine import (
    Actor,
    Audit,
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    NotifySales,
    PartnerNotice,
    SalesNotice,
)
from billing.domain.subscription import Channel, Status, Subscription
from billing.domain.values import frozen
from billing.persistence.items import Item, from_item, to_item
from billing.persistence.models import (
    SEQUENCE_HEAD,
    AccountRecord,
    AuditEventRecord,
    ChargeAttemptRecord,
    DocumentRecord,
    OutboxRecord,
    SubscriptionRecord,
)
from billing.persistence.renewal_indexes import DynamoDBRenewalIndexes
from billing.persistence.renewal_indexes import storage_errors as _storage_errors
from billing.persistence.repository import (
    AttemptAlreadyClaimed,
    AttemptAlreadySettled,
    Committed,
    ConcurrentModification,
    NotFound,
    StorageUnavailable,
    SubscriptionChange,
    SubscriptionExists,
)
from billing.settings import StorageSettings

_CONDITION_FAILED = "ConditionalCheckFailed"
RETRY_NOW_FOLLOW_UP = "retry_now"
"""The one partition of the follow-up index: few subscriptions are in it at any time."""


def index_shard(subscription_id: str, shards: int) -> str:
    """The due- and pending-index partition of a subscription: stable, and spread evenly."""
    digest = hashlib.sha256(subscription_id.encode()).digest()
    return f"{int.from_bytes(digest[:8], 'big') % shards:03d}"


class DynamoDBRepository(DynamoDBRenewalIndexes):
    """Also what a renewal run reads (`shards`, `due_in_shard`, `pending_in_shard`)."""

    def __init__(self, settings: StorageSettings) -> None:
        super().__init__(settings)
        self._connection = Connection(region=settings.region, host=settings.dynamodb_endpoint)
        self._heads: dict[str, int] = {}
        """The last number each entity's sequence was seen to hold: tried first."""
        self._issuing = threading.Lock()
        """One change issues documents at a time in this process (the worker settles a batch's
        renewals on several threads): its threads never race each other for a number."""

    # --- accounts ---

    def get_account(self, account_id: str) -> Account:
        with _storage_errors():
            try:
                return _account(AccountRecord.get(account_id, consistent_read=True))
            except DoesNotExist:
                raise NotFound("Account") from None

    def save_account(
        self,
        account: Account,
        audit: Sequence[Audit] = (),
        messages: Sequence[OutboxMessage] = (),
    ) -> Account:
        version = account.version + 1
        with self._account_write(account.id, version, audit) as transaction:
            transaction.save(_account_record(account))
            self._post(transaction, f"account#{account.id}#{version:010d}", account.id, messages)
        return replace(account, version=version)

    def save_vat_id_check(
        self, account: Account, check: VatIdCheck, audit: Sequence[Audit] = ()
    ) -> Account:
        # An update of the one attribute (the charging functions may update accounts, not
        # replace them), conditional on the version read.
        version = account.version + 1
        with self._account_write(account.id, version, audit) as transaction:
            transaction.update(
                _with_version(AccountRecord(account.id), account.version),
                actions=[AccountRecord.vat_id_check.set(to_item(check))],
                condition=AccountRecord.id.exists(),
            )
        return replace(account, vat_id_check=check, version=version)

    @contextmanager
    def _account_write(
        self, account_id: str, version: int, audit: Sequence[Audit]
    ) -> Iterator[TransactWrite]:
        """A transaction writing the account's `version` with its trail entries `audit`;
        ConcurrentModification when the account changed since it was read."""
        with _storage_errors():
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    yield transaction
                    for index, entry in enumerate(audit):
                        _append(
                            transaction,
                            _account_stream(account_id),
                            _account_seq(entry, f"account#{version:010d}#{index:02d}"),
                            entry,
                        )
            except TransactWriteError as error:
                if _CONDITION_FAILED in _codes(error):
                    raise ConcurrentModification from error
                raise

    # --- subscriptions ---

    def get_subscription(self, subscription_id: str) -> Subscription:
        with _storage_errors():
            try:
                return _subscription(SubscriptionRecord.get(subscription_id, consistent_read=True))
            except DoesNotExist:
                raise NotFound("Subscription") from None

    def load(self, subscription_id: str, account_id: str) -> tuple[Subscription, Account]:
        with _storage_errors():
            with TransactGet(connection=self._connection) as transaction:
                subscription = transaction.get(SubscriptionRecord, subscription_id)
                account = transaction.get(AccountRecord, account_id)
            try:
                sub = _subscription(subscription.get())
            except DoesNotExist:
                raise NotFound("Subscription") from None
            if sub.account_id != account_id:
                raise NotFound("Subscription")
            try:
                return sub, _account(account.get())
            except DoesNotExist:
                raise NotFound("Account") from None

    def claim(
        self, attempt: ChargeAttempt, request: Audit, purchase: PendingPurchase | None = None
    ) -> None:
        with _storage_errors():
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.save(
                        self._attempt_record(attempt),
                        condition=ChargeAttemptRecord.key.does_not_exist(),
                        return_values=ALL_OLD,
                    )
                    _append(
                        transaction,
                        _account_stream(attempt.account_id),
                        _account_seq(request, f"charge#{attempt.id}"),
                        request,
                    )
                    if purchase is not None:
                        _hold_open_slot(transaction, attempt.account_id, purchase)
            except TransactWriteError as error:
                raise _claim_error(error) from error

    def release_purchase(self, attempt: ChargeAttempt) -> None:
        with _storage_errors():
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.save(
                        self._attempt_record(attempt),
                        condition=ChargeAttemptRecord.status == ChargeStatus.PENDING.value,
                    )
                    account = _pointer_update(attempt.account_id)
                    transaction.update(
                        account,
                        actions=[AccountRecord.pending_purchase.remove()],
                        condition=_slot_held_by(attempt.subscription_id),
                        add_version_condition=False,
                    )
            except TransactWriteError as error:
                codes = _codes(error)
                if codes and codes[0] == _CONDITION_FAILED:
                    raise AttemptAlreadySettled from error
                if _CONDITION_FAILED in codes:
                    raise ConcurrentModification from error
                raise

    def get_attempt(self, subscription_id: str, cycle: int, attempt: int) -> ChargeAttempt:
        with _storage_errors():
            try:
                return _attempt(
                    ChargeAttemptRecord.get(
                        subscription_id,
                        ChargeAttemptRecord.key_of(cycle, attempt),
                        consistent_read=True,
                    )
                )
            except DoesNotExist:
                raise NotFound("Charge attempt") from None

    def subscriptions_of(self, account_id: str) -> list[Subscription]:
        with _storage_errors():
            records = SubscriptionRecord.account_index.query(account_id, scan_index_forward=False)
            return [_subscription(record) for record in records]

    def retry_requests(self) -> list[Subscription]:
        with _storage_errors():
            records = SubscriptionRecord.follow_up_index.query(
                RETRY_NOW_FOLLOW_UP, scan_index_forward=False
            )
            return [_subscription(record) for record in records]

    def commit(self, change: SubscriptionChange) -> Committed:
        if change.owes_documents():
            change = self._write_issuing(change)
        else:
            self._write(change)
        return Committed(
            replace(change.after, version=_version(change.before) + 1),
            tuple(change.attempts),
            tuple(change.payments),
        )

    def _write_issuing(self, change: SubscriptionChange) -> SubscriptionChange:
        """Write `change` with the documents its payments are owed, numbered from the head of
        the seller's sequence in the same transaction: a number is taken exactly when its
        document is written. The head last seen is tried first (no read while one process
        issues alone); when another writer moved it, the cancelled transaction says where to,
        and the change is retried from there."""
        entity = default_seller().entity
        with self._issuing:
            for tries in count(1):
                last = self._heads.get(entity)
                if last is None:
                    last = self._sequence_head(entity)
                issued, documents = change.issuing(last + 1)
                try:
                    self._write(issued, _Issue(entity, last, documents))
                except _SequenceMoved as moved:
                    self._heads[entity] = moved.last
                    if tries >= SEQUENCE_TRIES:
                        raise ConcurrentModification from None
                    time.sleep(random.uniform(0, SEQUENCE_BACKOFF * min(tries, 8)))
                else:
                    self._heads[entity] = last + len(documents)
                    return issued
        raise AssertionError("unreachable: the loop returns or raises")

    def _sequence_head(self, entity: str) -> int:
        """The last number the entity issued, read consistently (0 before its first)."""
        with _storage_errors():
            try:
                head = DocumentRecord.get(entity, SEQUENCE_HEAD, consistent_read=True)
            except DoesNotExist:
                return 0
        return int(head.last or 0)

    def _write(self, change: SubscriptionChange, issue: _Issue | None = None) -> None:
        before, after = change.before, change.after
        expected_version = _version(before)
        record = _subscription_record(
            replace(after, version=expected_version), self._settings.due_index_shards
        )
        with _storage_errors():
            try:
                with TransactWrite(connection=self._connection) as transaction:
                    transaction.save(record)
                    self._write_account_pointer(transaction, before, after)
                    for attempt in change.attempts:
                        # Settled once: a second settler of the same attempt (two callers
                        # reconciling it) must not apply its outcome to the state again.
                        transaction.save(
                            self._attempt_record(attempt),
                            condition=ChargeAttemptRecord.status == ChargeStatus.PENDING.value,
                        )
                    for payment in change.payments:
                        transaction.save(
                            self._attempt_record(payment), condition=_revision_after(payment)
                        )
                    for index, entry in enumerate(change.audit):
                        _append(
                            transaction,
                            f"subscription#{after.id}",
                            f"{expected_version + 1:010d}#{index:02d}",
                            entry,
                        )
                    self._post(
                        transaction,
                        f"subscription#{after.id}#{expected_version + 1:010d}",
                        after.account_id,
                        change.messages,
                    )
                    if issue is not None:
                        issue.write(transaction)
            except TransactWriteError as error:
                moved = None if issue is None else issue.moved(error, change)
                if moved is not None:
                    raise _SequenceMoved(moved) from error
                raise _transaction_error(error, change) from error

    def get_document(self, number: int) -> Document:
        if number == SEQUENCE_HEAD:
            raise NotFound("Invoice")
        with _storage_errors():
            try:
                record = DocumentRecord.get(default_seller().entity, number, consistent_read=True)
            except DoesNotExist:
                raise NotFound("Invoice") from None
        return from_item(Document, record.item)

    @staticmethod
    def _write_account_pointer(
        transaction: TransactWrite, before: Subscription | None, after: Subscription
    ) -> None:
        """Keep `Account.open_subscription_id` in step: set when a subscription opens, removed
        when it is cancelled. Bumps the account's version so a stale account write fails.

        A bought subscription opens in the slot its purchase claimed before charging (and frees
        the claim); a partner's opens only if the slot is free and no purchase holds it."""
        account = _pointer_update(after.account_id)
        if before is None and after.channel is Channel.DIRECT:
            transaction.update(
                account,
                actions=[
                    AccountRecord.open_subscription_id.set(after.id),
                    AccountRecord.pending_purchase.remove(),
                ],
                condition=_slot_held_by(after.id),
                return_values=ALL_OLD,
                add_version_condition=False,
            )
        elif before is None:
            transaction.update(
                account,
                actions=[AccountRecord.open_subscription_id.set(after.id)],
                condition=AccountRecord.id.exists()
                & AccountRecord.open_subscription_id.does_not_exist()
                & AccountRecord.pending_purchase.does_not_exist(),
                return_values=ALL_OLD,
                add_version_condition=False,
            )
        elif before.status is not Status.CANCELLED and after.status is Status.CANCELLED:
            transaction.update(
                account,
                actions=[AccountRecord.open_subscription_id.remove()],
                condition=AccountRecord.open_subscription_id == after.id,
                add_version_condition=False,
            )

    def _attempt_record(self, attempt: ChargeAttempt) -> ChargeAttemptRecord:
        return _attempt_record(attempt, self._settings.due_index_shards)

    def _post(
        self,
        transaction: TransactWrite,
        change: str,
        account_id: str,
        messages: Sequence[OutboxMessage],
    ) -> None:
        """Put `messages` in the outbox within `transaction`, each under `change`'s id and its
        place in it (a change is written once, so its messages are too)."""
        for index, message in enumerate(messages):
            transaction.save(
                _outbox_record(
                    f"{change}#{index:02d}",
                    account_id,
                    message,
                    self._settings.due_index_shards,
                ),
                condition=OutboxRecord.id.does_not_exist(),
            )

    # --- the outbox ---

    def take_message(self, message_id: str, now: datetime, lease: timedelta) -> OutboxEntry | None:
        record = OutboxRecord(message_id)
        with _storage_errors():
            try:
                record.update(
                    actions=[
                        OutboxRecord.lease_until.set(now + lease),
                        OutboxRecord.attempts.add(1),
                    ],
                    condition=(OutboxRecord.status == OutboxStatus.PENDING.value)
                    & (
                        OutboxRecord.lease_until.does_not_exist() | (OutboxRecord.lease_until < now)
                    ),
                )
            except UpdateError as error:
                if error.cause_response_code != "ConditionalCheckFailedException":
                    raise
                if not _message_exists(message_id):
                    raise NotFound("Outbox message") from None
                return None
        return _outbox_entry(record)

    def finish_message(
        self,
        message_id: str,
        status: OutboxStatus,
        at: datetime,
        *,
        message_id_sent: str | None = None,
        error: str | None = None,
    ) -> bool:
        actions = [
            OutboxRecord.status.set(status.value),
            OutboxRecord.lease_until.remove(),
            OutboxRecord.unsent_shard.remove(),
            OutboxRecord.expires_at.set(at + KEPT_AFTER_SENDING),
        ]
        if status is OutboxStatus.SENT:
            actions.append(OutboxRecord.sent_at.set(at))
        if message_id_sent is not None:
            actions.append(OutboxRecord.message_id.set(message_id_sent))
        actions.append(
            OutboxRecord.error.set(error) if error is not None else OutboxRecord.error.remove()
        )
        return self._pending_update(message_id, actions)

    def release_message(self, message_id: str, error: str) -> None:
        self._pending_update(
            message_id, [OutboxRecord.lease_until.remove(), OutboxRecord.error.set(error)]
        )

    def _pending_update(self, message_id: str, actions: list[Any]) -> bool:
        with _storage_errors():
            try:
                OutboxRecord(message_id).update(
                    actions=actions, condition=OutboxRecord.status == OutboxStatus.PENDING.value
                )
            except UpdateError as error:
                if error.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def unsent_in_shard(self, shard: str, created_before: datetime) -> Iterator[str]:
        with _storage_errors():
            for record in OutboxRecord.unsent_index.query(
                shard, OutboxRecord.created_at < created_before
            ):
                yield record.id

    def charge_attempts(self, subscription_id: str) -> list[ChargeAttempt]:
        with _storage_errors():
            records = ChargeAttemptRecord.query(subscription_id, scan_index_forward=False)
            return [_attempt(record) for record in records]

    def audit_trail(self, subscription_id: str) -> list[Audit]:
        with _storage_errors():
            return [_audit(r) for r in AuditEventRecord.query(f"subscription#{subscription_id}")]

    def account_trail(self, account_id: str) -> list[Audit]:
        with _storage_errors():
            return [_audit(r) for r in AuditEventRecord.query(_account_stream(account_id))]


def _message_exists(message_id: str) -> bool:
    try:
        OutboxRecord.get(message_id, consistent_read=True, attributes_to_get=["id"])
    except DoesNotExist:
        return False
    return True


def _pointer_update(account_id: str) -> AccountRecord:
    """An update of the account's slot attributes. A known version makes PynamoDB add 1 to the
    stored one (no version condition: the slot's own condition guards the write) instead of
    resetting it to 1, so an account write based on an older read fails."""
    account = AccountRecord(account_id)
    account.version = 0
    return account


def _slot_held_by(subscription_id: str) -> Condition:
    """The account's open slot is held by the purchase of `subscription_id`."""
    return AccountRecord.pending_purchase["subscription_id"] == subscription_id


def _hold_open_slot(transaction: TransactWrite, account_id: str, purchase: PendingPurchase) -> None:
    """Claim the account's one open slot for `purchase`, or fail the claim: the account must
    exist, have no open subscription and no other purchase under way."""
    transaction.update(
        _pointer_update(account_id),
        actions=[AccountRecord.pending_purchase.set(to_item(purchase))],
        condition=AccountRecord.id.exists()
        & AccountRecord.open_subscription_id.does_not_exist()
        & AccountRecord.pending_purchase.does_not_exist(),
        return_values=ALL_OLD,
        add_version_condition=False,
    )


def _revision_after(payment: ChargeAttempt) -> Condition:
    """The stored payment is the revision before `payment`'s: nothing revised it meanwhile."""
    before = (payment.revision or 0) - 1
    condition: Condition = (
        ChargeAttemptRecord.revision.does_not_exist() & ChargeAttemptRecord.key.exists()
        if before <= 0
        else ChargeAttemptRecord.revision == before
    )
    return condition


def _codes(error: TransactWriteError) -> list[str | None]:
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def _claim_error(error: TransactWriteError) -> Exception:
    """A refused claim: the key taken (sent first, a put), or the open slot taken or the account
    missing (the slot's update, sent last)."""
    reasons = error.cancellation_reasons
    codes = _codes(error)
    first = reasons[0] if reasons else None
    if first is not None and first.code == _CONDITION_FAILED and first.raw_item:
        return AttemptAlreadyClaimed(_attempt(ChargeAttemptRecord.from_raw_data(first.raw_item)))
    if len(codes) == 3 and codes[-1] == _CONDITION_FAILED:
        account = reasons[-1]
        return SubscriptionExists() if account and account.raw_item else NotFound("Account")
    return StorageUnavailable(str(error))


class _SequenceMoved(Exception):
    """Another writer issued documents since the sequence's head was read; `last` is where
    the head is now, as the cancelled transaction found it."""

    def __init__(self, last: int) -> None:
        super().__init__(last)
        self.last = last


SEQUENCE_TRIES = 50
"""Writes of one change tried against a moving sequence head before giving up (the change is
then ConcurrentModification, as a lost race on the subscription is): far more than concurrent
settlements take, each of which moves the head once."""

SEQUENCE_BACKOFF = 0.005
"""Seconds: the most a retry waits per try so far (jittered), up to eight tries' worth."""


@frozen
class _Issue:
    """The documents a change issues, numbered after `last`, the entity's head as read."""

    entity: str
    last: int
    documents: Sequence[Document]

    def write(self, transaction: TransactWrite) -> None:
        """Put the documents, each once, and move the head on, on condition that it still
        holds `last`. Put after every other put of the change: see `moved`."""
        for document in self.documents:
            record = DocumentRecord.from_raw_data(to_item(document))
            record.entity = self.entity
            transaction.save(record, condition=DocumentRecord.number.does_not_exist())
        head = DocumentRecord(self.entity, SEQUENCE_HEAD, last=self.last + len(self.documents))
        transaction.save(
            head,
            condition=DocumentRecord.last == self.last
            if self.last
            else DocumentRecord.number.does_not_exist(),
            return_values=ALL_OLD,
        )

    def moved(self, error: TransactWriteError, change: SubscriptionChange) -> int | None:
        """Where the head is now if only the sequence failed (another writer took the numbers
        tried), else None. The documents and then the head are the change's last puts;
        updates (the account pointer) come after them."""
        codes = _codes(error)
        puts = (
            1
            + len(change.attempts)
            + len(change.payments)
            + len(change.audit)
            + len(change.messages)
            + len(self.documents)
        )
        first = puts - len(self.documents)
        failed = {i for i, code in enumerate(codes) if code == _CONDITION_FAILED}
        # A stale head fails with the documents numbered after it, already written by another.
        if puts not in failed or not failed <= set(range(first, puts + 1)):
            return None
        now = error.cancellation_reasons[puts]
        stored = None if now is None else now.raw_item
        return int(stored["last"]["N"]) if stored and "last" in stored else 0


def _version(before: Subscription | None) -> int:
    return 0 if before is None else before.version


def _transaction_error(error: TransactWriteError, change: SubscriptionChange) -> Exception:
    """The domain error for a cancelled transaction. PynamoDB sends puts before updates: the
    subscription, then its attempts, then audit entries, then the account pointer's update."""
    reasons = error.cancellation_reasons
    codes = _codes(error)
    # First: another caller settled the attempt (a purchase opened by its webhook while its own
    # request was writing it); the slot it took is then this very subscription's.
    if _CONDITION_FAILED in codes[1 : 1 + len(change.attempts)]:
        return AttemptAlreadySettled()
    if change.before is None and codes and codes[-1] == _CONDITION_FAILED:
        account = reasons[-1]
        return SubscriptionExists() if account and account.raw_item else NotFound("Account")
    if _CONDITION_FAILED in codes:
        return ConcurrentModification()
    return StorageUnavailable(str(error))


# --- mapping between domain objects and records ---------------------------------------------


def _subscription_record(sub: Subscription, shards: int) -> SubscriptionRecord:
    """`sub`'s item: its fields as `to_item` writes them (for a subclass of Subscription, its
    added fields too), with the index keys derived from its state."""
    record = SubscriptionRecord.from_raw_data(_unversioned(to_item(sub)))
    due_at = sub.due_at
    record.due_shard = None if due_at is None else index_shard(sub.id, shards)
    record.due_at = due_at
    record.follow_up = None if sub.retry_now_requested_at is None else RETRY_NOW_FOLLOW_UP
    return _with_version(record, sub.version)


def _subscription(record: SubscriptionRecord) -> Subscription:
    return from_item(Subscription, record.item)


def _attempt_record(attempt: ChargeAttempt, shards: int) -> ChargeAttemptRecord:
    """`attempt`'s item: its fields as `to_item` writes them, with its sort key and, while its
    outcome is not known, its pending index partition."""
    record = ChargeAttemptRecord.from_raw_data(to_item(attempt))
    record.key = ChargeAttemptRecord.key_of(attempt.cycle, attempt.attempt)
    pending = attempt.status is ChargeStatus.PENDING
    record.pending_shard = index_shard(attempt.subscription_id, shards) if pending else None
    return record


def _attempt(record: ChargeAttemptRecord) -> ChargeAttempt:
    return from_item(ChargeAttempt, record.item)


def _account_stream(account_id: str) -> str:
    return f"account#{account_id}"


def _account_seq(entry: Audit, unique: str) -> str:
    """An account entry's sort key: by time, then what makes it unique."""
    return f"{format_instant(entry.at)}#{unique}"


def _append(transaction: TransactWrite, stream: str, seq: str, entry: Audit) -> None:
    """Add `entry` to an audit trail within `transaction`; never over an existing entry."""
    transaction.save(
        _audit_record(stream, seq, entry), condition=AuditEventRecord.seq.does_not_exist()
    )


def _audit_record(stream: str, seq: str, entry: Audit) -> AuditEventRecord:
    return AuditEventRecord(
        stream,
        seq,
        actor=entry.actor.value,
        action=entry.action,
        from_status=None if entry.from_status is None else entry.from_status.value,
        to_status=None if entry.to_status is None else entry.to_status.value,
        at=entry.at,
        details=dict(entry.details),
        by=entry.by,
    )


def _audit(record: AuditEventRecord) -> Audit:
    return Audit(
        actor=Actor(record.actor),
        action=record.action,
        from_status=None if record.from_status is None else Status(record.from_status),
        to_status=None if record.to_status is None else Status(record.to_status),
        at=record.at,
        details=dict(record.details.as_dict()),
        by=record.by,
    )


_MESSAGE_KINDS: dict[type[Message], str] = {
    EmailCustomer: "customer_email",
    NotifySales: "sales_notice",
    NotifyPartner: "partner_email",
}


def _outbox_record(
    message_id: str, account_id: str, outgoing: OutboxMessage, shards: int
) -> OutboxRecord:
    message = outgoing.message
    name = message.template if isinstance(message, EmailCustomer) else message.notice
    return OutboxRecord(
        message_id,
        account_id=account_id,
        kind=_MESSAGE_KINDS[type(message)],
        name=name.value,
        details=dict(message.details),
        created_at=outgoing.at,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        unsent_shard=index_shard(message_id, shards),
    )


def _outbox_entry(record: OutboxRecord) -> OutboxEntry:
    details = dict(record.details.as_dict())
    message: Message
    if record.kind == "customer_email":
        message = EmailCustomer(EmailTemplate(record.name), details)
    elif record.kind == "sales_notice":
        message = NotifySales(SalesNotice(record.name), details)
    else:
        message = NotifyPartner(PartnerNotice(record.name), details)
    return OutboxEntry(
        id=record.id,
        account_id=record.account_id,
        message=message,
        created_at=record.created_at,
        status=OutboxStatus(record.status),
        attempts=int(record.attempts),
        lease_until=record.lease_until,
        sent_at=record.sent_at,
        message_id=record.message_id,
        error=record.error,
    )


def _account_record(account: Account) -> AccountRecord:
    """`account`'s item: its fields as `to_item` writes them (a pending purchase as the map
    that claiming the open slot sets)."""
    record = AccountRecord.from_raw_data(_unversioned(to_item(account)))
    return _with_version(record, account.version)


def _account(record: AccountRecord) -> Account:
    return from_item(Account, record.item)


def _unversioned(item: Item) -> Item:
    """`item` without its version: that is PynamoDB's to write, checking the one read and
    storing the next (see `_with_version`)."""
    return {name: value for name, value in item.items() if name != "version"}


def _with_version[R: (SubscriptionRecord, AccountRecord)](record: R, version: int) -> R:
    """Version 0 means never stored: PynamoDB then writes only if the item does not exist."""
    if version:
        record.version = version
    return record
