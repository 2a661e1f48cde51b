"""A PayPal stand-in following PayPal's documented requests and responses for what we use:
OAuth2 client credentials, Vault v3 setup and payment tokens, Orders v2 create, capture and get,
and `PayPal-Request-Id`. Run: ``python -m devstack.paypal_stand_in``.

The payer's approval, a browser step at PayPal, is ``POST /_standin/approve/<setup token>``
with ``{"email": …, "funding": "ok" | "declined" | "insufficient_funds" | "cancelled"}``:
`funding` decides how later captures against the saved wallet end.

Its time is a clock file's when given (``--clock-file``, the local stack's shared clock): orders'
and captures' ``create_time``/``update_time`` and how long a `PayPal-Request-Id` is remembered
follow the stack's instant then.
"""

from __future__ import annotations

import argparse
import base64
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from billing.domain.billing_calendar import format_instant
from devstack.clock import Clock, shared_clock, wall_clock
from devstack.faults import FaultInjector, Handler
from devstack.idempotency import IdempotencyKeyMemory

CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret"
REQUEST_ID_RETENTION = timedelta(hours=6)
"""PayPal keeps a `PayPal-Request-Id` (and the answer it gave) for 6 hours."""

_REFUSALS = {
    "declined": ("INSTRUMENT_DECLINED", "The instrument presented was declined by the processor."),
    "insufficient_funds": ("INSUFFICIENT_FUNDS", "The payer's account has insufficient funds."),
    "cancelled": (
        "AGREEMENT_ALREADY_CANCELLED",
        "The billing agreement was cancelled by the payer.",
    ),
}


def _id(prefix: str = "") -> str:
    return prefix + secrets.token_hex(8).upper()


def _problem(status: int, name: str, issue: str, description: str) -> web.Response:
    """PayPal's error shape: name, message, details with the issue, debug_id."""
    return web.json_response(
        {
            "name": name,
            "message": description,
            "debug_id": _id(),
            "details": [{"issue": issue, "description": description}],
        },
        status=status,
    )


def _unprocessable(issue: str, description: str) -> web.Response:
    return _problem(422, "UNPROCESSABLE_ENTITY", issue, description)


def _not_found(what: str) -> web.Response:
    return _problem(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"Unknown {what}.")


def _missing(description: str) -> web.Response:
    return _problem(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", description)


@dataclass
class PayPal:
    client_id: str
    client_secret: str
    tokens: set[str] = field(default_factory=set)
    setup_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    funding: dict[str, str] = field(default_factory=dict)
    """How captures against each setup or payment token end: the payer's approval decides."""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    clock: Clock = wall_clock

    def _now(self) -> str:
        """PayPal's date-time: RFC 3339 in UTC, to the second."""
        return format_instant(self.clock())

    def application(self) -> web.Application:
        # Authentication comes first: a refused token is not an answer to remember.
        idempotency = IdempotencyKeyMemory(
            "PayPal-Request-Id",
            lambda status, message: _problem(
                status, "DUPLICATE_REQUEST_ID", "DUPLICATE_REQUEST_ID", message
            ),
            REQUEST_ID_RETENTION,
            self.clock,
        )
        app = web.Application(middlewares=[self.authenticate, idempotency.middleware])
        FaultInjector(
            control_prefix="/_standin",
            error_body=lambda status: {
                "name": "INTERNAL_SERVER_ERROR" if status >= 500 else "RATE_LIMIT_REACHED",
                "message": f"Injected fault {status}.",
                "debug_id": _id(),
            },
            idempotency_header="PayPal-Request-Id",
        ).install(app)
        app.router.add_post("/v1/oauth2/token", self.token)
        app.router.add_post("/v3/vault/setup-tokens", self.create_setup_token)
        app.router.add_post("/v3/vault/payment-tokens", self.create_payment_token)
        app.router.add_get("/v3/vault/payment-tokens/{id}", self.get_payment_token)
        app.router.add_post("/v2/checkout/orders", self.create_order)
        app.router.add_get("/v2/checkout/orders/{id}", self.get_order)
        app.router.add_post("/v2/checkout/orders/{id}/capture", self.capture_order)
        app.router.add_post("/_standin/approve/{id}", self.approve)
        app.router.add_get("/_standin/captures", self.captures)
        app.router.add_delete("/_standin/tokens", self.revoke_tokens)
        return app

    @web.middleware
    async def authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_standin") or request.path == "/v1/oauth2/token":
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or token not in self.tokens:
            return web.json_response(
                {
                    "error": "invalid_token",
                    "error_description": "Token signature verification failed",
                },
                status=401,
            )
        return await handler(request)

    # --- OAuth2 ---

    async def token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = await request.post()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return web.json_response(
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
                status=401,
            )
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        token = _id("A21AA")
        self.tokens.add(token)
        return web.json_response(
            {
                "scope": "https://uri.paypal.com/services/vault/payment-tokens/readwrite",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-STANDIN",
                "expires_in": 32400,
                "nonce": _id(),
            }
        )

    # --- Vault v3 ---

    async def create_setup_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        paypal = body.get("payment_source", {}).get("paypal")
        if not isinstance(paypal, dict):
            return _missing("payment_source.paypal is required.")
        token: dict[str, Any] = {
            "id": _id(),
            "customer": {"id": body.get("customer", {}).get("id") or _id("CUS")},
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {"usage_type": paypal.get("usage_type", "MERCHANT")}},
        }
        token["links"] = [
            {
                "href": f"{request.url.origin()}/_standin/approve/{token['id']}",
                "rel": "approve",
                "method": "POST",
            },
        ]
        self.setup_tokens[token["id"]] = token
        return web.json_response(token, status=201)

    async def approve(self, request: web.Request) -> web.Response:
        token = self.setup_tokens.get(request.match_info["id"])
        if token is None:
            return _not_found("setup token")
        body = await request.json()
        token["status"] = "APPROVED"
        token["payment_source"]["paypal"].update(email_address=body["email"], payer_id=_id("P"))
        self.funding[token["id"]] = body.get("funding", "ok")
        return web.json_response({"id": token["id"], "status": token["status"]})

    async def create_payment_token(self, request: web.Request) -> web.Response:
        body = await request.json()
        source = body.get("payment_source", {}).get("token", {})
        setup = self.setup_tokens.get(source.get("id", ""))
        if source.get("type") != "SETUP_TOKEN" or setup is None:
            return _not_found("setup token")
        if setup["status"] != "APPROVED":
            return _unprocessable(
                "SETUP_TOKEN_NOT_APPROVED", "The payer has not approved the setup token."
            )
        token = {
            "id": _id(),
            "customer": setup["customer"],
            "payment_source": {"paypal": dict(setup["payment_source"]["paypal"])},
        }
        self.payment_tokens[token["id"]] = token
        self.funding[token["id"]] = self.funding[setup["id"]]
        return web.json_response(token, status=201)

    async def get_payment_token(self, request: web.Request) -> web.Response:
        token = self.payment_tokens.get(request.match_info["id"])
        if token is None:
            return _not_found("payment token")
        return web.json_response(token)

    # --- Orders v2 ---

    async def create_order(self, request: web.Request) -> web.Response:
        body = await request.json()
        units = body.get("purchase_units")
        if body.get("intent") != "CAPTURE" or not units or "amount" not in units[0]:
            return _missing("intent and purchase_units[0].amount are required.")
        now = self._now()
        order = {
            "id": _id(),
            "intent": "CAPTURE",
            "status": "CREATED",
            "purchase_units": units,
            "create_time": now,
            "update_time": now,
        }
        self.orders[order["id"]] = order
        return web.json_response(order, status=201)

    async def get_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            return _not_found("order")
        return web.json_response(order)

    async def capture_order(self, request: web.Request) -> web.Response:
        order = self.orders.get(request.match_info["id"])
        if order is None:
            return _not_found("order")
        if order["status"] == "COMPLETED":
            return _unprocessable("ORDER_ALREADY_CAPTURED", "Order already captured.")
        body = await request.json() if request.body_exists else {}
        vault_id = body.get("payment_source", {}).get("paypal", {}).get("vault_id")
        token = self.payment_tokens.get(vault_id or "")
        if token is None:
            return _unprocessable("INVALID_RESOURCE_ID", "Unknown vault_id.")
        refusal = _REFUSALS.get(self.funding[token["id"]])
        if refusal is not None:
            return _unprocessable(*refusal)
        unit = order["purchase_units"][0]
        now = self._now()
        unit["payments"] = {
            "captures": [
                {
                    "id": _id(),
                    "status": "COMPLETED",
                    "amount": unit["amount"],
                    "custom_id": unit.get("custom_id"),
                    "invoice_id": unit.get("invoice_id"),
                    "final_capture": True,
                    "create_time": now,
                    "update_time": now,
                }
            ]
        }
        order["status"] = "COMPLETED"
        order["update_time"] = now
        order["payment_source"] = {
            "paypal": token["payment_source"]["paypal"] | {"vault_id": vault_id}
        }
        return web.json_response(order, status=201)

    async def revoke_tokens(self, request: web.Request) -> web.Response:
        """Every access token expires at once, as they do after 9 hours at PayPal."""
        self.tokens.clear()
        return web.Response(status=204)

    async def captures(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                capture
                for order in self.orders.values()
                for unit in order["purchase_units"]
                for capture in unit.get("payments", {}).get("captures", [])
            ]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8421)
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--clock-file", type=Path, help="the local stack's clock (default: wall)")
    args = parser.parse_args()
    stand_in = PayPal(args.client_id, args.client_secret, clock=shared_clock(args.clock_file))
    web.run_app(stand_in.application(), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
