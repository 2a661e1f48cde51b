"""Countries, postal codes, regions and EU VAT IDs of billing addresses, and the data file."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.addresses import (
    AddressErrorCode,
    CountryDataError,
    countries,
    country_problem,
    is_country,
    normalise_postal_code,
    normalise_region,
    normalise_vat_id,
    parse_countries,
    postal_code_problem,
    region_problem,
    vat_id_problem,
)


def _codes(spaced: str) -> frozenset[str]:
    return frozenset(spaced.split())


EU_MEMBERS = _codes(
    "AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK"
)
POSTAL_CODE_COUNTRIES = EU_MEMBERS | _codes(
    "GB US CA AU NZ CH NO IS LI JP KR CN IN BR MX AR RU UA TR IL ZA SG TW"
)
CANADIAN_PROVINCES = _codes("AB BC MB NB NL NS NT NU ON PE QC SK YT")
AUSTRALIAN_STATES = _codes("ACT NSW NT QLD SA TAS VIC WA")
US_STATES = _codes(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM"
    " NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY"
)
US_REGIONS = US_STATES | _codes("DC PR GU VI AS MP AA AE AP")


def _raw_data() -> dict[str, Any]:
    def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys: {keys}"
        return dict(pairs)

    text = resources.files("billing").joinpath("data/countries.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text, object_pairs_hook=no_duplicate_keys)
    return data


def _raw_countries() -> dict[str, Any]:
    """A small, valid data file in its JSON form; tests break one thing at a time."""
    return {
        "version": "test-1",
        "countries": {
            "FR": {
                "name": "France",
                "postal_code": {"pattern": "^[0-9]{5}$", "example": "75008", "required": True},
            },
            "HK": {"name": "Hong Kong"},
        },
        "regions": {},
        "eu_vat": {"FR": {"prefix": "FR", "pattern": "^[0-9A-Z]{2}[0-9]{9}$", "example": "FR1"}},
    }


def _code(problem: Any) -> AddressErrorCode | None:
    return None if problem is None else problem.code


# --- the shipped data file -----------------------------------------------------------------------


def test_data_file_is_versioned() -> None:
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", _raw_data()["version"])


def test_every_assigned_iso_code_is_listed_once_with_a_name() -> None:
    listed = _raw_data()["countries"]

    assert len(listed) == 249
    assert all(re.fullmatch("[A-Z]{2}", code) for code in listed)
    assert all(entry["name"].strip() for entry in listed.values())
    assert len({entry["name"] for entry in listed.values()}) == 249


def test_every_pattern_is_anchored_compiles_and_accepts_its_example() -> None:
    data = _raw_data()
    formats = [
        (code, entry["postal_code"]["pattern"], entry["postal_code"]["example"])
        for code, entry in data["countries"].items()
        if "postal_code" in entry
    ] + [
        (code, rule["pattern"], rule["example"].removeprefix(rule["prefix"]))
        for code, rule in data["eu_vat"].items()
    ]

    for code, pattern, example in formats:
        assert pattern.startswith("^"), code
        assert pattern.endswith("$"), code
        assert re.fullmatch(pattern, example, re.ASCII), code


def test_postal_code_examples_are_in_their_normal_form() -> None:
    for country in countries().values():
        if country.postal_code is not None:
            example = country.postal_code.example
            assert normalise_postal_code(example) == example, country.code


def test_eu_vat_rules_are_for_the_eu_members_exactly() -> None:
    rules = _raw_data()["eu_vat"]

    assert set(rules) == EU_MEMBERS
    for code, rule in rules.items():
        assert rule["prefix"] == ("EL" if code == "GR" else code)
        assert rule["example"].startswith(rule["prefix"])


def test_the_countries_the_spec_names_have_postal_code_formats() -> None:
    assert {c.code for c in countries().values() if c.postal_code} >= POSTAL_CODE_COUNTRIES


@pytest.mark.parametrize("code", ["HK", "AE", "QA", "AO", "BS", "FJ"])
def test_countries_without_postal_codes_have_no_format(code: str) -> None:
    assert countries()[code].postal_code is None


def test_region_lists_are_complete() -> None:
    regions = _raw_data()["regions"]

    assert set(regions["US"]["codes"]) == US_REGIONS
    assert set(regions["CA"]["codes"]) == CANADIAN_PROVINCES
    assert set(regions["AU"]["codes"]) == AUSTRALIAN_STATES
    assert {"US", "CA", "AU", "BR", "MX", "IN"} <= set(regions)
    assert set(regions) <= set(_raw_data()["countries"])
    for rule in regions.values():
        assert ("codes" in rule) == ("example" in rule)
        if "codes" in rule:
            assert rule["example"] in rule["codes"]


def test_countries_are_read_once() -> None:
    assert countries() is countries()


# --- parsing -------------------------------------------------------------------------------------


def test_parse_countries_builds_the_rules() -> None:
    parsed = parse_countries(_raw_countries())

    assert set(parsed) == {"FR", "HK"}
    assert parsed["FR"].vat_id is not None
    assert parsed["FR"].vat_id.prefix == "FR"
    assert parsed["HK"].postal_code is None
    assert parsed["HK"].vat_id is None


@pytest.mark.parametrize("section", ["regions", "eu_vat"])
def test_rules_for_an_unlisted_country_are_refused(section: str) -> None:
    raw = _raw_countries()
    raw[section]["DE"] = {"prefix": "DE", "pattern": "^[0-9]{9}$", "example": "DE1", "label": "x"}

    with pytest.raises(CountryDataError, match=r"\['DE'\]"):
        parse_countries(raw)


def test_a_pattern_that_does_not_compile_is_refused() -> None:
    raw = _raw_countries()
    raw["countries"]["FR"]["postal_code"]["pattern"] = "^[0-9{5}$"

    with pytest.raises(CountryDataError):
        parse_countries(raw)


def test_a_region_list_without_an_example_is_refused() -> None:
    raw = _raw_countries()
    raw["regions"]["FR"] = {"label": "region", "codes": {"IDF": "Île-de-France"}}

    with pytest.raises(CountryDataError):
        parse_countries(raw)


# --- countries -----------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["FR", "GR", "GB", "US", "AX", "ZW"])
def test_assigned_codes_are_countries(code: str) -> None:
    assert is_country(code)
    assert country_problem(code) is None


@pytest.mark.parametrize(
    "code",
    ["fr", "UK", "EL", "EU", "XK", "XI", "ZZ", "FRA", "F", ""],
    ids=["lower case", "UK", "EL", "EU", "XK", "XI", "ZZ", "alpha-3", "one letter", "empty"],
)
def test_other_codes_are_not_countries(code: str) -> None:
    assert not is_country(code)
    assert _code(country_problem(code)) is AddressErrorCode.INVALID_COUNTRY


# --- postal codes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("US", "95014"),
        ("US", "95014-2083"),
        ("US", "95014 2083"),
        ("CA", "K1A 0B1"),
        ("CA", "k1a0b1"),
        ("GB", "SW1A 1AA"),
        ("GB", "sw1a1aa"),
        ("GB", "M1 1AE"),
        ("GB", "EC1A 1BB"),
        ("NL", "1012 JS"),
        ("NL", "1012js"),
        ("DE", "10115"),
        ("FR", "75008"),
        ("FR", "75 008"),
        ("JP", "100-0001"),
        ("JP", "1000001"),
        ("BR", "01310-100"),
        ("BR", "01310100"),
        ("PL", "00-950"),
        ("PT", "1000-001"),
        ("SE", "114 55"),
        ("ES", "28013"),
        ("IE", "D02 X285"),
        ("LV", "LV-1050"),
        ("AR", "C1425DKF"),
        ("AR", "1425"),
        ("IN", "110001"),
        ("AU", "2000"),
        ("CH", "8001"),
        ("LI", "9490"),
    ],
)
def test_postal_codes_in_the_country_format_are_accepted(country: str, postal_code: str) -> None:
    assert postal_code_problem(country, postal_code) is None


@pytest.mark.parametrize(
    ("country", "postal_code"),
    [
        ("US", "9501"),
        ("US", "950142083"),
        ("US", "95014-208"),
        ("CA", "D1A 0B1"),
        ("CA", "K1A 0B"),
        ("GB", "SW1A"),
        ("GB", "12345"),
        ("NL", "0123 AB"),
        ("NL", "1012"),
        ("DE", "1011"),
        ("DE", "101150"),
        ("FR", "7500"),
        ("JP", "100-001"),
        ("BR", "0131-0100"),
        ("ES", "53001"),
        ("IE", "D02 X28"),
        ("LI", "8001"),
        ("DE", "\u0661\u0660\u0661\u0661\u0665"),  # Arabic-Indic digits
    ],
)
def test_postal_codes_in_another_format_are_refused(country: str, postal_code: str) -> None:
    problem = postal_code_problem(country, postal_code)

    assert _code(problem) is AddressErrorCode.INVALID_POSTAL_CODE
    assert problem is not None
    example = countries()[country].postal_code
    assert example is not None
    assert example.example in problem.message


@pytest.mark.parametrize("country", ["US", "GB", "DE", "JP", "BR"])
@pytest.mark.parametrize("postal_code", [None, "", "   "])
def test_a_postal_code_is_required_where_every_address_has_one(
    country: str, postal_code: str | None
) -> None:
    assert _code(postal_code_problem(country, postal_code)) is (
        AddressErrorCode.POSTAL_CODE_REQUIRED
    )


def test_an_eircode_is_optional_but_checked_when_given() -> None:
    assert postal_code_problem("IE", None) is None
    assert _code(postal_code_problem("IE", "12345")) is AddressErrorCode.INVALID_POSTAL_CODE


@pytest.mark.parametrize("country", ["HK", "AE", "QA", "ZZ"])
@pytest.mark.parametrize("postal_code", [None, "", "000000", "N/A"])
def test_countries_without_postal_codes_accept_none_or_anything(
    country: str, postal_code: str | None
) -> None:
    assert postal_code_problem(country, postal_code) is None


@pytest.mark.parametrize(
    ("written", "normal"),
    [("sw1a 1aa", "SW1A 1AA"), ("  1012   js ", "1012 JS"), ("k1a\t0b1", "K1A 0B1")],
)
def test_postal_codes_are_tidied_not_reformatted(written: str, normal: str) -> None:
    assert normalise_postal_code(written) == normal


@given(st.text())
def test_tidying_a_postal_code_twice_changes_nothing(postal_code: str) -> None:
    once = normalise_postal_code(postal_code)

    assert normalise_postal_code(once) == once


# --- regions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country", "region"),
    [("US", "CA"), ("US", "dc"), ("US", "PR"), ("US", "AE"), ("CA", "QC"), ("AU", "NSW")],
)
def test_listed_region_codes_are_accepted(country: str, region: str) -> None:
    assert region_problem(country, region) is None


@pytest.mark.parametrize(
    ("country", "region", "code"),
    [
        ("US", "new  york", "NY"),
        ("US", "District of Columbia", "DC"),
        ("CA", "Québec", "QC"),
        ("CA", "QUEBEC", "QC"),
        ("AU", "victoria", "VIC"),
        ("US", " ca ", "CA"),
    ],
)
def test_region_names_are_accepted_and_stored_as_codes(
    country: str, region: str, code: str
) -> None:
    assert region_problem(country, region) is None
    assert normalise_region(country, region) == code


@pytest.mark.parametrize(
    ("country", "region"),
    [("US", "XX"), ("US", "ON"), ("US", "Calif."), ("CA", "NY"), ("AU", "NSW2"), ("AU", "TS")],
)
def test_unlisted_regions_are_refused(country: str, region: str) -> None:
    problem = region_problem(country, region)

    assert _code(problem) is AddressErrorCode.INVALID_REGION
    assert problem is not None
    rule = countries()[country].region
    assert rule is not None
    assert f"such as {rule.example}" in problem.message


@pytest.mark.parametrize("country", ["US", "CA", "AU", "BR", "MX", "IN"])
@pytest.mark.parametrize("region", [None, "", "  "])
def test_a_region_is_required_where_addresses_need_one(country: str, region: str | None) -> None:
    assert _code(region_problem(country, region)) is AddressErrorCode.REGION_REQUIRED


def test_a_free_text_region_is_kept_tidied() -> None:
    assert region_problem("BR", "São  Paulo") is None
    assert normalise_region("BR", " São  Paulo ") == "São Paulo"


@pytest.mark.parametrize("country", ["FR", "GB", "HK", "ZZ"])
def test_other_countries_need_no_region_and_accept_any(country: str) -> None:
    assert region_problem(country, None) is None
    assert region_problem(country, "Île-de-France") is None
    assert normalise_region(country, "Île-de-France") == "Île-de-France"


# --- VAT IDs -------------------------------------------------------------------------------------

EU_VAT_IDS = [
    # (country, a valid VAT ID as people write it, one in the wrong national format)
    ("AT", "ATU 1234 5678", "AT12345678"),
    ("BE", "BE 0123.456.789", "BE2123456789"),
    ("BG", "BG1234567890", "BG12345678"),
    ("CY", "CY12345678L", "CY123456789"),
    ("CZ", "CZ1234567890", "CZ1234567"),
    ("DE", "DE 123 456 789", "DE12345678"),
    ("DK", "DK 12 34 56 78", "DK123456789"),
    ("EE", "EE100931558", "EE10093155"),
    ("ES", "ESX1234567L", "ES12345678"),
    ("FI", "FI12345671", "FI1234567"),
    ("FR", "fr 40 303 265 045", "FR4030326504"),
    ("GR", "EL094259216", "EL09425921"),
    ("HR", "HR33392005961", "HR3339200596"),
    ("HU", "HU12892312", "HU1289231"),
    ("IE", "IE6388047V", "IE12345678"),
    ("IT", "IT00743110157", "IT0074311015"),
    ("LT", "LT100001919017", "LT1234567890"),
    ("LU", "LU15027442", "LU1502744"),
    ("LV", "LV40003521600", "LV4000352160"),
    ("MT", "MT11679112", "MT1167911"),
    ("NL", "NL004495445B01", "NL004495445C01"),
    ("PL", "PL526-025-09-95", "PL526025099"),
    ("PT", "PT501964843", "PT50196484"),
    ("RO", "RO18547290", "RO01234567"),
    ("SE", "SE556703748501", "SE556703748502"),
    ("SI", "SI50223054", "SI5022305"),
    ("SK", "SK2022749619", "SK202274961"),
]


def test_the_vat_table_covers_every_eu_member() -> None:
    assert {country for country, _, _ in EU_VAT_IDS} == EU_MEMBERS


@pytest.mark.parametrize(("country", "valid", "wrong_format"), EU_VAT_IDS)
def test_eu_vat_ids_in_the_national_format_are_accepted(
    country: str, valid: str, wrong_format: str
) -> None:
    assert vat_id_problem(country, valid) is None


@pytest.mark.parametrize(("country", "valid", "wrong_format"), EU_VAT_IDS)
def test_eu_vat_ids_in_another_format_are_refused(
    country: str, valid: str, wrong_format: str
) -> None:
    problem = vat_id_problem(country, wrong_format)

    assert _code(problem) is AddressErrorCode.INVALID_VAT_ID
    assert problem is not None
    assert "in the format" in problem.message


@pytest.mark.parametrize(("country", "valid", "wrong_format"), EU_VAT_IDS)
def test_eu_vat_ids_with_another_members_prefix_are_refused(
    country: str, valid: str, wrong_format: str
) -> None:
    compact = normalise_vat_id(valid)
    prefix = "EL" if country == "GR" else country
    other = "DE" if country != "DE" else "FR"

    problem = vat_id_problem(country, other + compact.removeprefix(prefix))

    assert _code(problem) is AddressErrorCode.INVALID_VAT_ID
    assert problem is not None
    assert f"starts with {prefix}" in problem.message


@pytest.mark.parametrize(("country", "valid", "wrong_format"), EU_VAT_IDS)
def test_eu_vat_ids_without_a_prefix_are_refused(
    country: str, valid: str, wrong_format: str
) -> None:
    national_part = normalise_vat_id(valid)[2:]

    assert _code(vat_id_problem(country, national_part)) is AddressErrorCode.INVALID_VAT_ID


def test_greek_vat_ids_start_with_el_not_gr() -> None:
    problem = vat_id_problem("GR", "GR094259216")

    assert vat_id_problem("GR", "EL094259216") is None
    assert problem is not None
    assert problem.code is AddressErrorCode.INVALID_VAT_ID
    assert "starts with EL" in problem.message


def test_a_vat_id_of_another_eu_member_is_refused_for_this_country() -> None:
    assert vat_id_problem("DE", "DE123456789") is None
    assert _code(vat_id_problem("FR", "DE123456789")) is AddressErrorCode.INVALID_VAT_ID


@pytest.mark.parametrize(
    ("country", "vat_id"),
    [
        ("GB", "GB 123 4567 89"),
        ("GB", "XI123456789"),
        ("CH", "CHE-123.456.789 MWST"),
        ("NO", "NO 123 456 789 MVA"),
        ("BR", "12.345.678/0001-90"),
        ("US", "12-3456789"),
        ("ZZ", "anything-at-all"),
    ],
)
def test_outside_the_eu_any_identifier_is_accepted(country: str, vat_id: str) -> None:
    assert vat_id_problem(country, vat_id) is None


@pytest.mark.parametrize(
    "vat_id",
    ["X", "---1", "GB 123 <script>", "ÅÄÖ123", "1" * 31],
    ids=["one letter", "one digit", "markup", "non-latin letters", "31 digits"],
)
def test_outside_the_eu_something_else_than_an_identifier_is_refused(vat_id: str) -> None:
    assert _code(vat_id_problem("GB", vat_id)) is AddressErrorCode.INVALID_VAT_ID


@pytest.mark.parametrize("country", ["FR", "GB"])
@pytest.mark.parametrize("vat_id", [None, "", "  ", "-", " / "])
def test_a_vat_id_is_optional(country: str, vat_id: str | None) -> None:
    assert vat_id_problem(country, vat_id) is None


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("fr 40 303 265 045", "FR40303265045"),
        ("ATU-1234.5678", "ATU12345678"),
        ("12.345.678/0001-90", "12345678000190"),
    ],
)
def test_vat_ids_are_compacted(written: str, normal: str) -> None:
    assert normalise_vat_id(written) == normal


@given(st.text())
def test_compacting_a_vat_id_twice_changes_nothing(vat_id: str) -> None:
    once = normalise_vat_id(vat_id)

    assert normalise_vat_id(once) == once


@given(
    country=st.sampled_from(sorted(EU_MEMBERS | {"GB", "US", "ZZ"})),
    vat_id=st.one_of(
        st.text(alphabet="ELFRDEATU0123456789B .-/", max_size=20),
        st.sampled_from([valid for _, valid, _ in EU_VAT_IDS]),
    ),
)
def test_compacting_never_changes_the_verdict(country: str, vat_id: str) -> None:
    assert _code(vat_id_problem(country, vat_id)) == _code(
        vat_id_problem(country, normalise_vat_id(vat_id))
    )
