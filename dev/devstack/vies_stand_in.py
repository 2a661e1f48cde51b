"""A stand-in for the EU's VIES service, answering VIES's REST API as documented for what we use:
``POST /check-vat-number`` with ``countryCode``, ``vatNumber`` and the requester's
``requesterMemberStateCode`` and ``requesterNumber``. Run:
``python -m devstack.vies_stand_in``.

Its answers follow simple rules (docs/local-stack.md lists them):

- the numbers of `KNOWN` are valid (a Belgian and a German business among them, and the seller's
  own number, which VIES must know to give a consultation number); more are registered with
  ``POST /_standin/numbers`` ``{"vat_id": "BE0987654321", "name"?, "address"?}``;
- `UNAVAILABLE_NUMBER` always gets ``MS_UNAVAILABLE``, as when its member state's register is
  down;
- any other number is not valid (``"valid": false``);
- ``POST /_standin/unavailable`` ``{"member_state": "DE"}`` makes that member state's register
  unavailable (``MS_UNAVAILABLE``), ``{"member_state": "*"}`` VIES as a whole
  (``SERVICE_UNAVAILABLE``, a 503); ``DELETE /_standin/unavailable`` brings them all back.

A valid answer carries a consultation number (``requestIdentifier``) when the requester is a
valid number; a requester VIES does not know as valid gets ``INVALID_REQUESTER_INFO``. Errors
come as VIES sends them: ``{"actionSucceed": false, "errorWrappers": [{"error", "message"}]}``,
with a 200 for a member state's unavailability (VIES answers so at times: a client reading only
``valid`` would take it for an answer), a 503 when VIES is down, a 400 for input it refuses.
Faults at the HTTP level (a 500, a slow answer) are injected with `devstack.faults` under
``/_standin``.

Its time is a clock file's when given (``--clock-file``, the local stack's shared clock): each
answer's ``requestDate`` is the stack's instant then.
"""

from __future__ import annotations

import argparse
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from billing.domain.billing_calendar import format_instant
from billing.domain.tax import default_rates
from devstack.clock import Clock, shared_clock, wall_clock
from devstack.faults import FaultInjector

CONTROL = "/_standin"
MEMBER_STATES = frozenset(
    {"EL" if country == "GR" else country for country in default_rates().rates} | {"XI"}
)
"""VIES's member-state codes: the EU's (those of the VAT rates table), EL being Greece, and XI
for Northern Ireland."""

KNOWN: dict[str, tuple[str, str]] = {
    "BE0123456789": ("EXEMPLE SERVICES SA", "Rue de la Loi 16\n1000 Bruxelles"),
    "DE123456789": ("---", "---"),  # Germany discloses neither name nor address
    "NL004495445B01": ("VOORBEELD BV", "Damrak 1\n1012LG Amsterdam"),
    "EL094259216": ("PARADIGMA AE", "Ermou 10\n10563 Athina"),
    "FR34912345600": ("NUAGE FACTURATION SAS", "12 RUE DE LA PAIX\n75002 PARIS"),
}
"""Valid numbers, with the name and address VIES gives for them: an example Belgian business,
a German one, a Dutch and a Greek one, and the seller (the requester of our checks)."""
UNAVAILABLE_NUMBER = "DE999999999"
"""A number whose member state never answers: VIES says MS_UNAVAILABLE."""

_NUMBER = re.compile(r"[0-9A-Z+*]{2,12}")
_MESSAGES = {
    "INVALID_INPUT": "The provided CountryCode is invalid or the VAT number is empty",
    "INVALID_REQUESTER_INFO": "The requester information is invalid",
    "MS_UNAVAILABLE": "The application at the Member State is not replying or not available",
    "SERVICE_UNAVAILABLE": "An error was encountered either at the network level or the Web "
    "application level, try again later",
}


def _error(code: str, status: int) -> web.Response:
    return web.json_response(
        {"actionSucceed": False, "errorWrappers": [{"error": code, "message": _MESSAGES[code]}]},
        status=status,
    )


@dataclass
class Vies:
    clock: Clock = wall_clock
    known: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(KNOWN))
    down: set[str] = field(default_factory=set)
    """Member states whose register does not answer; ``*`` for VIES as a whole."""

    def application(self) -> web.Application:
        app = web.Application()
        FaultInjector(
            control_prefix=CONTROL,
            # A server failing before VIES's own code answers: no error code of VIES's.
            error_body=lambda status: {"message": f"Injected fault {status}."},
            idempotency_header="X-Request-Id",
        ).install(app)
        app.router.add_post("/check-vat-number", self.check_vat_number)
        app.router.add_post(f"{CONTROL}/numbers", self.register)
        app.router.add_post(f"{CONTROL}/unavailable", self.make_unavailable)
        app.router.add_delete(f"{CONTROL}/unavailable", self.make_available)
        return app

    async def check_vat_number(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _error("INVALID_INPUT", 400)
        country, number = str(body.get("countryCode", "")), str(body.get("vatNumber", ""))
        if country not in MEMBER_STATES or not _NUMBER.fullmatch(number):
            return _error("INVALID_INPUT", 400)
        if "*" in self.down:
            return _error("SERVICE_UNAVAILABLE", 503)
        if country in self.down or country + number == UNAVAILABLE_NUMBER:
            return _error("MS_UNAVAILABLE", 200)
        requester = str(body.get("requesterMemberStateCode") or "") + str(
            body.get("requesterNumber") or ""
        )
        if requester and requester not in self.known:
            return _error("INVALID_REQUESTER_INFO", 400)
        found = self.known.get(country + number)
        name, address = found or ("---", "---")
        return web.json_response(
            {
                "countryCode": country,
                "vatNumber": number,
                "requestDate": format_instant(self.clock()),
                "valid": found is not None,
                "requestIdentifier": (
                    "WAPI" + secrets.token_hex(6).upper() if found and requester else ""
                ),
                "name": name,
                "address": address,
                "traderName": "---",
                "traderStreet": "---",
                "traderPostalCode": "---",
                "traderCity": "---",
                "traderCompanyType": "---",
                "traderNameMatch": "NOT_PROCESSED",
                "traderStreetMatch": "NOT_PROCESSED",
                "traderPostalCodeMatch": "NOT_PROCESSED",
                "traderCityMatch": "NOT_PROCESSED",
                "traderCompanyTypeMatch": "NOT_PROCESSED",
            }
        )

    async def register(self, request: web.Request) -> web.Response:
        body = await request.json()
        vat_id = str(body.get("vat_id", "")).upper()
        if vat_id[:2] not in MEMBER_STATES or not _NUMBER.fullmatch(vat_id[2:]):
            return web.json_response({"error": f"{vat_id!r} is not a VAT ID"}, status=400)
        self.known[vat_id] = (str(body.get("name") or "---"), str(body.get("address") or "---"))
        return web.Response(status=204)

    async def make_unavailable(self, request: web.Request) -> web.Response:
        member_state = str((await request.json()).get("member_state", ""))
        if member_state != "*" and member_state not in MEMBER_STATES:
            return web.json_response({"error": f"{member_state!r} is no member state"}, status=400)
        self.down.add(member_state)
        return web.Response(status=204)

    async def make_available(self, request: web.Request) -> web.Response:
        self.down.clear()
        return web.Response(status=204)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8422)
    parser.add_argument("--clock-file", type=Path, help="the local stack's clock (default: wall)")
    args = parser.parse_args()
    stand_in = Vies(clock=shared_clock(args.clock_file))
    # SIGINT is left to Python: Ctrl-C stops a server run by hand, and the local stack's
    # children ignore it (devstack.processes.ignore_interrupts), to be stopped in order.
    web.run_app(
        stand_in.application(), host=args.host, port=args.port, print=None, handle_signals=False
    )


if __name__ == "__main__":
    main()
