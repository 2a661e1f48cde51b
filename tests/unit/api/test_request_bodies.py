"""Request bodies as the API reads them: JSON text parsed strictly (no repeated keys, no integer
Python cannot convert)."""

from __future__ import annotations

import json

import pytest

from billing.api.http import parse_json
from billing.domain.errors import DomainError, ErrorCode


def _body_refusal(text: str) -> dict[str, str]:
    with pytest.raises(DomainError) as refused:
        parse_json(text)
    assert refused.value.code is ErrorCode.INVALID_FIELDS
    details = refused.value.details
    assert isinstance(details, list)
    [detail] = details
    return dict(detail)


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
