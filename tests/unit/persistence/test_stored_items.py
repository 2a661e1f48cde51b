"""Charge attempts, pending purchases and accounts as items, without DynamoDB: the format
deployed tables hold is still read and written, and any value comes back from its item; tuples
of values (an account's suppressed emails) as lists; VIES's check of an account's VAT ID as a
map."""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.accounts import (
    Account,
    PendingPurchase,
    SuppressedEmail,
    SuppressionReason,
    VatIdCheck,
    VatIdStatus,
)
from billing.domain.charges import ChargeAttempt
from billing.domain.money import Currency, Money
from billing.persistence.dynamodb import _account, _account_record, _attempt, _attempt_record
from billing.persistence.items import from_item, to_item
from billing.persistence.models import AccountRecord, ChargeAttemptRecord
from tests.support.stored_items import (
    ACCOUNT_ITEMS,
    ACCOUNTS,
    ATTEMPT_ITEMS,
    ATTEMPTS,
    PURCHASE_MAPS,
    PURCHASES,
    SHARDS,
)
from tests.support.strategies import (
    accounts,
    attempts,
    instants,
    optional_texts,
    pending_purchases,
    texts,
)


@pytest.mark.parametrize("name", sorted(ATTEMPT_ITEMS))
def test_an_attempt_item_in_the_stored_format_reads_back(name: str) -> None:
    record = ChargeAttemptRecord.from_raw_data(copy.deepcopy(ATTEMPT_ITEMS[name]))

    assert _attempt(record) == ATTEMPTS[name]


@pytest.mark.parametrize("name", sorted(ATTEMPT_ITEMS))
def test_an_attempt_is_written_in_the_stored_format(name: str) -> None:
    assert _attempt_record(ATTEMPTS[name], SHARDS).item == ATTEMPT_ITEMS[name]


@pytest.mark.parametrize("name", sorted(PURCHASE_MAPS))
def test_a_pending_purchase_is_stored_as_the_map_it_always_was(name: str) -> None:
    assert to_item(PURCHASES[name]) == PURCHASE_MAPS[name]
    assert from_item(PendingPurchase, copy.deepcopy(PURCHASE_MAPS[name])) == PURCHASES[name]


@pytest.mark.parametrize("name", sorted(ACCOUNT_ITEMS))
def test_an_account_item_in_the_stored_format_reads_back(name: str) -> None:
    record = AccountRecord.from_raw_data(copy.deepcopy(ACCOUNT_ITEMS[name]))

    assert _account(record) == ACCOUNTS[name]


@pytest.mark.parametrize("name", sorted(ACCOUNT_ITEMS))
def test_an_account_is_written_in_the_stored_format(name: str) -> None:
    assert _account_record(ACCOUNTS[name]).item == ACCOUNT_ITEMS[name]


def test_a_pending_purchase_keeps_its_currency_in_its_own_map() -> None:
    item = _account_record(ACCOUNTS["purchasing"]).item

    assert "currency" not in item
    assert item["pending_purchase"] == {"M": PURCHASE_MAPS["discounted"]}


@given(attempts())
def test_any_attempt_comes_back_from_its_item(attempt: ChargeAttempt) -> None:
    item = _attempt_record(attempt, SHARDS).item

    assert _attempt(ChargeAttemptRecord.from_raw_data(copy.deepcopy(item))) == attempt


@given(pending_purchases())
def test_any_pending_purchase_comes_back_from_its_map(purchase: PendingPurchase) -> None:
    assert from_item(PendingPurchase, copy.deepcopy(to_item(purchase))) == purchase


@given(accounts())
def test_any_account_comes_back_from_its_item(account: Account) -> None:
    item = _account_record(account).item

    assert _account(AccountRecord.from_raw_data(copy.deepcopy(item))) == account


# --- tuples of values: an account's suppressed emails -----------------------------------------


class _Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


@dataclass(frozen=True, slots=True)
class _Mark:
    name: str
    colour: _Colour
    at: datetime
    note: str | None = None


@dataclass(frozen=True, slots=True)
class _Marked:
    id: str
    marks: tuple[_Mark, ...] = ()
    words: tuple[str, ...] = ()


_SECOND = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)


def test_a_tuple_of_dataclasses_is_a_list_of_their_maps_and_comes_back() -> None:
    marked = _Marked(
        "m1",
        (_Mark("a", _Colour.RED, _SECOND), _Mark("b", _Colour.BLUE, _SECOND, "kept")),
        ("x", "y"),
    )

    item = to_item(marked)

    assert item == {
        "id": {"S": "m1"},
        "marks": {
            "L": [
                {
                    "M": {
                        "name": {"S": "a"},
                        "colour": {"S": "red"},
                        "at": {"S": "2026-01-31T09:30:00Z"},
                    }
                },
                {
                    "M": {
                        "name": {"S": "b"},
                        "colour": {"S": "blue"},
                        "at": {"S": "2026-01-31T09:30:00Z"},
                        "note": {"S": "kept"},
                    }
                },
            ]
        },
        "words": {"L": [{"S": "x"}, {"S": "y"}]},
    }
    assert from_item(_Marked, copy.deepcopy(item)) == marked


def test_an_empty_tuple_is_no_attribute_and_no_attribute_reads_as_empty() -> None:
    assert to_item(_Marked("m2")) == {"id": {"S": "m2"}}
    assert from_item(_Marked, {"id": {"S": "m2"}}) == _Marked("m2")
    assert from_item(_Marked, {"id": {"S": "m2"}, "marks": {"L": []}}) == _Marked("m2")


def test_a_tuple_of_amounts_is_refused_rather_than_stored_without_its_currency() -> None:
    @dataclass(frozen=True, slots=True)
    class Amounts:
        amounts: tuple[Money, ...] = ()

    with pytest.raises(TypeError, match="tuple of amounts"):
        to_item(Amounts((Money(100, Currency.EUR),)))


_BOUNCED = SuppressedEmail("ada@example.com", SuppressionReason.BOUNCE, _SECOND, "General")
_COMPLAINED = SuppressedEmail("billing@example.com", SuppressionReason.COMPLAINT, _SECOND)


def test_an_account_without_suppressed_emails_is_written_as_before() -> None:
    """Items written before the field existed have no attribute: they read as none, and an
    account with none writes none (the stored-format tests above check every such item)."""
    assert "suppressed_emails" not in _account_record(ACCOUNTS["customer"]).item


def test_an_accounts_suppressed_emails_are_stored_in_its_item_and_come_back() -> None:
    account = replace(ACCOUNTS["customer"], suppressed_emails=(_BOUNCED, _COMPLAINED))

    item = _account_record(account).item

    assert item["suppressed_emails"] == {
        "L": [
            {
                "M": {
                    "address": {"S": "ada@example.com"},
                    "reason": {"S": "bounce"},
                    "at": {"S": "2026-01-31T09:30:00Z"},
                    "detail": {"S": "General"},
                }
            },
            {
                "M": {
                    "address": {"S": "billing@example.com"},
                    "reason": {"S": "complaint"},
                    "at": {"S": "2026-01-31T09:30:00Z"},
                }
            },
        ]
    }
    assert _account(AccountRecord.from_raw_data(copy.deepcopy(item))) == account


_suppressions = st.lists(
    st.builds(
        SuppressedEmail,
        address=texts,
        reason=st.sampled_from(SuppressionReason),
        at=instants,
        detail=optional_texts,
    ),
    max_size=4,
).map(tuple)


@given(accounts(), _suppressions)
def test_any_account_with_suppressed_emails_comes_back_from_its_item(
    account: Account, suppressed: tuple[SuppressedEmail, ...]
) -> None:
    account = replace(account, suppressed_emails=suppressed)
    item = _account_record(account).item

    assert _account(AccountRecord.from_raw_data(copy.deepcopy(item))) == account


# --- VIES's check of the account's VAT ID ----------------------------------------------------

_CHECKED = VatIdCheck(
    "BE0123456789", VatIdStatus.UNCHECKED, _SECOND, next_check_at=_SECOND + timedelta(hours=1)
)


def test_an_account_without_a_vat_id_check_is_written_as_before() -> None:
    assert "vat_id_check" not in _account_record(ACCOUNTS["customer"]).item


def test_an_accounts_vat_id_check_is_a_map_of_its_own_in_its_item() -> None:
    """A map the check made before a charge sets on its own (`save_vat_id_check`)."""
    account = replace(ACCOUNTS["customer"], vat_id_check=_CHECKED)

    item = _account_record(account).item

    assert item["vat_id_check"] == {
        "M": {
            "vat_id": {"S": "BE0123456789"},
            "status": {"S": "unchecked"},
            "checked_at": {"S": "2026-01-31T09:30:00Z"},
            "next_check_at": {"S": "2026-01-31T10:30:00Z"},
        }
    }
    assert _account(AccountRecord.from_raw_data(copy.deepcopy(item))) == account


_vat_id_checks = st.builds(
    VatIdCheck,
    vat_id=texts,
    status=st.sampled_from(VatIdStatus),
    checked_at=instants,
    next_check_at=st.none() | instants,
    consultation=optional_texts,
)


@given(accounts(), _vat_id_checks)
def test_any_account_with_a_vat_id_check_comes_back_from_its_item(
    account: Account, check: VatIdCheck
) -> None:
    account = replace(account, vat_id_check=check)
    item = _account_record(account).item

    assert _account(AccountRecord.from_raw_data(copy.deepcopy(item))) == account
