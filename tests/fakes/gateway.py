"""`PaymentGateway` in memory, behaving as the Stripe or the PayPal adapter does seen through the
port: one charge per idempotency key (a repeat gets the first answer), charges found again by
key, declines as outcomes, and what a test scripts: methods that decline or stay processing,
methods refused on saving, calls that get no answer (before or after charging), and 429s or 5xx
that the adapters' retries absorb or give up on (three tries a call)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

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
from billing.providers.paypal_gateway import LOOKUP_WINDOW
from billing.providers.retry import RetryPolicy

TRIES = RetryPolicy().attempts
"""Calls the adapters make of one request before they give up on 429s and 5xx."""

DECLINE_CODES = {
    PaymentProvider.STRIPE: "card_declined",
    PaymentProvider.PAYPAL: "INSTRUMENT_DECLINED",
}
"""The code each provider gives a soft decline."""


@dataclass(frozen=True, slots=True)
class Charge:
    """A charge the provider made (money asked for), with the outcome it answered first."""

    request: ChargeRequest
    outcome: ChargeOutcome


@dataclass
class _Failing:
    """Requests of `operation` answered `status` (429, 5xx), `left` more times."""

    operation: str
    status: int
    left: int


@dataclass
class _Unanswered:
    """Charges that get no answer in time, `left` more times; made or not made meanwhile."""

    after_charging: bool
    left: int


class FakeGateway:
    """One provider's gateway. `calls` records every call of the port (its name and key);
    `charges` the charges made, oldest first; `before_charge` runs as a charge reaches the
    provider (e.g. to start a concurrent request while this one is in flight)."""

    def __init__(
        self,
        provider: PaymentProvider = PaymentProvider.STRIPE,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self._clock = clock
        self._lock = threading.RLock()
        self._declines: dict[str, tuple[FailureReason, str]] = {}
        self._processing: set[str] = set()
        self._refusals: dict[str, tuple[FailureReason, str]] = {}
        self._failing: list[_Failing] = []
        self._unanswered: list[_Unanswered] = []
        self._made: dict[str, Charge] = {}
        self._now: dict[str, ChargeOutcome] = {}
        """Each charge's outcome as a look-up finds it now (a processing one may have ended)."""
        self._references = 0
        self.calls: list[tuple[str, str | None]] = []
        self.charges: list[Charge] = []
        self.before_charge: Callable[[ChargeRequest], object] | None = None

    # --- scripting ---

    def declines(
        self,
        payment_method: str,
        reason: FailureReason = FailureReason.CARD_DECLINED,
        code: str | None = None,
    ) -> None:
        """Charges of `payment_method` are declined for `reason` (the provider's `code`)."""
        self._declines[payment_method] = (reason, code or DECLINE_CODES[self.provider])

    def processes(self, payment_method: str) -> None:
        """Charges of `payment_method` stay processing (held for review) until `settle`."""
        self._processing.add(payment_method)

    def refuses(self, token: str, reason: FailureReason, code: str | None = None) -> None:
        """Saving `token` is refused for `reason`."""
        self._refusals[token] = (reason, code or reason.value)

    def fails(self, status: int, *, times: int, operation: str = "charge") -> None:
        """The next `times` requests of `operation` (charge, find_charge) answer `status`.
        A call tries TRIES times, as the adapters' retry policy does: it succeeds once the
        failures run out within its tries, and raises ProviderUnavailable if they do not."""
        self._failing.append(_Failing(operation, status, times))

    def unanswered(self, *, after_charging: bool, times: int = 1) -> None:
        """The next `times` charges get no answer (OutcomeUnknown), the provider having made
        the charge (`after_charging`) or not."""
        self._unanswered.append(_Unanswered(after_charging, times))

    def settle(self, key: str, outcome: ChargeOutcome) -> None:
        """A processing charge ends: its look-up answers `outcome` from now on."""
        with self._lock:
            self._now[key] = outcome

    # --- what was charged ---

    def charged(self, subscription_id: str | None = None) -> list[str]:
        """The keys of the charges made, oldest first; only one subscription's when given."""
        prefix = "" if subscription_id is None else f"{subscription_id}."
        return [c.request.key for c in self.charges if c.request.key.startswith(prefix)]

    # --- the port ---

    def create_customer(self, account: Account) -> str:
        self.calls.append(("create_customer", account.id))
        if self.provider is PaymentProvider.PAYPAL:
            return account.id
        return f"cus_{hashlib.sha256(account.id.encode()).hexdigest()[:14]}"

    def start_update(self, account: Account, customer: str | None) -> UpdateStart:
        self.calls.append(("start_update", account.id))
        reference = self._reference("seti" if self._stripe else "SETUP")
        if self._stripe:
            self._customer(customer)
            return UpdateStart(self.provider, reference, client_secret=f"{reference}_secret")
        return UpdateStart(
            self.provider, reference, approval_url=f"https://paypal.invalid/approve/{reference}"
        )

    def save_payment_method(self, customer: str | None, token: str) -> PaymentMethod:
        self.calls.append(("save_payment_method", token))
        if self._stripe:
            self._customer(customer)
        refused = self._refusals.get(token)
        if refused is not None:
            raise PaymentMethodRejected(refused[0], f"{token} refused", refused[1])
        if self._stripe:
            return PaymentMethod(
                self.provider, PaymentMethodKind.CARD, token, "visa", "4242", 12, 2034
            )
        return PaymentMethod(
            self.provider, PaymentMethodKind.PAYPAL, token, paypal_email="payer@example.com"
        )

    def charge(self, request: ChargeRequest) -> ChargeOutcome:
        self.calls.append(("charge", request.key))
        if self._stripe:
            self._customer(request.customer)
        if self.before_charge is not None:
            self.before_charge(request)
        with self._lock:
            self._answer("charge")
            unanswered = self._take_unanswered()
            if unanswered is not None and not unanswered.after_charging:
                raise OutcomeUnknown(f"no answer to charge {request.key}")
            outcome = self._charge(request)
        if unanswered is not None:
            raise OutcomeUnknown(f"no answer to charge {request.key}, made meanwhile")
        return outcome

    def find_charge(self, request: ChargeRequest, since: datetime) -> ChargeOutcome | None:
        self.calls.append(("find_charge", request.key))
        if self._stripe:
            self._customer(request.customer)
        elif self._clock() - since > LOOKUP_WINDOW:
            raise OutcomeUnknown(f"charge {request.key} is older than PayPal's request-id memory")
        with self._lock:
            self._answer("find_charge")
            found = self._now.get(request.key)
        if found is not None and found.status is ChargeStatus.FAILED and not self._stripe:
            return None  # a refused capture leaves PayPal's order as created: nothing captured
        return found

    # --- the provider's side ---

    @property
    def _stripe(self) -> bool:
        return self.provider is PaymentProvider.STRIPE

    @staticmethod
    def _customer(customer: str | None) -> None:
        if not customer:
            raise ProviderError("a Stripe charge or card needs the account's Stripe customer")

    def _reference(self, prefix: str) -> str:
        with self._lock:
            self._references += 1
            return f"{prefix}_fake{self._references:06d}"

    def _answer(self, operation: str) -> None:
        """Spend up to TRIES of the failures queued for `operation`; unavailable if all fail."""
        failing = next((f for f in self._failing if f.operation == operation and f.left), None)
        if failing is None:
            return
        tries = min(TRIES, failing.left)
        failing.left -= tries
        if tries == TRIES:
            raise ProviderUnavailable(
                f"provider still failing after {TRIES} calls",
                str(failing.status),
                maybe_processed=failing.status >= 500,
            )

    def _take_unanswered(self) -> _Unanswered | None:
        unanswered = next((u for u in self._unanswered if u.left), None)
        if unanswered is not None:
            unanswered.left -= 1
        return unanswered

    def _charge(self, request: ChargeRequest) -> ChargeOutcome:
        """The first answer to `request.key`, made now if it is new."""
        made = self._made.get(request.key)
        if made is not None:
            if made.request != request:
                raise ProviderError(f"key {request.key} was used with other parameters")
            return made.outcome
        reference = self._reference("pi" if self._stripe else "CAPTURE")
        declined = self._declines.get(request.payment_method)
        if declined is not None:
            outcome = ChargeOutcome.declined(*declined, reference)
        elif request.payment_method in self._processing:
            outcome = ChargeOutcome(ChargeStatus.PENDING, reference)
        else:
            outcome = ChargeOutcome.succeeded(reference)
        charge = Charge(request, outcome)
        self._made[request.key] = charge
        self._now[request.key] = outcome
        self.charges.append(charge)
        return outcome
