"""The account an email was sent for travels as an SES message tag, whose values may hold only
letters, digits, "_" and "-"; bounces and complaints find their account from it."""

from __future__ import annotations

import re

import pytest

from billing.notifications.sender import account_tag, tagged_account

pytestmark = pytest.mark.unit

SES_TAG_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@pytest.mark.parametrize(
    "account_id", ["acct_1", "9f1c2d3e-aaaa-bbbb-cccc-0123456789ab", "acct.2", "tenant:acct-3"]
)
def test_every_account_id_the_api_accepts_round_trips_through_a_valid_tag(account_id: str) -> None:
    tag = account_tag(account_id)

    assert SES_TAG_VALUE.match(tag["Value"]), tag
    assert tagged_account({tag["Name"]: [tag["Value"]], "template": ["renewal_failed"]}) == (
        account_id
    )


def test_a_plain_id_is_sent_as_it_is() -> None:
    assert account_tag("acct_1") == {"Name": "account_id", "Value": "acct_1"}


def test_an_event_without_the_tag_or_with_a_mangled_one_names_no_account() -> None:
    assert tagged_account({"template": ["renewal_failed"]}) is None
    assert tagged_account({"account_id_hex": ["zz"]}) is None
