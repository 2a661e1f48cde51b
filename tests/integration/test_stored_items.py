"""Charge attempts, pending purchases and accounts in DynamoDB (moto): items in the format
deployed tables hold read back, the repository writes the same attributes, the open slot's
conditions still read the purchase's map, an account's suppressed emails are kept, and any value
comes back."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings

from billing.domain.accounts import Account, SuppressedEmail, SuppressionReason
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.state_machine import Audit, account_audit
from billing.persistence.dynamodb import DynamoDBRepository, _account_record, _attempt_record
from billing.persistence.repository import AttemptAlreadyClaimed, ConcurrentModification
from billing.settings import StorageSettings
from tests.support.stored_items import (
    ACCOUNT_ITEMS,
    ACCOUNTS,
    ATTEMPT_ITEMS,
    ATTEMPTS,
    PURCHASE_MAPS,
    PURCHASES,
)
from tests.support.strategies import accounts, attempts
from tests.support.subscriptions import ANCHOR, CUSTOMER, FIRST_END

type Key = dict[str, dict[str, str]]
type StoredItem = dict[str, Any]

_EXAMPLES = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


class Items:
    """Items of the accounts and charge attempts tables, as DynamoDB holds them."""

    def __init__(self, storage: StorageSettings) -> None:
        self._client = boto3.client("dynamodb", region_name=storage.region)
        self._accounts = storage.accounts_table
        self._attempts = storage.charge_attempts_table

    def put_account(self, item: StoredItem) -> None:
        self._client.put_item(TableName=self._accounts, Item=item)

    def put_attempt(self, item: StoredItem) -> None:
        self._client.put_item(TableName=self._attempts, Item=item)

    def account(self, account_id: str) -> StoredItem:
        return self._read(self._accounts, {"id": {"S": account_id}})

    def attempt(self, item: StoredItem) -> StoredItem:
        """The stored attempt with the keys of `item`."""
        return self._read(self._attempts, {name: item[name] for name in ("subscription_id", "key")})

    def _read(self, table: str, key: Key) -> StoredItem:
        answer = self._client.get_item(TableName=table, Key=key, ConsistentRead=True)
        found: StoredItem = answer["Item"]
        return found


@pytest.fixture
def items(storage_settings: StorageSettings) -> Items:
    return Items(storage_settings)


def _requested(attempt: ChargeAttempt) -> Audit:
    return account_audit(CUSTOMER, "charge_requested", attempt.created_at, {"id": attempt.id})


@pytest.mark.parametrize("name", sorted(ATTEMPT_ITEMS))
def test_an_attempt_item_in_the_stored_format_reads_back(
    repository: DynamoDBRepository, items: Items, name: str
) -> None:
    items.put_attempt(ATTEMPT_ITEMS[name])
    attempt = ATTEMPTS[name]

    assert (
        repository.get_attempt(attempt.subscription_id, attempt.cycle, attempt.attempt) == attempt
    )
    assert repository.charge_attempts(attempt.subscription_id) == [attempt]


@pytest.mark.parametrize("name", sorted(ATTEMPT_ITEMS))
def test_the_repository_writes_attempts_in_the_stored_format(
    repository: DynamoDBRepository, items: Items, name: str
) -> None:
    repository.claim(ATTEMPTS[name], _requested(ATTEMPTS[name]))

    assert items.attempt(ATTEMPT_ITEMS[name]) == ATTEMPT_ITEMS[name]


def test_a_refused_claim_reads_the_stored_attempt(repository: DynamoDBRepository) -> None:
    pending = ATTEMPTS["pending"]
    repository.claim(pending, _requested(pending))

    with pytest.raises(AttemptAlreadyClaimed) as refused:
        repository.claim(replace(pending, payment_method_id="pm_other"), _requested(pending))

    assert refused.value.existing == pending


@pytest.mark.parametrize("name", sorted(ACCOUNT_ITEMS))
def test_an_account_item_in_the_stored_format_reads_back(
    repository: DynamoDBRepository, items: Items, name: str
) -> None:
    items.put_account(ACCOUNT_ITEMS[name])

    assert repository.get_account(ACCOUNTS[name].id) == ACCOUNTS[name]


@pytest.mark.parametrize("name", sorted(ACCOUNT_ITEMS))
def test_the_repository_writes_accounts_in_the_stored_format(
    repository: DynamoDBRepository, items: Items, name: str
) -> None:
    saved = repository.save_account(replace(ACCOUNTS[name], version=0))

    assert saved == ACCOUNTS[name]
    assert items.account(saved.id) == ACCOUNT_ITEMS[name]


@pytest.mark.parametrize("name", sorted(PURCHASE_MAPS))
def test_a_claimed_purchase_holds_the_open_slot_in_the_stored_format(
    repository: DynamoDBRepository, items: Items, name: str
) -> None:
    account = repository.save_account(replace(ACCOUNTS["new"], version=0))
    purchase = PURCHASES[name]
    attempt = replace(
        ATTEMPTS["pending"], subscription_id=purchase.subscription_id, account_id=account.id
    )

    repository.claim(attempt, _requested(attempt), purchase)

    assert items.account(account.id)["pending_purchase"] == {"M": PURCHASE_MAPS[name]}
    assert repository.get_account(account.id).pending_purchase == purchase
    declined = replace(
        attempt, status=ChargeStatus.FAILED, failure_reason=FailureReason.CARD_DECLINED
    )
    repository.release_purchase(declined)
    assert "pending_purchase" not in items.account(account.id)


def test_only_the_purchase_holding_the_slot_releases_it(
    repository: DynamoDBRepository, items: Items
) -> None:
    account = repository.save_account(replace(ACCOUNTS["new"], version=0))
    purchase = PURCHASES["yearly"]
    held = replace(
        ATTEMPTS["pending"], subscription_id=purchase.subscription_id, account_id=account.id
    )
    other = replace(held, subscription_id="sub_other")
    repository.claim(held, _requested(held), purchase)
    repository.claim(other, _requested(other))

    with pytest.raises(ConcurrentModification):
        repository.release_purchase(other)

    assert items.account(account.id)["pending_purchase"] == {"M": PURCHASE_MAPS["yearly"]}


def test_an_accounts_suppressed_emails_are_saved_with_it_and_kept_by_later_writes(
    repository: DynamoDBRepository, items: Items
) -> None:
    bounced = SuppressedEmail("ada@example.com", SuppressionReason.BOUNCE, ANCHOR, "General")
    complained = SuppressedEmail("billing@example.com", SuppressionReason.COMPLAINT, FIRST_END)
    account = repository.save_account(replace(ACCOUNTS["customer"], version=0))
    entry = account_audit(CUSTOMER, "email_suppressed", FIRST_END, {"reason": "bounce"})

    saved = repository.save_account(
        replace(account, suppressed_emails=(bounced, complained)), [entry]
    )

    stored = repository.get_account(account.id)
    assert stored == saved
    assert stored.suppressed_emails == (bounced, complained)
    assert [m["M"]["address"] for m in items.account(account.id)["suppressed_emails"]["L"]] == [
        {"S": "ada@example.com"},
        {"S": "billing@example.com"},
    ]
    assert repository.account_trail(account.id)[-1] == entry
    # A later write of the account as read (an admin's edit) keeps them.
    repository.save_account(replace(stored, locale=ACCOUNTS["new"].locale))
    assert repository.get_account(account.id).suppressed_emails == (bounced, complained)
    with pytest.raises(ConcurrentModification):
        repository.save_account(replace(account, suppressed_emails=()))
    assert repository.get_account(account.id).suppressed_emails == (bounced, complained)


@_EXAMPLES
@given(attempt=attempts())
def test_any_attempt_round_trips_dynamodb(
    repository: DynamoDBRepository, attempt: ChargeAttempt
) -> None:
    _attempt_record(attempt, len(repository.shards())).save()

    assert (
        repository.get_attempt(attempt.subscription_id, attempt.cycle, attempt.attempt) == attempt
    )


@_EXAMPLES
@given(account=accounts())
def test_any_account_round_trips_dynamodb(repository: DynamoDBRepository, account: Account) -> None:
    # A put over whatever an earlier example left (the version is the next one, unconditionally).
    _account_record(account).save(add_version_condition=False)

    assert repository.get_account(account.id) == replace(account, version=account.version + 1)
