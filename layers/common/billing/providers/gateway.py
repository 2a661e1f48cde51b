"""The one interface every payment provider is used through, and the errors adapters raise.

Adapters translate their provider's errors and decline codes into the product's failure reasons, so
nothing above this module knows which provider answered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from billing.domain.accounts import Account, PaymentMethod, PaymentProvider
from billing.domain.charges import ChargeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Money


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class ChargeOutcome:
    """What the provider did with a charge: it succeeded, or it was declined for `reason`."""

    status: ChargeStatus
    reference: str | None
    failure_reason: FailureReason | None = None
    provider_code: str | None = None
    """The provider's own decline or error code, for the audit trail and support."""

    @classmethod
    def succeeded(cls, reference: str) -> ChargeOutcome:
        return cls(ChargeStatus.SUCCEEDED, reference)

    @classmethod
    def declined(
        cls, reason: FailureReason, code: str | None, reference: str | None = None
    ) -> ChargeOutcome:
        return cls(ChargeStatus.FAILED, reference, reason, code)


@dataclass(frozen=True, slots=True)
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
        """Attach and verify the method the customer approved; PaymentMethodRejected if refused."""
        ...

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        """Charge off-session with `request.key` as the idempotency key.

        Declines are outcomes; ProviderUnavailable and OutcomeUnknown are raised.
        """
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
