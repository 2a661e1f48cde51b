"""What only the DynamoDB adapter can show: what each call costs in DynamoDB requests (one
transaction for every write, so that it is all or nothing). What it does is the repository
contract's, run against it and the in-memory fake (tests/contract/test_repository_contract.py)."""

from __future__ import annotations

from dataclasses import replace

from billing.domain.accounts import Account
from billing.domain.charges import ChargeStatus
from billing.domain.state_machine import Audit, ChargeSucceeded, account_audit, apply
from billing.domain.subscription import ChargeKind
from billing.persistence.dynamodb import DynamoDBRepository
from billing.persistence.repository import SubscriptionChange
from tests.support.aws import DynamoDBRequests
from tests.support.subscriptions import CUSTOMER, FIRST_END, PRICE, active, first_attempt, store


def test_each_write_is_one_transaction_and_a_load_one_read(
    repository: DynamoDBRepository, dynamodb_requests: DynamoDBRequests
) -> None:
    account = repository.save_account(Account(id="acct_1", email="ada@example.com"))
    stored = store(repository, active())
    renewal = replace(first_attempt(stored), cycle=1, kind=ChargeKind.RENEWAL)
    paid = apply(stored, ChargeSucceeded(at=FIRST_END, kind=ChargeKind.RENEWAL, amount=PRICE))
    dynamodb_requests.clear()

    repository.load(stored.id, account.id)
    repository.claim(renewal, account_audit(CUSTOMER, "charge_requested", FIRST_END, {}))
    repository.commit(
        SubscriptionChange(
            stored,
            paid.subscription,
            [replace(renewal, status=ChargeStatus.SUCCEEDED)],
            paid.of_type(Audit),
        )
    )
    repository.get_account(account.id)
    repository.save_account(repository.get_account(account.id))

    assert dynamodb_requests.operations == [
        "TransactGetItems",
        "TransactWriteItems",
        "TransactWriteItems",
        "GetItem",
        "GetItem",
        "TransactWriteItems",
    ]
