"""localstripe, served on loopback, with the parts of Stripe's documented API our adapter uses
that it lacks: idempotency keys, listing PaymentIntents by customer and creation time, the
`pm_card_authenticationRequired`, `pm_card_chargeDeclinedExpiredCard` and
`pm_card_createDispute` test methods, refunds that Stripe
would refuse, disputes, card updates, and webhook events for them. Run:
``python -m devstack.localstripe_server``.

Its time is a clock file's when given (``--clock-file``, the local stack's shared clock): every
timestamp localstripe writes (``created``, periods, status transitions, an event's ``created``
and so its signature's ``t=``) and the age of an idempotency key are then the stack's, so they
agree with what the functions wrote at that instant, however far the stack's clock was moved.

What it adds, as Stripe documents it:

- Refunds (``POST /v1/refunds``) emit ``refund.created`` and ``charge.refunded`` (the Charge,
  with ``amount_refunded``, ``refunded`` and ``refunds``); more than what is left of the charge,
  or a charge disputed (open or lost), is refused (400 ``invalid_request_error``).
- Disputes: a charge of ``pm_card_createDispute`` succeeds and is then disputed (``dp_…``,
  ``needs_response``, ``fraudulent``, ``charge.dispute.created``). ``GET /v1/disputes/{id}``,
  ``GET /v1/disputes?payment_intent=…`` (or ``charge=…``), ``POST /v1/disputes/{id}`` with
  ``evidence[uncategorized_text]=winning_evidence`` or ``losing_evidence`` closes it ``won`` or
  ``lost`` (``charge.dispute.closed``), as in Stripe's test mode; ``POST
  /v1/disputes/{id}/close`` accepts the loss.
- Cards: ``POST /v1/payment_methods/{id}`` with ``card[exp_month]``/``card[exp_year]`` updates an
  attached card (``payment_method.updated``); detaching emits ``payment_method.detached``.
- Webhooks: ``POST /_config/webhooks/{id}`` (localstripe's: ``url``, ``secret``, ``events``)
  registers an endpoint, ``DELETE /_config/webhooks/{id}`` removes it. Every event is POSTed to
  each endpoint after the request's answer, signed as Stripe signs (``Stripe-Signature:
  t=<created>,v1=<HMAC-SHA256 of "<created>.<body>">``), with ``api_version`` and ``livemode``.

Stripe.js: localstripe's stand-in (``GET /js.stripe.com/v3/``: the card element,
``confirmCardSetup`` and ``confirmCardPayment`` with a dialog standing for the bank's 3-D Secure
page) is served with ``handleNextAction``, which the billing page calls for a payment waiting for
3-D Secure (``localstripe_additions.js``).

Control routes, not Stripe's (a test's or a developer's way to make the world act):

- ``POST /_config/disputes`` ``{"payment_intent": "pi_…"}`` (or ``"charge"``, optional
  ``"reason"``): the payer disputes a charge already made.
- ``POST /_config/payment_methods/{id}/automatic_update`` ``{"last4", "exp_month",
  "exp_year"}``: the card network's updater replaces the card
  (``payment_method.automatically_updated``).
- ``POST /v1/setup_intents/{id}/_authenticate`` (``client_secret``, ``success=true|false``, with
  the secret key): the customer passes or fails the bank's 3-D Secure check of a SetupIntent
  confirmed with a card that asks for one (``requires_action``), as localstripe's
  ``/v1/payment_intents/{id}/_authenticate`` does for a PaymentIntent. It then ``succeeded``, or
  is back to ``requires_payment_method`` without its card, ``last_setup_error`` code
  ``setup_intent_authentication_failure``, as Stripe leaves it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from localstripe import resources, server, webhooks
from localstripe.errors import UserError

from devstack.clock import Clock, shared_clock, wall_clock
from devstack.faults import FaultInjector, Handler
from devstack.idempotency import IdempotencyKeyMemory
from devstack.portal import LOCALSTRIPE_JS

_STRIPE_JS_ADDITIONS = Path(__file__).with_name("localstripe_additions.js")
KEY_RETENTION = timedelta(hours=24)
"""Stripe removes idempotency keys once they are at least 24 hours old."""
WEBHOOK_DELAY = 0.05
"""Seconds before an event is sent (localstripe waits 1 s): the request that caused it has been
answered by then, and tests waiting for a delivery do not wait long."""
WEBHOOK_TIMEOUT = 10.0
API_VERSION = "2024-06-20"
"""The API version events carry (localstripe's own is from 2017)."""
DISPUTE_CARD = "4000000000000259"
"""Stripe's test card whose charges succeed and are then disputed as fraudulent."""
EVIDENCE_OUTCOMES = {"winning_evidence": "won", "losing_evidence": "lost"}
"""Stripe's test mode closes a dispute at once for these ``uncategorized_text`` values."""
OPEN_DISPUTE = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"type": "idempotency_error", "message": message}}, status=status
    )


class _AuthenticationRequiredCard(resources.PaymentMethod):  # type: ignore[misc]
    """Stripe's `pm_card_authenticationRequired`: the issuer asks for 3-D Secure on every charge."""

    def _requires_authentication(self) -> bool:
        return True


class _ExpiredCard(resources.PaymentMethod):  # type: ignore[misc]
    """Stripe's `pm_card_chargeDeclinedExpiredCard`: saved, then every charge declined with
    ``expired_card`` (a hard decline: the card must be replaced)."""

    def _charging_is_declined(self) -> bool:
        return True


_declined_by_localstripe = resources.Charge._set_auth_failure


def _set_auth_failure(charge: Any) -> None:
    """localstripe declines every card with ``card_declined``; an expired one says so."""
    _declined_by_localstripe(charge)
    if isinstance(resources.PaymentMethod._api_retrieve(charge.payment_method), _ExpiredCard):
        charge.failure_code = "expired_card"
        charge.failure_message = "Your card has expired."


_canonical_test_article = resources.PaymentMethod._try_get_canonical_test_article


def _test_article(cls: type, id: str) -> Any:  # noqa: A002 - localstripe's parameter name
    if id == "pm_card_authenticationRequired":
        method = _canonical_test_article("pm_card_visa")
        method.__class__ = _AuthenticationRequiredCard
        return method
    if id == "pm_card_chargeDeclinedExpiredCard":
        method = _canonical_test_article("pm_card_visa")
        method.__class__ = _ExpiredCard
        return method
    if id == "pm_card_createDispute":
        method = _canonical_test_article("pm_card_visa")
        method._card_number = DISPUTE_CARD
        method.card["last4"] = DISPUTE_CARD[-4:]
        method.card["fingerprint"] = resources.fingerprint(DISPUTE_CARD)
        return method
    return _canonical_test_article(id)


def _list_payment_intents(
    cls: type,
    url: str,
    *,
    customer: str | None = None,
    limit: int | None = None,
    starting_after: str | None = None,
) -> Any:
    """`GET /v1/payment_intents?customer=…`, paged by `starting_after`, newest first as Stripe
    lists: of two created in the same second (`created` counts seconds), the later first."""
    listing = resources.List(url, limit=limit, starting_after=starting_after)
    newest_first = [
        intent
        for key, intent in reversed(resources.store.items())
        if key.startswith("payment_intent:") and (customer is None or intent.customer == customer)
    ]
    # A stable sort: within one second the store's order of creation, reversed, stays.
    listing._list = sorted(newest_first, key=lambda intent: intent.created, reverse=True)
    return listing


def _keep_in_memory(store: resources.Store) -> None:
    """Replaces `Store.dump_to_disk`: the store lives as long as the process."""


class _ClockTime:
    """Stands in for the `time` module inside localstripe's resources, whose only use of it is
    ``time.time()`` for the timestamps it writes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock().timestamp()


# --- events and their delivery ---------------------------------------------------------------

_event_init = resources.Event.__init__


def _event(event: Any, type: str, data: Any) -> None:  # noqa: A002 - localstripe's name
    _event_init(event, type, data)
    event.api_version = API_VERSION
    event.pending_webhooks = len(webhooks._webhooks)
    event.request = {"id": None, "idempotency_key": None}


def _emit(type: str, obj: Any) -> None:  # noqa: A002 - Stripe's word
    webhooks.schedule_webhook(resources.Event(type, obj))


async def _send_webhook(event: Any) -> None:
    """localstripe's delivery, sooner: each endpoint that takes `event.type` gets it signed with
    its secret and the event's `created` (the stand-in's clock), as Stripe signs."""
    payload = json.dumps(event._export(), indent=2, sort_keys=True).encode()
    signed = b"%d.%s" % (event.created, payload)
    await asyncio.sleep(WEBHOOK_DELAY)
    for endpoint in list(webhooks._webhooks.values()):
        if endpoint.events is not None and event.type not in endpoint.events:
            continue
        signature = hmac.new(endpoint.secret.encode(), signed, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": f"t={event.created},v1={signature}",
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WEBHOOK_TIMEOUT)) as s,
                s.post(endpoint.url, data=payload, headers=headers) as answer,
            ):
                logger.info("webhook %s to %s: %d", event.type, endpoint.url, answer.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.info("webhook %s to %s failed: %s", event.type, endpoint.url, error)


async def _forget_webhook(request: web.Request) -> web.Response:
    """``DELETE /_config/webhooks/{id}``: the endpoint gets no more events."""
    webhooks._webhooks.pop(request.match_info["id"], None)
    return web.Response(status=204)


# --- refunds -----------------------------------------------------------------------------------

_SYMBOLS = {"eur": "€", "usd": "$", "gbp": "£"}


def _shown(amount: int, currency: str) -> str:
    """An amount as Stripe's messages show it: ``€12.50``."""
    symbol = _SYMBOLS.get(currency.lower(), currency.upper() + " ")
    return f"{symbol}{amount / 100:.2f}"


def _refunded_charge(payment_intent: Any, charge: Any) -> Any:
    if isinstance(charge, str):
        return resources.Charge._api_retrieve(charge)
    if isinstance(payment_intent, str):
        intent = resources.PaymentIntent._api_retrieve(payment_intent)
        return intent.latest_charge
    return None


_create_refund = resources.Refund._api_create


def _refund(cls: type, /, **data: Any) -> Any:
    """A refund as Stripe makes it: never more than what is left of the charge, with the
    charge's PaymentIntent, and the events Stripe sends for it."""
    charge = _refunded_charge(data.get("payment_intent"), data.get("charge"))
    if charge is not None and _disputes_of(charge, "lost", *OPEN_DISPUTE):
        raise UserError(
            400,
            f"Charge {charge.id} has been charged back; cannot issue a refund.",
            {"code": "charge_disputed"},
        )
    if charge is not None and charge.status == "succeeded":
        left = charge.amount - charge.amount_refunded
        data.setdefault("amount", left)  # Stripe refunds what is left, localstripe the whole
        asked = resources.try_convert_to_int(data["amount"])
        if left <= 0:
            raise UserError(
                400,
                f"Charge {charge.id} has already been refunded.",
                {"code": "charge_already_refunded"},
            )
        if isinstance(asked, int) and asked > left:
            raise UserError(
                400,
                f"Refund amount ({_shown(asked, charge.currency)}) is greater than "
                f"{'unrefunded amount on charge' if charge.amount_refunded else 'charge amount'} "
                f"({_shown(left, charge.currency)})",
                {"param": "amount"},
            )
    refund = _create_refund(**data)
    charge = resources.Charge._api_retrieve(refund.charge)
    refund.payment_intent = refund.payment_intent or charge.payment_intent
    _emit("refund.created", refund)
    _emit("charge.refunded", charge)
    return refund


# --- disputes ----------------------------------------------------------------------------------


class Dispute(resources.StripeObject):  # type: ignore[misc]
    """A chargeback on a charge, as Stripe's Dispute object has it."""

    object = "dispute"
    _id_prefix = "dp_"

    def __init__(self, charge: Any, reason: str = "fraudulent") -> None:
        super().__init__()
        self.amount = charge.amount
        self.currency = charge.currency
        self.charge = charge.id
        self.payment_intent = charge.payment_intent
        self.reason = reason
        self.status = "needs_response"
        self.is_charge_refundable = False
        self.metadata: dict[str, str] = {}
        self.balance_transactions: list[Any] = []
        self.evidence: dict[str, Any] = {"uncategorized_text": None}
        self.evidence_details = {
            "due_by": self.created + 7 * 24 * 3600,
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        }

    @classmethod
    def _api_create(cls, **data: Any) -> Any:
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_delete(cls, id: str) -> Any:  # noqa: A002 - localstripe's name
        raise UserError(405, "Method Not Allowed")

    @classmethod
    def _api_update(cls, id: str, **data: Any) -> Any:  # noqa: A002 - localstripe's name
        """Evidence submitted: Stripe's test values close the dispute at once."""
        dispute = cls._api_retrieve(id)
        evidence, metadata = data.pop("evidence", None), data.pop("metadata", None)
        submit = resources.try_convert_to_bool(data.pop("submit", True))
        if data or (evidence is not None and not isinstance(evidence, dict)):
            raise UserError(400, "Bad request")
        if dispute.status not in OPEN_DISPUTE:
            raise UserError(400, f"This dispute is already closed ({dispute.status}).")
        dispute.metadata.update(metadata or {})
        if evidence:
            dispute.evidence.update(evidence)
            dispute.evidence_details["has_evidence"] = True
        outcome = EVIDENCE_OUTCOMES.get(str(dispute.evidence.get("uncategorized_text")))
        if evidence and submit:
            dispute.evidence_details["submission_count"] += 1
            dispute.status = outcome or "under_review"
        _emit("charge.dispute.updated", dispute)
        if dispute.status not in OPEN_DISPUTE:
            _emit("charge.dispute.closed", dispute)
        return dispute

    @classmethod
    def _api_close(cls, id: str, **data: Any) -> Any:  # noqa: A002 - localstripe's name
        """``POST /v1/disputes/{id}/close``: no evidence, the dispute is lost."""
        dispute = cls._api_retrieve(id)
        if dispute.status not in OPEN_DISPUTE:
            raise UserError(400, f"This dispute is already closed ({dispute.status}).")
        dispute.status = "lost"
        _emit("charge.dispute.closed", dispute)
        return dispute

    @classmethod
    def _api_list_all(
        cls,
        url: str,
        payment_intent: str | None = None,
        charge: str | None = None,
        limit: int | None = None,
        starting_after: str | None = None,
    ) -> Any:
        listing = resources.List(url, limit=limit, starting_after=starting_after)
        newest_first = [
            dispute
            for key, dispute in reversed(resources.store.items())
            if key.startswith("dispute:")
            and (payment_intent is None or dispute.payment_intent == payment_intent)
            and (charge is None or dispute.charge == charge)
        ]
        listing._list = sorted(newest_first, key=lambda dispute: dispute.created, reverse=True)
        return listing


def _open_dispute(charge: Any, reason: str = "fraudulent") -> Any:
    dispute = Dispute(charge, reason)
    _emit("charge.dispute.created", dispute)
    return dispute


def _disputes_of(charge: Any, *statuses: str) -> list[Any]:
    """The charge's disputes, only those in `statuses` when given."""
    return [
        dispute
        for key, dispute in resources.store.items()
        if key.startswith("dispute:")
        and dispute.charge == charge.id
        and (not statuses or dispute.status in statuses)
    ]


def _disputed(charge: Any) -> bool:
    """Stripe's `Charge.disputed`."""
    return bool(_disputes_of(charge))


_trigger_payment = resources.Charge._trigger_payment


def _pay(charge: Any, on_success: Callable[[], None] | None = None) -> None:
    """localstripe's payment, then the dispute `pm_card_createDispute` is known for."""
    _trigger_payment(charge, on_success)
    method = resources.PaymentMethod._api_retrieve(charge.payment_method)
    if charge.status == "succeeded" and getattr(method, "_card_number", None) == DISPUTE_CARD:
        _open_dispute(charge)


async def _dispute_a_charge(request: web.Request) -> web.Response:
    """``POST /_config/disputes`` (not Stripe's): the payer disputes a charge already made."""
    body = await request.json()
    charge = _refunded_charge(body.get("payment_intent"), body.get("charge"))
    if charge is None or charge.status != "succeeded":
        raise UserError(400, "Give the payment_intent or the charge of a succeeded payment.")
    dispute = _open_dispute(charge, body.get("reason", "fraudulent"))
    answer: web.Response = server.json_response(dispute._export())
    return answer


# --- cards ---------------------------------------------------------------------------------------


def _card_update(method: Any, exp_month: Any, exp_year: Any) -> None:
    month = resources.try_convert_to_int(exp_month) if exp_month is not None else None
    year = resources.try_convert_to_int(exp_year) if exp_year is not None else None
    if year is not None and isinstance(year, int) and 0 < year < 100:
        year += 2000
    if (month is not None and not (isinstance(month, int) and 1 <= month <= 12)) or (
        year is not None and not (isinstance(year, int) and 2000 <= year < 2100)
    ):
        raise UserError(400, "Your card's expiration date is invalid.", {"code": "invalid_expiry"})
    if month is not None:
        method.card["exp_month"] = month
    if year is not None:
        method.card["exp_year"] = year


def _update_payment_method(cls: type, /, id: str, **data: Any) -> Any:  # noqa: A002
    """``POST /v1/payment_methods/{id}``: an attached card's expiry, billing details, metadata."""
    method = resources.PaymentMethod._api_retrieve(id)
    card, details, metadata = (data.pop(k, None) for k in ("card", "billing_details", "metadata"))
    if data or (card is not None and (method.type != "card" or not isinstance(card, dict))):
        raise UserError(400, "Bad request")
    if method.customer is None:
        raise UserError(
            400,
            "You must save this PaymentMethod to a customer before you can update it.",
        )
    if card:
        _card_update(method, card.pop("exp_month", None), card.pop("exp_year", None))
        if card:
            raise UserError(400, "Unexpected card[" + "], card[".join(card) + "]")
    method.billing_details.update(details or {})
    method.metadata.update(metadata or {})
    _emit("payment_method.updated", method)
    return method


async def _automatic_update(request: web.Request) -> web.Response:
    """``POST /_config/payment_methods/{id}/automatic_update`` (not Stripe's): the card network
    replaced the card (a new number, a new expiry) and told Stripe."""
    method = resources.PaymentMethod._api_retrieve(request.match_info["id"])
    body = await request.json()
    last4 = body.get("last4")
    if method.type != "card" or (last4 is not None and not re.fullmatch(r"\d{4}", str(last4))):
        raise UserError(400, "Bad request")
    _card_update(method, body.get("exp_month"), body.get("exp_year"))
    if last4 is not None:
        method.card["last4"] = str(last4)
    _emit("payment_method.automatically_updated", method)
    answer: web.Response = server.json_response(method._export())
    return answer


_DETACH = re.compile(r"^/v1/payment_methods/(?P<id>[^/]+)/detach$")


@web.middleware
async def _detach_events(request: web.Request, handler: Handler) -> web.StreamResponse:
    """localstripe's detach route holds its function from import time: the event is sent here."""
    response = await handler(request)
    match = _DETACH.match(request.path)
    if match and request.method == "POST" and response.status == 200:
        _emit("payment_method.detached", resources.PaymentMethod._api_retrieve(match["id"]))
    return response


# --- SetupIntents ---------------------------------------------------------------------------


def _authenticate_setup(
    id: str,  # noqa: A002 - localstripe's name
    client_secret: Any = None,
    success: Any = False,
    **data: Any,
) -> Any:
    """``POST /v1/setup_intents/{id}/_authenticate``: the customer's answer to the bank's 3-D
    Secure check of a SetupIntent in ``requires_action`` (localstripe's PaymentIntent route,
    for a setup)."""
    success = resources.try_convert_to_bool(success)
    if data or not isinstance(client_secret, str) or not isinstance(success, bool):
        raise UserError(400, "Bad request")
    intent = resources.SetupIntent._api_retrieve(id)
    if client_secret != intent.client_secret:
        raise UserError(401, "Unauthorized")
    if intent.status != "requires_action":
        raise UserError(400, "Bad request")
    intent.next_action = None
    if success:
        intent.status = "succeeded"
        return intent
    method = resources.PaymentMethod._api_retrieve(intent.payment_method)
    intent.status = "requires_payment_method"
    intent.payment_method = None
    intent.last_setup_error = {
        "type": "invalid_request_error",
        "code": "setup_intent_authentication_failure",
        "message": "The provided PaymentMethod has failed authentication. Provide a new "
        "PaymentMethod to attempt to fulfill this SetupIntent again.",
        "payment_method": method._export(),
    }
    return intent


@web.middleware
async def _stripe_js(request: web.Request, handler: Handler) -> web.StreamResponse:
    """localstripe's Stripe.js stand-in, then what the billing page needs of Stripe.js besides."""
    response = await handler(request)
    if (
        request.path != LOCALSTRIPE_JS
        or not isinstance(response, web.Response)
        or not response.text
    ):
        return response
    additions = _STRIPE_JS_ADDITIONS.read_text(encoding="utf-8")
    return web.Response(text=f"{response.text}\n{additions}", content_type=response.content_type)


def _install_resources(clock: Clock) -> None:
    resources.time = _ClockTime(clock)
    resources.PaymentMethod._try_get_canonical_test_article = classmethod(_test_article)
    resources.PaymentMethod._api_update = classmethod(_update_payment_method)
    resources.PaymentIntent._api_list_all = classmethod(_list_payment_intents)
    resources.Refund._api_create = classmethod(_refund)
    resources.Charge._trigger_payment = _pay
    resources.Charge._set_auth_failure = _set_auth_failure
    resources.Charge.disputed = property(_disputed)
    resources.Event.__init__ = _event
    webhooks._send_webhook = _send_webhook


def _install_routes(app: web.Application) -> None:
    app.router.add_delete("/_config/webhooks/{id}", _forget_webhook)
    app.router.add_post("/_config/disputes", _dispute_a_charge)
    app.router.add_post("/_config/payment_methods/{id}/automatic_update", _automatic_update)
    app.router.add_post(
        "/v1/setup_intents/{id}/_authenticate", server.api_extra(_authenticate_setup, "")
    )
    app.router.add_post("/v1/disputes/{id}/close", server.api_extra(Dispute._api_close, ""))
    app.router.add_get("/v1/disputes/{id}", server.api_retrieve(Dispute, "/v1/disputes/{id}"))
    app.router.add_post("/v1/disputes/{id}", server.api_update(Dispute, "/v1/disputes/{id}"))
    app.router.add_get("/v1/disputes", server.api_list_all(Dispute, "/v1/disputes"))


def application(clock: Clock = wall_clock) -> web.Application:
    _install_resources(clock)
    app: web.Application = server.app
    # Our tests run many servers at once: keep each one's data in memory, not in a shared file.
    # localstripe also pickles its whole store on every write, which makes each request slower
    # than the last: thousands of renewals in one run would spend their time writing that file.
    app.middlewares[:] = [m for m in app.middlewares if m is not server.save_store_middleware]
    resources.Store.dump_to_disk = _keep_in_memory
    _install_routes(app)
    app.middlewares.append(_detach_events)
    app.middlewares.append(_stripe_js)
    idempotency = IdempotencyKeyMemory("Idempotency-Key", _error, KEY_RETENTION, clock)
    app.middlewares.insert(0, idempotency.middleware)
    FaultInjector(
        control_prefix="/_config",
        error_body=lambda status: {
            "error": {"type": "api_error", "message": f"Injected fault {status}."}
        },
        idempotency_header="Idempotency-Key",
    ).install(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--clock-file", type=Path, help="the local stack's clock (default: wall)")
    args = parser.parse_args()
    app = application(shared_clock(args.clock_file))
    # SIGINT is left to Python: Ctrl-C stops a server run by hand, and the local stack's
    # children ignore it (devstack.processes.ignore_interrupts), to be stopped in order.
    web.run_app(app, host=args.host, port=args.port, print=None, handle_signals=False)


if __name__ == "__main__":
    main()
