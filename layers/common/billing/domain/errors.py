"""Error codes the product answers with, and the domain exceptions that carry them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every machine-readable error code, in one place (the error shape's ``error.code``)."""

    NO_ACTION_REQUIRED = "no_action_required"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    MANAGED_BY_PARTNER = "managed_by_partner"
    NOT_PARTNER_MANAGED = "not_partner_managed"
    PERIOD_ENDED = "period_ended"
    NOT_DUE = "not_due"
    RETRY_IN_PROGRESS = "retry_in_progress"
    TOO_MANY_RETRIES = "too_many_retries"
    PAYMENT_METHOD_REQUIRED = "payment_method_required"
    PAYMENT_DECLINED = "payment_declined"
    SUBSCRIPTION_EXISTS = "subscription_exists"
    UNKNOWN_PLAN = "unknown_plan"
    UNKNOWN_COUPON = "unknown_coupon"
    CONCURRENT_MODIFICATION = "concurrent_modification"
    NOT_FOUND = "not_found"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    INVALID_FIELDS = "invalid_fields"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    BAD_REQUEST = "bad_request"
    """API Gateway's own refusals of a request (template.yaml GatewayResponses)."""
    CONTACT_SALES = "contact_sales"
    PAYMENT_METHOD_REJECTED = "payment_method_rejected"
    PROVIDER_UNAVAILABLE = "provider_unavailable"
    PAYMENT_PENDING = "payment_pending"
    SERVICE_UNAVAILABLE = "service_unavailable"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    REQUEST_IN_PROGRESS = "request_in_progress"
    INTERNAL_ERROR = "internal_error"
    PAYMENT_NOT_REFUNDABLE = "payment_not_refundable"
    REFUND_TOO_LARGE = "refund_too_large"
    REFUND_IN_PROGRESS = "refund_in_progress"
    REFUND_REFUSED = "refund_refused"
    INVALID_SIGNATURE = "invalid_signature"
    AUTHENTICATION_REQUIRED = "authentication_required"
    SETUP_INCOMPLETE = "setup_incomplete"
    """A card saved from a setup the customer has not completed: saved again once they have."""


DEFAULT_MESSAGES: Mapping[ErrorCode, str] = {
    ErrorCode.NO_ACTION_REQUIRED: "The due date has not arrived yet; no action is needed.",
    ErrorCode.SUBSCRIPTION_CANCELLED: "This subscription is cancelled; make a new purchase.",
    ErrorCode.MANAGED_BY_PARTNER: "This subscription is managed by your partner; contact them.",
    ErrorCode.NOT_PARTNER_MANAGED: "This subscription is not managed by a partner.",
    ErrorCode.PERIOD_ENDED: "The billing period has already ended; make a new purchase.",
    ErrorCode.NOT_DUE: "Nothing is due for this subscription at this time.",
    ErrorCode.RETRY_IN_PROGRESS: "A payment attempt for this subscription is already in progress.",
    ErrorCode.TOO_MANY_RETRIES: "Too many payment retries; try again later.",
    ErrorCode.PAYMENT_METHOD_REQUIRED: "Add a payment method first.",
    ErrorCode.PAYMENT_DECLINED: "The payment was declined.",
    ErrorCode.SUBSCRIPTION_EXISTS: "The account already has a subscription that is not cancelled.",
    ErrorCode.UNKNOWN_PLAN: "This plan is not offered for that cycle length and currency.",
    ErrorCode.UNKNOWN_COUPON: "This coupon does not exist or does not apply to this plan.",
    ErrorCode.CONCURRENT_MODIFICATION: "The subscription changed meanwhile; try again.",
    ErrorCode.NOT_FOUND: "Not found.",
    ErrorCode.UNAUTHORIZED: "Sign in first: the request has no valid token.",
    ErrorCode.FORBIDDEN: "Your role does not allow this request.",
    ErrorCode.INVALID_FIELDS: "Some fields are invalid; see details.",
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: "Send the body as JSON (Content-Type: application/json).",
    ErrorCode.BAD_REQUEST: "The request could not be accepted.",
    ErrorCode.CONTACT_SALES: "This change goes through our sales team; contact them.",
    ErrorCode.PAYMENT_METHOD_REJECTED: "The payment provider refused this payment method.",
    ErrorCode.PROVIDER_UNAVAILABLE: "The payment provider is not answering; try again shortly.",
    ErrorCode.PAYMENT_PENDING: (
        "The payment provider has not confirmed the payment yet; "
        "repeat the request with the same Idempotency-Key in a few minutes."
    ),
    ErrorCode.SERVICE_UNAVAILABLE: "The service is briefly unavailable; try again shortly.",
    ErrorCode.IDEMPOTENCY_KEY_REUSED: (
        "This Idempotency-Key was already used for a different request."
    ),
    ErrorCode.REQUEST_IN_PROGRESS: (
        "A request with this Idempotency-Key is still being processed; try again shortly."
    ),
    ErrorCode.INTERNAL_ERROR: "Something went wrong on our side; it has been logged.",
    ErrorCode.PAYMENT_NOT_REFUNDABLE: "Only a payment that went through can be refunded.",
    ErrorCode.REFUND_TOO_LARGE: "The refund is larger than what is left of the payment.",
    ErrorCode.REFUND_IN_PROGRESS: (
        "A refund of this payment is already being made; try again in a few minutes."
    ),
    ErrorCode.REFUND_REFUSED: "The payment provider refused the refund.",
    ErrorCode.INVALID_SIGNATURE: (
        "The webhook's signature is missing, does not match, or is too old."
    ),
    ErrorCode.AUTHENTICATION_REQUIRED: (
        "Your bank asks you to confirm this payment: confirm it with the details given."
    ),
    ErrorCode.SETUP_INCOMPLETE: (
        "The card has not been set up yet: finish the card form, and your bank's check if it "
        "asks for one, then save the card again."
    ),
}


class DomainError(Exception):
    """A request the domain refuses, with the code and plain message shown to the caller."""

    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        details: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.message = message or DEFAULT_MESSAGES[code]
        self.details = details
        """What the caller needs to act: e.g. one entry per invalid field, a retry time."""
        super().__init__(f"{code}: {self.message}")


class TransitionRejected(DomainError):
    """The state machine refuses this event in the subscription's current state."""


class UnknownTransition(Exception):
    """No row of the transition table covers this event: a programming error, not user input."""
