"""The billing form, body of ``PUT /account/billing-info``: each field is checked on its
own, so that a 422 names every invalid field once."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from billing.domain.accounts import BillingInfo
from billing.domain.addresses import (
    AddressProblem,
    country_problem,
    normalise_postal_code,
    normalise_region,
    normalise_vat_id,
    postal_code_problem,
    region_problem,
    vat_id_problem,
)


class FormErrorCode(StrEnum):
    """Codes of the form's own refusals; address rules answer with AddressErrorCode."""

    INVALID_EMAIL = "invalid_email"
    INVALID_CHARACTERS = "invalid_characters"
    CARD_NUMBER = "card_number"


# Unicode category Cc (C0 controls, DEL and C1 controls), and the bidirectional embeddings,
# overrides and isolates (U+202A-U+202E, U+2066-U+2069). Line breaks in an address line end up
# in invoices and email headers; a direction override makes the text shown differ from the text
# stored (a name that reads as another, "Trojan Source").
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Runs of digits, in groups separated by spaces or dashes, as a card number is typed.
_DIGIT_GROUPS = re.compile(r"\d+(?:[ -]+\d+)*")
_GROUP_SEPARATORS = re.compile(r"[ -]+")
_CARD_DIGITS = (13, 19)
"""The fewest and most digits of a payment card number (ISO/IEC 7812)."""
# ASCII only: SES, which sends the invoices, cannot deliver to internationalised (SMTPUTF8)
# addresses; internationalised domains are accepted in their xn-- form.
_EMAIL = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z0-9-]{2,63}"
)


def _reject(problem: AddressProblem | None) -> None:
    if problem is not None:
        # The message goes through the context so that braces in it are never read as a template.
        raise PydanticCustomError(problem.code, "{reason}", {"reason": problem.message})


def _without_control_characters(value: str) -> str:
    if _CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError(
            FormErrorCode.INVALID_CHARACTERS,
            "Remove the control characters (such as line breaks, tabs or text direction marks)"
            " from this field.",
        )
    return value


def _luhn_valid(digits: str) -> bool:
    total = 0
    for position, character in enumerate(reversed(digits)):
        digit = int(character)
        if position % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _holds_card_number(value: str) -> bool:
    """Whether consecutive digit groups of `value` make 13 to 19 digits that pass the Luhn
    check, as every card number does, its digits grouped by spaces or dashes or not."""
    fewest, most = _CARD_DIGITS
    for run in _DIGIT_GROUPS.finditer(value):
        groups = _GROUP_SEPARATORS.split(run.group())
        for first in range(len(groups)):
            digits = ""
            for group in groups[first:]:
                digits += group
                if len(digits) > most:
                    break
                if len(digits) >= fewest and _luhn_valid(digits):
                    return True
    return False


def _without_card_number(value: str) -> str:
    """Free text must not hold a card number: it would be stored in clear, shown on invoices and
    kept with the request's answer, where no card number may be (cards go only to the
    provider's card form)."""
    if _holds_card_number(value):
        raise PydanticCustomError(
            FormErrorCode.CARD_NUMBER,
            "This looks like a payment card number: never enter card numbers here, only in the"
            " card form.",
        )
    return value


def _none_if_blank(value: str) -> str | None:
    return value or None


def _email_address(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise PydanticCustomError(
            FormErrorCode.INVALID_EMAIL, "Enter an email address such as billing@example.com."
        )
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


_Printable = AfterValidator(_without_control_characters)
_NoCardNumber = AfterValidator(_without_card_number)
_Blank = AfterValidator(_none_if_blank)

Line = Annotated[str, Field(min_length=1, max_length=200), _Printable, _NoCardNumber]
"""Free text: a name, a company, an address line."""
OptionalLine = Annotated[str, Field(max_length=200), _Printable, _NoCardNumber, _Blank]
City = Annotated[str, Field(min_length=1, max_length=100), _Printable, _NoCardNumber]
Email = Annotated[str, Field(max_length=254), _Printable, AfterValidator(_email_address)]
# Countries without a postal-code format or a list of regions take these as free text.
PostalCode = Annotated[str, Field(max_length=20), _Printable, _NoCardNumber, _Blank]
Region = Annotated[str, Field(max_length=100), _Printable, _NoCardNumber, _Blank]
# Not checked for card numbers: tax IDs of 13 digits or more exist (a Japanese corporate number,
# a Brazilian CNPJ), and one in ten passes the Luhn check by chance.
VatId = Annotated[str, Field(max_length=40), _Printable, _Blank]

EXAMPLE: dict[str, JsonValue] = {
    # A valid French company; also the form the tests start from.
    "country": "FR",
    "name": "Camille Martin",
    "company": "Atelier Lumière SARL",
    "email": "billing@atelier-lumiere.fr",
    "address_line1": "12 rue de la Paix",
    "address_line2": "Bâtiment B",
    "city": "Paris",
    "postal_code": "75002",
    "region": None,
    "vat_id": "FR40303265045",
}


class BillingForm(BaseModel):
    """Billing information as the customer enters it; values are normalised on the way in."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        str_strip_whitespace=True,
        frozen=True,
        json_schema_extra={"examples": [EXAMPLE]},
        defer_build=True,  # built on first use: the bodies import its field types at start
    )

    # First, because the postal code, region and VAT ID validators read the validated country.
    country: str = Field(
        description="Country of the billing address: ISO 3166-1 alpha-2 code, such as FR.",
        json_schema_extra={"pattern": "^[A-Za-z]{2}$"},
    )
    name: Line = Field(description="Name of the person billed.")
    company: OptionalLine | None = Field(None, description="Company billed, if any.")
    email: Email = Field(description="Address that receives invoices and receipts.")
    address_line1: Line = Field(description="Street address.")
    address_line2: OptionalLine | None = Field(
        None, description="Apartment, suite, building or floor."
    )
    city: City = Field(description="City or town.")
    postal_code: PostalCode | None = Field(
        None,
        validate_default=True,
        description="Postal code, in the country's format; required where the country has them.",
    )
    region: Region | None = Field(
        None,
        validate_default=True,
        description=(
            "State, province or prefecture, where the country's addresses need one; "
            "for the US, Canada and Australia its code (CA, ON, NSW) or name."
        ),
    )
    vat_id: VatId | None = Field(
        None,
        description=(
            "VAT ID; in the EU with the country's prefix (EL for Greece), such as FR40303265045."
        ),
    )

    @field_validator("country")
    @classmethod
    def _assigned_country(cls, value: str) -> str:
        code = value.upper()
        _reject(country_problem(code))
        return code

    @field_validator("postal_code")
    @classmethod
    def _postal_code_of_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        # Without a valid country there is nothing to check against; the country's own error
        # is the one to report.
        country = info.data.get("country")
        if country is not None:
            _reject(postal_code_problem(country, value))
        return None if value is None else normalise_postal_code(value)

    @field_validator("region")
    @classmethod
    def _region_of_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if country is None:
            return value
        _reject(region_problem(country, value))
        return None if value is None else normalise_region(country, value)

    @field_validator("vat_id")
    @classmethod
    def _vat_id_of_country(cls, value: str | None, info: ValidationInfo) -> str | None:
        country = info.data.get("country")
        if country is not None:
            _reject(vat_id_problem(country, value))
        return normalise_vat_id(value or "") or None

    def to_billing_info(self) -> BillingInfo:
        return BillingInfo(
            name=self.name,
            email=self.email,
            address_line1=self.address_line1,
            city=self.city,
            country=self.country,
            company=self.company,
            address_line2=self.address_line2,
            postal_code=self.postal_code,
            region=self.region,
            vat_id=self.vat_id,
        )
