"""The due and pending indexes as a renewal run reads them, shard by shard: all the renewal
dispatcher reads of the tables, without the domain the rest of the adapter turns items into
(its cold start loads this module, not `billing.persistence.dynamodb`; docs/performance.md)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from pynamodb.exceptions import PynamoDBException

from billing.domain.subscription import ChargeKind
from billing.persistence.models import ChargeAttemptRecord, SubscriptionRecord, bind_tables
from billing.persistence.repository import DueEntry, PendingEntry, StorageUnavailable
from billing.settings import StorageSettings


@contextmanager
def storage_errors() -> Iterator[None]:
    """PynamoDB failures that no caller turned into a domain error: storage is unavailable."""
    try:
        yield
    except PynamoDBException as error:
        raise StorageUnavailable(str(error)) from error


class DynamoDBRenewalIndexes:
    """`RenewalIndexes` on the tables of `settings` (which it points the models at)."""

    def __init__(self, settings: StorageSettings) -> None:
        self._settings = settings
        bind_tables(settings)

    def shards(self) -> Sequence[str]:
        return [f"{shard:03d}" for shard in range(self._settings.due_index_shards)]

    def due_in_shard(self, shard: str, now: datetime) -> Iterator[DueEntry]:
        with storage_errors():
            for record in SubscriptionRecord.due_index.query(
                shard, SubscriptionRecord.due_at <= now
            ):
                if record.due_at is not None:
                    yield DueEntry(record.id, record.account_id, record.due_at)

    def pending_in_shard(self, shard: str, claimed_before: datetime) -> Iterator[PendingEntry]:
        with storage_errors():
            for record in ChargeAttemptRecord.pending_index.query(
                shard, ChargeAttemptRecord.created_at < claimed_before
            ):
                cycle, attempt = ChargeAttemptRecord.numbers_of(record.key)
                yield PendingEntry(
                    subscription_id=record.subscription_id,
                    account_id=record.account_id,
                    cycle=cycle,
                    attempt=attempt,
                    kind=ChargeKind(record.kind),
                    created_at=record.created_at,
                )
