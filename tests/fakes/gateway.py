"""`PaymentGateway` in memory, behaving as the Stripe or the PayPal adapter does seen through the
port: one charge per idempotency key (a repeat gets the first answer), charges found again by
key, declines as outcomes, cards saved only from a setup of their customer that succeeded, and
what a test scripts: the customer confirming a card setup (3-D Secure when the card asks for
it), methods that decline or stay processing, methods refused on saving, methods whose bank
asks the customer to authenticate each charge (3-D Secure), calls that get no answer (before or
after charging), and 429s or 5xx that the adapters' retries absorb or give up on (three tries a
call). After the charge it answers as the adapters do what the provider says of a payment
(refunds, at most one dispute) and of a saved method, and scripts what the provider's side
does: a refund made on its dashboard, a dispute opened and decided, a card replaced by the card
network's updater, a method removed."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from billing.domain.accounts import Account, PaymentMethod, PaymentMethodKind, PaymentProvider
from billing.domain.billing_calendar import instant
from billing.domain.charges import ChargeStatus, DisputeStatus
from billing.domain.failures import FailureReason
from billing.domain.money import Money
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
class _Payment:
    """A charge as the provider keeps it afterwards."""

    request: ChargeRequest
    refunds: list[ProviderRefund] = field(default_factory=list)
    dispute: ProviderDispute | None = None

    def left(self) -> int:
        return self.request.amount.amount - sum(r.amount.amount for r in self.refunds)


@dataclass
class _Setup:
    """A Stripe SetupIntent: whose, the card the customer confirmed it with, and Stripe's
    status for it."""

    customer: str
    card: str | None = None
    status: str = "requires_payment_method"


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
        self._authenticating: set[str] = set()
        self._refusals: dict[str, tuple[FailureReason, str]] = {}
        self._setups: dict[str, _Setup] = {}
        self._failing: list[_Failing] = []
        self._unanswered: list[_Unanswered] = []
        self._made: dict[str, Charge] = {}
        self._now: dict[str, ChargeOutcome] = {}
        """Each charge's outcome as a look-up finds it now (a processing one may have ended)."""
        self._references = 0
        self._payments: dict[str, _Payment] = {}
        """Each charge that reached the provider, by its reference."""
        self._refund_keys: dict[str, tuple[str, Money, ProviderRefund]] = {}
        self._accounts: dict[str, str] = {}
        """Our account behind each Stripe customer and each PayPal setup token."""
        self._methods: dict[str, tuple[str | None, PaymentMethod]] = {}
        """Each saved method (and its account) as the provider has it now."""
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

    def asks_authentication(self, payment_method: str) -> None:
        """The bank asks the customer to authenticate `payment_method` (3-D Secure) when it is
        set up (the setup waits in `requires_action` until `authenticate_setup`) and on every
        charge: waiting for them on session, a failure off session (Stripe only)."""
        self._authenticating.add(payment_method)

    def exempts(self, payment_method: str) -> None:
        """The bank stops asking for `payment_method` (an exemption it grants from now on)."""
        self._authenticating.discard(payment_method)

    def authenticate(self, reference: str, *, success: bool = True) -> ChargeOutcome:
        """The customer completes (or fails) the authentication of payment `reference` with
        their bank, as Stripe.js does on their page."""
        with self._lock:
            key = self._payment(reference).request.key
            if self._now[key].confirmation is None:
                raise ProviderError(f"payment {reference} awaits no authentication")
            self._now[key] = (
                ChargeOutcome.succeeded(reference)
                if success
                else self._needs_authentication(reference, ChargeStatus.FAILED)
            )
            return self._now[key]

    def refuses(self, token: str, reason: FailureReason, code: str | None = None) -> None:
        """Saving `token` is refused for `reason`."""
        self._refusals[token] = (reason, code or reason.value)

    def confirm_setup(self, reference: str, card: str) -> None:
        """The customer confirms Stripe setup `reference` with `card` in the card form."""
        with self._lock:
            setup = self._setups[reference]
            setup.card = card
            setup.status = "requires_action" if card in self._authenticating else "succeeded"

    def authenticate_setup(self, reference: str, *, success: bool = True) -> None:
        """The customer passes (or fails) the bank's 3-D Secure check of setup `reference`: it
        succeeds, or waits for another card."""
        with self._lock:
            setup = self._setups[reference]
            if setup.status != "requires_action":
                raise ProviderError(f"setup {reference} is {setup.status}")
            if not success:
                setup.card = None
            setup.status = "succeeded" if success else "requires_payment_method"

    def card_setup(self, customer: str | None, card: str, *, authenticate: bool = False) -> str:
        """A setup of `customer` the customer confirmed with `card` (and the bank's 3-D Secure
        check passed, when it asks and they `authenticate`): what saving `card` takes."""
        reference = self._setup(customer)
        self.confirm_setup(reference, card)
        if authenticate and self._setups[reference].status == "requires_action":
            self.authenticate_setup(reference)
        return reference

    def fails(self, status: int, *, times: int, operation: str = "charge") -> None:
        """The next `times` requests of `operation` (charge, find_charge, payment, refund,
        payment_method) answer `status`.
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

    def refund_at_provider(self, reference: str, amount: Money) -> ProviderRefund:
        """Someone refunds `amount` of payment `reference` on the provider's dashboard."""
        with self._lock:
            return self._refund(reference, amount, None)

    def open_dispute(self, reference: str, reason: str = "fraudulent") -> ProviderDispute:
        """The payer disputes payment `reference` (a chargeback, a PayPal dispute)."""
        with self._lock:
            payment = self._payment(reference)
            payment.dispute = ProviderDispute(
                reference=self._reference("dp" if self._stripe else "PP-D"),
                status=DisputeStatus.OPEN,
                reason=reason,
                amount=payment.request.amount,
                opened_at=instant(self._clock()),
            )
            return payment.dispute

    def close_dispute(self, reference: str, *, won: bool) -> ProviderDispute:
        """The dispute on payment `reference` is decided for us (`won`) or for the payer."""
        with self._lock:
            payment = self._payment(reference)
            if payment.dispute is None:
                raise ProviderError(f"payment {reference} is not disputed")
            status = DisputeStatus.WON if won else DisputeStatus.LOST
            payment.dispute = replace(payment.dispute, status=status)
            return payment.dispute

    def update_card(self, token: str, last4: str, exp_month: int, exp_year: int) -> None:
        """The card network's updater replaces the saved card `token` (Stripe's cards only)."""
        with self._lock:
            account, method = self._methods[token]
            card = replace(method, last4=last4, exp_month=exp_month, exp_year=exp_year)
            self._methods[token] = (account, card)

    def remove_method(self, token: str) -> None:
        """The saved method is gone at the provider (detached, revoked by the payer)."""
        with self._lock:
            del self._methods[token]

    # --- what was charged ---

    def taken(self, key: str) -> bool:
        """Whether money was taken with `key`, as the provider has the charge now."""
        with self._lock:
            found = self._now.get(key)
        return found is not None and found.status is ChargeStatus.SUCCEEDED

    def charged(self, subscription_id: str | None = None) -> list[str]:
        """The keys of the charges made, oldest first; only one subscription's when given."""
        prefix = "" if subscription_id is None else f"{subscription_id}."
        return [c.request.key for c in self.charges if c.request.key.startswith(prefix)]

    # --- the port ---

    def create_customer(self, account: Account) -> str:
        self.calls.append(("create_customer", account.id))
        if self.provider is PaymentProvider.PAYPAL:
            return account.id
        customer = f"cus_{hashlib.sha256(account.id.encode()).hexdigest()[:14]}"
        self._accounts[customer] = account.id
        return customer

    def start_update(self, account: Account, customer: str | None) -> UpdateStart:
        self.calls.append(("start_update", account.id))
        if self._stripe:
            reference = self._setup(customer)
            return UpdateStart(self.provider, reference, client_secret=f"{reference}_secret")
        reference = self._reference("SETUP")
        self._accounts[reference] = account.id
        return UpdateStart(
            self.provider, reference, approval_url=f"https://paypal.invalid/approve/{reference}"
        )

    def save_payment_method(self, customer: str | None, token: str) -> PaymentMethod:
        self.calls.append(("save_payment_method", token))
        saved = self._set_up_card(customer, token) if self._stripe else token
        refused = self._refusals.get(saved)
        if refused is not None:
            raise PaymentMethodRejected(refused[0], f"{saved} refused", refused[1])
        if self._stripe:
            method = PaymentMethod(
                self.provider, PaymentMethodKind.CARD, saved, "visa", "4242", 12, 2034
            )
        else:
            method = PaymentMethod(
                self.provider, PaymentMethodKind.PAYPAL, saved, paypal_email="payer@example.com"
            )
        with self._lock:
            self._methods[saved] = (self._accounts.get(customer or token), method)
        return method

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

    def abandon(self, reference: str) -> ChargeOutcome:
        self.calls.append(("abandon", reference))
        with self._lock:
            self._answer("abandon")
            key = self._payment(reference).request.key
            if self._now[key].confirmation is not None:
                self._now[key] = ChargeOutcome.declined(
                    FailureReason.AUTHENTICATION_REQUIRED, "abandoned", reference
                )
            return self._now[key]

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

    def payment(self, reference: str) -> ProviderPayment:
        self.calls.append(("payment", reference))
        with self._lock:
            self._answer("payment")
            payment = self._payment(reference)
            request = payment.request
            return ProviderPayment(
                reference=reference,
                charge_key=request.key,
                outcome=self._now[request.key],
                amount=request.amount,
                refunds=tuple(payment.refunds),
                dispute=payment.dispute,
            )

    def refund(self, reference: str, amount: Money, key: str) -> ProviderRefund:
        self.calls.append(("refund", key))
        with self._lock:
            self._answer("refund")
            first = self._refund_keys.get(key)
            if first is not None:
                if first[:2] != (reference, amount):
                    raise ProviderError(f"key {key} was used with other parameters")
                return first[2]
            refund = self._refund(reference, amount, key)
            self._refund_keys[key] = (reference, amount, refund)
            return refund

    def payment_method(self, token: str) -> ProviderPaymentMethod:
        self.calls.append(("payment_method", token))
        with self._lock:
            self._answer("payment_method")
            account, method = self._methods.get(token, (None, None))
            return ProviderPaymentMethod(account_id=account, method=method)

    # --- the provider's side ---

    def _payment(self, reference: str) -> _Payment:
        payment = self._payments.get(reference)
        if payment is None:
            raise ProviderError(f"no payment {reference} at the provider")
        return payment

    def _refund(self, reference: str, amount: Money, key: str | None) -> ProviderRefund:
        """A refund as both providers refuse them: of a payment that took no money, of more
        than is left, in another currency, or of a payment the payer took back by a dispute (or,
        at Stripe, is disputing)."""
        payment = self._payment(reference)
        taken = self._now[payment.request.key].status is ChargeStatus.SUCCEEDED
        dispute = payment.dispute.status if payment.dispute else None
        if (
            not taken
            or amount.currency is not payment.request.amount.currency
            or not 0 < amount.amount <= payment.left()
            or dispute is DisputeStatus.LOST
            or (self._stripe and dispute is DisputeStatus.OPEN)
        ):
            raise RefundRefused(f"refund of {amount.display()} on {reference} refused")
        refund = ProviderRefund(
            reference=self._reference("re" if self._stripe else "REFUND"),
            amount=amount,
            at=instant(self._clock()),
            key=key,
        )
        payment.refunds.append(refund)
        return refund

    def _needs_authentication(self, reference: str, status: ChargeStatus) -> ChargeOutcome:
        """A payment the customer may still confirm: waiting for them (pending), or failed
        (they were not there, or their bank refused the authentication)."""
        confirmation = Confirmation(
            f"{reference}_secret_fake",
            "pk_test_fake",
            "requires_action" if status is ChargeStatus.PENDING else "requires_payment_method",
        )
        return ChargeOutcome(
            status,
            reference,
            FailureReason.AUTHENTICATION_REQUIRED,
            "authentication_required",
            confirmation,
        )

    @property
    def _stripe(self) -> bool:
        return self.provider is PaymentProvider.STRIPE

    @staticmethod
    def _customer(customer: str | None) -> str:
        if not customer:
            raise ProviderError("a Stripe charge or card needs the account's Stripe customer")
        return customer

    def _setup(self, customer: str | None) -> str:
        """A new SetupIntent of `customer`, waiting for the customer's card."""
        setup = _Setup(self._customer(customer))
        reference = self._reference("seti")
        with self._lock:
            self._setups[reference] = setup
        return reference

    def _set_up_card(self, customer: str | None, reference: str) -> str:
        """The card of setup `reference`, once it is `customer`'s and has succeeded."""
        with self._lock:
            setup = self._setups.get(reference)
        if setup is None or setup.customer != customer:
            raise SetupNotFound(f"no setup {reference} of {customer}")
        if setup.status != "succeeded" or setup.card is None:
            raise SetupIncomplete(f"setup {reference} is {setup.status}", setup.status)
        return setup.card

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
        elif self._stripe and request.payment_method in self._authenticating:
            waiting = ChargeStatus.PENDING if request.on_session else ChargeStatus.FAILED
            outcome = self._needs_authentication(reference, waiting)
        else:
            outcome = ChargeOutcome.succeeded(reference)
        charge = Charge(request, outcome)
        self._payments[reference] = _Payment(request)
        self._made[request.key] = charge
        self._now[request.key] = outcome
        self.charges.append(charge)
        return outcome
