"""Billing addresses and VAT IDs: which countries exist and what their postal codes, regions and
EU VAT IDs must look like, from the data file ``billing/data/countries.json``."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Any

from billing.domain.values import frozen

_VAT_ID_SEPARATORS = re.compile(r"[\s./-]+")
# Outside the EU, only the shape is checked: tax IDs differ too much to check their format.
_FOREIGN_TAX_ID = re.compile(r"[A-Z0-9]{2,30}", re.ASCII)


class AddressErrorCode(StrEnum):
    """Why an address field is refused (the code of its entry in a 422's details)."""

    INVALID_COUNTRY = "invalid_country"
    POSTAL_CODE_REQUIRED = "postal_code_required"
    INVALID_POSTAL_CODE = "invalid_postal_code"
    REGION_REQUIRED = "region_required"
    INVALID_REGION = "invalid_region"
    INVALID_VAT_ID = "invalid_vat_id"


class CountryDataError(ValueError):
    """The countries data file is malformed."""


@frozen
class AddressProblem:
    """One refused field: a code for programs and a plain sentence for the customer."""

    code: AddressErrorCode
    message: str


@frozen
class PostalCodeFormat:
    pattern: re.Pattern[str]
    """Matches the whole tidied postal code."""
    example: str
    required: bool


@frozen
class RegionRule:
    """A country whose addresses need a region: from `codes` (code → name), or free text."""

    label: str
    """What the region is called there: state, province, prefecture…"""
    codes: Mapping[str, str]
    example: str | None = None

    def code_for(self, region: str) -> str | None:
        """The code of `region`, given as its code or its name in any case; None if unknown."""
        wanted = _folded(region)
        return next(
            (code for code, name in self.codes.items() if wanted in (code, _folded(name))), None
        )


@frozen
class VatIdFormat:
    """An EU member's VAT ID: its prefix (EL for Greece) and then the national part."""

    prefix: str
    national_part: re.Pattern[str]
    example: str


@frozen
class Country:
    code: str
    name: str
    postal_code: PostalCodeFormat | None = None
    region: RegionRule | None = None
    vat_id: VatIdFormat | None = None
    """Set for EU members only."""


def _pattern(text: str) -> re.Pattern[str]:
    # ASCII: in Python \d would also match Arabic-Indic and other digits, unlike in JavaScript,
    # where a front end may check the same patterns.
    return re.compile(text, re.ASCII)


def _postal_code_format(raw: Mapping[str, Any] | None) -> PostalCodeFormat | None:
    if raw is None:
        return None
    return PostalCodeFormat(_pattern(raw["pattern"]), raw["example"], bool(raw["required"]))


def _region_rule(raw: Mapping[str, Any]) -> RegionRule:
    codes = dict(raw.get("codes", {}))
    # The example names a valid code in the message that refuses an unknown one.
    return RegionRule(raw["label"], codes, raw["example"] if codes else None)


def _vat_id_format(raw: Mapping[str, Any]) -> VatIdFormat:
    return VatIdFormat(raw["prefix"], _pattern(raw["pattern"]), raw["example"])


def parse_countries(raw: Mapping[str, Any]) -> Mapping[str, Country]:
    """Countries by code from the data file's JSON form; raises CountryDataError if malformed."""
    try:
        regions = {code: _region_rule(rule) for code, rule in raw["regions"].items()}
        vat_ids = {code: _vat_id_format(rule) for code, rule in raw["eu_vat"].items()}
        countries = {
            code: Country(
                code=code,
                name=entry["name"],
                postal_code=_postal_code_format(entry.get("postal_code")),
                region=regions.get(code),
                vat_id=vat_ids.get(code),
            )
            for code, entry in raw["countries"].items()
        }
    except (KeyError, TypeError, AttributeError, re.error) as error:
        raise CountryDataError(f"malformed countries data: {error!r}") from error
    unknown = (regions.keys() | vat_ids.keys()) - countries.keys()
    if unknown:
        raise CountryDataError(f"rules for countries that are not listed: {sorted(unknown)}")
    return countries


@cache
def countries() -> Mapping[str, Country]:
    """The countries shipped in the layer, read once per process."""
    text = resources.files("billing").joinpath("data/countries.json").read_text("utf-8")
    return parse_countries(json.loads(text))


def is_country(code: str) -> bool:
    """Whether `code` is an assigned ISO 3166-1 alpha-2 code, in upper case as stored.

    The other functions take such a code; for one that is not, they know no postal code format,
    require no region and check VAT IDs as outside the EU.
    """
    return code in countries()


def country_problem(code: str) -> AddressProblem | None:
    """Why `code` is not a country code, or None when it is one."""
    if is_country(code):
        return None
    return AddressProblem(
        AddressErrorCode.INVALID_COUNTRY,
        "Enter the country as its two-letter ISO 3166-1 code, such as FR.",
    )


def _tidy(text: str) -> str:
    return " ".join(text.split())


def _folded(text: str) -> str:
    """Upper case without accents, so that "Québec" finds Quebec and "quebec" too."""
    decomposed = unicodedata.normalize("NFKD", _tidy(text))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).upper()


def normalise_postal_code(postal_code: str) -> str:
    """Tidied, not reformatted: upper case, single spaces ("sw1a 1aa" → "SW1A 1AA", "sw1a1aa" →
    "SW1A1AA"); each country's pattern accepts the spellings in common use there."""
    return _tidy(postal_code).upper()


def postal_code_problem(country: str, postal_code: str | None) -> AddressProblem | None:
    """Why `postal_code` does not suit an address in `country`, or None when it does."""
    known = countries().get(country)
    if known is None or known.postal_code is None:
        return None
    postal_format = known.postal_code
    if not postal_code or not postal_code.strip():
        if not postal_format.required:
            return None
        return AddressProblem(
            AddressErrorCode.POSTAL_CODE_REQUIRED,
            f"A postal code is required for this country ({known.name}).",
        )
    if postal_format.pattern.fullmatch(normalise_postal_code(postal_code)):
        return None
    return AddressProblem(
        AddressErrorCode.INVALID_POSTAL_CODE,
        f"Enter a postal code in the format {postal_format.example} ({known.name}).",
    )


def normalise_region(country: str, region: str) -> str:
    """The region's code where the country has a list of them, else the tidied text."""
    known = countries().get(country)
    rule = known.region if known else None
    code = rule.code_for(region) if rule else None
    return code or _tidy(region)


def region_problem(country: str, region: str | None) -> AddressProblem | None:
    """Why `region` does not suit an address in `country`, or None when it does."""
    known = countries().get(country)
    if known is None or known.region is None:
        return None
    rule = known.region
    if not region or not region.strip():
        return AddressProblem(
            AddressErrorCode.REGION_REQUIRED,
            f"A {rule.label} is required for this country ({known.name}).",
        )
    if not rule.codes or rule.code_for(region) is not None:
        return None
    return AddressProblem(
        AddressErrorCode.INVALID_REGION,
        f"Unknown {rule.label}: enter its code, such as {rule.example}, or its name"
        f" ({known.name}).",
    )


def normalise_vat_id(vat_id: str) -> str:
    """Compacted: no spaces, dots, hyphens or slashes, upper case ("fr 40.303" → "FR40303")."""
    return _VAT_ID_SEPARATORS.sub("", vat_id).upper()


def vat_id_problem(country: str, vat_id: str | None) -> AddressProblem | None:
    """Why `vat_id` cannot be the VAT ID of a customer billed in `country`, or None when it can.

    An EU member's VAT ID carries that member's prefix (EL for Greece) and national format, as
    VIES checks them; elsewhere a VAT ID only needs to look like an identifier.
    """
    compact = normalise_vat_id(vat_id or "")
    # Separators alone ("-", "/") are how some people write that they have none.
    if not compact:
        return None
    known = countries().get(country)
    if known is not None and known.vat_id is not None:
        return _eu_vat_id_problem(known.name, known.vat_id, compact)
    if _FOREIGN_TAX_ID.fullmatch(compact):
        return None
    return AddressProblem(
        AddressErrorCode.INVALID_VAT_ID,
        "Enter a VAT ID of 2 to 30 letters and digits"
        " (spaces, dots, hyphens and slashes are ignored).",
    )


def _eu_vat_id_problem(
    country_name: str, eu_format: VatIdFormat, compact: str
) -> AddressProblem | None:
    if not compact.startswith(eu_format.prefix):
        return AddressProblem(
            AddressErrorCode.INVALID_VAT_ID,
            f"A VAT ID for this country starts with {eu_format.prefix}, such as"
            f" {eu_format.example} ({country_name}).",
        )
    if eu_format.national_part.fullmatch(compact.removeprefix(eu_format.prefix)):
        return None
    return AddressProblem(
        AddressErrorCode.INVALID_VAT_ID,
        f"Enter a VAT ID in the format {eu_format.example} ({country_name}).",
    )
