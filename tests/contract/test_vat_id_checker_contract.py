"""What any VAT ID checker answers: VIES's verdict on a number (valid, with a consultation
number for the seller's records; not valid, without one), and no verdict at all when a member
state's register or VIES itself does not answer. Run against the fake and `ViesChecker` on the
VIES stand-in; what only the HTTP adapter meets (a slow or failing VIES, a busy one tried again,
an answer that is not one) is in tests/integration/test_vies_checker.py."""

from __future__ import annotations

import pytest

from billing.providers.vies import VatIdCheckUnavailable
from tests.contract.vat_ids import CheckerUnderTest, new_vat_id

pytestmark = pytest.mark.contract


def test_a_number_vies_knows_is_valid_with_a_consultation_number_each_time(
    vat_id_checker: CheckerUnderTest,
) -> None:
    vat_id = new_vat_id()
    vat_id_checker.register(vat_id)

    first, second = (vat_id_checker.checker.check(vat_id) for _ in range(2))

    assert (first.valid, second.valid) == (True, True)
    assert first.consultation is not None
    assert second.consultation is not None
    assert first.consultation != second.consultation, "a consultation number per check"


def test_a_number_vies_does_not_know_is_not_valid(vat_id_checker: CheckerUnderTest) -> None:
    verdict = vat_id_checker.checker.check(new_vat_id())

    assert (verdict.valid, verdict.consultation) == (False, None)


def test_a_greek_number_is_asked_about_under_el(vat_id_checker: CheckerUnderTest) -> None:
    vat_id = new_vat_id("EL")
    vat_id_checker.register(vat_id)

    assert vat_id_checker.checker.check(vat_id).valid


def test_a_member_state_that_does_not_answer_gives_no_verdict_and_the_others_still_do(
    vat_id_checker: CheckerUnderTest,
) -> None:
    german, belgian = new_vat_id("DE"), new_vat_id()
    vat_id_checker.register(german)
    vat_id_checker.register(belgian)
    vat_id_checker.unavailable("DE")

    with pytest.raises(VatIdCheckUnavailable) as unavailable:
        vat_id_checker.checker.check(german)

    assert unavailable.value.code == "MS_UNAVAILABLE"
    assert vat_id_checker.checker.check(belgian).valid


def test_vies_itself_down_gives_no_verdict_even_on_an_unknown_number(
    vat_id_checker: CheckerUnderTest,
) -> None:
    vat_id_checker.unavailable()

    for vat_id in (new_vat_id(), new_vat_id("DE")):
        with pytest.raises(VatIdCheckUnavailable) as unavailable:
            vat_id_checker.checker.check(vat_id)
        assert unavailable.value.code == "SERVICE_UNAVAILABLE"
