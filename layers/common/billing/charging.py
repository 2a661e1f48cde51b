"""The charge operation: the only way money is taken.

1. Read the subscription and its account together; the state machine turns the request into
   a `Charge` effect numbered (cycle, attempt) — two concurrent requests number it the same.
2. Claim that attempt's deterministic key in DynamoDB (a conditional write): the loser gets
   `retry_in_progress`, so one attempt per subscription is in flight, whoever started it.
3. Call the provider with the key as its idempotency key.
4. Apply the outcome through the state machine and write state, attempt and audit in one
   transaction. An unknown outcome leaves the claim `pending`; once it is older than any call
   can last, the next request for the same attempt reconciles it by looking the charge up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from billing.domain.accounts import Account, PaymentProvider
from billing.domain.billing_calendar import instant
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import DomainError, ErrorCode, TransitionRejected
from billing.domain.failures import FailureReason
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    Audit,
    Charge,
    ChargeFailed,
    ChargeSucceeded,
    Decision,
    Effect,
    Event,
    apply,
    due_event,
)
from billing.domain.subscription import Subscription
from billing.persistence.repository import (
    AttemptAlreadyClaimed,
    BillingRepository,
    ConcurrentModification,
    SubscriptionChange,
)
from billing.providers.gateway import (
    ChargeOutcome,
    ChargeRequest,
    OutcomeUnknown,
    PaymentGateway,
    ProviderError,
    ProviderUnavailable,
)

IN_FLIGHT = timedelta(minutes=5)
"""Longer than any provider call can last (the functions' timeout is shorter): a pending claim
older than this has no caller left waiting on it and may be reconciled."""

COMMIT_TRIES = 3
"""A commit that lost a race to another change (e.g. a cancel) is re-applied to fresh state."""


class RetryInProgress(DomainError):
    def __init__(self) -> None:
        super().__init__(ErrorCode.RETRY_IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The subscription as it stands, the attempt made (None if nothing was charged) and the
    emails and notices to send; audit entries are already written."""

    subscription: Subscription
    attempt: ChargeAttempt | None
    effects: tuple[Effect, ...] = ()


EventFor = Callable[[Subscription, Account, datetime], Event | None]
"""Builds the event to apply at `now`, or None when nothing is to be done."""


class ChargeOperation:
    def __init__(
        self,
        repository: BillingRepository,
        gateways: Mapping[PaymentProvider, PaymentGateway],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        schedule: DunningSchedule = DEFAULT_SCHEDULE,
        in_flight: timedelta = IN_FLIGHT,
    ) -> None:
        self._repository = repository
        self._gateways = gateways
        self._clock = clock
        self._schedule = schedule
        self._in_flight = in_flight

    def run(self, subscription_id: str, account_id: str, event_for: EventFor) -> ChargeResult:
        """Apply the event `event_for` builds and carry out the charge it calls for, if any.

        Raises TransitionRejected (the state machine's refusals), RetryInProgress, NotFound.
        """
        now = instant(self._clock())
        sub, account = self._repository.load(subscription_id, account_id)
        event = event_for(sub, account, now)
        if event is None:
            return ChargeResult(sub, None)
        decision = apply(sub, event, self._schedule)
        charges = decision.of_type(Charge)
        if not charges:
            return self._commit_decision(sub, decision)
        attempt = self._attempt(sub, account, charges[0], now)
        try:
            self._repository.claim(attempt)
        except AttemptAlreadyClaimed as claimed:
            return self._resume(sub, account, claimed.existing, now)
        effects = tuple(e for e in decision.effects if not isinstance(e, Charge | Audit))
        return self._charge(sub, account, attempt, effects)

    def renew(self, subscription_id: str, account_id: str) -> ChargeResult:
        """Whatever the renewal schedule has due now: a renewal, a retry, a reminder."""
        return self.run(subscription_id, account_id, _due)

    # --- steps ---

    def _attempt(
        self, sub: Subscription, account: Account, charge: Charge, now: datetime
    ) -> ChargeAttempt:
        method = account.payment_method
        return ChargeAttempt(
            subscription_id=sub.id,
            account_id=account.id,
            cycle=charge.cycle,
            attempt=charge.attempt,
            kind=charge.kind,
            amount=charge.amount,
            status=ChargeStatus.PENDING,
            created_at=now,
            provider=None if method is None else method.provider,
            payment_method_id=None if method is None else method.token,
        )

    def _charge(
        self,
        sub: Subscription,
        account: Account,
        attempt: ChargeAttempt,
        effects: tuple[Effect, ...] = (),
    ) -> ChargeResult:
        if attempt.provider is None or attempt.payment_method_id is None:
            missing = ChargeOutcome.declined(
                FailureReason.PAYMENT_METHOD_INVALID, "no_payment_method"
            )
            return self._settle(sub, attempt, missing, effects)
        gateway = self._gateways[attempt.provider]
        request = _request(sub, account, attempt)
        outcome: ChargeOutcome | None
        try:
            outcome = gateway.charge(request)
        except OutcomeUnknown:
            outcome = None
        except ProviderUnavailable as unavailable:
            outcome = self._after_unavailable(gateway, request, attempt, unavailable)
        if outcome is None:
            return ChargeResult(sub, attempt, effects)
        return self._settle(sub, attempt, outcome, effects)

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

    def _resume(
        self, sub: Subscription, account: Account, existing: ChargeAttempt, now: datetime
    ) -> ChargeResult:
        """The attempt's key was already claimed: wait for it, or reconcile it once abandoned."""
        if (
            existing.status is not ChargeStatus.PENDING
            or now - existing.created_at < self._in_flight
        ):
            raise RetryInProgress
        return self.reconcile(sub, account, existing)

    def reconcile(
        self, sub: Subscription, account: Account, pending: ChargeAttempt
    ) -> ChargeResult:
        """Settle an abandoned pending attempt from what the provider did, without charging."""
        if pending.provider is None:
            raise ProviderError(f"pending attempt {pending.id} names no provider")
        gateway = self._gateways[pending.provider]
        try:
            outcome = gateway.find_charge(_request(sub, account, pending), pending.created_at)
        except ProviderError:
            return ChargeResult(sub, pending)
        if outcome is None:
            # The request never reached the provider: nothing was taken, nobody is to blame.
            outcome = ChargeOutcome.declined(FailureReason.PROVIDER_ERROR, "not_found_at_provider")
        return self._settle(sub, pending, outcome)

    def _settle(
        self,
        sub: Subscription,
        attempt: ChargeAttempt,
        outcome: ChargeOutcome,
        effects: tuple[Effect, ...] = (),
    ) -> ChargeResult:
        """Write the outcome: state, attempt and audit in one transaction, re-applied to fresh
        state if another change won the race meanwhile. Money taken is always recorded."""
        if outcome.status is ChargeStatus.PENDING:
            return ChargeResult(sub, attempt, effects)
        now = instant(self._clock())
        settled = replace(
            attempt,
            status=outcome.status,
            provider_reference=outcome.reference,
            failure_reason=outcome.failure_reason,
        )
        event: Event
        if outcome.status is ChargeStatus.SUCCEEDED:
            event = ChargeSucceeded(at=now, kind=attempt.kind, amount=attempt.amount)
        else:
            assert outcome.failure_reason is not None
            event = ChargeFailed(
                at=now,
                kind=attempt.kind,
                reason=outcome.failure_reason,
                payment_method_id=attempt.payment_method_id,
            )
        for _ in range(COMMIT_TRIES - 1):
            try:
                return self._commit_outcome(sub, settled, event, effects)
            except ConcurrentModification:
                sub = self._repository.get_subscription(sub.id)
        return self._commit_outcome(sub, settled, event, effects)

    def _commit_outcome(
        self,
        sub: Subscription,
        attempt: ChargeAttempt,
        event: Event,
        effects: tuple[Effect, ...],
    ) -> ChargeResult:
        try:
            decision = apply(sub, event, self._schedule)
        except TransitionRejected:
            # e.g. cancelled while the charge ran: the state stays, the attempt is recorded.
            decision = Decision(sub)
        stored = self._repository.commit(
            SubscriptionChange(
                before=sub,
                after=decision.subscription,
                attempts=(attempt,),
                audit=decision.of_type(Audit),
            )
        )
        notices = tuple(e for e in decision.effects if not isinstance(e, Charge | Audit))
        return ChargeResult(stored, attempt, effects + notices)

    def _commit_decision(self, sub: Subscription, decision: Decision) -> ChargeResult:
        audit = decision.of_type(Audit)
        stored = (
            self._repository.commit(SubscriptionChange(sub, decision.subscription, audit=audit))
            if audit
            else sub
        )
        notices = tuple(e for e in decision.effects if not isinstance(e, Audit))
        return ChargeResult(stored, None, notices)


def _due(sub: Subscription, account: Account, now: datetime) -> Event | None:
    method = account.payment_method
    return due_event(sub, now, None if method is None else method.token)


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
        metadata={
            "subscription_id": sub.id,
            "account_id": account.id,
            "kind": attempt.kind.value,
        },
    )
