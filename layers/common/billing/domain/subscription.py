"""The subscription: its status, period, discount and dunning state, and what is due next."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from billing.domain.billing_calendar import Period, billing_period
from billing.domain.failures import FailureReason
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount, cycle_price
from billing.domain.values import frozen

PARTNER_REMINDER_LEAD = timedelta(days=7)
"""Partners are reminded this long before a partner subscription's period ends."""

NOTICE_MIN_CYCLE_MONTHS = 3
"""Direct plans of at least this many months get the renewal notice and the card expiry check
(docs/rules.md): a monthly plan's notice would come at the start of the period it is about."""

RENEWAL_NOTICE_MIN_LEAD = timedelta(days=31)
RENEWAL_NOTICE_MAX_LEAD = timedelta(days=89)
"""The renewal notice goes out no earlier than three months and no later than one month before
the period ends (Code de la consommation, L215-1) whatever the months: one calendar month is at
most 31 days (31 August back to 31 July), three are at least 89 (1 May back to 1 February). The
configured lead (`DunningSchedule.renewal_notice`) must lie within these; the first look at a
period whose notice is not planned yet comes at the earliest of them."""

CARD_EXPIRY_NOTICE_LEAD = timedelta(days=30)
"""The saved card is checked this long before the charge it must pay for."""


class Status(StrEnum):
    ACTIVE = "active"
    PAST_DUE = "past_due"
    CANCELLED = "cancelled"


class Channel(StrEnum):
    DIRECT = "direct"
    PARTNER = "partner"


class CancelReason(StrEnum):
    AUTO_RENEW_OFF = "auto_renew_off"
    PAYMENT_FAILED = "payment_failed"
    CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
    PARTNER_NOT_RENEWED = "partner_not_renewed"
    CANCELLED_BY_SALES = "cancelled_by_sales"


class ChargeKind(StrEnum):
    """Why money is being taken; every charge goes through the one charge operation."""

    PURCHASE = "purchase"
    RENEWAL = "renewal"
    RETRY = "retry"
    RETRY_NOW = "retry_now"
    SALES = "sales"
    PAYMENT_METHOD_UPDATE = "payment_method_update"

    @property
    def scheduled(self) -> bool:
        """Started by the renewal schedule rather than by a person."""
        return self in (ChargeKind.RENEWAL, ChargeKind.RETRY)

    @property
    def customer_present(self) -> bool:
        """Asked for by the customer on their page (on session): their bank may ask them to
        authenticate it there and then (3-D Secure)."""
        return self in (
            ChargeKind.PURCHASE,
            ChargeKind.RETRY_NOW,
            ChargeKind.PAYMENT_METHOD_UPDATE,
        )


@frozen
class Failure:
    """The last failed charge: why, when, and against which payment method."""

    reason: FailureReason
    at: datetime
    payment_method_id: str | None = None


@frozen
class Subscription:
    """One customer's plan. Only the state machine produces changed copies of it."""

    id: str
    account_id: str
    plan_id: str
    cycle_months: int
    price: Money
    """Full price of one cycle, fixed at purchase."""
    channel: Channel
    anchor: datetime
    """Purchase instant: every period starts a whole number of cycles after it."""
    status: Status = Status.ACTIVE
    auto_renew: bool = True
    cycle: int = 0
    """Index of the current period (0 = the purchased one)."""
    discount: Discount | None = None
    charge_attempts: int = 0
    """Charges tried for the next cycle so far; numbers the next attempt's idempotency key."""
    failed_attempts: int = 0
    """Declined charges since the last successful one."""
    retries_left: int = 0
    """Scheduled dunning retries still to run (past_due only)."""
    first_failed_at: datetime | None = None
    """When the renewal first failed: the dunning schedule counts from here."""
    next_retry_at: datetime | None = None
    provider_errors: int = 0
    """Provider errors in a row on the scheduled charge, for the backoff."""
    provider_retry_at: datetime | None = None
    last_failure: Failure | None = None
    retry_now_requested_at: datetime | None = None
    """A Retry Now that failed and that sales should follow up; cleared when the subscription
    leaves past_due (paid or cancelled)."""
    partner_reminded: bool = False
    partner_prepaid_cycles: int = 0
    """Cycles a partner has extended the subscription by beyond the current one."""
    renewal_notice_at: datetime | None = None
    """When this period's renewal notice goes out: planned from the configured lead when the
    period starts. None until then: the purchased period's is planned by the renewal schedule's
    first look at it (the lead is configuration, which a purchase does not read)."""
    renewal_notice_sent_at: datetime | None = None
    """When this period's renewal notice was sent; None until then and from the next period."""
    card_checked_at: datetime | None = None
    """When the saved card was checked against this period's renewal date (the customer emailed
    if it expires first); None until then and from the next period."""
    disputed_payment_id: str | None = None
    """A payment of this subscription the payer disputed: nothing is charged automatically
    (renewals, scheduled retries) until sales clears it, whatever the dispute's outcome."""
    cancelled_at: datetime | None = None
    cancel_reason: CancelReason | None = None
    version: int = 0
    """Optimistic-lock version of the stored copy this state was read from (0: not stored yet)."""

    @property
    def currency(self) -> Currency:
        return self.price.currency

    @property
    def period(self) -> Period:
        return billing_period(self.anchor, self.cycle_months, self.cycle)

    @property
    def access(self) -> bool:
        """Customers keep access while past due (the grace window)."""
        return self.status is not Status.CANCELLED

    @property
    def due_at(self) -> datetime | None:
        """When the renewal schedule must next look at this subscription; None when nothing is due.

        The earliest of what is owed: the renewal or the end at the period's end, a retry, the
        partner's reminder, the customer's renewal notice and card check. This is the sparse due
        index: a subscription is in it exactly when this is not None.
        """
        scheduled = self._scheduled_at
        owed = (self.renewal_notice_due_at, self.card_check_due_at)
        notices = [at for at in owed if at is not None]
        # A renewal backing off from provider errors keeps its backoff: the period is over.
        if scheduled is None or self.provider_retry_at is not None or not notices:
            return scheduled
        return min(scheduled, *notices)

    @property
    def _scheduled_at(self) -> datetime | None:
        """The next charge, retry, end or partner reminder, leaving the customer notices out."""
        if self.status is Status.CANCELLED or self.renewal_held:
            return None
        if self.provider_retry_at is not None:
            return self.provider_retry_at
        if self.status is Status.PAST_DUE:
            return self.next_retry_at
        end = self.period.end
        if (
            self.channel is Channel.PARTNER
            and not self.partner_prepaid_cycles
            and not self.partner_reminded
        ):
            return end - PARTNER_REMINDER_LEAD
        return end

    @property
    def renewal_held(self) -> bool:
        """A disputed payment holds every automatic charge until sales clears it."""
        return self.disputed_payment_id is not None

    @property
    def gets_customer_notices(self) -> bool:
        """Whether the renewal notice and the card expiry check concern this subscription now:
        active, direct, renewing automatically, on a plan of three months or more. Past due,
        the renewal is already under way and each failed attempt is explained to the customer."""
        return (
            self.status is Status.ACTIVE
            and self.channel is Channel.DIRECT
            and self.auto_renew
            and not self.renewal_held
            and self.cycle_months >= NOTICE_MIN_CYCLE_MONTHS
        )

    @property
    def renewal_notice_pending(self) -> bool:
        return self.gets_customer_notices and self.renewal_notice_sent_at is None

    @property
    def renewal_notice_due_at(self) -> datetime | None:
        """When the renewal schedule must look at this period's renewal notice: its planned
        instant or, not planned yet, the earliest a notice may go out; None when none is owed."""
        if not self.renewal_notice_pending:
            return None
        return self.renewal_notice_at or self.period.end - RENEWAL_NOTICE_MAX_LEAD

    @property
    def card_check_pending(self) -> bool:
        return self.gets_customer_notices and self.card_checked_at is None

    @property
    def card_check_due_at(self) -> datetime | None:
        """When the saved card is checked against the renewal date; None when no check is owed."""
        if not self.card_check_pending:
            return None
        return self.period.end - CARD_EXPIRY_NOTICE_LEAD

    @property
    def charge_due_at(self) -> datetime:
        """When the charge now being tried fell due: the period's end for a renewal, the
        scheduled retry's date while past due. The provider-error grace counts from here."""
        if self.status is Status.PAST_DUE and self.next_retry_at is not None:
            return self.next_retry_at
        return self.period.end

    @property
    def next_charge_at(self) -> datetime | None:
        """When we will next charge the customer; None when no charge is coming."""
        if self.channel is Channel.PARTNER or (
            self.status is Status.ACTIVE and not self.auto_renew
        ):
            return None
        return self._scheduled_at

    @property
    def next_cycle_price(self) -> Money:
        """What paying for the cycle after the current one costs."""
        return cycle_price(self.price, self.discount, self.cycle + 1)

    @property
    def next_charge_amount(self) -> Money | None:
        return None if self.next_charge_at is None else self.next_cycle_price
