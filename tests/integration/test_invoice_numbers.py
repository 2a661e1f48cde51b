"""Invoice numbers under concurrent settlements, on moto as the local stack's moto server runs it
(`devstack.moto_server`: one request at a time, a cancelled transaction's writes put back item by
item) but in this process: each settlement's transaction takes the next number of the seller's
one sequence, so 1,000 payments settled at once by separate writers are numbered 1 to 1,000,
with no gap and no duplicate.

In this process rather than over HTTP: moto server's answer (8 to 25 ms each, for some 2,400
transactions, lost races included) made this the suite's longest test. The writers' threads
still race: each holds a repository of its own, and only moto's answer to one request at a time
is serialised, as moto server serialises it."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from moto.core.botocore_stubber import BotocoreStubber

from billing.domain.accounts import Party
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.invoices import DocumentKind
from billing.domain.money import Currency, Money
from billing.domain.subscription import ChargeKind, Subscription
from billing.domain.tax import taxed
from billing.persistence.dynamodb import DynamoDBRepository, _attempt_record
from billing.persistence.items import to_item
from billing.persistence.models import ChargeAttemptRecord, SubscriptionRecord
from billing.persistence.repository import SubscriptionChange
from billing.settings import StorageSettings
from devstack.moto_server import TRANSACTION_PATCHES
from tests.support.subscriptions import ANCHOR, CUSTOMER, active

SETTLEMENTS = 1000
WRITERS = 3
"""Each writer a repository of its own, as each Lambda environment has: none shares another's
view of the sequence."""


@pytest.fixture
def settings(storage_settings: StorageSettings, monkeypatch: pytest.MonkeyPatch) -> StorageSettings:
    """moto in this process (the integration tier's tables), patched as `devstack.moto_server`
    patches it: a transaction that fails puts back the items it names, instead of moto's copy of
    every table it touches (which, with thousands of items, slows each transaction to a crawl),
    and one request answered at a time (moto's backends are not thread-safe)."""
    for target, name, value in TRANSACTION_PATCHES:
        monkeypatch.setattr(target, name, value)
    one_at_a_time = threading.Lock()
    answer = BotocoreStubber.process_request

    def serialised(stubber: BotocoreStubber, request: Any) -> Any:
        with one_at_a_time:
            return answer(stubber, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", serialised)
    return storage_settings


def _due_renewals(repository: DynamoDBRepository) -> list[tuple[ChargeAttempt, Subscription]]:
    """Subscriptions due for their renewal, each with that renewal's charge claimed (pending):
    written in batches, as only their settlement is under test."""
    at = ANCHOR + timedelta(days=365)
    subs = [
        active(id=f"sub_{index:04d}", account_id=f"acct_{index:04d}", version=1)
        for index in range(SETTLEMENTS)
    ]
    claimed = []
    for sub in subs:
        tax = taxed(Money(4900, Currency.EUR), "FR", confirmed_vat_id=False, at=at)
        attempt = ChargeAttempt(
            subscription_id=sub.id,
            account_id=sub.account_id,
            cycle=1,
            attempt=1,
            kind=ChargeKind.RENEWAL,
            amount=tax.gross,
            status=ChargeStatus.PENDING,
            created_at=at,
            requested_by=CUSTOMER,
            tax=tax,
            buyer=Party(sub.account_id, (), None),
        )
        claimed.append((attempt, sub))
    with SubscriptionRecord.batch_write() as subscriptions:
        for sub in subs:
            subscriptions.save(SubscriptionRecord.from_raw_data(to_item(sub)))
    with ChargeAttemptRecord.batch_write() as attempts:
        for attempt, _ in claimed:
            attempts.save(_attempt_record(attempt, len(repository.shards())))
    return claimed


def test_a_thousand_settlements_at_once_are_numbered_one_to_a_thousand(
    settings: StorageSettings,
) -> None:
    claimed = _due_renewals(DynamoDBRepository(settings))
    writers = [DynamoDBRepository(settings) for _ in range(WRITERS)]

    def settle(index: int) -> int:
        attempt, sub = claimed[index]
        paid = replace(attempt, status=ChargeStatus.SUCCEEDED, provider_reference=f"pi_{index}")
        written = writers[index % WRITERS].commit(
            SubscriptionChange(sub, sub, attempts=[paid], at=paid.created_at)
        )
        [settled] = written.attempts
        assert settled.invoice is not None
        return settled.invoice

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        numbers = list(pool.map(settle, range(SETTLEMENTS)))

    assert sorted(numbers) == list(range(1, SETTLEMENTS + 1))
    reader = DynamoDBRepository(settings)
    for number in (1, 500, SETTLEMENTS):
        document = reader.get_document(number)
        assert document.kind is DocumentKind.INVOICE
        assert numbers[int(document.payment_id.split(".")[0].removeprefix("sub_"))] == number
