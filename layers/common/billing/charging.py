"""The charge operation: the only way money is taken.

1. Read the subscription and its account together (`billing.changes`, which every change of a
   subscription goes through); the state machine turns the request into a `Charge` effect
   numbered (cycle, attempt) — two concurrent requests number it the same.
2. Claim that attempt's deterministic key in DynamoDB (a conditional write, with the request
   in the account's audit trail): the loser gets `retry_in_progress`, so one attempt per
   subscription is in flight, whoever started it. A purchase claims the account's one open slot
   in the same write, so of two concurrent purchases one is refused before anything is charged.
3. Call the provider with the key as its idempotency key.
4. Apply the outcome through the state machine and write state, attempt and audit in one
   transaction, the attempt only if it is still pending (one outcome per attempt). An unknown
   outcome leaves the claim `pending`; once it is older than any call can last, the next request
   for the same attempt, or the renewal run's sweep (`reconcile`), looks the charge up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from billing.changes import COMMIT_TRIES, ChangeResult, EventFor, SubscriptionChanges, notices
from billing.domain.accounts import Account, PaymentProvider, PendingPurchase
from billing.domain.billing_calendar import instant
from billing.domain.charges import IN_FLIGHT, UNAPPLIED, ChargeAttempt, ChargeStatus
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import DomainError, ErrorCode, TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.domain.outbox import outgoing
from billing.domain.pricing import cycle_price
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    Audit,
    Charge,
    ChargeFailed,
    ChargeSucceeded,
    Decision,
    Effect,
    Event,
    Requester,
    account_audit,
    apply,
    card_valid_through,
    due_event,
    open_subscription,
)
from billing.domain.subscription import Channel, ChargeKind, Subscription
from billing.operations.refunds import Refunds
from billing.operations.vat_ids import VatIdChecks
from billing.payments import PaymentChanges
from billing.persistence.repository import (
    AttemptAlreadyClaimed,
    AttemptAlreadySettled,
    BillingRepository,
    ConcurrentModification,
    NotFound,
    SubscriptionChange,
    SubscriptionExists,
)
from billing.providers.gateway import (
    ChargeOutcome,
    ChargeRequest,
    Confirmation,
    OutcomeUnknown,
    PaymentGateway,
    ProviderError,
    ProviderUnavailable,
)


class RetryInProgress(DomainError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.RETRY_IN_PROGRESS)


class ChargeOperation:
    def __init__(
        self,
        repository: BillingRepository,
        gateways: Mapping[PaymentProvider, PaymentGateway],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        schedule: DunningSchedule = DEFAULT_SCHEDULE,
        in_flight: timedelta = IN_FLIGHT,
        vat_ids: VatIdChecks | None = None,
    ) -> None:
        """`vat_ids`, when given, checks again a VAT ID VIES could not answer for before each
        charge computes its tax."""
        self._repository = repository
        self._vat_ids = vat_ids
        self._gateways = gateways
        self._clock = clock
        self._schedule = schedule
        self._in_flight = in_flight
        self._changes = SubscriptionChanges(repository, clock=clock, schedule=schedule)
        payments = PaymentChanges(repository, clock=clock, schedule=schedule)
        self._refunds = Refunds(repository, gateways, payments, clock=clock)

    def change(self, subscription_id: str, account_id: str, event_for: EventFor) -> ChangeResult:
        """Apply the event `event_for` builds, and carry out the charge it calls for, if any.

        Raises TransitionRejected (the state machine's refusals), RetryInProgress, NotFound.
        """
        return self._changes.change(subscription_id, account_id, event_for, self._carry_out)

    def _carry_out(
        self,
        sub: Subscription,
        account: Account,
        charge: Charge,
        decision: Decision,
        *,
        by: Requester,
        now: datetime,
    ) -> ChangeResult:
        attempt = _attempt(
            self._refreshed(account),
            subscription_id=sub.id,
            kind=charge.kind,
            amount=charge.amount,
            cycle=charge.cycle,
            number=charge.attempt,
            now=now,
            by=by,
        )
        effects = notices(decision)
        attempt, outcome = self._take(sub, account, attempt, now)
        final = _known(outcome)
        if final is None:
            return ChangeResult(sub, account, attempt, effects, confirmation=_waiting(outcome))
        return self._settle(sub, account, attempt, final, effects)

    def renew(self, subscription_id: str, account_id: str) -> ChangeResult:
        """Whatever the renewal schedule has due now: a renewal, a retry, a reminder."""
        return self.change(subscription_id, account_id, _due)

    def reconcile(
        self, subscription_id: str, account_id: str, cycle: int, number: int
    ) -> ChangeResult:
        """Settle an attempt its caller left pending (a crash, a timeout) by looking the charge
        up, never by charging again. Nothing is done while the attempt may still be in flight,
        once it is settled, or while the provider cannot say (it stays pending). A purchase's
        attempt opens its subscription if it was charged, and frees the account's slot if not.
        """
        now = instant(self._clock())
        attempt = self._repository.get_attempt(subscription_id, cycle, number)
        if attempt.kind is ChargeKind.PURCHASE:
            return self._reconcile_purchase(account_id, attempt, now)
        sub, account = self._repository.load(subscription_id, account_id)
        if not self._abandoned(attempt, now):
            return ChangeResult(sub, account, None)
        outcome = _known(self._look_up(sub, account, attempt))
        if outcome is None:
            return ChangeResult(sub, account, attempt)
        return self._settle(sub, account, attempt, outcome)

    def settle(self, attempt: ChargeAttempt, outcome: ChargeOutcome) -> ChangeResult | None:
        """Settle pending `attempt` with the final `outcome` the provider reports for it now
        (its webhook, the payment read again): what the sweep would reach, sooner. A purchase's
        attempt opens its subscription or frees the account's slot. None when there is nothing
        left to settle: its own request or the sweep settled it meanwhile (settle-once)."""
        if attempt.kind is ChargeKind.PURCHASE:
            held = self._held_purchase(attempt.account_id, attempt)
            if held is None:
                return None
            account, opened = held
            return self._open(account, opened, attempt, outcome)
        sub, account = self._repository.load(attempt.subscription_id, attempt.account_id)
        return self._settle(sub, account, attempt, outcome)

    def provider_outcome(self, attempt: ChargeAttempt) -> ChargeOutcome | None:
        """What the provider says of `attempt` now, read without charging or stopping anything:
        by its reference once known, else looked up by its key (a pending one, e.g. waiting
        for the customer to authenticate it). None: it never reached the provider."""
        if attempt.provider is None:
            return None
        gateway = self._gateways[attempt.provider]
        if attempt.provider_reference is not None:
            return gateway.payment(attempt.provider_reference).outcome
        if attempt.status is not ChargeStatus.PENDING or attempt.payment_method_id is None:
            return None
        if attempt.kind is ChargeKind.PURCHASE:
            held = self._held_purchase(attempt.account_id, attempt)
            if held is None:
                return None  # settled meanwhile: read it again
            account, sub = held[0], held[1].subscription
        else:
            sub, account = self._repository.load(attempt.subscription_id, attempt.account_id)
        return gateway.find_charge(_request(sub, account, attempt), attempt.created_at)

    def purchase(self, account_id: str, purchase: PendingPurchase, by: Requester) -> ChangeResult:
        """Buy: charge the first cycle of `purchase`, and open its subscription only if the
        charge succeeded (state, attempt and audit in one transaction). The account's one open
        slot is claimed with the attempt, before the provider is called, so a concurrent
        purchase is refused having charged nothing; a decline records the failed attempt and
        frees the slot. A repeated purchase (same subscription id) finds its first attempt
        instead of charging again.

        Raises SubscriptionExists, NotFound, RetryInProgress and, without a saved payment
        method, DomainError(payment_method_required).
        """
        now = instant(self._clock())
        account = self._repository.get_account(account_id)
        held = account.pending_purchase
        if account.open_subscription_id not in (None, purchase.subscription_id) or (
            held is not None and held.subscription_id != purchase.subscription_id
        ):
            raise SubscriptionExists  # the claim below would refuse it too; this spares a write
        if account.payment_method is None:
            raise DomainError(ErrorCode.PAYMENT_METHOD_REQUIRED)
        first = _attempt(
            self._refreshed(account),
            subscription_id=purchase.subscription_id,
            kind=ChargeKind.PURCHASE,
            amount=cycle_price(purchase.price, purchase.discount, 0),
            cycle=0,
            number=1,
            now=now,
            by=by,
        )
        opened = _opened(account, purchase, first)
        sub = opened.subscription
        try:
            attempt, outcome = self._take(sub, account, first, now, purchase)
        except RetryInProgress:
            settled = self._settled_purchase(account, sub)
            if settled is None:
                raise
            return settled
        final = _known(outcome)
        if final is None:
            return ChangeResult(sub, account, attempt, confirmation=_waiting(outcome))
        return self._open(account, opened, attempt, final)

    def _reconcile_purchase(
        self, account_id: str, attempt: ChargeAttempt, now: datetime
    ) -> ChangeResult:
        held = self._held_purchase(account_id, attempt)
        if held is None:
            # Settled by its own request meanwhile, or claimed before purchases held the slot
            # (nothing here says what was bought): counted and alarmed, left to a person.
            raise NotFound("Pending purchase")
        account, opened = held
        if not self._abandoned(attempt, now):
            return ChangeResult(opened.subscription, account, None)
        outcome = _known(self._look_up(opened.subscription, account, attempt))
        if outcome is None:
            return ChangeResult(opened.subscription, account, attempt)
        return self._open(account, opened, attempt, outcome)

    def _held_purchase(
        self, account_id: str, attempt: ChargeAttempt
    ) -> tuple[Account, Decision] | None:
        """The account and what its purchase `attempt` opens once paid, while the account still
        holds that purchase's slot; None once it is settled (by its own request, the sweep or
        the provider's webhook)."""
        account = self._repository.get_account(account_id)
        purchase = account.pending_purchase
        if purchase is None or purchase.subscription_id != attempt.subscription_id:
            return None
        return account, _opened(account, purchase, attempt)

    def _open(
        self, account: Account, opened: Decision, attempt: ChargeAttempt, outcome: ChargeOutcome
    ) -> ChangeResult:
        """Write a purchase's outcome: the subscription opened in the slot, or the slot freed.
        A payment the customer could still confirm with their bank is stopped before its slot
        is freed: a purchase is never paid once it opened nothing."""
        sub = opened.subscription
        if outcome.confirmation is not None and outcome.reference is not None:
            assert attempt.provider is not None
            try:
                outcome = self._gateways[attempt.provider].abandon(outcome.reference)
            except ProviderError:
                return ChangeResult(sub, account, attempt)  # still pending: the sweep comes back
        settled = _settled(attempt, outcome)
        effects = notices(opened)
        now = instant(self._clock())
        try:
            if outcome.status is ChargeStatus.FAILED:
                self._repository.release_purchase(settled)
                return ChangeResult(sub, account, settled)
            stored = self._repository.commit(
                SubscriptionChange(
                    None,
                    sub,
                    attempts=(settled,),
                    audit=opened.of_type(Audit),
                    messages=outgoing(effects, now),
                    at=now,
                )
            )
        except AttemptAlreadySettled:
            # The sweep and the customer's repeat looked the same charge up; the first to
            # write stands, and sent the receipt.
            found = self._settled_purchase(account, sub)
            assert found is not None, "a settled attempt is no longer pending"
            return found
        [settled] = stored.attempts
        return ChangeResult(stored.subscription, account, settled, effects, changed=True)

    def _settled_purchase(self, account: Account, sub: Subscription) -> ChangeResult | None:
        """What became of a purchase whose first attempt is already settled; None while it is
        still pending."""
        attempt = self._repository.get_attempt(sub.id, 0, 1)
        if attempt.status is ChargeStatus.PENDING:
            return None
        if attempt.status is ChargeStatus.SUCCEEDED:
            sub = self._repository.get_subscription(sub.id)
        return ChangeResult(sub, account, attempt)

    # --- steps ---

    def _refreshed(self, account: Account) -> Account:
        """The account whose tax a charge computes: its VAT ID checked again first if VIES
        could not answer last time and it is time to ask again (never refused for VIES)."""
        return account if self._vat_ids is None else self._vat_ids.refresh(account)

    def _take(
        self,
        sub: Subscription,
        account: Account,
        attempt: ChargeAttempt,
        now: datetime,
        purchase: PendingPurchase | None = None,
    ) -> tuple[ChargeAttempt, ChargeOutcome | None]:
        """Claim `attempt` (and, for a `purchase`, the account's open slot) and charge it; or,
        when its key is taken by an abandoned pending attempt, look that one up. The outcome is
        None or pending while it is not known (no answer, the provider still processing, the
        customer asked to authenticate it): the attempt then stays pending."""
        try:
            self._repository.claim(attempt, _charge_requested(attempt), purchase)
        except AttemptAlreadyClaimed as claimed:
            existing = claimed.existing
            if not self._abandoned(existing, now):
                raise RetryInProgress from None
            attempt, outcome = existing, self._look_up(sub, account, existing)
        else:
            outcome = self._charge(sub, account, attempt)
        return attempt, outcome

    def _abandoned(self, attempt: ChargeAttempt, now: datetime) -> bool:
        """Pending for longer than any caller can still be waiting on it."""
        return (
            attempt.status is ChargeStatus.PENDING and now - attempt.created_at >= self._in_flight
        )

    def _charge(
        self, sub: Subscription, account: Account, attempt: ChargeAttempt
    ) -> ChargeOutcome | None:
        if attempt.provider is None or attempt.payment_method_id is None:
            return ChargeOutcome.declined(FailureReason.PAYMENT_METHOD_INVALID, "no_payment_method")
        gateway = self._gateways[attempt.provider]
        request = _request(sub, account, attempt)
        try:
            return gateway.charge(request)
        except OutcomeUnknown:
            return None
        except ProviderUnavailable as unavailable:
            return self._after_unavailable(gateway, request, attempt, unavailable)

    @staticmethod
    def _after_unavailable(
        gateway: PaymentGateway,
        request: ChargeRequest,
        attempt: ChargeAttempt,
        unavailable: ProviderUnavailable,
    ) -> ChargeOutcome | None:
        """A provider that kept failing: `provider_error`, unless a 5xx may hide a charge that
        was made, which is looked up first. None: still unknown, the claim stays pending."""
        failed = ChargeOutcome.declined(FailureReason.PROVIDER_ERROR, unavailable.code)
        if not unavailable.maybe_processed:
            return failed
        try:
            return gateway.find_charge(request, attempt.created_at) or failed
        except ProviderError:
            return None

    def _look_up(
        self, sub: Subscription, account: Account, pending: ChargeAttempt
    ) -> ChargeOutcome | None:
        """What the provider did with an abandoned pending attempt, without charging. Not found
        means the request never reached it: nothing was taken, nobody is to blame. A payment
        still waiting for the customer to authenticate it is stopped first, so that it can no
        longer be taken once its attempt is settled."""
        if pending.provider is None or pending.payment_method_id is None:
            return None
        gateway = self._gateways[pending.provider]
        try:
            found = gateway.find_charge(_request(sub, account, pending), pending.created_at)
            if found is not None and found.awaits_customer and found.reference is not None:
                found = gateway.abandon(found.reference)
        except ProviderError:
            return None
        return found or ChargeOutcome.declined(
            FailureReason.PROVIDER_ERROR, "not_found_at_provider"
        )

    def _settle(
        self,
        sub: Subscription,
        account: Account,
        attempt: ChargeAttempt,
        outcome: ChargeOutcome,
        effects: tuple[Effect, ...] = (),
    ) -> ChangeResult:
        """Write the outcome: state, attempt and audit in one transaction, re-applied to fresh
        state if another change won the race meanwhile. Money taken is always recorded."""
        now = instant(self._clock())
        settled = _settled(attempt, outcome)
        event: Event
        if outcome.status is ChargeStatus.SUCCEEDED:
            event = ChargeSucceeded(
                at=now,
                by=attempt.requested_by,
                kind=attempt.kind,
                amount=attempt.amount,
                card_valid_through=card_valid_through(account.payment_method),
                cycle=attempt.cycle,
                tax=attempt.tax,
            )
        else:
            assert outcome.failure_reason is not None
            event = ChargeFailed(
                at=now,
                by=attempt.requested_by,
                kind=attempt.kind,
                reason=outcome.failure_reason,
                payment_method_id=attempt.payment_method_id,
                payment_id=attempt.id,
            )
        try:
            for _ in range(COMMIT_TRIES - 1):
                try:
                    return self._commit_outcome(sub, account, settled, event, effects, now=now)
                except ConcurrentModification:
                    sub = self._repository.get_subscription(sub.id)
            return self._commit_outcome(sub, account, settled, event, effects, now=now)
        except AttemptAlreadySettled:
            # Another caller looked the same charge up and wrote it first; its state stands
            # and it sent the notices.
            return ChangeResult(self._repository.get_subscription(sub.id), account, settled)

    def _commit_outcome(
        self,
        sub: Subscription,
        account: Account,
        attempt: ChargeAttempt,
        event: Event,
        effects: tuple[Effect, ...],
        *,
        now: datetime,
    ) -> ChangeResult:
        try:
            decision = apply(sub, event, self._schedule)
        except TransitionRejected:
            # Cancelled while the charge ran, or its cycle paid meanwhile by another payment:
            # the state stays and the attempt is recorded; money it took for nothing is claimed
            # back in the same write, and given back once it is written.
            decision = Decision(sub)
            if attempt.status is ChargeStatus.SUCCEEDED:
                back = attempt.next_refund(attempt.amount, UNAPPLIED, now)
                attempt = replace(attempt, refunds=(back,))
        audit = decision.of_type(Audit)
        effects += notices(decision)
        stored = self._repository.commit(
            SubscriptionChange(
                before=sub,
                after=decision.subscription,
                attempts=(attempt,),
                audit=audit,
                messages=outgoing(effects, now),
                at=now,
            )
        )
        [attempt] = stored.attempts
        if attempt.refunds:
            self._refunds.resume(attempt)
        return ChangeResult(stored.subscription, account, attempt, effects, changed=bool(audit))


def _attempt(
    account: Account,
    *,
    subscription_id: str,
    kind: ChargeKind,
    amount: Money,
    cycle: int,
    number: int,
    now: datetime,
    by: Requester,
) -> ChargeAttempt:
    """A pending attempt against the account's current payment method, in `by`'s name, for the
    net `amount` with the VAT the account pays on it now."""
    method = account.payment_method
    tax = account.tax_on(amount, now)
    return ChargeAttempt(
        subscription_id=subscription_id,
        account_id=account.id,
        cycle=cycle,
        attempt=number,
        kind=kind,
        amount=tax.gross,
        tax=tax,
        buyer=account.party(),
        status=ChargeStatus.PENDING,
        created_at=now,
        provider=None if method is None else method.provider,
        payment_method_id=None if method is None else method.token,
        requested_by=by,
    )


def _charge_requested(attempt: ChargeAttempt) -> Audit:
    """The account's audit entry for a charge being started: who asked, what for, how much."""
    return account_audit(
        attempt.requested_by,
        "charge_requested",
        attempt.created_at,
        {
            "subscription_id": attempt.subscription_id,
            "attempt_id": attempt.id,
            "kind": attempt.kind.value,
            "amount": str(attempt.amount.amount),
            "currency": attempt.amount.currency.value,
        },
    )


def _opened(account: Account, purchase: PendingPurchase, first: ChargeAttempt) -> Decision:
    """The subscription `purchase` opens once its `first` charge is paid, and what opening it
    says and writes, in the name of who asked for it."""
    return open_subscription(
        subscription_id=purchase.subscription_id,
        account_id=account.id,
        plan_id=purchase.plan_id,
        cycle_months=purchase.cycle_months,
        price=purchase.price,
        discount=purchase.discount,
        channel=Channel.DIRECT,
        by=first.requested_by,
        at=purchase.at,
        card_valid_through=card_valid_through(account.payment_method),
        tax=first.tax,
    )


def _known(outcome: ChargeOutcome | None) -> ChargeOutcome | None:
    """The outcome if it is final; None while the provider is still processing it or waits
    for the customer to authenticate it."""
    if outcome is None or outcome.status is ChargeStatus.PENDING:
        return None
    return outcome


def _waiting(outcome: ChargeOutcome | None) -> Confirmation | None:
    """How the customer confirms a charge their bank asked them to authenticate, if it did."""
    return outcome.confirmation if outcome is not None and outcome.awaits_customer else None


def _settled(attempt: ChargeAttempt, outcome: ChargeOutcome) -> ChargeAttempt:
    return replace(
        attempt,
        status=outcome.status,
        provider_reference=outcome.reference,
        failure_reason=outcome.failure_reason,
    )


def _due(sub: Subscription, account: Account, now: datetime) -> Event | None:
    method = account.payment_method
    return due_event(
        sub,
        now,
        None if method is None else method.token,
        card_valid_through=card_valid_through(method),
        payment_method_updated_at=None if method is None else method.updated_at,
        vat_rate=account.tax_on(sub.next_cycle_price, now).rate,
    )


def _request(sub: Subscription, account: Account, attempt: ChargeAttempt) -> ChargeRequest:
    """The provider request for `attempt`: built the same way when charging and when looking
    the charge up, since PayPal compares a repeated request with the first."""
    assert attempt.payment_method_id is not None
    return ChargeRequest(
        key=attempt.id,
        amount=attempt.amount,
        payment_method=attempt.payment_method_id,
        customer=account.stripe_customer_id,
        description=f"{sub.plan_id}, {sub.cycle_months} month(s), period {attempt.cycle}",
        on_session=attempt.kind.customer_present,
        metadata={
            "subscription_id": sub.id,
            "account_id": account.id,
            "kind": attempt.kind.value,
        },
    )
