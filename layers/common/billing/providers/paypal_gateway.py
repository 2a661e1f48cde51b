"""The PayPal adapter: OAuth2 client credentials, Vault v3 payment tokens, Orders v2, and
afterwards Payments v2 captures and refunds, the Disputes API, and webhook verification.

A charge is two calls. Creating the order moves no money and is keyed by our idempotency key
(`PayPal-Request-Id`), so repeating it is a safe way to find the order again; capturing it with
the saved vault id takes the money, keyed by ``<key>.capture``. PayPal keeps request ids for
6 hours, so a charge older than `LOOKUP_WINDOW` is not looked up automatically.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import urllib3

from billing.domain.accounts import Account, PaymentMethod, PaymentMethodKind, PaymentProvider
from billing.domain.charges import ChargeStatus, DisputeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeOutcome,
    ChargeRequest,
    OutcomeUnknown,
    PaymentMethodRejected,
    ProviderDispute,
    ProviderError,
    ProviderPayment,
    ProviderPaymentMethod,
    ProviderRefund,
    ProviderUnavailable,
    RefundRefused,
    UpdateStart,
)
from billing.providers.retry import RetryPolicy, TransientFailure

LOOKUP_WINDOW = timedelta(hours=5)
"""Below PayPal's 6 hours of `PayPal-Request-Id` memory, with room for clock skew."""

TOKEN_MARGIN = 60.0
"""Seconds before expiry at which a cached access token is renewed."""

_REASONS: Mapping[str, FailureReason] = {
    **dict.fromkeys(
        (
            "AGREEMENT_ALREADY_CANCELLED",
            "PAYER_ACCOUNT_LOCKED_OR_CLOSED",
            "PAYER_ACCOUNT_RESTRICTED",
            "PAYMENT_SOURCE_CANNOT_BE_USED",
            "PAYMENT_SOURCE_INFO_CANNOT_BE_VERIFIED",
            "PAYER_ACTION_REQUIRED",
            "INVALID_RESOURCE_ID",
        ),
        FailureReason.PAYMENT_METHOD_INVALID,
    ),
    **dict.fromkeys(
        ("INSUFFICIENT_FUNDS", "TRANSACTION_LIMIT_EXCEEDED"), FailureReason.INSUFFICIENT_FUNDS
    ),
    **dict.fromkeys(
        ("INTERNAL_SERVER_ERROR", "INTERNAL_SERVICE_ERROR", "SERVICE_UNAVAILABLE"),
        FailureReason.PROVIDER_ERROR,
    ),
}


_TAKEN = ("COMPLETED", "PARTIALLY_REFUNDED", "REFUNDED", "REVERSED")
"""Capture statuses of money taken: refunds and a reversal are reported beside the outcome."""
_REFUNDED = ("PARTIALLY_REFUNDED", "REFUNDED", "REVERSED")
"""Capture statuses that may have refunds (a reversed capture may have been refunded first)."""
_OPEN_DISPUTE = (
    "OPEN",
    "WAITING_FOR_BUYER_RESPONSE",
    "WAITING_FOR_SELLER_RESPONSE",
    "UNDER_REVIEW",
)
_LOST_OUTCOMES = ("RESOLVED_BUYER_FAVOUR", "ACCEPTED")
"""Dispute outcomes that gave the payer their money back; the others leave it with us
(RESOLVED_SELLER_FAVOUR, CANCELED_BY_BUYER, DENIED, RESOLVED_WITH_PAYOUT: PayPal paid)."""
_GONE_REFUNDS = ("FAILED", "CANCELLED")
WEBHOOK_HEADERS = {
    "auth_algo": "paypal-auth-algo",
    "cert_url": "paypal-cert-url",
    "transmission_id": "paypal-transmission-id",
    "transmission_sig": "paypal-transmission-sig",
    "transmission_time": "paypal-transmission-time",
}
"""The verify call's fields and the delivery headers (lower case) they are read from."""


def failure_reason(issue: str | None) -> FailureReason:
    """The failure reason for a PayPal error `issue`; other refusals (INSTRUMENT_DECLINED,
    TRANSACTION_REFUSED, PAYER_CANNOT_PAY, …) are soft declines."""
    return _REASONS.get(issue or "", FailureReason.CARD_DECLINED)


class PayPalRefused(ProviderError):
    """A 4xx answer: PayPal understood the request and refused it. The adapter reads the ones it
    expects (a declined capture, an unknown token); any other stays a ProviderError."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        details = body.get("details") or [{}]
        self.status = status
        self.issue: str | None = details[0].get("issue") or body.get("name")
        super().__init__(body.get("message") or self.issue or f"HTTP {status}", self.issue)


class PayPalGateway:
    provider = PaymentProvider.PAYPAL

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        api_base: str,
        return_url: str,
        cancel_url: str,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._credentials = urllib3.make_headers(basic_auth=f"{client_id}:{client_secret}")
        self._base = api_base.rstrip("/")
        self._return_url, self._cancel_url = return_url, cancel_url
        self._http = urllib3.PoolManager(timeout=urllib3.Timeout(total=timeout), retries=False)
        self._retry = retry or RetryPolicy()
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    # --- customers and payment methods ---

    def create_customer(self, account: Account) -> str:
        """PayPal creates its customer when the first setup token is approved: ours is the id."""
        return account.id

    def start_update(self, account: Account, customer: str | None) -> UpdateStart:
        token = self._send(
            "POST",
            "/v3/vault/setup-tokens",
            {
                "payment_source": {
                    "paypal": {
                        "usage_type": "MERCHANT",
                        "usage_pattern": "SUBSCRIPTION_PREPAID",
                        "experience_context": {
                            "return_url": self._return_url,
                            "cancel_url": self._cancel_url,
                        },
                    }
                },
                # Named on the vaulted token and its VAULT.PAYMENT-TOKEN.DELETED event: how a
                # removed wallet, which can no longer be read, is traced to the account.
                "customer": {"merchant_customer_id": account.id},
            },
            request_id=None,
        )
        approve = next(link["href"] for link in token["links"] if link["rel"] == "approve")
        return UpdateStart(self.provider, token["id"], approval_url=approve)

    def save_payment_method(self, customer: str | None, token: str) -> PaymentMethod:
        """Turn the approved setup token `token` into a vault payment token."""
        try:
            saved = self._send(
                "POST",
                "/v3/vault/payment-tokens",
                {"payment_source": {"token": {"id": token, "type": "SETUP_TOKEN"}}},
                request_id=f"payment-token.{token}",
            )
        except PayPalRefused as refused:
            raise PaymentMethodRejected(
                FailureReason.PAYMENT_METHOD_INVALID, str(refused), refused.issue
            ) from refused
        return _wallet(saved)

    def payment_method(self, token: str) -> ProviderPaymentMethod:
        """The vault payment token now; one PayPal no longer has (deleted, revoked by the
        payer) is None, its account unknown."""
        try:
            saved = self._send("GET", f"/v3/vault/payment-tokens/{quote(token)}", None, None)
        except PayPalRefused as refused:
            if refused.status != 404:
                raise
            return ProviderPaymentMethod(account_id=None, method=None)
        customer = saved.get("customer") or {}
        return ProviderPaymentMethod(customer.get("merchant_customer_id"), _wallet(saved))

    # --- charges ---

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        order = self._order(request)
        try:
            captured = self._send(
                "POST",
                f"/v2/checkout/orders/{order['id']}/capture",
                {"payment_source": {"paypal": {"vault_id": request.payment_method}}},
                request_id=f"{request.key}.capture",
            )
        except PayPalRefused as refused:
            return ChargeOutcome.declined(failure_reason(refused.issue), refused.issue, order["id"])
        return _outcome(captured)

    def abandon(self, reference: str) -> ChargeOutcome:
        """PayPal asks no payer to authenticate a capture: nothing waits, it is only read."""
        return self.payment(reference).outcome

    def find_charge(self, request: ChargeRequest, since: datetime) -> ChargeOutcome | None:
        if self._clock() - since > LOOKUP_WINDOW:
            raise OutcomeUnknown(
                f"charge {request.key} is older than PayPal's request-id memory: check by hand"
            )
        order = self._send("GET", f"/v2/checkout/orders/{self._order(request)['id']}", None, None)
        return _outcome(order) if order.get("status") != "CREATED" else None

    # --- after the charge ---

    def payment(self, reference: str) -> ProviderPayment:
        """The capture `reference` now: its refunds from its order (Orders v2 lists them) and
        its latest dispute from the Disputes API."""
        capture = self._send("GET", f"/v2/payments/captures/{quote(reference)}", None, None)
        status = capture.get("status")
        return ProviderPayment(
            reference=capture["id"],
            charge_key=capture.get("custom_id"),
            outcome=_capture_outcome(capture),
            amount=_money(capture["amount"]),
            refunds=self._refunds(capture) if status in _REFUNDED else (),
            dispute=self._dispute(capture),
        )

    def refund(self, reference: str, amount: Money, key: str) -> ProviderRefund:
        """Refund `amount` of the capture with `key` as its request id and its ``invoice_id``
        (how a refund we asked for is told from one made at PayPal)."""
        try:
            refund = self._send(
                "POST",
                f"/v2/payments/captures/{quote(reference)}/refund",
                {
                    "amount": {"value": amount.decimal(), "currency_code": amount.currency.value},
                    "invoice_id": key,
                },
                request_id=key,
            )
        except PayPalRefused as refused:
            if refused.status != 422:
                raise
            raise RefundRefused(str(refused), refused.issue) from refused
        return _refund(refund)

    def verify_webhook(
        self, headers: Mapping[str, str], event: Mapping[str, Any], webhook_id: str
    ) -> bool:
        """Whether PayPal says it sent `event` with these transmission `headers` to webhook
        `webhook_id` (``verify-webhook-signature``): False for a missing header or a FAILURE.
        ProviderUnavailable when PayPal cannot say now."""
        received = {name.lower(): value for name, value in headers.items()}
        fields: dict[str, Any] = {
            name: received.get(header) for name, header in WEBHOOK_HEADERS.items()
        }
        if not all(fields.values()):
            return False
        payload = fields | {"webhook_id": webhook_id, "webhook_event": event}
        try:
            answer = self._send("POST", "/v1/notifications/verify-webhook-signature", payload, None)
        except PayPalRefused:
            return False  # a malformed request: PayPal verified nothing
        except OutcomeUnknown as error:
            raise ProviderUnavailable(str(error), maybe_processed=False) from error
        return answer.get("verification_status") == "SUCCESS"

    def _refunds(self, capture: Mapping[str, Any]) -> tuple[ProviderRefund, ...]:
        order_id = capture.get("supplementary_data", {}).get("related_ids", {}).get("order_id")
        if not order_id:
            raise ProviderError(f"capture {capture['id']} names no order: its refunds are unknown")
        order = self._send("GET", f"/v2/checkout/orders/{quote(order_id)}", None, None)
        return tuple(
            _refund(refund)
            for unit in order.get("purchase_units", [])
            for refund in unit.get("payments", {}).get("refunds", [])
            if refund.get("status") not in _GONE_REFUNDS and _refunds_capture(refund, capture)
        )

    def _dispute(self, capture: Mapping[str, Any]) -> ProviderDispute | None:
        """The capture's latest dispute; a capture reversed without one (a bank chargeback
        PayPal settled) is a lost dispute named by the capture."""
        listed = self._send(
            "GET",
            f"/v1/customer/disputes?disputed_transaction_id={quote(capture['id'])}",
            None,
            None,
        )
        items = sorted(listed.get("items", []), key=lambda item: item.get("create_time", ""))
        reversed_ = capture.get("status") == "REVERSED"
        if not items:
            if not reversed_:
                return None
            return ProviderDispute(
                reference=capture["id"],
                status=DisputeStatus.LOST,
                reason=capture.get("status_details", {}).get("reason") or "REVERSED",
                amount=_money(capture["amount"]),
                opened_at=_instant(capture.get("update_time") or capture["create_time"]),
            )
        # A list item is a summary: the outcome is in the dispute's details.
        dispute = self._send(
            "GET", f"/v1/customer/disputes/{quote(items[-1]['dispute_id'])}", None, None
        )
        return ProviderDispute(
            reference=dispute["dispute_id"],
            status=_dispute_status(dispute, reversed_),
            reason=dispute.get("reason", ""),
            amount=_money(dispute["dispute_amount"]),
            opened_at=_instant(dispute["create_time"]),
        )

    def _order(self, request: ChargeRequest) -> dict[str, Any]:
        """Create (or, with the same request id, find again) the order: no money moves."""
        return self._send(
            "POST",
            "/v2/checkout/orders",
            {
                "intent": "CAPTURE",
                "purchase_units": [
                    {
                        "custom_id": request.key,
                        "invoice_id": request.key,
                        "description": request.description,
                        "amount": {
                            "currency_code": request.amount.currency.value,
                            "value": request.amount.decimal(),
                        },
                    }
                ],
            },
            request_id=request.key,
        )

    # --- HTTP ---

    def _access_token(self) -> str:
        """A cached OAuth2 client-credentials token, renewed shortly before it expires."""
        with self._token_lock:
            if self._token is None or self._token[1] - TOKEN_MARGIN < time.monotonic():
                try:
                    answer = self._retry.call(
                        lambda: self._request(
                            "POST",
                            "/v1/oauth2/token",
                            body=b"grant_type=client_credentials",
                            headers={
                                **self._credentials,
                                "Content-Type": "application/x-www-form-urlencoded",
                            },
                        )
                    )
                except PayPalRefused as refused:
                    raise ProviderUnavailable(
                        f"PayPal refused our credentials: {refused}", maybe_processed=False
                    ) from refused
                self._token = (
                    answer["access_token"],
                    time.monotonic() + float(answer.get("expires_in", 0)),
                )
            return self._token[0]

    def _send(
        self, method: str, path: str, payload: Mapping[str, Any] | None, request_id: str | None
    ) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Prefer": "return=representation"}
        if request_id:
            headers["PayPal-Request-Id"] = request_id
        body = None if payload is None else json.dumps(payload).encode()

        def attempt() -> dict[str, Any]:
            auth = {"Authorization": f"Bearer {self._access_token()}"}
            try:
                return self._request(method, path, body=body, headers=headers | auth)
            except PayPalRefused as refused:
                if refused.status != 401:
                    raise
                with self._token_lock:  # expired or revoked early: fetch a new one and retry
                    self._token = None
                raise TransientFailure(401, "access token refused") from refused

        return self._retry.call(attempt)

    def _request(
        self, method: str, path: str, *, body: bytes | None, headers: Mapping[str, str]
    ) -> dict[str, Any]:
        try:
            response = self._http.request(method, self._base + path, body=body, headers=headers)
        except urllib3.exceptions.NewConnectionError as error:
            raise ProviderUnavailable(
                f"PayPal unreachable: {error}", maybe_processed=False
            ) from error
        except urllib3.exceptions.HTTPError as error:
            raise OutcomeUnknown(f"no answer from PayPal: {error}") from error
        status = response.status
        data = response.json() if response.data else {}
        if status == 429 or status >= 500:
            raise TransientFailure(
                status, str(data.get("name", status)), response.headers.get("Retry-After")
            )
        if status >= 400:
            raise PayPalRefused(status, data)
        return dict(data)


def _outcome(order: Mapping[str, Any]) -> ChargeOutcome:
    """An order's capture as an outcome; a PENDING capture (held for review) is not money yet."""
    captures = [
        capture
        for unit in order.get("purchase_units", [])
        for capture in unit.get("payments", {}).get("captures", [])
    ]
    if not captures:
        raise ProviderError(f"order {order.get('id')} has no capture", order.get("status"))
    capture = captures[-1]
    if capture.get("status") == "COMPLETED":
        return ChargeOutcome.succeeded(capture["id"])
    if capture.get("status") == "PENDING":
        return ChargeOutcome(ChargeStatus.PENDING, capture["id"])
    reason = capture.get("status_details", {}).get("reason")
    return ChargeOutcome.declined(
        failure_reason(reason), reason or capture.get("status"), capture.get("id")
    )


def _capture_outcome(capture: Mapping[str, Any]) -> ChargeOutcome:
    """A capture read again: money taken (whatever happened to it since), held, or refused."""
    status = capture.get("status")
    if status in _TAKEN:
        return ChargeOutcome.succeeded(capture["id"])
    if status == "PENDING":
        return ChargeOutcome(ChargeStatus.PENDING, capture["id"])
    reason = capture.get("status_details", {}).get("reason")
    return ChargeOutcome.declined(failure_reason(reason), reason or status, capture["id"])


def _dispute_status(dispute: Mapping[str, Any], capture_reversed: bool) -> DisputeStatus:
    if dispute.get("status") != "RESOLVED":
        return DisputeStatus.OPEN
    outcome = dispute.get("dispute_outcome", {}).get("outcome_code")
    return (
        DisputeStatus.LOST if capture_reversed or outcome in _LOST_OUTCOMES else DisputeStatus.WON
    )


def _refunds_capture(refund: Mapping[str, Any], capture: Mapping[str, Any]) -> bool:
    """Whether `refund` is of `capture` (its ``up`` link), for an order with several."""
    up = [link["href"] for link in refund.get("links", []) if link.get("rel") == "up"]
    return not up or any(href.rstrip("/").endswith(f"/captures/{capture['id']}") for href in up)


def _wallet(saved: Mapping[str, Any]) -> PaymentMethod:
    wallet = saved.get("payment_source", {}).get("paypal", {})
    return PaymentMethod(
        provider=PaymentProvider.PAYPAL,
        kind=PaymentMethodKind.PAYPAL,
        token=saved["id"],
        paypal_email=wallet.get("email_address"),
    )


def _refund(refund: Mapping[str, Any]) -> ProviderRefund:
    return ProviderRefund(
        reference=refund["id"],
        amount=_money(refund["amount"]),
        at=_instant(refund["create_time"]),
        key=refund.get("invoice_id"),
    )


def _money(amount: Mapping[str, Any]) -> Money:
    """PayPal's ``{"value": "29.90", "currency_code": "EUR"}`` in minor units."""
    currency = Currency(amount["currency_code"])
    try:
        minor = Decimal(str(amount["value"])).scaleb(currency.minor_units)
    except InvalidOperation as error:
        raise ProviderError(f"PayPal sent an amount that is not one: {amount}") from error
    if minor != minor.to_integral_value():
        raise ProviderError(f"PayPal sent an amount finer than the currency's unit: {amount}")
    return Money(int(minor), currency)


def _instant(text: str) -> datetime:
    """PayPal's RFC 3339 date-time (``Z``, sometimes milliseconds) as UTC, to the second."""
    return datetime.fromisoformat(text).astimezone(UTC).replace(microsecond=0)
