"""Request bodies as the API reads them: JSON text parsed strictly (no repeated keys, no integer
Python cannot convert), then validated strictly, as Powertools validates them (Python values,
not JSON text): a value of another JSON type is refused rather than converted."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from billing.api.bodies import (
    AccountBody,
    PartnerSubscriptionBody,
    PaymentMethodBody,
    PurchaseBody,
    SetupBody,
)
from billing.api.http import parse_json
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.money import Currency

ORDER: dict[str, Any] = {"plan_id": "basic", "cycle_months": 12, "currency": "EUR"}
PARTNER = {"id": "reseller-7", "name": "Reseller Seven", "email": "desk@reseller7.example"}


def _errors(model: type[BaseModel], body: Any) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(parse_json(json.dumps(body)))
    return {".".join(map(str, e["loc"])): e["type"] for e in caught.value.errors()}


def _body_refusal(text: str) -> dict[str, str]:
    with pytest.raises(DomainError) as refused:
        parse_json(text)
    assert refused.value.code is ErrorCode.INVALID_FIELDS
    details = refused.value.details
    assert isinstance(details, list)
    [detail] = details
    return dict(detail)


# --- strict types --------------------------------------------------------------------------------


def test_json_strings_still_name_enum_members() -> None:
    order = PurchaseBody.model_validate(parse_json(json.dumps(ORDER | {"coupon": "WELCOME20"})))
    account = AccountBody.model_validate(
        {"email": "a@example.com", "locale": "fr", "channel": "partner", "partner": PARTNER}
    )

    assert (order.cycle_months, order.currency) == (12, Currency.EUR)
    assert (account.locale.value, account.channel.value) == ("fr", "partner")
    assert SetupBody.model_validate({"method": "paypal"}).method is not None
    method = TypeAdapter(PaymentMethodBody).validate_python(
        {"provider": "stripe", "setup_intent_id": "seti_1Mm2cBLkdIwHu7ix"}
    )
    assert method.provider.value == "stripe"


@pytest.mark.parametrize("model", [PurchaseBody, PartnerSubscriptionBody])
@pytest.mark.parametrize("months", [True, 1.0, 12.0, "1", "12", [1], None])
def test_a_cycle_length_is_a_json_integer(model: type[BaseModel], months: object) -> None:
    assert _errors(model, ORDER | {"cycle_months": months}) == {"cycle_months": "int_type"}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("plan_id", 5, "string_type"),
        ("plan_id", True, "string_type"),
        ("coupon", 20, "string_type"),
        ("currency", 978, "enum"),
        ("currency", True, "enum"),
        ("cycle_months", 2, "literal_error"),
    ],
)
def test_other_json_types_are_refused_not_converted(field: str, value: object, code: str) -> None:
    assert _errors(PurchaseBody, ORDER | {field: value}) == {field: code}


def test_account_fields_are_strict_too() -> None:
    body = {"email": 42, "locale": 1, "domain_zone": 1.5, "partner": PARTNER | {"id": 7}}

    assert _errors(AccountBody, body) == {
        "email": "string_type",
        "locale": "enum",
        "domain_zone": "string_type",
        "partner.id": "string_type",
    }


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Reseller 4242 4242 4242 4242", "card_number"),
        ("Reseller\u202eneveS", "invalid_characters"),
        ("Reseller\nBcc: x@example.com", "invalid_characters"),
    ],
)
def test_a_partner_name_is_free_text_like_the_billing_form(name: str, code: str) -> None:
    body = {"email": "a@example.com", "channel": "partner", "partner": PARTNER | {"name": name}}

    assert _errors(AccountBody, body) == {"partner.name": code}


# --- JSON text -----------------------------------------------------------------------------------


def test_json_is_read_as_usual() -> None:
    text = '{"a": [1, -2, 3.5, true, null, "x"], "b": {"c": {}}, "d": 1e400}'

    assert parse_json(text) == json.loads(text)


@pytest.mark.parametrize(
    "text",
    [
        '{"plan_id": "basic", "plan_id": "premium"}',
        '{"partner": {"id": "a", "id": "b"}}',
        '[{"a": 1}, {"a": 1, "a": 1}]',
    ],
)
def test_a_key_repeated_in_an_object_is_refused(text: str) -> None:
    assert _body_refusal(text) == {
        "field": "body",
        "code": "duplicate_key",
        "message": "A key appears twice in one object: send each key once.",
    }


@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_too_long_to_convert_is_refused(sign: str) -> None:
    assert parse_json(f'{{"n": {sign}{"7" * 4300}}}')["n"] == int(sign + "7" * 4300)

    assert _body_refusal(f'{{"a": [{{"n": {sign}{"7" * 4301}}}]}}') == {
        "field": "body",
        "code": "number_too_long",
        "message": "A number has too many digits.",
    }
