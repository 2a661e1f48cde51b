"""An account's suppressed emails: which addresses must no longer be emailed, found whatever the
case or form of the address asked about, and recorded once per reason."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.domain.accounts import (
    Account,
    SuppressedEmail,
    SuppressionReason,
    normalised_email,
)

AT = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
LATER = datetime(2026, 2, 3, 8, 0, tzinfo=UTC)
ACCOUNT = Account(id="acct_1", email="ada@example.com")


def _bounced(address: str, at: datetime = AT, detail: str | None = "General") -> SuppressedEmail:
    return SuppressedEmail(address, SuppressionReason.BOUNCE, at, detail)


@pytest.mark.parametrize(
    ("given", "normalised"),
    [
        ("ada@example.com", "ada@example.com"),
        ("Ada@Example.COM", "ada@example.com"),
        ("  ada@example.com \n", "ada@example.com"),
        ("Ada Lovelace <Ada@Example.com>", "ada@example.com"),
        ('"Lovelace, Ada" <ada@example.com>', "ada@example.com"),
    ],
)
def test_an_address_is_compared_bare_and_in_lower_case(given: str, normalised: str) -> None:
    assert normalised_email(given) == normalised


def test_an_account_suppresses_nothing_until_an_address_is_recorded() -> None:
    assert ACCOUNT.suppressed_emails == ()
    assert not ACCOUNT.is_suppressed("ada@example.com")
    assert ACCOUNT.suppression("ada@example.com") is None


def test_a_suppressed_address_is_found_in_any_case_or_form() -> None:
    account, added = ACCOUNT.suppressing(_bounced("Ada@Example.com"))

    assert added == (_bounced("ada@example.com"),)
    assert account.suppressed_emails == added
    for asked in ("ada@example.com", "ADA@EXAMPLE.COM", "Ada <ada@example.com>"):
        assert account.is_suppressed(asked)
        assert account.suppression(asked) == _bounced("ada@example.com")
    assert not account.is_suppressed("grace@example.com")


def test_the_same_address_and_reason_again_changes_nothing() -> None:
    account, _ = ACCOUNT.suppressing(_bounced("ada@example.com"))

    again, added = account.suppressing(_bounced("ADA@example.com", LATER, "NoEmail"))

    assert added == ()
    assert again is account, "nothing to write: the first record stands, with its date"


def test_a_complaint_about_an_address_that_bounced_is_kept_beside_the_bounce() -> None:
    complaint = SuppressedEmail("ada@example.com", SuppressionReason.COMPLAINT, LATER, "abuse")
    account, _ = ACCOUNT.suppressing(_bounced("ada@example.com"))

    account, added = account.suppressing(complaint)

    assert added == (complaint,)
    assert account.suppressed_emails == (_bounced("ada@example.com"), complaint)
    assert account.suppression("ada@example.com") == _bounced("ada@example.com"), "the first"


def test_several_addresses_at_once_are_each_added_once_in_order() -> None:
    account, added = ACCOUNT.suppressing(
        _bounced("ada@example.com"), _bounced("billing@example.com"), _bounced("Ada@example.com")
    )

    assert [s.address for s in added] == ["ada@example.com", "billing@example.com"]
    assert account.suppressed_emails == added
    assert (account.id, account.version) == (ACCOUNT.id, ACCOUNT.version)
