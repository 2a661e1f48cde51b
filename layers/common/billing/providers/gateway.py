"""The one interface every payment provider is used through, and the errors adapters raise.

Adapters translate their provider's errors and decline codes into the product's failure reasons, so
nothing above this module knows which provider answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from billing.domain.accounts import Account, PaymentMethod, PaymentProvider
from billing.domain.charges import ChargeStatus, DisputeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.domain.values import frozen


@frozen
class ChargeRequest:
    """One off-session charge. `key` is the attempt's deterministic idempotency key."""

    key: str
    amount: Money
    payment_method: str
    """The saved method's token: Stripe PaymentMethod id or PayPal vault id."""
    customer: str | None
    """The provider's customer reference (Stripe customer id); PayPal needs none."""
    description: str
    """Deterministic for a key: PayPal compares a repeated request with the first."""
    metadata: dict[str, str] = field(default_factory=dict)
    on_session: bool = False
    """The customer is present (a purchase, Retry Now): a bank asking them to authenticate
    (3-D Secure) is answered with what their page confirms the payment with. Off session (a
    renewal), the same answer is a failed charge the customer is asked to come and confirm."""


@frozen
class Confirmation:
    """What the customer's page needs to confirm a payment their bank wants authenticated
    (3-D Secure) with the provider's own script (Stripe.js): never stored, read from the
    provider each time."""

    client_secret: str
    publishable_key: str
    status: str
    """The provider's status of the payment, e.g. Stripe's ``requires_action`` (the page runs
    the authentication) or ``requires_payment_method`` (it confirms again with the method)."""


@frozen
class ChargeOutcome:
    """What the provider did with a charge: it succeeded, or it was declined for `reason`."""

    status: ChargeStatus
    reference: str | None
    failure_reason: FailureReason | None = None
    provider_code: str | None = None
    """The provider's own decline or error code, for the audit trail and support."""
    confirmation: Confirmation | None = None
    """Set while the customer can still confirm the payment with their bank (3-D Secure)."""

    @classmethod
    def succeeded(cls, reference: str) -> ChargeOutcome:
        return cls(ChargeStatus.SUCCEEDED, reference)

    @classmethod
    def awaiting_customer(cls, reference: str, confirmation: Confirmation) -> ChargeOutcome:
        """A customer-present charge waiting for the customer to authenticate it: pending."""
        return cls(
            ChargeStatus.PENDING,
            reference,
            FailureReason.AUTHENTICATION_REQUIRED,
            "authentication_required",
            confirmation,
        )

    @property
    def awaits_customer(self) -> bool:
        return self.status is ChargeStatus.PENDING and self.confirmation is not None

    @classmethod
    def declined(
        cls, reason: FailureReason, code: str | None, reference: str | None = None
    ) -> ChargeOutcome:
        return cls(ChargeStatus.FAILED, reference, reason, code)


@frozen
class UpdateStart:
    """How the customer saves a new method: a Stripe client secret or a PayPal approval URL."""

    provider: PaymentProvider
    reference: str
    """The SetupIntent id or the PayPal setup-token id the frontend hands back."""
    client_secret: str | None = None
    approval_url: str | None = None


class ProviderError(Exception):
    """Base of the errors adapters raise; `code` is the provider's own code when it gave one."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class ProviderUnavailable(ProviderError):
    """The provider cannot serve us now: it kept failing (429, 5xx) after the adapter's
    retries, refused our credentials or our connection, or left a call other than a charge
    unanswered. The API answers it 503 with Retry-After.

    `maybe_processed` is False only when the provider cannot have acted on the request (a 429,
    a refused connection); after a 5xx the charge must be looked up before it counts as failed.
    """

    def __init__(self, message: str, code: str | None = None, *, maybe_processed: bool) -> None:
        super().__init__(message, code)
        self.maybe_processed = maybe_processed


class OutcomeUnknown(ProviderError):
    """The request was sent and no answer came back (a timeout; for a Stripe charge, any
    failed connection, which its SDK does not tell apart): the charge may exist."""


class PaymentMethodRejected(ProviderError):
    """The provider refused to save or verify a payment method."""

    def __init__(self, reason: FailureReason, message: str, code: str | None = None) -> None:
        super().__init__(message, code)
        self.reason = reason


class SetupNotFound(ProviderError):
    """The setup a method is saved from is not the customer's: the provider does not know it,
    or another of its customers started it."""


class SetupIncomplete(ProviderError):
    """The setup a method is saved from has not succeeded: the customer has not confirmed it,
    their bank's check (3-D Secure) is not passed, or it failed or was cancelled. `code` is the
    setup's status at the provider."""


class PaymentGateway(Protocol):
    """What the billing operations need from a payment provider."""

    provider: PaymentProvider

    def create_customer(self, account: Account) -> str:
        """The provider's customer reference for `account` (idempotent per account)."""
        ...

    def start_update(self, account: Account, customer: str | None) -> UpdateStart:
        """Begin saving a new payment method: the frontend completes it with the customer."""
        ...

    def save_payment_method(self, customer: str | None, token: str) -> PaymentMethod:
        """The method the customer approved, attached and verified: `token` is what
        `start_update` began (its `reference`), completed by the customer. A Stripe SetupIntent
        must be `customer`'s (SetupNotFound) and have succeeded (SetupIncomplete);
        PaymentMethodRejected if the provider refuses the method."""
        ...

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge with `request.key` as the idempotency key.

        Declines are outcomes; ProviderUnavailable and OutcomeUnknown are raised. A bank asking
        for authentication is `ChargeOutcome.awaiting_customer` on session, and a decline for
        `authentication_required` (with its confirmation) off session.
        """
        ...

    def abandon(self, reference: str) -> ChargeOutcome:
        """Stop payment `reference`, left waiting for the customer to authenticate it, so that
        it can no longer be completed; its outcome then (succeeded if they completed it first).
        A payment no customer confirms (PayPal's) is only read."""
        ...

    def find_charge(self, request: ChargeRequest, since: datetime) -> ChargeOutcome | None:
        """Look up the charge made with `request.key` (never charges); None if none was made.

        None settles the attempt as never charged and lets the next attempt charge, so it must
        be certain. `since` is when the attempt was claimed, by our clock: an adapter may use
        it to refuse a look-up the provider can no longer answer (PayPal forgets request ids),
        never to narrow a search, since the provider's clock may disagree with ours. Raises a
        ProviderError when the provider cannot say.
        """
        ...

    def payment(self, reference: str) -> ProviderPayment:
        """The payment `reference` (a `ChargeOutcome.reference` of a charge that reached the
        provider) as the provider has it now: outcome, refunds, dispute. ProviderError when the
        provider does not know it or cannot say."""
        ...

    def refund(self, reference: str, amount: Money, key: str) -> ProviderRefund:
        """Give `amount` of payment `reference` back, with `key` as the idempotency key (a
        repeated call returns the first refund). RefundRefused when the provider refuses it."""
        ...

    def payment_method(self, token: str) -> ProviderPaymentMethod:
        """The saved method `token` as the provider has it now (its card's expiry and last four
        digits may have been updated by the card network); `method` None once removed."""
        ...


# --- after the charge: what the provider says about a payment now --------------------------


@frozen
class ProviderRefund:
    """Money given back on a payment, as the provider records it."""

    reference: str
    """Stripe ``re_…`` or the PayPal refund id."""
    amount: Money
    at: datetime
    """When the provider made it (UTC, to the second)."""
    key: str | None = None
    """Our idempotency key when we asked for it (Stripe refund metadata ``refund_key``, PayPal
    refund ``invoice_id``); None for a refund made elsewhere (the dashboard)."""


@frozen
class ProviderDispute:
    reference: str
    """Stripe ``dp_…`` or the PayPal dispute id."""
    status: DisputeStatus
    reason: str
    """The provider's own reason code (``fraudulent``, ``MERCHANDISE_OR_SERVICE_NOT_RECEIVED``…)."""
    amount: Money
    opened_at: datetime


@frozen
class ProviderPayment:
    """One payment as the provider has it now: read again from the provider, never taken from a
    webhook's payload, which may be stale or arrive out of order."""

    reference: str
    """What `ChargeOutcome.reference` is for this payment: the Stripe PaymentIntent id or the
    PayPal capture id."""
    charge_key: str | None
    """Our idempotency key (the charge attempt's id), from the PaymentIntent's metadata or the
    capture's ``custom_id``; None for a payment we did not make."""
    outcome: ChargeOutcome
    amount: Money
    refunds: tuple[ProviderRefund, ...] = ()
    dispute: ProviderDispute | None = None


@frozen
class ProviderPaymentMethod:
    """A saved payment method as the provider has it now."""

    account_id: str | None
    """Our account it belongs to (Stripe customer metadata, PayPal ``merchant_customer_id``)."""
    method: PaymentMethod | None
    """None when the provider no longer has it (the payer revoked it, it was deleted)."""


class RefundRefused(ProviderError):
    """The provider refused a refund (more than what is left, a payment it cannot refund)."""


# --- webhooks --------------------------------------------------------------------------------


class WebhookTopic(StrEnum):
    PAYMENT = "payment"
    """About one payment: its outcome, a refund, a dispute. `ProviderEvent.reference` is the
    payment's reference (`ProviderPayment.reference`)."""
    PAYMENT_METHOD = "payment_method"
    """A saved method changed (the card updater, a new expiry) or was removed. The reference is
    the method's token."""


@frozen
class ProviderEvent:
    """A verified webhook event: what it is about, by identifiers only. Its state is read again
    from the provider before anything is done (`ProviderPayment`, `ProviderPaymentMethod`)."""

    provider: PaymentProvider
    id: str
    """The provider's event id (Stripe ``evt_…``, PayPal ``WH-…``): recorded once."""
    type: str
    """The provider's event type, e.g. ``payment_intent.succeeded``, ``PAYMENT.CAPTURE.DENIED``."""
    created_at: datetime
    topic: WebhookTopic | None
    """None: an event we do not act on (answered and recorded all the same)."""
    reference: str | None = None
    account_id: str | None = None
    """Our account when the payload names it: a removed PayPal token can no longer be read."""


class InvalidSignature(Exception):
    """A webhook whose signature is missing, forged, or too old: nothing is recorded."""


class WebhookVerifier(Protocol):
    provider: PaymentProvider

    def verify(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        """The event `body` carries, once its signature is checked; InvalidSignature if not.
        `headers` are looked up without regard to case."""
        ...
