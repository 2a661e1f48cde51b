"""VIES's answers read as verdicts: valid with its consultation number, not valid, and each way
VIES says it could not check a number (an error code on a 200 or on an error status, a
``userError`` beside ``valid``, a 5xx, something not JSON), which is never taken for a verdict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from billing.providers.retry import TransientFailure
from billing.providers.vies import (
    UNAVAILABLE_CODES,
    VatIdCheckUnavailable,
    VatIdVerdict,
    split_vat_id,
    verdict_of,
)

VALID = {
    "countryCode": "BE",
    "vatNumber": "0123456789",
    "requestDate": "2026-01-31T09:30:00.000Z",
    "valid": True,
    "requestIdentifier": "WAPIAAAAZHT5PIWU",
    "name": "EXEMPLE SERVICES SA",
    "address": "Rue de la Loi 16\n1000 Bruxelles",
    "traderName": "---",
    "traderNameMatch": "NOT_PROCESSED",
}


def _answer(body: Any) -> bytes:
    return json.dumps(body).encode()


def _errors(*codes: str) -> bytes:
    wrappers = [{"error": code, "message": "…"} for code in codes]
    return _answer({"actionSucceed": False, "errorWrappers": wrappers})


def test_a_valid_number_comes_with_its_consultation_number() -> None:
    assert verdict_of(200, _answer(VALID)) == VatIdVerdict(True, "WAPIAAAAZHT5PIWU")


def test_a_number_that_is_not_valid_has_no_consultation_number() -> None:
    invalid = VALID | {"valid": False, "requestIdentifier": "", "name": "---"}

    assert verdict_of(200, _answer(invalid)) == VatIdVerdict(False, None)


def test_without_a_requester_a_valid_number_has_no_consultation_number() -> None:
    assert verdict_of(200, _answer(VALID | {"requestIdentifier": ""})) == VatIdVerdict(True)


@pytest.mark.parametrize(
    "code", sorted(UNAVAILABLE_CODES - {"MS_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ"})
)
@pytest.mark.parametrize("status", [200, 400, 500, 503])
def test_an_error_code_is_no_verdict_on_any_status(code: str, status: int) -> None:
    with pytest.raises(VatIdCheckUnavailable) as unavailable:
        verdict_of(status, _errors(code))

    assert unavailable.value.code == code


def test_an_error_in_user_error_beside_valid_false_is_no_verdict() -> None:
    """A client reading only ``valid`` would take the member state's silence for a refusal."""
    answer = VALID | {"valid": False, "userError": "MS_UNAVAILABLE", "requestIdentifier": ""}

    with pytest.raises(VatIdCheckUnavailable, match="MS_UNAVAILABLE"):
        verdict_of(200, _answer(answer))


def test_user_error_valid_or_invalid_is_the_verdict_itself() -> None:
    assert verdict_of(200, _answer(VALID | {"userError": "VALID"})).valid
    invalid = VALID | {"valid": False, "userError": "INVALID"}
    assert not verdict_of(200, _answer(invalid)).valid


@pytest.mark.parametrize("code", ["MS_MAX_CONCURRENT_REQ", "GLOBAL_MAX_CONCURRENT_REQ"])
def test_a_busy_vies_is_worth_trying_again(code: str) -> None:
    with pytest.raises(TransientFailure, match=code):
        verdict_of(200, _errors(code))


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_a_server_error_without_a_code_is_worth_trying_again(status: int) -> None:
    with pytest.raises(TransientFailure):
        verdict_of(status, b"<html>Service Unavailable</html>" if status != 429 else b"")


def test_a_number_vies_refuses_as_input_is_not_valid() -> None:
    assert verdict_of(400, _errors("INVALID_INPUT")) == VatIdVerdict(False)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"<html>maintenance</html>"),
        (200, b"[]"),
        (200, _answer({"countryCode": "BE"})),
        (200, _answer(VALID | {"valid": "true"})),
        (404, _answer({"message": "Not Found"})),
        (200, _answer({"actionSucceed": False})),
        (200, _errors("SOMETHING_NEW")),
    ],
)
def test_anything_else_is_no_verdict(status: int, body: bytes) -> None:
    with pytest.raises(VatIdCheckUnavailable):
        verdict_of(status, body)


def test_a_vat_id_is_asked_about_as_its_member_state_and_national_number() -> None:
    assert split_vat_id("BE0123456789") == ("BE", "0123456789")
    assert split_vat_id("EL094259216") == ("EL", "094259216")
    for malformed in ("", "BE", "0123456789", "BE 0123"):
        with pytest.raises(ValueError, match="not a normalised VAT ID"):
            split_vat_id(malformed)
