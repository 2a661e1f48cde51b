"""Receiving a provider's webhook: the signature checked, the event recorded once, the answer
given at once. Acting on the event is the `webhooks.events` function's work, handed over by the
event table's stream: the provider's timeout (Stripe waits seconds, PayPal too) is never spent
on our work, and a record written is an event that will be acted on, however the sender fares.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from billing.domain.accounts import PaymentProvider
from billing.domain.billing_calendar import instant
from billing.domain.errors import DomainError, ErrorCode
from billing.persistence.webhook_events import WebhookEventStore
from billing.providers.gateway import InvalidSignature, ProviderEvent, WebhookVerifier


class WebhookReceiver:
    def __init__(
        self,
        verifiers: Mapping[PaymentProvider, WebhookVerifier],
        events: WebhookEventStore,
        *,
        clock: Callable[[], datetime],
    ) -> None:
        self._verifiers = verifiers
        self._events = events
        self._clock = clock

    def receive(
        self, provider: PaymentProvider, headers: Mapping[str, str], body: bytes
    ) -> tuple[ProviderEvent, bool]:
        """The event `body` carries and whether it was new (False: a redelivery, which changes
        nothing). DomainError(invalid_signature) when its signature does not hold: nothing is
        recorded; the provider's errors when it cannot verify now (it delivers again)."""
        try:
            event = self._verifiers[provider].verify(headers, body)
        except InvalidSignature as invalid:
            raise DomainError(ErrorCode.INVALID_SIGNATURE, details={"why": str(invalid)}) from None
        return event, self._events.record(event, instant(self._clock()))
