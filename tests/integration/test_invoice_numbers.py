"""Invoice numbers under concurrent settlements, on moto server as the local stack runs it: each
settlement's transaction takes the next number of the seller's one sequence, so 1,000 payments
settled at once by separate writers are numbered 1 to 1,000, with no gap and no duplicate."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest

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
from tests.support.aws import create_tables
from tests.support.moto_server import REGION, MotoServer
from tests.support.subscriptions import ANCHOR, CUSTOMER, active

SETTLEMENTS = 1000
WRITERS = 3
"""Each writer a repository of its own, as each Lambda environment has: none shares another's
view of the sequence."""


@pytest.fixture
def settings(moto: MotoServer) -> StorageSettings:
    environment = create_tables(moto.client("dynamodb"))
    return StorageSettings.from_environment(
        {**environment, "DYNAMODB_ENDPOINT_URL": moto.url, "AWS_REGION": REGION}
    )


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
