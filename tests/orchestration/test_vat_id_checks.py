"""VIES at the billing form and before a charge, on the fakes: a Belgian business confirmed is
stored valid with the form and reverse-charged; a number VIES refuses is a 422 that changes
nothing; VIES not answering saves the form unchecked, taxed as a consumer, and `refresh` asks
again once its time has come (confirming it, or waiting longer), never raising for VIES nor for
a lost race. No VIES call where its answer changes nothing (no VAT ID, French, outside the EU).
The operations come from the composition root, as each function gets them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing import composition
from billing.composition import Root
from billing.domain.accounts import Account, BillingInfo, VatIdCheck, VatIdStatus
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency, Money
from billing.domain.state_machine import Actor, Requester
from billing.domain.tax import TaxRule
from billing.operations.vat_ids import (
    FIRST_RECHECK,
    LONGEST_RECHECK,
    VAT_ID_REFUSED,
    next_wait,
)
from tests.fakes import FakeVies, InMemoryRepository
from tests.support.api import Clock

NOW = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
CUSTOMER = Requester(Actor.CUSTOMER, "user-1")
BELGIAN_VAT_ID = "BE0123456789"
BELGIAN = BillingInfo(
    "Lotte Peeters",
    "factuur@voorbeeld.be",
    "Rue de la Loi 16",
    "Bruxelles",
    "BE",
    company="Exemple Services SA",
    postal_code="1000",
    vat_id=BELGIAN_VAT_ID,
)
NET = Money(4900, Currency.EUR)


class Billing:
    def __init__(self, root: Root, repository: InMemoryRepository, vies: FakeVies, clock: Clock):
        self.root, self.repository, self.vies, self.clock = root, repository, vies, clock

    def opened(self, account_id: str = "acct_be") -> Account:
        return self.repository.save_account(Account(id=account_id, email="ops@voorbeeld.be"))

    def save_form(self, info: BillingInfo, account_id: str = "acct_be") -> Account:
        return self.root.billing_profile.update_info(account_id, info, CUSTOMER)

    def stored(self, account_id: str = "acct_be") -> Account:
        return self.repository.get_account(account_id)

    def rule(self, account: Account) -> TaxRule:
        return account.tax_on(NET, self.clock()).rule


@pytest.fixture
def billing(repository: InMemoryRepository, monkeypatch: pytest.MonkeyPatch) -> Billing:
    clock = Clock(NOW)
    monkeypatch.setattr(composition, "clock", clock)
    vies = FakeVies(BELGIAN_VAT_ID)
    root = Root(repository=repository, outbox=repository, vat_id_checker=vies)
    return Billing(root, repository, vies, clock)


def test_a_belgian_business_confirmed_by_vies_is_stored_valid_with_the_form(
    billing: Billing,
) -> None:
    billing.opened()

    saved = billing.save_form(BELGIAN)

    assert billing.vies.checked == [BELGIAN_VAT_ID]
    check = saved.vat_id_check
    assert check is not None
    assert (check.vat_id, check.status, check.checked_at, check.next_check_at) == (
        BELGIAN_VAT_ID,
        VatIdStatus.VALID,
        NOW,
        None,
    )
    assert check.consultation is not None
    assert billing.stored() == saved
    assert billing.repository.calls.count("save_account") == 2, "opened, then the form at once"
    assert billing.rule(saved) is TaxRule.REVERSE_CHARGE
    [entry] = billing.repository.account_trail("acct_be")
    assert entry.action == "billing_info_saved"
    assert entry.details["vat_id_check"] == "valid"
    assert entry.details["consultation"] == check.consultation
    assert BELGIAN_VAT_ID not in entry.details.values(), "the trail keeps no VAT number"


def test_a_number_vies_refuses_is_a_field_error_and_changes_nothing(billing: Billing) -> None:
    opened = billing.opened()
    refused = replace(BELGIAN, vat_id="BE0999999999")

    with pytest.raises(DomainError) as error:
        billing.save_form(refused)

    assert error.value.code is ErrorCode.INVALID_FIELDS
    details = error.value.details
    assert isinstance(details, list)
    [field] = details
    assert (field["field"], field["code"]) == ("vat_id", VAT_ID_REFUSED)
    assert "BE0999999999 is not a valid VAT number" in field["message"]
    assert "leave the field empty" in field["message"], "says what to do"
    assert billing.stored() == opened
    assert billing.repository.account_trail("acct_be") == []
    assert billing.repository.posted == [], "no email for a form not saved"


def test_vies_not_answering_saves_the_form_unchecked_and_refresh_confirms_it_later(
    billing: Billing,
) -> None:
    billing.opened()
    billing.vies.unavailable("BE")

    saved = billing.save_form(BELGIAN)

    assert saved.vat_id_check == VatIdCheck(
        BELGIAN_VAT_ID, VatIdStatus.UNCHECKED, NOW, next_check_at=NOW + FIRST_RECHECK
    )
    assert billing.rule(saved) is TaxRule.EU_CONSUMER, "taxed as a consumer meanwhile"
    assert saved.tax_on(NET, NOW).vat == Money(1029, Currency.EUR)

    billing.vies.available()
    billing.clock.now = NOW + FIRST_RECHECK - timedelta(seconds=1)
    assert billing.root.vat_ids.refresh(saved) is saved, "not due yet: VIES not asked"
    assert billing.vies.checked == [BELGIAN_VAT_ID]

    billing.clock.now = NOW + FIRST_RECHECK
    refreshed = billing.root.vat_ids.refresh(saved)

    assert billing.vies.checked == [BELGIAN_VAT_ID] * 2
    assert refreshed.vat_id_check is not None
    assert refreshed.vat_id_check.status is VatIdStatus.VALID
    assert refreshed.vat_id_check.checked_at == NOW + FIRST_RECHECK
    assert billing.stored() == refreshed
    assert billing.rule(refreshed) is TaxRule.REVERSE_CHARGE
    entry = billing.repository.account_trail("acct_be")[-1]
    assert (entry.action, entry.actor, entry.details["status"]) == (
        "vat_id_checked",
        Actor.SCHEDULER,
        "valid",
    )
    assert billing.root.vat_ids.refresh(refreshed) is refreshed, "a confirmed ID is not asked"


def test_vies_still_not_answering_waits_twice_as_long_and_never_raises(billing: Billing) -> None:
    billing.opened()
    billing.vies.unavailable()
    saved = billing.save_form(BELGIAN)
    billing.clock.now = NOW + FIRST_RECHECK

    again = billing.root.vat_ids.refresh(saved)

    assert again.vat_id_check == VatIdCheck(
        BELGIAN_VAT_ID,
        VatIdStatus.UNCHECKED,
        NOW + FIRST_RECHECK,
        next_check_at=NOW + FIRST_RECHECK * 3,
    )
    assert billing.stored() == again
    assert billing.rule(again) is TaxRule.EU_CONSUMER


def test_a_refresh_that_loses_a_race_returns_the_account_as_it_stands(billing: Billing) -> None:
    billing.opened()
    billing.vies.unavailable()
    saved = billing.save_form(BELGIAN)
    billing.vies.available()
    billing.clock.now = NOW + FIRST_RECHECK

    def another_writer(*_: object) -> None:
        del billing.repository.before["save_vat_id_check"]
        billing.repository.save_account(replace(billing.stored(), email="new@voorbeeld.be"))

    billing.repository.before["save_vat_id_check"] = another_writer

    current = billing.root.vat_ids.refresh(saved)

    assert current == billing.stored()
    assert current.email == "new@voorbeeld.be"
    assert current.vat_id_check == saved.vat_id_check, "unconfirmed: taxed as a consumer"
    assert billing.rule(current) is TaxRule.EU_CONSUMER


def test_a_number_vies_refuses_at_a_refresh_is_stored_invalid(billing: Billing) -> None:
    billing.opened()
    billing.vies.unavailable()
    unknown = replace(BELGIAN, vat_id="BE0888888888")
    saved = billing.save_form(unknown)
    billing.vies.available()
    billing.clock.now = NOW + FIRST_RECHECK

    refreshed = billing.root.vat_ids.refresh(saved)

    assert refreshed.vat_id_check is not None
    assert refreshed.vat_id_check.status is VatIdStatus.INVALID
    assert billing.rule(refreshed) is TaxRule.EU_CONSUMER


@pytest.mark.parametrize(
    "info",
    [
        replace(BELGIAN, vat_id=None),
        replace(BELGIAN, country="FR", postal_code="75002", vat_id="FR40303265045"),
        replace(BELGIAN, country="CH", postal_code="8001", vat_id="CHE123456789"),
    ],
    ids=["no VAT ID", "French", "outside the EU"],
)
def test_vies_is_not_asked_where_its_answer_changes_nothing(
    billing: Billing, info: BillingInfo
) -> None:
    opened = billing.opened()
    # An earlier check, as if left by another number: cleared with the new form.
    billing.repository.save_account(
        replace(billing.stored(), vat_id_check=VatIdCheck(BELGIAN_VAT_ID, VatIdStatus.VALID, NOW))
    )

    saved = billing.save_form(info)

    assert billing.vies.checked == []
    assert saved.vat_id_check is None
    assert billing.stored().vat_id_check is None
    assert saved.version == opened.version + 2


def test_the_address_saved_again_keeps_the_confirmed_check_without_asking(
    billing: Billing,
) -> None:
    billing.opened()
    first = billing.save_form(BELGIAN)

    moved = billing.save_form(replace(BELGIAN, address_line1="Rue Royale 1"))

    assert billing.vies.checked == [BELGIAN_VAT_ID]
    assert moved.vat_id_check == first.vat_id_check


def test_a_new_vat_id_the_rules_send_to_sales_is_refused_before_vies_is_asked(
    billing: Billing,
) -> None:
    billing.opened()
    billing.save_form(replace(BELGIAN, vat_id=None))

    with pytest.raises(DomainError) as refused:
        billing.save_form(BELGIAN)

    assert refused.value.code is ErrorCode.CONTACT_SALES
    assert billing.vies.checked == []


def test_the_wait_before_asking_again_doubles_up_to_a_day() -> None:
    def unchecked(waited: timedelta) -> VatIdCheck:
        return VatIdCheck(BELGIAN_VAT_ID, VatIdStatus.UNCHECKED, NOW, next_check_at=NOW + waited)

    assert next_wait(None) == FIRST_RECHECK
    assert next_wait(unchecked(FIRST_RECHECK)) == FIRST_RECHECK * 2
    assert next_wait(unchecked(timedelta(hours=16))) == LONGEST_RECHECK
    assert next_wait(unchecked(LONGEST_RECHECK)) == LONGEST_RECHECK
    assert next_wait(VatIdCheck(BELGIAN_VAT_ID, VatIdStatus.VALID, NOW)) == FIRST_RECHECK
