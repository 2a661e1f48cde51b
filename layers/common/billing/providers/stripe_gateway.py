"""The Stripe adapter: customers, SetupIntents, off-session PaymentIntents, decline mapping,
and what Stripe says of a payment afterwards (refunds, disputes) and of a saved card.

The SDK's own retries are off (`max_network_retries=0`): `RetryPolicy` retries 429 and 5xx
with the same idempotency key and honours `Retry-After`, which the SDK does not.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import stripe

from billing.domain.accounts import (
    Account,
    PaymentMethod,
    PaymentMethodKind,
    PaymentProvider,
)
from billing.domain.charges import ChargeStatus, DisputeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.providers.gateway import (
    ChargeOutcome,
    ChargeRequest,
    Confirmation,
    OutcomeUnknown,
    PaymentMethodRejected,
    ProviderDispute,
    ProviderError,
    ProviderPayment,
    ProviderPaymentMethod,
    ProviderRefund,
    ProviderUnavailable,
    RefundRefused,
    SetupIncomplete,
    SetupNotFound,
    UpdateStart,
)
from billing.providers.retry import RetryPolicy, TransientFailure

CHARGE_KEY = "charge_key"
"""Metadata key holding our idempotency key on every PaymentIntent: how a charge is found again."""
REFUND_KEY = "refund_key"
"""Metadata key holding our idempotency key on every Refund we ask for."""
ACCOUNT_ID = "account_id"
"""Customer metadata naming our account: how a saved card is traced back to it."""

_DISPUTE_STATUSES: Mapping[str, DisputeStatus] = {
    **dict.fromkeys(
        ("warning_needs_response", "warning_under_review", "needs_response", "under_review"),
        DisputeStatus.OPEN,
    ),
    # An inquiry closed without a chargeback, or a chargeback prevented: the money stays.
    **dict.fromkeys(("won", "warning_closed", "prevented"), DisputeStatus.WON),
    "lost": DisputeStatus.LOST,
}
_GONE_REFUNDS = ("failed", "canceled")
"""Refund statuses that gave nothing back."""

_REASONS: Mapping[str, FailureReason] = {
    # Retrying the same method cannot succeed: it must be replaced.
    # The bank asks the customer to authenticate the payment (3-D Secure), or they did not.
    **dict.fromkeys(
        ("authentication_required", "payment_intent_authentication_failure"),
        FailureReason.AUTHENTICATION_REQUIRED,
    ),
    **dict.fromkeys(
        (
            "expired_card",
            "incorrect_number",
            "invalid_number",
            "invalid_expiry_month",
            "invalid_expiry_year",
            "lost_card",
            "stolen_card",
            "pickup_card",
            "restricted_card",
            "fraudulent",
            "security_violation",
            "card_not_supported",
            "invalid_account",
            "new_account_information_available",
            "revocation_of_authorization",
            "revocation_of_all_authorizations",
            "stop_payment_order",
        ),
        FailureReason.PAYMENT_METHOD_INVALID,
    ),
    **dict.fromkeys(
        ("insufficient_funds", "card_velocity_exceeded", "withdrawal_count_limit_exceeded"),
        FailureReason.INSUFFICIENT_FUNDS,
    ),
    # The bank or Stripe failed to process: not the customer's doing.
    **dict.fromkeys(
        ("processing_error", "issuer_not_available", "try_again_later", "reenter_transaction"),
        FailureReason.PROVIDER_ERROR,
    ),
}


def failure_reason(code: str | None, decline_code: str | None) -> FailureReason:
    """The failure reason for a Stripe error `code` and issuer `decline_code`; the decline code is
    the more specific of the two. Anything unlisted is a soft decline."""
    for candidate in (decline_code, code):
        if candidate is not None and candidate in _REASONS:
            return _REASONS[candidate]
    return FailureReason.CARD_DECLINED


def _unanswered(message: str) -> ProviderError:
    """A call other than a charge that got no answer: Stripe is unavailable to us for now. It
    may have acted on the request; each such call is idempotent or harmless to repeat."""
    return ProviderUnavailable(message, maybe_processed=True)


class StripeGateway:
    provider = PaymentProvider.STRIPE

    def __init__(
        self,
        api_key: str,
        *,
        publishable_key: str,
        api_base: str | None = None,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=timeout),
        )
        self._retry = retry or RetryPolicy()
        self._publishable_key = publishable_key

    # --- customers and payment methods ---

    def create_customer(self, account: Account) -> str:
        customer = self._call(
            lambda: self._client.v1.customers.create(
                params={"email": account.email, "metadata": {ACCOUNT_ID: account.id}},
                options={"idempotency_key": f"customer.{account.id}"},
            )
        )
        return customer.id

    def start_update(self, account: Account, customer: str | None) -> UpdateStart:
        intent = self._call(
            lambda: self._client.v1.setup_intents.create(
                params={  # type: ignore[arg-type]
                    "customer": self._customer(customer),
                    "usage": "off_session",
                    "payment_method_types": ["card"],
                    "metadata": {"account_id": account.id},
                }
            )
        )
        return UpdateStart(self.provider, intent.id, client_secret=intent.client_secret)

    def save_payment_method(self, customer: str | None, token: str) -> PaymentMethod:
        """Save the card of SetupIntent `token`, which the customer confirmed in the card form:
        it must be this customer's (SetupNotFound) and have succeeded, 3-D Secure included
        (SetupIncomplete). Its PaymentMethod is attached to the customer unless it already is
        (Stripe attaches it when the setup succeeds, localstripe does not) and made the default
        for future charges."""
        if not customer:
            raise SetupNotFound(f"SetupIntent {token} cannot be of an account without a customer")
        method = self._succeeded_setup(customer, token).payment_method
        assert isinstance(method, stripe.PaymentMethod), "a succeeded SetupIntent has its method"
        if _field(method, "customer") != customer:
            method = self._attach(method.id, customer)
        method_id = method.id
        self._call(
            lambda: self._client.v1.customers.update(
                customer, params={"invoice_settings": {"default_payment_method": method_id}}
            )
        )
        return _card_method(method)

    def _succeeded_setup(self, customer: str, token: str) -> stripe.SetupIntent:
        """SetupIntent `token`, its PaymentMethod expanded, once it is `customer`'s and has
        succeeded: another customer's is not found, whatever its status."""
        try:
            setup = self._call(
                lambda: self._client.v1.setup_intents.retrieve(
                    token, params={"expand": ["payment_method"]}
                )
            )
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise SetupNotFound(f"Stripe has no SetupIntent {token}", error.code) from error
            raise ProviderError(f"Stripe refused to read {token}: {error}", error.code) from error
        if _field(setup, "customer") != customer:
            raise SetupNotFound(f"SetupIntent {token} is not {customer}'s")
        if setup.status != "succeeded":
            raise SetupIncomplete(f"SetupIntent {token} is {setup.status}", setup.status)
        return setup

    def _attach(self, method: str, customer: str) -> stripe.PaymentMethod:
        """PaymentMethod `method` attached to `customer`; a card the issuer declines is
        rejected with its failure reason."""
        try:
            return self._call(
                lambda: self._client.v1.payment_methods.attach(
                    method, params={"customer": customer}
                )
            )
        except stripe.CardError as error:
            raise PaymentMethodRejected(
                failure_reason(error.code, _decline_code(error)),
                error.user_message or "",
                error.code,
            ) from error
        except stripe.InvalidRequestError as error:
            raise PaymentMethodRejected(
                FailureReason.PAYMENT_METHOD_INVALID, error.user_message or "", error.code
            ) from error

    def payment_method(self, token: str) -> ProviderPaymentMethod:
        """The PaymentMethod as Stripe has it now, with the account its customer names; a
        method detached from its customer (or unknown to Stripe) is gone: None."""
        try:
            method = self._call(
                lambda: self._client.v1.payment_methods.retrieve(
                    token, params={"expand": ["customer"]}
                )
            )
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                return ProviderPaymentMethod(account_id=None, method=None)
            raise ProviderError(f"Stripe refused to read {token}: {error}", error.code) from error
        customer = _field(method, "customer")
        if not customer:
            return ProviderPaymentMethod(account_id=None, method=None)
        if isinstance(customer, str):  # not expanded
            customer_id = customer
            customer = self._call(lambda: self._client.v1.customers.retrieve(customer_id))
        metadata = _field(customer, "metadata")
        account_id = metadata.to_dict().get(ACCOUNT_ID) if metadata else None
        return ProviderPaymentMethod(account_id=account_id, method=_card_method(method))

    # --- charges ---

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        params: dict[str, Any] = {
            "amount": request.amount.amount,
            "currency": request.amount.currency.value.lower(),
            "customer": self._customer(request.customer),
            "payment_method": request.payment_method,
            "payment_method_types": ["card"],
            "confirm": True,
            "metadata": {**request.metadata, CHARGE_KEY: request.key},
        }
        if not request.on_session:
            params["off_session"] = True
        try:
            intent = self._call(
                lambda: self._client.v1.payment_intents.create(
                    params=params,  # type: ignore[arg-type]
                    options={"idempotency_key": request.key},
                ),
                unanswered=OutcomeUnknown,
            )
        except stripe.CardError as error:
            code = _decline_code(error) or error.code
            reason = failure_reason(error.code, _decline_code(error))
            intent = _field(error.error, "payment_intent")
            return ChargeOutcome(
                ChargeStatus.FAILED,
                _field(intent, "id"),
                reason,
                code,
                self._confirmation(intent, reason),
            )
        outcome = self._outcome(intent)
        if outcome.awaits_customer and not request.on_session:
            # The customer is not there to authenticate: the renewal failed, and they are asked
            # to come and confirm it.
            return replace(outcome, status=ChargeStatus.FAILED)
        return outcome

    def abandon(self, reference: str) -> ChargeOutcome:
        """Cancel the PaymentIntent; one that succeeded (or is processing) meanwhile cannot be
        cancelled, and is read instead."""
        try:
            self._call(lambda: self._client.v1.payment_intents.cancel(reference))
        except stripe.InvalidRequestError:
            return self._outcome(
                self._call(lambda: self._client.v1.payment_intents.retrieve(reference))
            )
        return ChargeOutcome.declined(FailureReason.AUTHENTICATION_REQUIRED, "abandoned", reference)

    def find_charge(self, request: ChargeRequest, since: datetime) -> ChargeOutcome | None:
        """The PaymentIntent carrying `request.key` in its metadata, among all the customer's
        however old: `since` is not used.

        None settles the attempt as never charged and the next attempt charges again, so the
        search has no time bound: a window from `since` would compare our clock with the
        `created` Stripe stamps, and miss the charge whenever the two disagree. A customer has
        a handful of PaymentIntents a year, one page. The list is strongly consistent; Stripe's
        search lags by up to a minute, so it is not used. Every page is read under the retry
        policy.
        """
        customer = self._customer(request.customer)

        def search() -> stripe.PaymentIntent | None:
            listing = self._client.v1.payment_intents.list(
                params={"customer": customer, "limit": 100}
            )
            return next(
                (
                    intent
                    for intent in listing.auto_paging_iter()
                    if intent.metadata and intent.metadata.to_dict().get(CHARGE_KEY) == request.key
                ),
                None,
            )

        intent = self._call(search)
        return None if intent is None else self._outcome(intent)

    # --- after the charge ---

    def payment(self, reference: str) -> ProviderPayment:
        """The PaymentIntent `reference` now, with its refunds and its latest dispute (listed
        by PaymentIntent: a list is strongly consistent where search lags)."""

        def read() -> tuple[stripe.PaymentIntent, list[stripe.Refund], list[stripe.Dispute]]:
            intent = self._client.v1.payment_intents.retrieve(reference)
            if not _field(intent, "latest_charge"):
                return intent, [], []  # never charged: nothing to refund or dispute
            refunds = self._client.v1.refunds.list(
                params={"payment_intent": reference, "limit": 100}
            )
            disputes = self._client.v1.disputes.list(
                params={"payment_intent": reference, "limit": 1}
            )
            return intent, list(refunds.auto_paging_iter()), list(disputes.data)

        try:
            intent, refunds, disputes = self._call(read)
        except stripe.InvalidRequestError as error:
            raise ProviderError(
                f"Stripe cannot say what {reference} is: {error}", error.code
            ) from error
        metadata = _field(intent, "metadata")
        return ProviderPayment(
            reference=intent.id,
            charge_key=metadata.to_dict().get(CHARGE_KEY) if metadata else None,
            outcome=self._outcome(intent),
            amount=_money(intent.amount, intent.currency),
            refunds=tuple(
                _refund(refund) for refund in refunds if refund.status not in _GONE_REFUNDS
            ),
            dispute=_dispute(disputes[0]) if disputes else None,
        )

    def refund(self, reference: str, amount: Money, key: str) -> ProviderRefund:
        """A Refund of `amount` on the PaymentIntent, keyed by `key` (and carrying it in its
        metadata, so a refund we asked for is told from one made on the dashboard). Stripe
        refunds in the payment's currency whatever we meant: another currency is refused here."""
        intent = self._call(lambda: self._client.v1.payment_intents.retrieve(reference))
        if intent.currency.upper() != amount.currency.value:
            raise RefundRefused(f"{reference} was paid in {intent.currency.upper()}, not {amount}")
        try:
            refund = self._call(
                lambda: self._client.v1.refunds.create(
                    params={
                        "payment_intent": reference,
                        "amount": amount.amount,
                        "metadata": {REFUND_KEY: key},
                    },
                    options={"idempotency_key": key},
                )
            )
        except (stripe.InvalidRequestError, stripe.CardError) as error:
            raise RefundRefused(
                f"Stripe refused to refund {reference}: {error.user_message or error}", error.code
            ) from error
        return _refund(refund)

    # --- plumbing ---

    def _outcome(self, intent: stripe.PaymentIntent) -> ChargeOutcome:
        """A PaymentIntent's status as an outcome. `requires_action` is the bank waiting for
        the customer to authenticate (3-D Secure): pending, with what their page needs."""
        if intent.status == "succeeded":
            return ChargeOutcome.succeeded(intent.id)
        if intent.status == "processing":
            return ChargeOutcome(ChargeStatus.PENDING, intent.id)
        if intent.status == "requires_action":
            confirmation = self._confirmation(intent, FailureReason.AUTHENTICATION_REQUIRED)
            assert confirmation is not None
            return ChargeOutcome.awaiting_customer(intent.id, confirmation)
        error = _field(intent, "last_payment_error")
        code, decline = _field(error, "code"), _field(error, "decline_code")
        reason = failure_reason(code, decline)
        return ChargeOutcome(
            ChargeStatus.FAILED,
            intent.id,
            reason,
            decline or code,
            self._confirmation(intent, reason),
        )

    def _confirmation(self, intent: Any, reason: FailureReason) -> Confirmation | None:
        """How the customer confirms `intent` with their bank, while they still can: it asked
        for authentication and the PaymentIntent is not cancelled."""
        secret = _field(intent, "client_secret")
        status = _field(intent, "status")
        if (
            reason is not FailureReason.AUTHENTICATION_REQUIRED
            or not secret
            or status == "canceled"
        ):
            return None
        return Confirmation(secret, self._publishable_key, status)

    @staticmethod
    def _customer(customer: str | None) -> str:
        if not customer:
            raise ProviderError("a Stripe charge or card needs the account's Stripe customer")
        return customer

    def _call[T](
        self, request: Callable[[], T], *, unanswered: Callable[[str], ProviderError] = _unanswered
    ) -> T:
        """`request()` under the retry policy. Stripe failing to serve it (429, 5xx, refused
        credentials, no answer) becomes a gateway error, which callers handle (a 503 at the
        API, a charge left pending) where an SDK error would be a 500; a refusal of the request
        itself (a card error) is the caller's to read. A request that got no answer (a timeout,
        a refused connection) is not retried: `unanswered` says what it means for this call.
        """

        def attempt() -> T:
            try:
                return request()
            except stripe.RateLimitError as error:
                raise TransientFailure(429, str(error), _retry_after(error)) from error
            except stripe.APIError as error:
                status = error.http_status or 500
                raise TransientFailure(status, str(error), _retry_after(error)) from error

        try:
            return self._retry.call(attempt)
        except stripe.IdempotencyError as error:
            # Our keys are deterministic and a request is built the same way every time: a key
            # reused with other parameters is a bug to see, never a charge to make.
            raise ProviderError(f"Stripe refused a reused key: {error}", error.code) from error
        except (stripe.AuthenticationError, stripe.PermissionError) as error:
            raise ProviderUnavailable(
                f"Stripe refused our credentials: {error}", error.code, maybe_processed=False
            ) from error
        except stripe.APIConnectionError as error:
            raise unanswered(f"no answer from Stripe: {error.user_message}") from error


def _retry_after(error: stripe.StripeError) -> str | None:
    return (error.headers or {}).get("Retry-After") or (error.headers or {}).get("retry-after")


def _field(obj: object, name: str) -> Any:
    """A field Stripe may leave out of an object (SDK objects raise AttributeError for those)."""
    return getattr(obj, name, None) if obj is not None else None


def _decline_code(error: stripe.StripeError) -> str | None:
    code: str | None = _field(error.error, "decline_code")
    return code


def _intent_id(error: stripe.StripeError) -> str | None:
    intent: str | None = _field(_field(error.error, "payment_intent"), "id")
    return intent


def _money(amount: int, currency: str) -> Money:
    return Money(amount, Currency(currency.upper()))


def _at(created: int) -> datetime:
    return datetime.fromtimestamp(created, UTC)


def _card_method(method: stripe.PaymentMethod) -> PaymentMethod:
    card = _field(method, "card")
    return PaymentMethod(
        provider=PaymentProvider.STRIPE,
        kind=PaymentMethodKind.CARD,
        token=method.id,
        brand=card.brand if card else None,
        last4=card.last4 if card else None,
        exp_month=card.exp_month if card else None,
        exp_year=card.exp_year if card else None,
    )


def _refund(refund: stripe.Refund) -> ProviderRefund:
    metadata = _field(refund, "metadata")
    return ProviderRefund(
        reference=refund.id,
        amount=_money(refund.amount, refund.currency),
        at=_at(refund.created),
        key=metadata.to_dict().get(REFUND_KEY) if metadata else None,
    )


def _dispute(dispute: stripe.Dispute) -> ProviderDispute:
    """A Dispute; a status Stripe adds later counts as open until it is mapped."""
    return ProviderDispute(
        reference=dispute.id,
        status=_DISPUTE_STATUSES.get(dispute.status, DisputeStatus.OPEN),
        reason=dispute.reason,
        amount=_money(dispute.amount, dispute.currency),
        opened_at=_at(dispute.created),
    )
