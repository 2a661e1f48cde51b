"""The VIES stand-in as `make dev` runs it (its own process, the stack's clock file): each
answer dated with the stack's instant however far the clock moved, and the rules docs/tax.md
lists (known numbers valid, with a consultation number for a known requester; others not; a
member state, or VIES as a whole, made unavailable)."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.clock import StackClock
from devstack.processes import HOST
from devstack.stack import CHILDREN, CLOCK_FILE, VIES
from tests.devstack.conftest import START
from tests.support.stand_ins import listening

pytestmark = pytest.mark.devstack

SELLER = {"requesterMemberStateCode": "FR", "requesterNumber": "34912345600"}


def _call(url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = response.read()
            return response.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def _check(url: str, vat_id: str) -> tuple[int, Any]:
    number = {"countryCode": vat_id[:2], "vatNumber": vat_id[2:]}
    return _call(url, "POST", "/check-vat-number", number | SELLER)


def test_the_vies_stand_in_of_make_dev_answers_on_the_stacks_clock_by_its_rules(
    tmp_path: Path,
) -> None:
    [child] = [child for child in CHILDREN if child.port is VIES]
    assert child.reads_clock
    clock = StackClock(START, file=tmp_path / CLOCK_FILE)
    command = [sys.executable, "-m", child.module, "--host", HOST]

    with listening(
        lambda port: [*command, "--port", str(port), "--clock-file", str(tmp_path / CLOCK_FILE)]
    ) as port:
        url = f"http://{HOST}:{port}"
        status, belgian = _check(url, "BE0123456789")
        clock.advance(timedelta(days=40, hours=3))
        _, german = _check(url, "DE123456789")
        _, unknown = _check(url, "BE0999999999")
        _, never_answers = _check(url, "DE999999999")
        _call(url, "POST", "/_standin/unavailable", {"member_state": "DE"})
        _, german_down = _check(url, "DE123456789")
        _call(url, "POST", "/_standin/unavailable", {"member_state": "*"})
        vies_down = _check(url, "BE0123456789")
        _call(url, "DELETE", "/_standin/unavailable")
        back = _check(url, "DE123456789")

    assert status == 200
    assert (belgian["valid"], belgian["requestDate"]) == (True, "2026-01-31T09:30:00Z")
    assert belgian["requestIdentifier"].startswith("WAPI")
    assert (german["valid"], german["requestDate"]) == (True, "2026-03-12T12:30:00Z")
    assert (unknown["valid"], unknown["requestIdentifier"]) == (False, "")
    assert never_answers["errorWrappers"][0]["error"] == "MS_UNAVAILABLE"
    assert german_down["errorWrappers"][0]["error"] == "MS_UNAVAILABLE"
    assert (vies_down[0], vies_down[1]["errorWrappers"][0]["error"]) == (503, "SERVICE_UNAVAILABLE")
    assert (back[0], back[1]["valid"]) == (200, True)
