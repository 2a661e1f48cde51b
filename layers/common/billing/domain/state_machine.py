"""The subscription state machine: one transition table and one pure function that applies events.

`apply` finds the first row of `TRANSITIONS` that matches the subscription's status, the event
and the row's guards, and returns the new state plus the effects to carry out (charges, emails,
sales and partner notices, audit). It never does I/O and is the only place a status changes.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from dataclasses import field, replace
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import ClassVar

from billing.domain.accounts import PaymentMethod, PaymentMethodKind
from billing.domain.billing_calendar import billing_period, format_instant, instant
from billing.domain.dunning import DunningSchedule
from billing.domain.errors import ErrorCode, TransitionRejected, UnknownTransition
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.domain.pricing import Discount, cycle_price
from billing.domain.subscription import (
    NOTICE_MIN_CYCLE_MONTHS,
    CancelReason,
    Channel,
    ChargeKind,
    Failure,
    Status,
    Subscription,
)
from billing.domain.tax import Tax, vat_on
from billing.domain.values import frozen


class Actor(StrEnum):
    """Who caused a change, as recorded in the audit trail."""

    CUSTOMER = "customer"
    SCHEDULER = "scheduler"
    SALES = "sales"
    ADMIN = "admin"
    PARTNER = "partner"
    PROVIDER = "provider"


@frozen
class Requester:
    """Who asked for a change: the kind of actor and their identity (a customer's or a staff
    member's user id, a partner's id, ``scheduler``), recorded with every audit entry."""

    actor: Actor
    id: str


SCHEDULER = Requester(Actor.SCHEDULER, "scheduler")
"""The renewal schedule, which starts renewals, retries, reminders and ends by itself."""


# --- Events ---------------------------------------------------------------------------------


@frozen(kw_only=True)
class Event:
    at: datetime
    by: Requester | None = None
    """Who asked; None leaves the event's own `actor` with no identity in the audit trail.
    A charge's outcome carries whoever requested the charge, not the provider that answered."""
    actor: ClassVar[Actor]

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", instant(self.at))

    @classmethod
    def name(cls) -> str:
        """The event's name in the audit trail, e.g. ``period_ended``."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()

    @property
    def requester(self) -> Requester:
        """Who asked: `by`, or the event's own kind of actor when no identity is known (the
        scheduler is always itself)."""
        return self.by or Requester(self.actor, self.actor.value)


@frozen(kw_only=True)
class PeriodEnded(Event):
    actor = Actor.SCHEDULER


@frozen(kw_only=True)
class RetryDue(Event):
    actor = Actor.SCHEDULER
    payment_method_id: str | None
    """The account's current payment method: a hard decline is not retried on the same one."""
    payment_method_updated_at: datetime | None = None
    """When the provider last updated that method's card (the card network's updater, a new
    expiry): a hard decline recorded before it was against the old card details."""


@frozen(kw_only=True)
class PartnerReminderDue(Event):
    actor = Actor.SCHEDULER


@frozen(kw_only=True)
class RenewalNoticeDue(Event):
    """The customer is to be told the coming renewal's date and amount, and how to stop it."""

    actor = Actor.SCHEDULER
    vat_rate: int | None = None
    """The VAT rate the customer pays today (basis points): the amount announced includes it."""


@frozen(kw_only=True)
class CardExpiryCheckDue(Event):
    actor = Actor.SCHEDULER
    card_valid_through: date | None
    vat_rate: int | None = None
    """As `RenewalNoticeDue`'s: the card notice announces the renewal's amount too."""
    """The last day the account's saved card can be charged (`card_valid_through`); None when
    the payment method has no expiry (PayPal) or there is none."""


@frozen(kw_only=True)
class ChargeSucceeded(Event):
    actor = Actor.PROVIDER
    kind: ChargeKind
    amount: Money
    card_valid_through: date | None = None
    """The last day the account's saved card can be charged (`card_valid_through`), for the
    monthly plans' card notice, which goes with the receipt of the period before the renewal it
    would fail."""
    cycle: int | None = None
    """The cycle the payment was made for: one that is not the cycle due (paid meanwhile by
    another attempt, e.g. a payment the customer confirmed late) does not pay it twice."""
    tax: Tax | None = None
    """How `amount` splits into net and VAT: the receipt says both."""


@frozen(kw_only=True)
class ChargeFailed(Event):
    actor = Actor.PROVIDER
    kind: ChargeKind
    reason: FailureReason
    payment_method_id: str | None
    payment_id: str | None = None
    """The failed payment: the customer is sent to confirm it when their bank asks them to."""


@frozen(kw_only=True)
class CustomerCancelled(Event):
    actor = Actor.CUSTOMER


@frozen(kw_only=True)
class CustomerResumed(Event):
    actor = Actor.CUSTOMER


@frozen(kw_only=True)
class RetryNowRequested(Event):
    actor = Actor.CUSTOMER


@frozen(kw_only=True)
class SalesChargeRequested(Event):
    actor = Actor.SALES


@frozen(kw_only=True)
class PaymentMethodUpdated(Event):
    actor = Actor.CUSTOMER


@frozen(kw_only=True)
class PartnerExtended(Event):
    actor = Actor.PARTNER


@frozen(kw_only=True)
class PaymentDisputed(Event):
    """The payer disputed payment `payment_id` (cycle `cycle`) with their bank or PayPal."""

    actor = Actor.PROVIDER
    payment_id: str
    cycle: int
    amount: Money
    reason: str


@frozen(kw_only=True)
class DisputeWon(Event):
    actor = Actor.PROVIDER
    payment_id: str


@frozen(kw_only=True)
class DisputeLost(Event):
    """The dispute of payment `payment_id`, attempt `attempt` of cycle `cycle`, was decided for
    the payer: the money went back to them."""

    actor = Actor.PROVIDER
    payment_id: str
    cycle: int
    attempt: int


@frozen(kw_only=True)
class DisputeCleared(Event):
    """Sales lets automatic charges resume after a dispute."""

    actor = Actor.SALES


@frozen(kw_only=True)
class SalesCancelled(Event):
    """Sales ends the subscription at once (with a refund, for instance)."""

    actor = Actor.SALES


# --- Effects --------------------------------------------------------------------------------


class EmailTemplate(StrEnum):
    """Customer emails, rendered in the account's locale."""

    PURCHASE_RECEIPT = "purchase_receipt"
    RENEWAL_RECEIPT = "renewal_receipt"
    RENEWAL_FAILED = "renewal_failed"
    RETRY_NOW_RESULT = "retry_now_result"
    AUTO_RENEW_OFF = "auto_renew_off"
    AUTO_RENEW_ON = "auto_renew_on"
    CANCELLED_AFTER_FAILED_RETRIES = "cancelled_after_failed_retries"
    SUBSCRIPTION_CANCELLED = "subscription_cancelled"
    SUBSCRIPTION_ENDED = "subscription_ended"
    """The period ended with automatic renewal off: nothing charged, a new purchase needed."""
    PAYMENT_METHOD_UPDATED = "payment_method_updated"
    BILLING_INFO_UPDATED = "billing_info_updated"
    RENEWAL_NOTICE = "renewal_notice"
    """The coming automatic renewal: its date, its amount, and how to stop it before then."""
    CARD_EXPIRING = "card_expiring"
    """The saved card expires before the coming renewal: a new payment method is needed."""
    PAYMENT_REVERSED = "payment_reversed"
    """A dispute of the period's payment was lost: the period is unpaid again."""
    PAYMENT_REFUNDED = "payment_refunded"
    PAYMENT_METHOD_REMOVED = "payment_method_removed"
    """The saved method was removed at the provider: a new one is needed before the next charge."""


class SalesNotice(StrEnum):
    RETRY_NOW_OUTCOME = "retry_now_outcome"
    CANCELLED_AFTER_FAILED_RETRIES = "cancelled_after_failed_retries"
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"


class PartnerNotice(StrEnum):
    RENEWAL_REMINDER = "renewal_reminder"
    NOT_RENEWED = "not_renewed"


Details = Mapping[str, str]


@frozen
class Charge:
    """Take `amount` for cycle `cycle`; `attempt` numbers the deterministic idempotency key."""

    kind: ChargeKind
    amount: Money
    cycle: int
    attempt: int


@frozen
class EmailCustomer:
    template: EmailTemplate
    details: Details


@frozen
class NotifySales:
    notice: SalesNotice
    details: Details


@frozen
class NotifyPartner:
    notice: PartnerNotice
    details: Details


@frozen
class Audit:
    """One append-only audit entry: who did what, from which status to which, when. Entries
    about an account rather than a subscription (a payment method saved, a charge requested)
    have no statuses."""

    actor: Actor
    action: str
    from_status: Status | None
    to_status: Status | None
    at: datetime
    details: Details
    by: str | None = None
    """The requester's identity (user id, partner id, ``scheduler``); None for old entries."""


Effect = Charge | EmailCustomer | NotifySales | NotifyPartner | Audit


@frozen
class Decision:
    subscription: Subscription
    effects: tuple[Effect, ...] = ()

    def of_type[K](self, kind: type[K]) -> list[K]:
        return [effect for effect in self.effects if isinstance(effect, kind)]


# --- Guards: named conditions the table's rows test -------------------------------------------


def _not_due(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    due = sub.due_at
    return due is None or event.at < due


def _within_provider_grace(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    """A provider error still inside the grace after the charge fell due: retried with backoff
    and no one told. Past it, the customer must know the renewal has not gone through."""
    return event.at < sub.charge_due_at + schedule.provider_error_grace


def _same_method_hard_declined(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    """The method that would be charged is the one hard-declined last, with the same card
    details: a card the provider updated since (a new expiry, a reissued number) may pay."""
    failure = sub.last_failure
    if not isinstance(event, RetryDue) or failure is None or not failure.reason.is_hard_decline:
        return False
    updated = event.payment_method_updated_at
    return failure.payment_method_id == event.payment_method_id and (
        updated is None or updated <= failure.at
    )


def _dispute_of_current_period(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    """A lost dispute of the renewal that paid the current period, before anything was tried
    for the next one: that period can be made unpaid again and charged afresh. A purchase has
    no period before it to go back to: its lost dispute is left to sales, the hold kept."""
    return (
        isinstance(event, DisputeLost)
        and event.cycle == sub.cycle >= 1
        and sub.charge_attempts == 0
    )


def _renewal_notice_due(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    due = sub.renewal_notice_due_at
    return due is not None and event.at >= due


def _renewal_notice_early(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    """Not planned yet (the purchased period) and earlier than the configured lead."""
    return sub.renewal_notice_at is None and event.at < sub.period.end - schedule.renewal_notice


def _card_check_due(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    due = sub.card_check_due_at
    return due is not None and event.at >= due


def _card_expires_before_renewal(
    sub: Subscription, event: Event, schedule: DunningSchedule
) -> bool:
    return (
        isinstance(event, CardExpiryCheckDue)
        and event.card_valid_through is not None
        and event.card_valid_through < sub.period.end.date()
    )


def _card_expires_before_next_renewal(
    sub: Subscription, event: Event, schedule: DunningSchedule
) -> bool:
    """A monthly plan renewed by this charge whose card expires before the renewal after it.
    Thirty days before that renewal is the start of the period this charge pays for, so the
    card notice goes with this charge's receipt rather than in a look of its own."""
    return isinstance(event, ChargeSucceeded) and _monthly_card_expiring(
        sub, event.card_valid_through, _following_renewal(sub)
    )


def _monthly_card_expiring(
    sub: Subscription, valid_through: date | None, renewal: datetime
) -> bool:
    """Whether a direct monthly plan renewing automatically is paid with a card that expires
    before `renewal` (the plans of 3 months or more are checked by the renewal schedule)."""
    return (
        valid_through is not None
        and sub.channel is Channel.DIRECT
        and sub.auto_renew
        and sub.cycle_months < NOTICE_MIN_CYCLE_MONTHS
        and valid_through < renewal.date()
    )


def _following_renewal(sub: Subscription) -> datetime:
    """When the period after the current one ends: the renewal after the one being paid."""
    return billing_period(sub.anchor, sub.cycle_months, sub.cycle + 1).end


def _pays_another_cycle(sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
    return (
        isinstance(event, ChargeSucceeded)
        and event.cycle is not None
        and event.cycle != sub.cycle + 1
    )


def _charge_kind(event: Event) -> ChargeKind | None:
    return event.kind if isinstance(event, ChargeSucceeded | ChargeFailed) else None


class Guard(Enum):
    DIRECT = "direct"
    PARTNER = "partner"
    AUTO_RENEW_ON = "auto_renew_on"
    AUTO_RENEW_OFF = "auto_renew_off"
    NOT_DUE = "not_due"
    BEFORE_PERIOD_END = "before_period_end"
    PERIOD_OVER = "period_over"
    PARTNER_PREPAID = "partner_prepaid"
    REMINDER_PENDING = "reminder_pending"
    RENEWAL_NOTICE_DUE = "renewal_notice_due"
    RENEWAL_NOTICE_EARLY = "renewal_notice_early"
    CARD_CHECK_DUE = "card_check_due"
    CARD_EXPIRES_BEFORE_RENEWAL = "card_expires_before_renewal"
    CARD_EXPIRES_BEFORE_NEXT_RENEWAL = "card_expires_before_next_renewal"
    LAST_RETRY = "last_retry"
    SAME_METHOD_HARD_DECLINED = "same_method_hard_declined"
    RENEWAL_CHARGE = "renewal_charge"
    RETRY_CHARGE = "retry_charge"
    RETRY_NOW_CHARGE = "retry_now_charge"
    PROVIDER_ERROR = "provider_error"
    WITHIN_PROVIDER_GRACE = "within_provider_grace"
    RENEWAL_HELD = "renewal_held"
    DISPUTE_OF_CURRENT_PERIOD = "dispute_of_current_period"
    PAYS_ANOTHER_CYCLE = "pays_another_cycle"


_GUARDS: Mapping[Guard, Callable[[Subscription, Event, DunningSchedule], bool]] = {
    Guard.DIRECT: lambda s, e, p: s.channel is Channel.DIRECT,
    Guard.PARTNER: lambda s, e, p: s.channel is Channel.PARTNER,
    Guard.AUTO_RENEW_ON: lambda s, e, p: s.auto_renew,
    Guard.AUTO_RENEW_OFF: lambda s, e, p: not s.auto_renew,
    Guard.NOT_DUE: _not_due,
    Guard.BEFORE_PERIOD_END: lambda s, e, p: e.at < s.period.end,
    Guard.PERIOD_OVER: lambda s, e, p: e.at >= s.period.end,
    Guard.PARTNER_PREPAID: lambda s, e, p: s.partner_prepaid_cycles > 0,
    Guard.REMINDER_PENDING: lambda s, e, p: not s.partner_reminded and not s.partner_prepaid_cycles,
    Guard.RENEWAL_NOTICE_DUE: _renewal_notice_due,
    Guard.RENEWAL_NOTICE_EARLY: _renewal_notice_early,
    Guard.CARD_CHECK_DUE: _card_check_due,
    Guard.CARD_EXPIRES_BEFORE_RENEWAL: _card_expires_before_renewal,
    Guard.CARD_EXPIRES_BEFORE_NEXT_RENEWAL: _card_expires_before_next_renewal,
    Guard.LAST_RETRY: lambda s, e, p: s.retries_left <= 1,
    Guard.SAME_METHOD_HARD_DECLINED: _same_method_hard_declined,
    Guard.RENEWAL_CHARGE: lambda s, e, p: _charge_kind(e) is ChargeKind.RENEWAL,
    Guard.RETRY_CHARGE: lambda s, e, p: _charge_kind(e) is ChargeKind.RETRY,
    Guard.RETRY_NOW_CHARGE: lambda s, e, p: _charge_kind(e) is ChargeKind.RETRY_NOW,
    Guard.PROVIDER_ERROR: lambda s, e, p: (
        isinstance(e, ChargeFailed) and e.reason is FailureReason.PROVIDER_ERROR
    ),
    Guard.WITHIN_PROVIDER_GRACE: _within_provider_grace,
    Guard.RENEWAL_HELD: lambda s, e, p: s.renewal_held,
    Guard.DISPUTE_OF_CURRENT_PERIOD: _dispute_of_current_period,
    Guard.PAYS_ANOTHER_CYCLE: _pays_another_cycle,
}

# --- Updates: named field changes the table's rows make, applied in order ---------------------


class Update(Enum):
    NEXT_PERIOD = "next_period"
    RECORD_FAILURE = "record_failure"
    START_DUNNING = "start_dunning"
    USE_RETRY = "use_retry"
    BACK_OFF = "back_off"
    CANCEL = "cancel"
    TURN_AUTO_RENEW_OFF = "turn_auto_renew_off"
    TURN_AUTO_RENEW_ON = "turn_auto_renew_on"
    MARK_REMINDED = "mark_reminded"
    PLAN_RENEWAL_NOTICE = "plan_renewal_notice"
    MARK_RENEWAL_NOTICE_SENT = "mark_renewal_notice_sent"
    MARK_CARD_CHECKED = "mark_card_checked"
    PREPAY_CYCLE = "prepay_cycle"
    REQUEST_FOLLOW_UP = "request_follow_up"
    RECORD_LAPSE = "record_lapse"
    HOLD_RENEWAL = "hold_renewal"
    RELEASE_RENEWAL = "release_renewal"
    REOPEN_PERIOD = "reopen_period"


def _without_dunning(s: Subscription) -> Subscription:
    return replace(
        s,
        retries_left=0,
        first_failed_at=None,
        next_retry_at=None,
        provider_errors=0,
        provider_retry_at=None,
        retry_now_requested_at=None,
    )


def _next_period(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    new = replace(
        _without_dunning(s),
        cycle=s.cycle + 1,
        charge_attempts=0,
        failed_attempts=0,
        last_failure=None,
        partner_reminded=False,
        partner_prepaid_cycles=max(s.partner_prepaid_cycles - 1, 0),
        renewal_notice_sent_at=None,
        card_checked_at=None,
    )
    return replace(new, renewal_notice_at=_planned_renewal_notice(new, schedule))


def _planned_renewal_notice(s: Subscription, schedule: DunningSchedule) -> datetime | None:
    """When the current period's renewal notice goes out, for the plans that get one."""
    if s.channel is not Channel.DIRECT or s.cycle_months < NOTICE_MIN_CYCLE_MONTHS:
        return None
    return s.period.end - schedule.renewal_notice


def _record_failure(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    assert isinstance(e, ChargeFailed)
    return replace(
        s,
        charge_attempts=s.charge_attempts + 1,
        failed_attempts=s.failed_attempts + (0 if e.reason.is_provider_error else 1),
        last_failure=Failure(e.reason, e.at, e.payment_method_id),
    )


def _start_dunning(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    return replace(
        s,
        first_failed_at=e.at,
        retries_left=schedule.retries,
        next_retry_at=schedule.retry_at(e.at, schedule.retries),
        provider_errors=0,
        provider_retry_at=None,
    )


def _use_retry(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    assert s.first_failed_at is not None
    left = s.retries_left - 1
    return replace(
        s,
        retries_left=left,
        next_retry_at=schedule.retry_at(s.first_failed_at, left),
        provider_errors=0,
        provider_retry_at=None,
    )


def _back_off(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    """Try again after a growing delay, but no later than the grace's end: the attempt made
    then decides whether the customer must be told."""
    errors = s.provider_errors + 1
    grace_ends = s.charge_due_at + schedule.provider_error_grace
    return replace(
        _record_failure(s, e, schedule),
        provider_errors=errors,
        provider_retry_at=min(schedule.provider_retry_at(e.at, errors), grace_ends),
    )


def _reopen_period(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    """The current period unpaid again: back to the period before it, with its charge failed
    (`PAYMENT_REVERSED`) and numbered after the reversed payment's attempt."""
    assert isinstance(e, DisputeLost)
    return replace(
        s,
        cycle=s.cycle - 1,
        charge_attempts=e.attempt,
        failed_attempts=1,
        last_failure=Failure(FailureReason.PAYMENT_REVERSED, e.at),
        renewal_notice_at=None,
        renewal_notice_sent_at=None,
        card_checked_at=None,
    )


def _cancel(s: Subscription, e: Event, schedule: DunningSchedule) -> Subscription:
    return replace(_without_dunning(s), auto_renew=False, cancelled_at=e.at)


_UPDATES: Mapping[Update, Callable[[Subscription, Event, DunningSchedule], Subscription]] = {
    Update.NEXT_PERIOD: _next_period,
    Update.RECORD_FAILURE: _record_failure,
    Update.START_DUNNING: _start_dunning,
    Update.USE_RETRY: _use_retry,
    Update.BACK_OFF: _back_off,
    Update.CANCEL: _cancel,
    Update.TURN_AUTO_RENEW_OFF: lambda s, e, p: replace(s, auto_renew=False),
    Update.TURN_AUTO_RENEW_ON: lambda s, e, p: replace(s, auto_renew=True),
    Update.MARK_REMINDED: lambda s, e, p: replace(s, partner_reminded=True),
    Update.PLAN_RENEWAL_NOTICE: lambda s, e, p: replace(
        s, renewal_notice_at=_planned_renewal_notice(s, p)
    ),
    Update.MARK_RENEWAL_NOTICE_SENT: lambda s, e, p: replace(s, renewal_notice_sent_at=e.at),
    Update.MARK_CARD_CHECKED: lambda s, e, p: replace(s, card_checked_at=e.at),
    Update.PREPAY_CYCLE: lambda s, e, p: replace(
        s, partner_prepaid_cycles=s.partner_prepaid_cycles + 1
    ),
    Update.REQUEST_FOLLOW_UP: lambda s, e, p: replace(s, retry_now_requested_at=e.at),
    Update.HOLD_RENEWAL: lambda s, e, p: replace(
        s, disputed_payment_id=e.payment_id if isinstance(e, PaymentDisputed) else None
    ),
    Update.RELEASE_RENEWAL: lambda s, e, p: replace(s, disputed_payment_id=None),
    Update.REOPEN_PERIOD: _reopen_period,
    # Auto-renewal off is one of the reasons a renewal did not happen: shown like a failure.
    Update.RECORD_LAPSE: lambda s, e, p: replace(
        s, last_failure=Failure(FailureReason.AUTO_RENEW_OFF, e.at)
    ),
}

# --- The transition table ---------------------------------------------------------------------

EffectSpec = ChargeKind | EmailTemplate | SalesNotice | PartnerNotice


@frozen
class Transition:
    """One row: in `status` (None: any), on `event`, when every guard holds → `to` or `reject`."""

    status: Status | None
    event: type[Event]
    guards: tuple[Guard, ...] = ()
    to: Status | None = None
    reject: ErrorCode | None = None
    updates: tuple[Update, ...] = ()
    cancel_reason: CancelReason | None = None
    effects: tuple[EffectSpec, ...] = field(default=())

    def matches(self, sub: Subscription, event: Event, schedule: DunningSchedule) -> bool:
        return (
            (self.status is None or self.status is sub.status)
            and isinstance(event, self.event)
            and all(_GUARDS[guard](sub, event, schedule) for guard in self.guards)
        )


TRANSITIONS: tuple[Transition, ...] = (
    # The renewal schedule. Work that is not due (redelivered, overlapping, stale) is refused.
    Transition(None, PeriodEnded, (Guard.NOT_DUE,), reject=ErrorCode.NOT_DUE),
    Transition(None, PeriodEnded, (Guard.BEFORE_PERIOD_END,), reject=ErrorCode.NOT_DUE),
    Transition(Status.ACTIVE, PeriodEnded, (Guard.PARTNER, Guard.PARTNER_PREPAID), Status.ACTIVE,
        updates=(Update.NEXT_PERIOD,)),
    Transition(Status.ACTIVE, PeriodEnded, (Guard.PARTNER,), Status.CANCELLED,
        updates=(Update.CANCEL,), cancel_reason=CancelReason.PARTNER_NOT_RENEWED,
        effects=(PartnerNotice.NOT_RENEWED,)),
    Transition(Status.ACTIVE, PeriodEnded, (Guard.AUTO_RENEW_OFF,), Status.CANCELLED,
        updates=(Update.CANCEL, Update.RECORD_LAPSE), cancel_reason=CancelReason.AUTO_RENEW_OFF,
        effects=(EmailTemplate.SUBSCRIPTION_ENDED,)),
    Transition(Status.ACTIVE, PeriodEnded, (), Status.ACTIVE, effects=(ChargeKind.RENEWAL,)),
    Transition(None, PeriodEnded, (), reject=ErrorCode.NOT_DUE),
    Transition(None, PartnerReminderDue, (Guard.NOT_DUE,), reject=ErrorCode.NOT_DUE),
    Transition(Status.ACTIVE, PartnerReminderDue,
        (Guard.PARTNER, Guard.REMINDER_PENDING, Guard.BEFORE_PERIOD_END), Status.ACTIVE,
        updates=(Update.MARK_REMINDED,), effects=(PartnerNotice.RENEWAL_REMINDER,)),
    Transition(None, PartnerReminderDue, (), reject=ErrorCode.NOT_DUE),
    # Customers of plans of 3 months or more: once a period, the renewal notice (its first look
    # at a period not planned yet, too early for the configured lead, plans it) and the saved
    # card checked against the renewal date, a new one asked for if it expires first.
    Transition(Status.ACTIVE, RenewalNoticeDue,
        (Guard.RENEWAL_NOTICE_DUE, Guard.RENEWAL_NOTICE_EARLY), Status.ACTIVE,
        updates=(Update.PLAN_RENEWAL_NOTICE,)),
    Transition(Status.ACTIVE, RenewalNoticeDue,
        (Guard.RENEWAL_NOTICE_DUE, Guard.BEFORE_PERIOD_END), Status.ACTIVE,
        updates=(Update.MARK_RENEWAL_NOTICE_SENT,), effects=(EmailTemplate.RENEWAL_NOTICE,)),
    Transition(None, RenewalNoticeDue, (), reject=ErrorCode.NOT_DUE),
    Transition(Status.ACTIVE, CardExpiryCheckDue,
        (Guard.CARD_CHECK_DUE, Guard.BEFORE_PERIOD_END, Guard.CARD_EXPIRES_BEFORE_RENEWAL),
        Status.ACTIVE, updates=(Update.MARK_CARD_CHECKED,), effects=(EmailTemplate.CARD_EXPIRING,)),
    Transition(Status.ACTIVE, CardExpiryCheckDue, (Guard.CARD_CHECK_DUE, Guard.BEFORE_PERIOD_END),
        Status.ACTIVE, updates=(Update.MARK_CARD_CHECKED,)),
    Transition(None, CardExpiryCheckDue, (), reject=ErrorCode.NOT_DUE),
    Transition(None, RetryDue, (Guard.NOT_DUE,), reject=ErrorCode.NOT_DUE),
    Transition(Status.PAST_DUE, RetryDue, (Guard.SAME_METHOD_HARD_DECLINED, Guard.LAST_RETRY),
        Status.CANCELLED, updates=(Update.USE_RETRY, Update.CANCEL),
        cancel_reason=CancelReason.PAYMENT_FAILED,
        effects=(EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES,
                 SalesNotice.CANCELLED_AFTER_FAILED_RETRIES)),
    # A skipped retry charged nothing: the customer has nothing new to be told.
    Transition(Status.PAST_DUE, RetryDue, (Guard.SAME_METHOD_HARD_DECLINED,), Status.PAST_DUE,
        updates=(Update.USE_RETRY,)),
    Transition(Status.PAST_DUE, RetryDue, (), Status.PAST_DUE, effects=(ChargeKind.RETRY,)),
    Transition(None, RetryDue, (), reject=ErrorCode.NOT_DUE),
    # Outcomes of charges. Scheduled charges' provider errors use no dunning attempt and email
    # nobody while within the grace; past it they count as the failure they are.
    Transition(Status.CANCELLED, ChargeSucceeded, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    Transition(None, ChargeSucceeded, (Guard.PAYS_ANOTHER_CYCLE,),
        reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.CANCELLED, ChargeFailed, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    # A monthly plan's card notice rides with the receipt of the period before the renewal the
    # card would fail: each successful renewal has a twin row that adds it.
    Transition(Status.ACTIVE, ChargeSucceeded,
        (Guard.RENEWAL_CHARGE, Guard.CARD_EXPIRES_BEFORE_NEXT_RENEWAL), Status.ACTIVE,
        updates=(Update.NEXT_PERIOD,),
        effects=(EmailTemplate.RENEWAL_RECEIPT, EmailTemplate.CARD_EXPIRING)),
    Transition(Status.ACTIVE, ChargeSucceeded, (Guard.RENEWAL_CHARGE,), Status.ACTIVE,
        updates=(Update.NEXT_PERIOD,), effects=(EmailTemplate.RENEWAL_RECEIPT,)),
    Transition(Status.ACTIVE, ChargeSucceeded, (), reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.PAST_DUE, ChargeSucceeded,
        (Guard.RETRY_NOW_CHARGE, Guard.CARD_EXPIRES_BEFORE_NEXT_RENEWAL), Status.ACTIVE,
        updates=(Update.NEXT_PERIOD,),
        effects=(EmailTemplate.RETRY_NOW_RESULT, SalesNotice.RETRY_NOW_OUTCOME,
                 EmailTemplate.CARD_EXPIRING)),
    Transition(Status.PAST_DUE, ChargeSucceeded, (Guard.RETRY_NOW_CHARGE,), Status.ACTIVE,
        updates=(Update.NEXT_PERIOD,),
        effects=(EmailTemplate.RETRY_NOW_RESULT, SalesNotice.RETRY_NOW_OUTCOME)),
    Transition(Status.PAST_DUE, ChargeSucceeded, (Guard.CARD_EXPIRES_BEFORE_NEXT_RENEWAL,),
        Status.ACTIVE, updates=(Update.NEXT_PERIOD,),
        effects=(EmailTemplate.RENEWAL_RECEIPT, EmailTemplate.CARD_EXPIRING)),
    Transition(Status.PAST_DUE, ChargeSucceeded, (), Status.ACTIVE, updates=(Update.NEXT_PERIOD,),
        effects=(EmailTemplate.RENEWAL_RECEIPT,)),
    Transition(Status.ACTIVE, ChargeFailed,
        (Guard.RENEWAL_CHARGE, Guard.PROVIDER_ERROR, Guard.WITHIN_PROVIDER_GRACE), Status.ACTIVE,
        updates=(Update.BACK_OFF,)),
    Transition(Status.ACTIVE, ChargeFailed, (Guard.RENEWAL_CHARGE,), Status.PAST_DUE,
        updates=(Update.RECORD_FAILURE, Update.START_DUNNING),
        effects=(EmailTemplate.RENEWAL_FAILED,)),
    Transition(Status.ACTIVE, ChargeFailed, (), reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.PAST_DUE, ChargeFailed,
        (Guard.RETRY_CHARGE, Guard.PROVIDER_ERROR, Guard.WITHIN_PROVIDER_GRACE), Status.PAST_DUE,
        updates=(Update.BACK_OFF,)),
    Transition(Status.PAST_DUE, ChargeFailed, (Guard.RETRY_CHARGE, Guard.LAST_RETRY),
        Status.CANCELLED, updates=(Update.RECORD_FAILURE, Update.USE_RETRY, Update.CANCEL),
        cancel_reason=CancelReason.PAYMENT_FAILED,
        effects=(EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES,
                 SalesNotice.CANCELLED_AFTER_FAILED_RETRIES)),
    Transition(Status.PAST_DUE, ChargeFailed, (Guard.RETRY_CHARGE,), Status.PAST_DUE,
        updates=(Update.RECORD_FAILURE, Update.USE_RETRY), effects=(EmailTemplate.RENEWAL_FAILED,)),
    # Retry Now does not shift the dunning schedule, whatever its outcome.
    Transition(Status.PAST_DUE, ChargeFailed, (Guard.RETRY_NOW_CHARGE,), Status.PAST_DUE,
        updates=(Update.RECORD_FAILURE, Update.REQUEST_FOLLOW_UP),
        effects=(EmailTemplate.RETRY_NOW_RESULT, SalesNotice.RETRY_NOW_OUTCOME)),
    Transition(Status.PAST_DUE, ChargeFailed, (Guard.PROVIDER_ERROR,), Status.PAST_DUE,
        updates=(Update.RECORD_FAILURE,)),
    Transition(Status.PAST_DUE, ChargeFailed, (), Status.PAST_DUE, updates=(Update.RECORD_FAILURE,),
        effects=(EmailTemplate.RENEWAL_FAILED,)),
    # Customers, sales and partners.
    Transition(None, CustomerCancelled, (Guard.PARTNER,), reject=ErrorCode.MANAGED_BY_PARTNER),
    Transition(Status.CANCELLED, CustomerCancelled, (), Status.CANCELLED),
    Transition(Status.ACTIVE, CustomerCancelled, (Guard.AUTO_RENEW_OFF,), Status.ACTIVE),
    Transition(Status.ACTIVE, CustomerCancelled, (), Status.ACTIVE,
        updates=(Update.TURN_AUTO_RENEW_OFF,), effects=(EmailTemplate.AUTO_RENEW_OFF,)),
    Transition(Status.PAST_DUE, CustomerCancelled, (), Status.CANCELLED, updates=(Update.CANCEL,),
        cancel_reason=CancelReason.CANCELLED_BY_CUSTOMER,
        effects=(EmailTemplate.SUBSCRIPTION_CANCELLED,)),
    Transition(None, CustomerResumed, (Guard.PARTNER,), reject=ErrorCode.MANAGED_BY_PARTNER),
    Transition(Status.CANCELLED, CustomerResumed, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    Transition(Status.ACTIVE, CustomerResumed, (Guard.AUTO_RENEW_ON,), Status.ACTIVE),
    Transition(Status.ACTIVE, CustomerResumed, (Guard.PERIOD_OVER,), reject=ErrorCode.PERIOD_ENDED),
    Transition(Status.ACTIVE, CustomerResumed, (), Status.ACTIVE,
        updates=(Update.TURN_AUTO_RENEW_ON,), effects=(EmailTemplate.AUTO_RENEW_ON,)),
    Transition(Status.PAST_DUE, CustomerResumed, (), Status.PAST_DUE),
    Transition(None, RetryNowRequested, (Guard.PARTNER,), reject=ErrorCode.MANAGED_BY_PARTNER),
    Transition(Status.ACTIVE, RetryNowRequested, (), reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.CANCELLED, RetryNowRequested, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    Transition(Status.PAST_DUE, RetryNowRequested, (), Status.PAST_DUE,
        effects=(ChargeKind.RETRY_NOW,)),
    Transition(None, SalesChargeRequested, (Guard.PARTNER,), reject=ErrorCode.MANAGED_BY_PARTNER),
    Transition(Status.ACTIVE, SalesChargeRequested, (), reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.CANCELLED, SalesChargeRequested, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    Transition(Status.PAST_DUE, SalesChargeRequested, (), Status.PAST_DUE,
        effects=(ChargeKind.SALES,)),
    Transition(None, PaymentMethodUpdated, (Guard.PARTNER,), reject=ErrorCode.MANAGED_BY_PARTNER),
    Transition(Status.PAST_DUE, PaymentMethodUpdated, (), Status.PAST_DUE,
        effects=(ChargeKind.PAYMENT_METHOD_UPDATE,)),
    Transition(Status.ACTIVE, PaymentMethodUpdated, (), Status.ACTIVE),
    Transition(Status.CANCELLED, PaymentMethodUpdated, (), Status.CANCELLED),
    # Disputes. A disputed payment holds every automatic charge until sales clears it; a lost
    # dispute of the current period's payment makes that period unpaid, as a failed renewal.
    Transition(Status.ACTIVE, PaymentDisputed, (), Status.ACTIVE, updates=(Update.HOLD_RENEWAL,),
        effects=(SalesNotice.DISPUTE_OPENED,)),
    Transition(Status.PAST_DUE, PaymentDisputed, (), Status.PAST_DUE,
        updates=(Update.HOLD_RENEWAL,), effects=(SalesNotice.DISPUTE_OPENED,)),
    Transition(Status.CANCELLED, PaymentDisputed, (), Status.CANCELLED,
        effects=(SalesNotice.DISPUTE_OPENED,)),
    Transition(Status.ACTIVE, DisputeLost, (Guard.DISPUTE_OF_CURRENT_PERIOD,), Status.PAST_DUE,
        updates=(Update.REOPEN_PERIOD, Update.START_DUNNING),
        effects=(EmailTemplate.PAYMENT_REVERSED, SalesNotice.DISPUTE_LOST)),
    *(Transition(status, DisputeLost, (), status, effects=(SalesNotice.DISPUTE_LOST,))
      for status in Status),
    *(Transition(status, DisputeWon, (), status, effects=(SalesNotice.DISPUTE_WON,))
      for status in Status),
    *(Transition(status, DisputeCleared, (Guard.RENEWAL_HELD,), status,
        updates=(Update.RELEASE_RENEWAL,)) for status in Status),
    Transition(None, DisputeCleared, (), reject=ErrorCode.NO_ACTION_REQUIRED),
    Transition(Status.CANCELLED, SalesCancelled, (), Status.CANCELLED),
    Transition(None, SalesCancelled, (), Status.CANCELLED, updates=(Update.CANCEL,),
        cancel_reason=CancelReason.CANCELLED_BY_SALES,
        effects=(EmailTemplate.SUBSCRIPTION_CANCELLED,)),
    Transition(None, PartnerExtended, (Guard.DIRECT,), reject=ErrorCode.NOT_PARTNER_MANAGED),
    Transition(Status.CANCELLED, PartnerExtended, (), reject=ErrorCode.SUBSCRIPTION_CANCELLED),
    Transition(Status.ACTIVE, PartnerExtended, (), Status.ACTIVE, updates=(Update.PREPAY_CYCLE,)),
)  # fmt: skip


# --- Applying events --------------------------------------------------------------------------


def find_transition(
    sub: Subscription, event: Event, schedule: DunningSchedule | None = None
) -> Transition:
    """The first row that applies; UnknownTransition when the table has none (a bug)."""
    for row in TRANSITIONS:
        if row.matches(sub, event, schedule or DEFAULT_SCHEDULE):
            return row
    raise UnknownTransition(f"no transition for {type(event).__name__} in {sub.status}")


def _details(sub: Subscription, event: Event | None) -> dict[str, str]:
    """What emails, notices and audit entries say about this change, as plain strings."""
    details = {
        "subscription_id": sub.id,
        "account_id": sub.account_id,
        "plan_id": sub.plan_id,
        "status": sub.status.value,
        "period_end": format_instant(sub.period.end),
    }
    if isinstance(event, ChargeSucceeded | ChargeFailed):
        details["charge_kind"] = event.kind.value
        details["outcome"] = "succeeded" if isinstance(event, ChargeSucceeded) else "failed"
    if isinstance(event, ChargeSucceeded):
        details["amount"] = str(event.amount.amount)
        details["currency"] = event.amount.currency.value
        details |= _tax_details(event.tax)
    if sub.last_failure is not None and sub.status is not Status.ACTIVE:
        details["reason"] = sub.last_failure.reason.value
    if isinstance(event, ChargeFailed):
        details["reason"] = event.reason.value
        if event.payment_id is not None:
            details["payment_id"] = event.payment_id
    if sub.next_retry_at is not None:
        details["next_retry_at"] = format_instant(sub.next_retry_at)
    if sub.cancel_reason is not None:
        details["cancel_reason"] = sub.cancel_reason.value
    return details | _dispute_details(event) | _notice_details(sub, event)


def _dispute_details(event: Event | None) -> dict[str, str]:
    """The disputed payment, and for a new dispute its amount and the payer's reason."""
    if isinstance(event, PaymentDisputed):
        return {
            "payment_id": event.payment_id,
            "amount": str(event.amount.amount),
            "currency": event.amount.currency.value,
            "dispute_reason": event.reason,
        }
    if isinstance(event, DisputeWon | DisputeLost):
        return {"payment_id": event.payment_id}
    return {}


def _notice_details(sub: Subscription, event: Event | None) -> dict[str, str]:
    """A renewal notice sent, or when it will be; the card checked, as cards show it."""
    rate: dict[str, str] = {}
    if isinstance(event, RenewalNoticeDue | CardExpiryCheckDue) and event.vat_rate is not None:
        rate = {_RENEWAL_VAT_RATE: str(event.vat_rate)}
    if isinstance(event, RenewalNoticeDue) and sub.renewal_notice_sent_at is not None:
        return {"renewal_notice_sent_at": format_instant(sub.renewal_notice_sent_at)} | rate
    if isinstance(event, RenewalNoticeDue) and sub.renewal_notice_at is not None:
        return {"renewal_notice_at": format_instant(sub.renewal_notice_at)} | rate
    if isinstance(event, CardExpiryCheckDue) and event.card_valid_through is not None:
        return _card_expiry(event.card_valid_through) | rate
    if (
        isinstance(event, ChargeSucceeded)
        and event.card_valid_through is not None
        and _monthly_card_expiring(sub, event.card_valid_through, sub.period.end)
    ):
        return _card_expiry(event.card_valid_through)  # the monthly card notice goes with it
    return {}


def _card_expiry(valid_through: date) -> dict[str, str]:
    return {"card_expiry": f"{valid_through.month:02d}/{valid_through.year}"}


_ANNOUNCE_THE_RENEWAL = (EmailTemplate.RENEWAL_NOTICE, EmailTemplate.CARD_EXPIRING)
"""Emails that say when the coming renewal is charged and how much."""

_RENEWAL_VAT_RATE = "renewal_vat_rate"
"""The detail carrying the VAT rate of an announced renewal, when the scheduler knew it."""


def _effect(spec: EffectSpec, sub: Subscription, details: Details) -> Effect:
    if isinstance(spec, ChargeKind):
        return Charge(spec, sub.next_cycle_price, sub.cycle + 1, sub.charge_attempts + 1)
    if isinstance(spec, EmailTemplate):
        if spec in _ANNOUNCE_THE_RENEWAL:
            rate = details.get(_RENEWAL_VAT_RATE)
            terms = _renewal_terms(sub, None if rate is None else int(rate))
            return EmailCustomer(spec, {**details, **terms})
        return EmailCustomer(spec, details)
    if isinstance(spec, SalesNotice):
        return NotifySales(spec, details)
    return NotifyPartner(spec, details)


def accepts(sub: Subscription, event: Event, schedule: DunningSchedule | None = None) -> bool:
    """Whether `apply` would take `event` in `sub`'s state rather than refuse it."""
    return find_transition(sub, event, schedule).reject is None


def apply(sub: Subscription, event: Event, schedule: DunningSchedule | None = None) -> Decision:
    """Apply `event` to `sub`: the new state and the effects to carry out, or TransitionRejected."""
    schedule = schedule or DEFAULT_SCHEDULE
    row = find_transition(sub, event, schedule)
    if row.reject is not None:
        raise TransitionRejected(row.reject)
    assert row.to is not None, "a row either rejects or names the status it leads to"
    new = sub
    for update in row.updates:
        new = _UPDATES[update](new, event, schedule)
    new = replace(new, status=row.to, cancel_reason=row.cancel_reason or new.cancel_reason)
    details = _details(new, event)
    effects = [_effect(spec, new, details) for spec in row.effects]
    if new != sub:
        who = event.requester
        effects.append(
            Audit(who.actor, event.name(), sub.status, new.status, event.at, details, who.id)
        )
    return Decision(new, tuple(effects))


DEFAULT_SCHEDULE = DunningSchedule()


def account_audit(by: Requester, action: str, at: datetime, details: Details) -> Audit:
    """An entry of an account's own trail (a change to the account, a charge requested): no
    subscription status moves."""
    return Audit(by.actor, action, None, None, instant(at), details, by.id)


def due_event(
    sub: Subscription,
    now: datetime,
    payment_method_id: str | None,
    *,
    card_valid_through: date | None = None,
    payment_method_updated_at: datetime | None = None,
    vat_rate: int | None = None,
) -> Event | None:
    """The scheduler event that is due for `sub` at `now`, or None when nothing is due.

    `payment_method_id`, `card_valid_through` and `payment_method_updated_at` describe the
    account's saved payment method (see `card_valid_through`, `RetryDue`); `vat_rate` the VAT
    its customer pays today, which the notices announcing the renewal add. Once the period is
    over its renewal comes first: a notice that was not sent in time is not sent after the
    renewal it announces.
    """
    due = sub.due_at
    if due is None or now < due:
        return None
    if sub.status is Status.PAST_DUE:
        return RetryDue(
            at=now,
            payment_method_id=payment_method_id,
            payment_method_updated_at=payment_method_updated_at,
        )
    if now >= sub.period.end:
        return PeriodEnded(at=now)
    if sub.channel is Channel.PARTNER:
        return PartnerReminderDue(at=now)
    # Before the end, what is due is one of the customer notices: the earliest.
    if sub.renewal_notice_due_at == due:
        return RenewalNoticeDue(at=now, vat_rate=vat_rate)
    return CardExpiryCheckDue(at=now, card_valid_through=card_valid_through, vat_rate=vat_rate)


def card_valid_through(method: PaymentMethod | None) -> date | None:
    """The last day `method` can be charged: a card is valid through the last day of its expiry
    month. None when there is no method, for PayPal (no expiry), and for a card whose expiry is
    unknown."""
    if method is None or method.kind is not PaymentMethodKind.CARD:
        return None
    month, year = method.exp_month, method.exp_year
    if month is None or year is None or not 1 <= month <= 12 or not 1 <= year <= 9999:
        return None
    return date(year, month, calendar.monthrange(year, month)[1])


def open_subscription(
    *,
    subscription_id: str,
    account_id: str,
    plan_id: str,
    cycle_months: int,
    price: Money,
    discount: Discount | None,
    channel: Channel,
    by: Requester,
    at: datetime,
    card_valid_through: date | None = None,
    tax: Tax | None = None,
) -> Decision:
    """A new subscription, active from `at`. Direct ones are bought (their first cycle charged
    beforehand, with `tax`) with auto-renewal on; partner ones are not renewed by us. A monthly
    plan bought with a card that expires before its first renewal is told so with its receipt
    (the other plans are told 30 days before the renewal, by the renewal schedule)."""
    sub = Subscription(
        id=subscription_id,
        account_id=account_id,
        plan_id=plan_id,
        cycle_months=cycle_months,
        price=price,
        channel=channel,
        anchor=instant(at),
        auto_renew=channel is Channel.DIRECT,
        discount=discount,
    )
    details = _details(sub, None)
    effects: list[Effect] = []
    if channel is Channel.DIRECT:
        receipt = _receipt(sub, details, tax)
        effects.append(EmailCustomer(EmailTemplate.PURCHASE_RECEIPT, receipt))
    if card_valid_through is not None and _monthly_card_expiring(
        sub, card_valid_through, sub.period.end
    ):
        card = {**details, **_card_expiry(card_valid_through)}
        effects.append(_effect(EmailTemplate.CARD_EXPIRING, sub, card))
    effects.append(Audit(by.actor, "opened", None, sub.status, sub.anchor, details, by.id))
    return Decision(sub, tuple(effects))


def _receipt(sub: Subscription, details: Details, tax: Tax | None) -> dict[str, str]:
    """What the purchase receipt says: what was paid now (with its VAT), and when the first
    renewal comes and what it will cost before VAT, so that a first-cycle discount never
    surprises anyone at renewal."""
    paid = cycle_price(sub.price, sub.discount, 0) if tax is None else tax.gross
    return {
        **details,
        "amount": str(paid.amount),
        "currency": paid.currency.value,
        **_tax_details(tax),
        **_renewal_terms(sub, None if tax is None else tax.rate),
    }


def _tax_details(tax: Tax | None) -> dict[str, str]:
    """A payment's net amount, VAT and rate, and the legal mention of VAT not charged."""
    if tax is None:
        return {}
    details = {
        "net_amount": str(tax.net.amount),
        "vat_amount": str(tax.vat.amount),
        "vat_rate": tax.percent(),
        "tax_rule": tax.rule.value,
    }
    if tax.legal_mention is not None:
        details["vat_mention"] = tax.legal_mention
    return details


def _renewal_terms(sub: Subscription, vat_rate: int | None = None) -> dict[str, str]:
    """When the current period's renewal is charged and how much (with VAT at `vat_rate` when
    the customer's is known, as it is on a receipt); ``discount_ends`` when the price goes back
    up to the full price then."""
    current = cycle_price(sub.price, sub.discount, sub.cycle)
    renewal = sub.next_cycle_price
    charged = renewal if vat_rate is None else renewal + vat_on(renewal, vat_rate)
    terms = {
        "next_charge_at": format_instant(sub.period.end),
        "next_charge_amount": str(charged.amount),
        "currency": renewal.currency.value,
    }
    if current != renewal and renewal == sub.price:
        terms["discount_ends"] = "true"
    return terms
