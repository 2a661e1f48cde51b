"""The sparse, write-sharded due index: exactly what is due, from every shard, without a Scan."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from billing.domain.accounts import Account
from billing.domain.failures import FailureReason
from billing.domain.state_machine import (
    Audit,
    ChargeSucceeded,
    CustomerCancelled,
    apply,
)
from billing.domain.subscription import ChargeKind, Subscription
from billing.persistence.dynamodb import DynamoDBRepository, index_shard
from billing.persistence.repository import DueEntry, SubscriptionChange
from billing.settings import StorageSettings
from tests.support.aws import DynamoDBRequests
from tests.support.subscriptions import ANCHOR, FIRST_END, PRICE, active, declined, store

HOUR = timedelta(hours=1)


def _seed(repository: DynamoDBRepository, count: int) -> list[Subscription]:
    """`count` subscriptions bought an hour apart, each on its own account."""
    subs = []
    for n in range(count):
        account = Account(id=f"acct_{n}", email=f"c{n}@example.com")
        repository.save_account(account)
        sub = replace(active(), id=f"sub_{n:03d}", account_id=account.id, anchor=ANCHOR + n * HOUR)
        subs.append(store(repository, sub))
    return subs


def _due(repository: DynamoDBRepository, now: datetime) -> list[DueEntry]:
    """What a renewal run at `now` finds, across every shard."""
    return [entry for shard in repository.shards() for entry in repository.due_in_shard(shard, now)]


def test_due_returns_exactly_what_is_due_across_all_shards(
    repository: DynamoDBRepository,
    storage_settings: StorageSettings,
    dynamodb_requests: DynamoDBRequests,
) -> None:
    subs = _seed(repository, 40)
    shards_used = {index_shard(s.id, storage_settings.due_index_shards) for s in subs}
    assert len(shards_used) == storage_settings.due_index_shards, "the seed spans every shard"
    now = FIRST_END + 9 * HOUR + timedelta(minutes=30)
    dynamodb_requests.clear()

    found = _due(repository, now)

    expected = {s.id for s in subs if s.period.end <= now}
    assert len(expected) == 10
    assert {entry.subscription_id for entry in found} == expected
    assert all(entry.due_at <= now for entry in found)
    assert dynamodb_requests.count("Scan") == 0
    assert dynamodb_requests.operations == ["Query"] * storage_settings.due_index_shards


def test_due_boundary_is_inclusive(repository: DynamoDBRepository) -> None:
    [sub] = _seed(repository, 1)
    assert _due(repository, FIRST_END - timedelta(seconds=1)) == []
    assert [e.subscription_id for e in _due(repository, FIRST_END)] == [sub.id]


def test_subscription_leaves_the_index_when_nothing_is_due(repository: DynamoDBRepository) -> None:
    renewed, dunned, cancelled = _seed(repository, 3)
    far_future = FIRST_END + timedelta(days=400)

    cancel = apply(
        apply(
            cancelled,
            declined(cancelled.period.end, ChargeKind.RENEWAL, FailureReason.CARD_DECLINED),
        ).subscription,
        CustomerCancelled(at=cancelled.period.end + HOUR),
    )
    repository.commit(
        SubscriptionChange(cancelled, cancel.subscription, audit=cancel.of_type(Audit))
    )
    entries = {e.subscription_id: e.due_at for e in _due(repository, far_future)}
    assert cancelled.id not in entries, "a cancelled subscription has nothing due"
    assert entries == {renewed.id: renewed.period.end, dunned.id: dunned.period.end}


def test_due_moves_with_the_state(repository: DynamoDBRepository) -> None:
    renewed, dunned = _seed(repository, 2)
    paid = apply(
        renewed, ChargeSucceeded(at=renewed.period.end, kind=ChargeKind.RENEWAL, amount=PRICE)
    )
    repository.commit(SubscriptionChange(renewed, paid.subscription, audit=paid.of_type(Audit)))
    failed = apply(
        dunned,
        declined(dunned.period.end, ChargeKind.RENEWAL, FailureReason.INSUFFICIENT_FUNDS),
    )
    repository.commit(SubscriptionChange(dunned, failed.subscription, audit=failed.of_type(Audit)))

    just_after = {e.subscription_id for e in _due(repository, FIRST_END + 2 * HOUR)}
    assert just_after == set(), "renewed is due next month, the retry tomorrow"
    next_day = _due(repository, dunned.period.end + timedelta(days=1))
    assert [(e.subscription_id, e.due_at) for e in next_day] == [
        (dunned.id, dunned.period.end + timedelta(days=1))
    ]
