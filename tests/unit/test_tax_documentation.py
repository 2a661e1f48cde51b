"""docs/tax.md's table of VAT rates is the data file's: each member state's rate, the day it
took effect and the earlier ones, and the table's date."""

from __future__ import annotations

import re
from pathlib import Path

from billing.domain.addresses import countries
from billing.domain.tax import default_rates

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "tax.md"
_ROW = re.compile(r"^\| ([^|]+) \| ([A-Z]{2}) \| ([\d.]+) % \| (\d{4}-\d\d-\d\d) \| ([^|]*)\|$")


def _percent(basis_points: int) -> str:
    whole, rest = divmod(basis_points, 100)
    return str(whole) if rest == 0 else f"{whole}.{rest:02d}".rstrip("0")


def test_the_documented_rates_are_the_data_files() -> None:
    rates = default_rates()
    documented = {
        match[2]: (match[1], match[3], match[4], match[5].strip())
        for line in DOCUMENT.read_text(encoding="utf-8").splitlines()
        if (match := _ROW.match(line))
    }

    expected = {
        country: (
            countries()[country].name,
            _percent(history[0].basis_points),
            f"{history[0].since:%Y-%m-%d}",
            ", ".join(f"{_percent(r.basis_points)} % from {r.since:%Y-%m-%d}" for r in history[1:]),
        )
        for country, history in rates.rates.items()
    }
    assert documented == expected


def test_the_document_gives_the_tables_date() -> None:
    version = default_rates().version  # 2025-08-01
    year, month, day = (int(part) for part in version.split("-"))
    months = ["January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December"]  # fmt: skip
    assert f"dated **{day} {months[month - 1]} {year}**" in DOCUMENT.read_text(encoding="utf-8")
