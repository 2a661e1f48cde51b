"""The billing form of PUT /account/billing-info: one error per invalid field, normalised values."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from billing.api.billing_form import EXAMPLE, BillingForm
from billing.domain.accounts import BillingInfo

TEXT_FIELDS = [
    "name",
    "company",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "postal_code",
    "region",
    "vat_id",
]


def _form(**changes: Any) -> dict[str, Any]:
    """A valid form of a French company; tests change one thing at a time."""
    body: dict[str, Any] = dict(EXAMPLE)
    body.update(changes)
    return body


def _us_form(**changes: Any) -> dict[str, Any]:
    return _form(
        **{"country": "US", "postal_code": "95014", "region": "CA", "vat_id": None, **changes}
    )


def _errors(body: dict[str, Any]) -> dict[str, str]:
    """The codes by field of the body's errors, checking there is one entry per field."""
    with pytest.raises(ValidationError) as caught:
        BillingForm.model_validate(body)
    fields = [".".join(map(str, error["loc"])) for error in caught.value.errors()]
    assert len(fields) == len(set(fields)), fields
    return {
        field: error["type"] for field, error in zip(fields, caught.value.errors(), strict=True)
    }


# --- valid forms ---------------------------------------------------------------------------------


def test_a_valid_form_becomes_billing_info() -> None:
    info = BillingForm.model_validate(_form()).to_billing_info()

    assert info == BillingInfo(
        name="Camille Martin",
        company="Atelier Lumière SARL",
        email="billing@atelier-lumiere.fr",
        address_line1="12 rue de la Paix",
        address_line2="Bâtiment B",
        city="Paris",
        postal_code="75002",
        region=None,
        country="FR",
        vat_id="FR40303265045",
    )


def test_billing_info_reads_back_as_the_same_form() -> None:
    form = BillingForm.model_validate(_us_form(company=None, address_line2=None))

    assert BillingForm.model_validate(asdict(form.to_billing_info())) == form


def test_values_are_normalised_on_the_way_in() -> None:
    form = BillingForm.model_validate(
        _form(
            name="  Camille Martin \n",
            country=" nl ",
            email="Billing@Atelier-Lumiere.FR",
            postal_code="1012js",
            vat_id="nl 004.495.445 b01",
        )
    )

    assert form.name == "Camille Martin"
    assert form.country == "NL"
    assert form.email == "Billing@atelier-lumiere.fr"
    assert form.postal_code == "1012JS"
    assert form.vat_id == "NL004495445B01"


def test_a_region_name_is_stored_as_its_code() -> None:
    assert BillingForm.model_validate(_us_form(region="new york")).region == "NY"


@pytest.mark.parametrize("field", ["company", "address_line2", "region", "vat_id"])
@pytest.mark.parametrize("blank", ["", "   "])
def test_blank_optional_fields_are_absent(field: str, blank: str) -> None:
    assert getattr(BillingForm.model_validate(_form(**{field: blank})), field) is None


def test_optional_fields_may_be_left_out() -> None:
    body = _form()
    for field in ("company", "address_line2", "region", "vat_id"):
        del body[field]

    form = BillingForm.model_validate(body)

    assert (form.company, form.address_line2, form.region, form.vat_id) == (None,) * 4


def test_a_country_without_postal_codes_needs_none() -> None:
    body = _form(country="HK", postal_code=None, vat_id=None)

    assert BillingForm.model_validate(body).postal_code is None


def test_the_form_cannot_be_changed_once_validated() -> None:
    form = BillingForm.model_validate(_form())

    with pytest.raises(ValidationError):
        form.country = "DE"


# --- one error per invalid field -----------------------------------------------------------------


def test_every_invalid_field_is_reported_once() -> None:
    body = _us_form(
        name="",
        email="billing at example.com",
        address_line1="12 Main St\r\nBcc: everyone@example.com",
        postal_code="9501",
        region="XX",
        vat_id="!",
        city="x" * 101,
    )

    assert _errors(body) == {
        "name": "string_too_short",
        "email": "invalid_email",
        "address_line1": "invalid_characters",
        "city": "string_too_long",
        "postal_code": "invalid_postal_code",
        "region": "invalid_region",
        "vat_id": "invalid_vat_id",
    }


def test_missing_country_dependent_fields_are_reported_on_their_own_field() -> None:
    assert _errors(_us_form(postal_code=None, region=None)) == {
        "postal_code": "postal_code_required",
        "region": "region_required",
    }


def test_left_out_country_dependent_fields_are_reported_too() -> None:
    body = _us_form()
    del body["postal_code"], body["region"]

    assert _errors(body) == {
        "postal_code": "postal_code_required",
        "region": "region_required",
    }


def test_an_invalid_country_hides_the_checks_that_depend_on_it() -> None:
    body = _form(country="XX", postal_code="anything", region="", vat_id="DE123", email="no")

    assert _errors(body) == {"country": "invalid_country", "email": "invalid_email"}


@pytest.mark.parametrize(
    ("country", "code"),
    [
        ("", "invalid_country"),
        ("F", "invalid_country"),
        ("FRA", "invalid_country"),
        ("UK", "invalid_country"),
        ("EL", "invalid_country"),
        ("France", "invalid_country"),
        (None, "string_type"),
        (33, "string_type"),
    ],
)
def test_a_country_that_is_not_an_iso_code_is_refused(country: object, code: str) -> None:
    assert _errors(_form(country=country)) == {"country": code}


def test_required_fields_are_reported_missing() -> None:
    assert _errors({}) == {
        "country": "missing",
        "name": "missing",
        "email": "missing",
        "address_line1": "missing",
        "city": "missing",
    }


def test_unknown_fields_are_refused_one_by_one() -> None:
    errors = _errors(_form(iban="FR7630006000011234567890189", is_admin=True))

    assert errors == {"iban": "extra_forbidden", "is_admin": "extra_forbidden"}


def test_the_postal_code_must_fit_the_country() -> None:
    body = _form(country="GB", postal_code="sw1a 1aa", vat_id=None)

    assert _errors(_form(postal_code="SW1A 1AA")) == {"postal_code": "invalid_postal_code"}
    assert BillingForm.model_validate(body).postal_code == "SW1A 1AA"


def test_a_postal_code_too_long_is_reported_once() -> None:
    assert _errors(_form(postal_code="7" * 21)) == {"postal_code": "string_too_long"}


def test_a_greek_vat_id_starts_with_el() -> None:
    body = _form(country="GR", postal_code="104 31", vat_id="GR094259216")

    assert _errors(body) == {"vat_id": "invalid_vat_id"}
    assert BillingForm.model_validate({**body, "vat_id": "EL094259216"}).vat_id == "EL094259216"


def test_a_vat_id_of_another_eu_member_is_refused() -> None:
    assert _errors(_form(vat_id="DE123456789")) == {"vat_id": "invalid_vat_id"}


def test_outside_the_eu_a_vat_id_is_not_format_checked() -> None:
    form = BillingForm.model_validate(_us_form(vat_id="12-3456789"))

    assert form.vat_id == "123456789"


def test_error_messages_are_plain_sentences() -> None:
    with pytest.raises(ValidationError) as caught:
        BillingForm.model_validate(_us_form(postal_code="1", region="XX", vat_id="{x}"))

    messages = {str(error["loc"][0]): error["msg"] for error in caught.value.errors()}
    assert messages == {
        "postal_code": "Enter a postal code in the format 95014 (United States).",
        "region": "Unknown state: enter its code, such as CA, or its name (United States).",
        "vat_id": (
            "Enter a VAT ID of 2 to 30 letters and digits"
            " (spaces, dots, hyphens and slashes are ignored)."
        ),
    }


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize("field", TEXT_FIELDS)
@pytest.mark.parametrize(
    "control",
    # C0 and C1 controls, then bidirectional embeddings, overrides and isolates.
    ["\x00", "\n", "\t", "\x1b", "\x7f", "\x85", "\u202a", "\u202e", "\u2066", "\u2069"],
)
def test_control_characters_inside_any_text_field_are_refused(field: str, control: str) -> None:
    value = _form()[field] or "xyz"
    body = _form(**{field: value[:2] + control + value[2:]})

    assert _errors(body) == {field: "invalid_characters"}


FREE_TEXT_FIELDS = [
    "name",
    "company",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
]
"""Every field a card number could be typed into and kept as typed (postal codes and regions are
free text in countries without a format or a list)."""


@pytest.mark.parametrize("field", FREE_TEXT_FIELDS)
@pytest.mark.parametrize(
    "typed",
    [
        "4242424242424242",
        "4242 4242 4242 4242",
        "4242-4242-4242-4242",
        "3782 822463 10005",
        "6011 1111 1111 1117",
        "\uff14\uff12\uff14\uff12" * 4,  # fullwidth digits
    ],
)
def test_a_card_number_in_a_free_text_field_is_refused(field: str, typed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BillingForm.model_validate(_form(**{field: typed}))

    [error] = caught.value.errors()
    assert (error["loc"], error["type"]) == ((field,), "card_number")
    assert "never enter card numbers here" in error["msg"]
    assert typed not in str(caught.value.errors(include_input=False))


@pytest.mark.parametrize(
    "typed",
    ["Camille Martin 4000 0566 5566 5556 12/30 123", "card: 4242 - 4242 - 4242 - 4242"],
)
def test_a_card_number_among_other_text_is_refused(typed: str) -> None:
    assert _errors(_form(company=typed)) == {"company": "card_number"}


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("name", "4242 4242 4242 4241"),  # fails the Luhn check
        ("address_line1", "12 rue de la Paix"),
        ("address_line2", "Bâtiment B, 3e étage, porte 12-14"),
        ("company", "Atelier Lumière SARL +33 6 12 34 56 78"),
        ("company", "Route 66 Diner 1950"),
    ],
)
def test_numbers_that_are_not_card_numbers_are_kept(field: str, text: str) -> None:
    assert getattr(BillingForm.model_validate(_form(**{field: text})), field) == text


def test_control_characters_in_the_country_make_it_invalid() -> None:
    assert _errors(_form(country="F\x00")) == {"country": "invalid_country"}


def test_surrounding_whitespace_is_trimmed_not_refused() -> None:
    assert BillingForm.model_validate(_form(city="\tParis\n")).city == "Paris"


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", 200), ("company", 200), ("address_line1", 200), ("city", 100), ("region", 100)],
)
def test_text_fields_are_bounded(field: str, limit: int) -> None:
    assert getattr(BillingForm.model_validate(_form(**{field: "x" * limit})), field) == "x" * limit
    assert _errors(_form(**{field: "x" * (limit + 1)})) == {field: "string_too_long"}


def test_an_email_address_is_bounded() -> None:
    long_domain = ".".join(["a" * 60] * 5) + ".fr"

    assert _errors(_form(email=f"billing@{long_domain}")) == {"email": "string_too_long"}


@pytest.mark.parametrize(
    "email",
    ["billing@example.com", "first.last+invoices@mail.example.co.uk", "x@xn--bcher-kva.de"],
)
def test_plausible_email_addresses_are_accepted(email: str) -> None:
    assert BillingForm.model_validate(_form(email=email)).email == email


@pytest.mark.parametrize(
    "email",
    [
        "billing",
        "billing@",
        "@example.com",
        "billing@example",
        "billing@@example.com",
        "bill ing@example.com",
        "billing@exa mple.com",
        "billing@example..com",
        "Camille <billing@example.com>",
        "a,b@example.com",
        "camille@bücher.de",
        "x" * 65 + "@example.com",
    ],
)
def test_other_email_addresses_are_refused(email: str) -> None:
    assert _errors(_form(email=email)) == {"email": "invalid_email"}


_ANY_JSON_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=300))


@settings(max_examples=300, deadline=None)
@given(
    body=st.dictionaries(
        st.sampled_from([*BillingForm.model_fields, "extra"]), _ANY_JSON_SCALAR, max_size=12
    ),
    realistic=st.fixed_dictionaries(
        {}, optional=dict.fromkeys(BillingForm.model_fields, st.text())
    ),
)
def test_any_body_is_accepted_or_refused_field_by_field(
    body: dict[str, Any], realistic: dict[str, str]
) -> None:
    for candidate in (body, {**_us_form(), **realistic}):
        try:
            form = BillingForm.model_validate(candidate)
        except ValidationError as error:
            fields = [err["loc"][0] for err in error.errors()]
            assert len(fields) == len(set(fields))
            assert set(fields) <= set(candidate) | set(BillingForm.model_fields)
        else:
            assert form == BillingForm.model_validate(asdict(form.to_billing_info()))


# --- the schema published in the OpenAPI document ------------------------------------------------


def test_the_json_schema_describes_every_field_and_forbids_others() -> None:
    schema = BillingForm.model_json_schema()

    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == set(BillingForm.model_fields)
    assert all(prop.get("description") for prop in schema["properties"].values())
    assert set(schema["required"]) == {"country", "name", "email", "address_line1", "city"}


def test_the_schema_example_is_a_valid_french_company() -> None:
    (example,) = BillingForm.model_json_schema()["examples"]

    form = BillingForm.model_validate(example)

    assert form.country == "FR"
    assert form.company
    assert form.vat_id is not None
    assert form.vat_id.startswith("FR")


def test_the_country_comes_first_so_dependent_fields_can_read_it() -> None:
    assert next(iter(BillingForm.model_fields)) == "country"
