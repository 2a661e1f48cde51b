"""The PayPal adapter: OAuth2 client credentials, Vault v3 payment tokens, Orders v2.

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
from typing import Any

import urllib3

from billing.domain.accounts import Account, PaymentMethod, PaymentMethodKind, PaymentProvider
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.providers.gateway import (
    ChargeOutcome,
    ChargeRequest,
    OutcomeUnknown,
    PaymentMethodRejected,
    ProviderError,
    ProviderUnavailable,
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
        wallet = saved.get("payment_source", {}).get("paypal", {})
        return PaymentMethod(
            provider=self.provider,
            kind=PaymentMethodKind.PAYPAL,
            token=saved["id"],
            paypal_email=wallet.get("email_address"),
        )

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

    def find_charge(self, request: ChargeRequest, since: datetime) -> ChargeOutcome | None:
        if self._clock() - since > LOOKUP_WINDOW:
            raise OutcomeUnknown(
                f"charge {request.key} is older than PayPal's request-id memory: check by hand"
            )
        order = self._send("GET", f"/v2/checkout/orders/{self._order(request)['id']}", None, None)
        return _outcome(order) if order.get("status") != "CREATED" else None

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
