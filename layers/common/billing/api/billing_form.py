"""The billing form, body of ``PUT /account/billing-info`` (SPEC §2): each field is checked on its
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


# Unicode category Cc: C0 controls, DEL and C1 controls. Line breaks in an address line end up in
# invoices and email headers.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
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
            "Remove the control characters (such as line breaks or tabs) from this field.",
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
_Blank = AfterValidator(_none_if_blank)

Line = Annotated[str, Field(min_length=1, max_length=200), _Printable]
OptionalLine = Annotated[str, Field(max_length=200), _Printable, _Blank]
City = Annotated[str, Field(min_length=1, max_length=100), _Printable]
Email = Annotated[str, Field(max_length=254), _Printable, AfterValidator(_email_address)]
PostalCode = Annotated[str, Field(max_length=20), _Printable, _Blank]
Region = Annotated[str, Field(max_length=100), _Printable, _Blank]
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
        str_strip_whitespace=True,
        frozen=True,
        json_schema_extra={"examples": [EXAMPLE]},
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
