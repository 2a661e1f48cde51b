"""What only the VIES adapter meets, against the VIES stand-in with faults injected: a VIES too
slow for the short timeout, or not there at all; a server error or a busy VIES tried once more,
and given up on after the second; the seller's VAT ID sent as requester. What every checker
answers is the contract's (tests/contract/test_vat_id_checker_contract.py)."""

from __future__ import annotations

import time

import pytest

from billing.providers.retry import RetryPolicy
from billing.providers.vies import VatIdCheckUnavailable, ViesChecker
from devstack.processes import free_port
from tests.contract.vat_ids import SELLER_VAT_ID
from tests.support.sleeps import Sleeps
from tests.support.stand_ins import StandIn

BELGIAN = "BE0123456789"
"""A valid number of the stand-in's own (docs/tax.md)."""
TIMEOUT = 0.5
CHECK = ("POST", "/check-vat-number")


def _checker(url: str, sleeps: Sleeps, requester: str = SELLER_VAT_ID) -> ViesChecker:
    return ViesChecker(
        requester=requester,
        api_base=url,
        timeout=TIMEOUT,
        retry=RetryPolicy(attempts=2, sleep=sleeps),
    )


def test_a_vies_slower_than_the_timeout_gives_no_verdict_at_once(vies: StandIn) -> None:
    sleeps = Sleeps()
    vies.inject(*CHECK, delay=TIMEOUT * 10)
    started = time.monotonic()

    with pytest.raises(VatIdCheckUnavailable, match="no answer from VIES"):
        _checker(vies.url, sleeps).check(BELGIAN)

    assert time.monotonic() - started < TIMEOUT * 5, "the timeout, not VIES, ended the wait"
    assert len(vies.requests(*CHECK)) == 1, "a timeout is not tried again"


def test_a_vies_that_is_not_there_gives_no_verdict() -> None:
    with pytest.raises(VatIdCheckUnavailable, match="no answer from VIES"):
        _checker(f"http://127.0.0.1:{free_port()}", Sleeps()).check(BELGIAN)


def test_a_server_error_is_tried_once_more(vies: StandIn) -> None:
    sleeps = Sleeps()
    vies.inject(*CHECK, status=500)

    assert _checker(vies.url, sleeps).check(BELGIAN).valid
    assert (len(vies.requests(*CHECK)), len(sleeps)) == (2, 1)


def test_a_busy_vies_is_tried_once_more_then_given_up_on(vies: StandIn) -> None:
    sleeps = Sleeps()
    busy = {"actionSucceed": False, "errorWrappers": [{"error": "MS_MAX_CONCURRENT_REQ"}]}
    vies.inject(*CHECK, status=200, body=busy, times=2)

    with pytest.raises(VatIdCheckUnavailable) as unavailable:
        _checker(vies.url, sleeps).check(BELGIAN)

    assert unavailable.value.code == "MS_MAX_CONCURRENT_REQ"
    assert (len(vies.requests(*CHECK)), len(sleeps)) == (2, 1)


def test_the_seller_is_the_requester_that_vies_must_know(vies: StandIn) -> None:
    with pytest.raises(VatIdCheckUnavailable) as refused:
        _checker(vies.url, Sleeps(), requester="FR00000000000").check(BELGIAN)

    assert refused.value.code == "INVALID_REQUESTER_INFO"
    assert _checker(vies.url, Sleeps()).check(BELGIAN).consultation is not None
