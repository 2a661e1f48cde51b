"""A PayPal stand-in following PayPal's documented requests and responses for what we use:
OAuth2 client credentials, Vault v3 setup and payment tokens (and deleting them), Orders v2
create, capture and get, Payments v2 captures and refunds, the Disputes API's reads, webhooks
(registration, signed deliveries, verify-webhook-signature), and `PayPal-Request-Id`. Run:
``python -m devstack.paypal_stand_in``.

The payer's approval, a browser step at PayPal, is ``POST /_standin/approve/<setup token>``
with ``{"email": …, "funding": "ok" | "pending" | "declined" | "insufficient_funds" |
"cancelled"}``: `funding` decides how later captures against the saved wallet end (``pending``:
held for review, ``PENDING`` until a control route below ends it). In a browser, the setup
token's ``approve`` link (``GET /_standin/approve/<setup token>``) is a page where the payer
approves (``funding`` ok) or cancels, and is then sent back as PayPal sends them: to the setup
token's ``experience_context.return_url`` with ``approval_token_id`` and
``approval_session_id``, or to its ``cancel_url``.

What PayPal's side does on its own is driven by control routes (not PayPal's):

- ``POST /_standin/captures/<id>/complete`` and ``…/deny``: a capture held for review ends
  COMPLETED or DECLINED.
- ``POST /_standin/captures/<id>/dispute`` ``{"reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"}``:
  the payer opens a dispute; ``POST /_standin/disputes/<id>/resolve`` ``{"outcome":
  "RESOLVED_BUYER_FAVOUR" | "RESOLVED_SELLER_FAVOUR"}`` ends it (for the buyer, the capture is
  REVERSED).
- ``POST /_standin/payment-tokens/<id>/revoke``: the payer removes the saved wallet at PayPal.

Webhooks: every event (``PAYMENT.CAPTURE.*``, ``CUSTOMER.DISPUTE.*``,
``VAULT.PAYMENT-TOKEN.DELETED``) is POSTed, after the answer to the request that caused it, to
each registered URL in PayPal's envelope with PayPal's transmission headers. PayPal signs
``<transmission id>|<transmission time>|<webhook id>|<crc32 of the body>`` with RSA and names
its certificate in ``PAYPAL-CERT-URL``; the stand-in signs the same string with an HMAC key only
it knows, so, as with PayPal for a merchant that does not fetch certificates, the only way to
check a delivery is ``POST /v1/notifications/verify-webhook-signature``. It keeps each delivered
body by transmission id and answers SUCCESS only for that body (the posted event compared with
it as JSON), the webhook id it went to, and the signature it carried.

Its time is a clock file's when given (``--clock-file``, the local stack's shared clock): orders',
captures', refunds', disputes' and events' times, transmission times, and how long a
`PayPal-Request-Id` is remembered follow the stack's instant then.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import aiohttp
from aiohttp import web

from billing.domain.billing_calendar import format_instant
from devstack.clock import Clock, shared_clock, wall_clock
from devstack.faults import FaultInjector, Handler
from devstack.idempotency import IdempotencyKeyMemory

CLIENT_ID = "standin-client"
CLIENT_SECRET = "standin-secret"
REQUEST_ID_RETENTION = timedelta(hours=6)
"""PayPal keeps a `PayPal-Request-Id` (and the answer it gave) for 6 hours."""
WEBHOOK_DELAY = 0.05
"""Seconds between the answer to a request and the deliveries of the events it caused."""
WEBHOOK_TIMEOUT = 10.0
AUTH_ALGO = "SHA256withRSA"
"""What PayPal names its signature algorithm in ``PAYPAL-AUTH-ALGO``."""

_REFUSALS = {
    "declined": ("INSTRUMENT_DECLINED", "The instrument presented was declined by the processor."),
    "insufficient_funds": ("INSUFFICIENT_FUNDS", "The payer's account has insufficient funds."),
    "cancelled": (
        "AGREEMENT_ALREADY_CANCELLED",
        "The billing agreement was cancelled by the payer.",
    ),
}
_OPEN_DISPUTE = (
    "OPEN",
    "WAITING_FOR_BUYER_RESPONSE",
    "WAITING_FOR_SELLER_RESPONSE",
    "UNDER_REVIEW",
)
_DISPUTE_OUTCOMES = ("RESOLVED_BUYER_FAVOUR", "RESOLVED_SELLER_FAVOUR")
_VERIFY_FIELDS = (
    "auth_algo",
    "cert_url",
    "transmission_id",
    "transmission_sig",
    "transmission_time",
    "webhook_id",
    "webhook_event",
)

logger = logging.getLogger(__name__)


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


_APPROVAL_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>PayPal (stand-in): approve</title></head>
<body><main><h1>Save PayPal for future payments</h1>
<p>The PayPal stand-in: approving saves this PayPal account with the merchant.</p>
<form method="post" action="{answer}">
<label for="email">PayPal email</label>
<input id="email" name="email" type="email" value="payer@example.com" required>
<button name="answer" value="approve">Agree and continue</button>
<button name="answer" value="cancel" formnovalidate>Cancel and return</button>
</form></main></body></html>
"""


def _with_query(url: str, parameters: Mapping[str, str]) -> str:
    """`url` with `parameters` added to its query, as PayPal adds its own to a return URL."""
    parts = urlsplit(url)
    query = "&".join(part for part in (parts.query, urlencode(parameters)) if part)
    return urlunsplit(parts._replace(query=query))


def _unprocessable(issue: str, description: str) -> web.Response:
    return _problem(422, "UNPROCESSABLE_ENTITY", issue, description)


def _not_found(what: str) -> web.Response:
    return _problem(404, "RESOURCE_NOT_FOUND", "INVALID_RESOURCE_ID", f"Unknown {what}.")


def _missing(description: str) -> web.Response:
    return _problem(400, "INVALID_REQUEST", "MISSING_REQUIRED_PARAMETER", description)


def _link(href: str, rel: str, method: str = "GET") -> dict[str, str]:
    return {"href": href, "rel": rel, "method": method}


def _decimal(value: object) -> Decimal | None:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount > 0 else None


@dataclass(frozen=True)
class _Delivery:
    """One transmission of an event to one webhook: what verification is checked against."""

    webhook_id: str
    time: str
    body: bytes
    signature: str
    cert_url: str


@dataclass
class PayPal:
    client_id: str
    client_secret: str
    tokens: set[str] = field(default_factory=set)
    setup_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    payment_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    funding: dict[str, str] = field(default_factory=dict)
    """How captures against each setup or payment token end: the payer's approval decides."""
    experiences: dict[str, dict[str, str]] = field(default_factory=dict)
    """Each setup token's ``experience_context``: where its payer is sent back."""
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    captures: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each capture (the same object the order lists) by id."""
    capture_orders: dict[str, str] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    refund_captures: dict[str, str] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    webhooks: dict[str, dict[str, Any]] = field(default_factory=dict)
    deliveries: dict[str, _Delivery] = field(default_factory=dict)
    """Every transmission by its id, as `verify-webhook-signature` checks it."""
    clock: Clock = wall_clock
    _signing_key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    _sending: set[asyncio.Task[None]] = field(default_factory=set, repr=False)

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
        app.router.add_get("/v3/vault/setup-tokens/{id}", self.get_setup_token)
        app.router.add_get("/v3/vault/payment-tokens", self.list_payment_tokens)
        app.router.add_get("/v3/vault/payment-tokens/{id}", self.get_payment_token)
        app.router.add_delete("/v3/vault/payment-tokens/{id}", self.delete_payment_token)
        app.router.add_post("/v2/checkout/orders", self.create_order)
        app.router.add_get("/v2/checkout/orders/{id}", self.get_order)
        app.router.add_post("/v2/checkout/orders/{id}/capture", self.capture_order)
        app.router.add_get("/v2/payments/captures/{id}", self.get_capture)
        app.router.add_post("/v2/payments/captures/{id}/refund", self.refund_capture)
        app.router.add_get("/v2/payments/refunds/{id}", self.get_refund)
        app.router.add_get("/v1/customer/disputes", self.list_disputes)
        app.router.add_get("/v1/customer/disputes/{id}", self.get_dispute)
        app.router.add_post("/v1/notifications/webhooks", self.create_webhook)
        app.router.add_get("/v1/notifications/webhooks", self.list_webhooks)
        app.router.add_delete("/v1/notifications/webhooks/{id}", self.delete_webhook)
        app.router.add_post("/v1/notifications/verify-webhook-signature", self.verify_signature)
        app.router.add_post("/_standin/approve/{id}", self.approve)
        app.router.add_get("/_standin/approve/{id}", self.approval_page)
        app.router.add_post("/_standin/approve/{id}/answer", self.payer_answer)
        app.router.add_get("/_standin/captures", self.list_captures)
        app.router.add_post("/_standin/captures/{id}/complete", self.complete_capture)
        app.router.add_post("/_standin/captures/{id}/deny", self.deny_capture)
        app.router.add_post("/_standin/captures/{id}/dispute", self.open_dispute)
        app.router.add_post("/_standin/disputes/{id}/resolve", self.resolve_dispute)
        app.router.add_post("/_standin/payment-tokens/{id}/revoke", self.revoke_payment_token)
        app.router.add_get("/_standin/certs/{id}", self.certificate)
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
        asked = body.get("customer") or {}
        customer = {"id": asked.get("id") or _id("CUS")}
        if asked.get("merchant_customer_id"):
            customer["merchant_customer_id"] = asked["merchant_customer_id"]
        token: dict[str, Any] = {
            "id": _id(),
            "customer": customer,
            "status": "PAYER_ACTION_REQUIRED",
            "payment_source": {"paypal": {"usage_type": paypal.get("usage_type", "MERCHANT")}},
        }
        token["links"] = [
            _link(f"{request.url.origin()}/_standin/approve/{token['id']}", "approve"),
        ]
        self.setup_tokens[token["id"]] = token
        self.experiences[token["id"]] = dict(paypal.get("experience_context") or {})
        return web.json_response(token, status=201)

    async def approval_page(self, request: web.Request) -> web.Response:
        """PayPal's approval page, for a payer in a browser: approve or cancel."""
        token_id = request.match_info["id"]
        if token_id not in self.setup_tokens:
            return _not_found("setup token")
        page = _APPROVAL_PAGE.format(answer=escape(f"/_standin/approve/{token_id}/answer"))
        return web.Response(text=page, content_type="text/html")

    async def payer_answer(self, request: web.Request) -> web.Response:
        """The approval page's form: the setup token approved (with the email given) or not,
        and the payer sent back where its ``experience_context`` says."""
        token_id = request.match_info["id"]
        token = self.setup_tokens.get(token_id)
        experience = self.experiences.get(token_id, {})
        if token is None:
            return _not_found("setup token")
        form = await request.post()
        if form.get("answer") != "approve":
            raise web.HTTPSeeOther(experience.get("cancel_url") or "/")
        token["status"] = "APPROVED"
        email = str(form.get("email") or "payer@example.com")
        token["payment_source"]["paypal"].update(email_address=email, payer_id=_id("P"))
        self.funding[token_id] = "ok"
        back = {"approval_token_id": token_id, "approval_session_id": _id("AS")}
        raise web.HTTPSeeOther(_with_query(experience.get("return_url") or "/", back))

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
        token: dict[str, Any] = {
            "id": _id(),
            "customer": dict(setup["customer"]),
            "payment_source": {"paypal": dict(setup["payment_source"]["paypal"])},
        }
        self.payment_tokens[token["id"]] = token
        self.funding[token["id"]] = self.funding[setup["id"]]
        return web.json_response(token, status=201)

    async def get_setup_token(self, request: web.Request) -> web.Response:
        token = self.setup_tokens.get(request.match_info["id"])
        if token is None:
            return _not_found("setup token")
        return web.json_response(token)

    async def list_payment_tokens(self, request: web.Request) -> web.Response:
        """``GET /v3/vault/payment-tokens?customer_id=…``: a PayPal customer's saved methods."""
        customer = request.query.get("customer_id")
        if not customer:
            return _missing("customer_id is required.")
        tokens = [t for t in self.payment_tokens.values() if t["customer"]["id"] == customer]
        return web.json_response({"customer": {"id": customer}, "payment_tokens": tokens})

    async def get_payment_token(self, request: web.Request) -> web.Response:
        token = self.payment_tokens.get(request.match_info["id"])
        if token is None:
            return _not_found("payment token")
        return web.json_response(token)

    async def delete_payment_token(self, request: web.Request) -> web.Response:
        """``DELETE /v3/vault/payment-tokens/{id}``: the merchant deletes a saved method."""
        return self._remove_payment_token(request)

    async def revoke_payment_token(self, request: web.Request) -> web.Response:
        """The payer removes the saved wallet from their PayPal account (not PayPal's route)."""
        return self._remove_payment_token(request)

    def _remove_payment_token(self, request: web.Request) -> web.Response:
        token = self.payment_tokens.pop(request.match_info["id"], None)
        if token is None:
            return _not_found("payment token")
        resource = token | {
            "links": [
                _link(f"{request.url.origin()}/v3/vault/payment-tokens/{token['id']}", "self")
            ]
        }
        self._emit(
            "VAULT.PAYMENT-TOKEN.DELETED",
            "payment_token",
            resource,
            "A payment token has been deleted.",
            request,
        )
        return web.Response(status=204)

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
        funding = self.funding[token["id"]]
        refusal = _REFUSALS.get(funding)
        if refusal is not None:
            return _unprocessable(*refusal)
        unit = order["purchase_units"][0]
        now = self._now()
        origin = request.url.origin()
        capture: dict[str, Any] = {
            "id": _id(),
            "status": "PENDING" if funding == "pending" else "COMPLETED",
            "amount": unit["amount"],
            "custom_id": unit.get("custom_id"),
            "invoice_id": unit.get("invoice_id"),
            "final_capture": True,
            "create_time": now,
            "update_time": now,
        }
        if funding == "pending":
            capture["status_details"] = {"reason": "PENDING_REVIEW"}
        capture["links"] = [
            _link(f"{origin}/v2/payments/captures/{capture['id']}", "self"),
            _link(f"{origin}/v2/payments/captures/{capture['id']}/refund", "refund", "POST"),
            _link(f"{origin}/v2/checkout/orders/{order['id']}", "up"),
        ]
        unit["payments"] = {"captures": [capture]}
        self.captures[capture["id"]] = capture
        self.capture_orders[capture["id"]] = order["id"]
        order["status"] = "COMPLETED"
        order["update_time"] = now
        order["payment_source"] = {
            "paypal": token["payment_source"]["paypal"] | {"vault_id": vault_id}
        }
        self._emit_capture(capture, request)
        return web.json_response(order, status=201)

    # --- Payments v2 ---

    def _capture_view(self, capture: Mapping[str, Any]) -> dict[str, Any]:
        """A capture as ``GET /v2/payments/captures/{id}`` and webhooks show it: with its order."""
        related = {"related_ids": {"order_id": self.capture_orders[capture["id"]]}}
        return dict(capture) | {"supplementary_data": related}

    def _emit_capture(self, capture: Mapping[str, Any], request: web.Request) -> None:
        status = capture["status"]
        event = {"REFUNDED": "REFUNDED", "DECLINED": "DENIED"}.get(status, status)
        amount = capture["amount"]
        self._emit(
            f"PAYMENT.CAPTURE.{event}",
            "capture",
            self._capture_view(capture),
            f"Payment {event.lower()} for {amount['value']} {amount['currency_code']}",
            request,
        )

    async def get_capture(self, request: web.Request) -> web.Response:
        capture = self.captures.get(request.match_info["id"])
        if capture is None:
            return _not_found("capture")
        return web.json_response(self._capture_view(capture))

    async def refund_capture(self, request: web.Request) -> web.Response:
        capture = self.captures.get(request.match_info["id"])
        if capture is None:
            return _not_found("capture")
        body = await request.json() if request.body_exists else {}
        captured = capture["amount"]
        given = Decimal(captured["value"])
        left = given - sum(
            (Decimal(self.refunds[r]["amount"]["value"]) for r in self._refunds_of(capture)),
            Decimal(0),
        )
        refusal = self._refusal(capture, left)
        if refusal is not None:
            return refusal
        asked = body.get("amount") or {
            "value": str(left),
            "currency_code": captured["currency_code"],
        }
        value = _decimal(asked.get("value"))
        if value is None:
            return _problem(
                400, "INVALID_REQUEST", "INVALID_PARAMETER_VALUE", "amount.value is invalid."
            )
        if asked.get("currency_code") != captured["currency_code"]:
            return _unprocessable(
                "REFUND_CAPTURE_CURRENCY_MISMATCH",
                "Refund must be in the same currency as the capture.",
            )
        if value > left:
            return _unprocessable(
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has "
                "not yet been refunded.",
            )
        now = self._now()
        origin = request.url.origin()
        exponent = given.as_tuple().exponent
        refund: dict[str, Any] = {
            "id": _id(),
            "status": "COMPLETED",
            "amount": {
                "value": str(value.quantize(Decimal(1).scaleb(int(exponent)))),
                "currency_code": captured["currency_code"],
            },
            "create_time": now,
            "update_time": now,
        }
        for optional in ("invoice_id", "note_to_payer", "custom_id"):
            if body.get(optional):
                refund[optional] = body[optional]
        refund["links"] = [
            _link(f"{origin}/v2/payments/refunds/{refund['id']}", "self"),
            _link(f"{origin}/v2/payments/captures/{capture['id']}", "up"),
        ]
        self.refunds[refund["id"]] = refund
        self.refund_captures[refund["id"]] = capture["id"]
        order = self.orders[self.capture_orders[capture["id"]]]
        order["purchase_units"][0]["payments"].setdefault("refunds", []).append(refund)
        capture["status"] = "REFUNDED" if value == left else "PARTIALLY_REFUNDED"
        capture["update_time"] = now
        self._emit(
            "PAYMENT.CAPTURE.REFUNDED",
            "refund",
            refund,
            f"A {refund['amount']['value']} {refund['amount']['currency_code']} capture payment "
            "was refunded",
            request,
        )
        return web.json_response(refund, status=201)

    def _refunds_of(self, capture: Mapping[str, Any]) -> list[str]:
        return [r for r, c in self.refund_captures.items() if c == capture["id"]]

    @staticmethod
    def _refusal(capture: Mapping[str, Any], left: Decimal) -> web.Response | None:
        """Why a capture cannot be refunded now, as PayPal answers it; None if it can."""
        status = capture["status"]
        if status == "REFUNDED" or left <= 0:
            return _unprocessable(
                "CAPTURE_FULLY_REFUNDED", "The capture has already been fully refunded."
            )
        if status == "PENDING":
            return _unprocessable(
                "PENDING_CAPTURE", "Cannot initiate a refund as the capture is pending."
            )
        if status not in ("COMPLETED", "PARTIALLY_REFUNDED"):
            return _unprocessable(
                "REFUND_NOT_ALLOWED", f"A capture that is {status} cannot be refunded."
            )
        return None

    async def get_refund(self, request: web.Request) -> web.Response:
        refund = self.refunds.get(request.match_info["id"])
        if refund is None:
            return _not_found("refund")
        return web.json_response(refund)

    async def complete_capture(self, request: web.Request) -> web.Response:
        return self._end_pending(request, "COMPLETED")

    async def deny_capture(self, request: web.Request) -> web.Response:
        return self._end_pending(request, "DECLINED")

    def _end_pending(self, request: web.Request, status: str) -> web.Response:
        """PayPal's review of a held capture ends (not PayPal's route)."""
        capture = self.captures.get(request.match_info["id"])
        if capture is None:
            return _not_found("capture")
        if capture["status"] != "PENDING":
            return _unprocessable("CAPTURE_NOT_PENDING", f"The capture is {capture['status']}.")
        capture["status"] = status
        capture["update_time"] = self._now()
        capture.pop("status_details", None)
        self._emit_capture(capture, request)
        return web.json_response(self._capture_view(capture))

    async def list_captures(self, request: web.Request) -> web.Response:
        return web.json_response(list(self.captures.values()))

    # --- Disputes ---

    async def open_dispute(self, request: web.Request) -> web.Response:
        """The payer disputes a capture (not PayPal's route: PayPal's sandbox creates disputes
        from the buyer's account)."""
        capture = self.captures.get(request.match_info["id"])
        if capture is None:
            return _not_found("capture")
        body = await request.json() if request.body_exists else {}
        now = self._now()
        dispute_id = "PP-D-" + str(secrets.randbelow(10**9)).rjust(9, "0")
        dispute: dict[str, Any] = {
            "dispute_id": dispute_id,
            "create_time": now,
            "update_time": now,
            "disputed_transactions": [
                {
                    "seller_transaction_id": capture["id"],
                    "create_time": capture["create_time"],
                    "transaction_status": "COMPLETED",
                    "gross_amount": capture["amount"],
                    "invoice_number": capture.get("invoice_id"),
                    "custom": capture.get("custom_id"),
                }
            ],
            "reason": body.get("reason", "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"),
            "status": "OPEN",
            "dispute_amount": capture["amount"],
            "dispute_life_cycle_stage": "INQUIRY",
            "dispute_channel": "INTERNAL",
            "links": [
                _link(f"{request.url.origin()}/v1/customer/disputes/{dispute_id}", "self"),
            ],
        }
        self.disputes[dispute_id] = dispute
        self._emit(
            "CUSTOMER.DISPUTE.CREATED",
            "dispute",
            dispute,
            "A new dispute opened with Case # " + dispute_id,
            request,
        )
        return web.json_response(dispute, status=201)

    async def resolve_dispute(self, request: web.Request) -> web.Response:
        """PayPal decides a dispute (not PayPal's route); for the buyer, the capture is
        reversed."""
        dispute = self.disputes.get(request.match_info["id"])
        if dispute is None:
            return _not_found("dispute")
        outcome = (await request.json()).get("outcome")
        if outcome not in _DISPUTE_OUTCOMES:
            return _missing(f"outcome is one of {', '.join(_DISPUTE_OUTCOMES)}.")
        if dispute["status"] not in _OPEN_DISPUTE:
            return _unprocessable("DISPUTE_ALREADY_RESOLVED", "The dispute is resolved.")
        now = self._now()
        dispute["status"] = "RESOLVED"
        dispute["dispute_life_cycle_stage"] = "CHARGEBACK"
        dispute["update_time"] = now
        dispute["dispute_outcome"] = {"outcome_code": outcome}
        if outcome == "RESOLVED_BUYER_FAVOUR":
            dispute["dispute_outcome"]["amount_refunded"] = dispute["dispute_amount"]
        self._emit(
            "CUSTOMER.DISPUTE.RESOLVED",
            "dispute",
            dispute,
            "A dispute was resolved with case # " + dispute["dispute_id"],
            request,
        )
        if outcome == "RESOLVED_BUYER_FAVOUR":
            capture = self.captures[dispute["disputed_transactions"][0]["seller_transaction_id"]]
            capture["status"] = "REVERSED"
            capture["status_details"] = {"reason": "BUYER_COMPLAINT"}
            capture["update_time"] = now
            self._emit_capture(capture, request)
        return web.json_response(dispute)

    async def get_dispute(self, request: web.Request) -> web.Response:
        dispute = self.disputes.get(request.match_info["id"])
        if dispute is None:
            return _not_found("dispute")
        return web.json_response(dispute)

    async def list_disputes(self, request: web.Request) -> web.Response:
        """``GET /v1/customer/disputes``, newest first, filtered by `disputed_transaction_id`:
        summaries, as PayPal lists them (the outcome is in the dispute's details)."""
        transaction = request.query.get("disputed_transaction_id")
        summary = (
            "dispute_id",
            "create_time",
            "update_time",
            "reason",
            "status",
            "dispute_amount",
            "dispute_life_cycle_stage",
            "dispute_channel",
            "links",
        )
        items = [
            {key: dispute[key] for key in summary}
            for dispute in reversed(self.disputes.values())
            if transaction is None
            or any(
                t["seller_transaction_id"] == transaction for t in dispute["disputed_transactions"]
            )
        ]
        return web.json_response({"items": items, "links": []})

    # --- Webhooks ---

    async def create_webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        url, types = body.get("url"), body.get("event_types")
        if not isinstance(url, str) or not url.startswith("http") or not types:
            return _missing("url and event_types are required.")
        if any(hook["url"] == url for hook in self.webhooks.values()):
            return _problem(
                400,
                "WEBHOOK_URL_ALREADY_EXISTS",
                "WEBHOOK_URL_ALREADY_EXISTS",
                "Webhook URL already exists.",
            )
        webhook: dict[str, Any] = {
            "id": _id(),
            "url": url,
            "event_types": [{"name": t["name"]} for t in types],
        }
        webhook["links"] = [
            _link(f"{request.url.origin()}/v1/notifications/webhooks/{webhook['id']}", "self")
        ]
        self.webhooks[webhook["id"]] = webhook
        return web.json_response(webhook, status=201)

    async def list_webhooks(self, request: web.Request) -> web.Response:
        return web.json_response({"webhooks": list(self.webhooks.values())})

    async def delete_webhook(self, request: web.Request) -> web.Response:
        if self.webhooks.pop(request.match_info["id"], None) is None:
            return _not_found("webhook")
        return web.Response(status=204)

    async def certificate(self, request: web.Request) -> web.Response:
        return web.Response(
            text="The stand-in signs with an HMAC key, not a certificate: verify deliveries "
            "with POST /v1/notifications/verify-webhook-signature.\n"
        )

    async def verify_signature(self, request: web.Request) -> web.Response:
        body = await request.json()
        missing = [name for name in _VERIFY_FIELDS if not body.get(name)]
        if missing:
            return _problem(
                400,
                "VALIDATION_ERROR",
                "MISSING_REQUIRED_PARAMETER",
                f"Missing {', '.join(missing)}.",
            )
        delivery = self.deliveries.get(str(body["transmission_id"]))
        valid = (
            delivery is not None
            and body["auth_algo"] == AUTH_ALGO
            and body["cert_url"] == delivery.cert_url
            and body["webhook_id"] == delivery.webhook_id
            and body["transmission_time"] == delivery.time
            and hmac.compare_digest(
                str(body["transmission_sig"]),
                self._signature(
                    str(body["transmission_id"]),
                    str(body["transmission_time"]),
                    str(body["webhook_id"]),
                    delivery.body,
                ),
            )
            and body["webhook_event"] == json.loads(delivery.body)
        )
        return web.json_response({"verification_status": "SUCCESS" if valid else "FAILURE"})

    def _signature(self, transmission_id: str, time: str, webhook_id: str, body: bytes) -> str:
        """What PayPal signs, signed with the stand-in's own key."""
        message = f"{transmission_id}|{time}|{webhook_id}|{zlib.crc32(body)}".encode()
        return base64.b64encode(
            hmac.new(self._signing_key, message, hashlib.sha256).digest()
        ).decode()

    def _emit(
        self,
        event_type: str,
        resource_type: str,
        resource: Mapping[str, Any],
        summary: str,
        request: web.Request,
    ) -> None:
        """Send the event to every webhook that takes it, once `request` has been answered."""
        event = {
            "id": "WH-" + _id() + "-" + _id(),
            "event_version": "1.0",
            "create_time": self._now(),
            "resource_type": resource_type,
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": summary,
            "resource": json.loads(json.dumps(resource)),
            "links": [],
        }
        origin = str(request.url.origin())
        for webhook in self.webhooks.values():
            names = {t["name"] for t in webhook["event_types"]}
            if "*" in names or event_type in names:
                task = asyncio.get_running_loop().create_task(
                    self._deliver(webhook["id"], webhook["url"], event, origin)
                )
                self._sending.add(task)
                task.add_done_callback(self._sending.discard)

    async def _deliver(
        self, webhook_id: str, url: str, event: Mapping[str, Any], origin: str
    ) -> None:
        await asyncio.sleep(WEBHOOK_DELAY)
        body = json.dumps(event).encode()
        transmission_id = str(uuid.uuid4())
        time = self._now()
        signature = self._signature(transmission_id, time, webhook_id, body)
        cert_url = (
            f"{origin}/_standin/certs/CERT-{hashlib.sha256(self._signing_key).hexdigest()[:16]}"
        )
        self.deliveries[transmission_id] = _Delivery(webhook_id, time, body, signature, cert_url)
        headers = {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": time,
            "PAYPAL-TRANSMISSION-SIG": signature,
            "PAYPAL-CERT-URL": cert_url,
            "PAYPAL-AUTH-ALGO": AUTH_ALGO,
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as s,
                s.post(url, data=body, headers=headers) as answer,
            ):
                logger.info("webhook %s to %s: %d", event["event_type"], url, answer.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.info("webhook %s to %s failed: %s", event["event_type"], url, error)

    # --- access tokens ---

    async def revoke_tokens(self, request: web.Request) -> web.Response:
        """Every access token expires at once, as they do after 9 hours at PayPal."""
        self.tokens.clear()
        return web.Response(status=204)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8421)
    parser.add_argument("--client-id", default=CLIENT_ID)
    parser.add_argument("--client-secret", default=CLIENT_SECRET)
    parser.add_argument("--clock-file", type=Path, help="the local stack's clock (default: wall)")
    args = parser.parse_args()
    stand_in = PayPal(args.client_id, args.client_secret, clock=shared_clock(args.clock_file))
    # SIGINT is left to Python: Ctrl-C stops a server run by hand, and the local stack's
    # children ignore it (devstack.processes.ignore_interrupts), to be stopped in order.
    web.run_app(
        stand_in.application(), host=args.host, port=args.port, print=None, handle_signals=False
    )


if __name__ == "__main__":
    main()
