"""A population of subscriptions driven through two months by the renewal schedule, against moto
server, localstripe and the PayPal stand-in, with one clock: every row of the docs/rules.md status
table, the dunning schedule, provider-error backoff, hard declines, partner reminders and the
reconciliation of an attempt left pending, each with the emails and sales notices it implies.

Every subscription is bought at START (2026-01-31 09:30Z); its first period ends at P1
(2026-02-28 09:30Z, the month-end clamp). Declines other than localstripe's own card_declined
card are card errors the stand-in answers for one subscription's charge requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from billing import composition
from tests.support.api import START, Api, Client, fresh_account_id
from tests.support.localstripe import payment_intents
from tests.support.renewals import RenewalSchedule
from tests.support.stand_ins import StandIn, stripe_charges

P1 = datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
P2 = "2026-03-31T09:30:00Z"
REMINDER = datetime(2026, 2, 21, 9, 30, tzinfo=UTC)
PARTNER = {"id": "prt_lifecycle", "name": "Reseller GmbH", "email": "renewals@reseller.example"}

BOUGHT = ["Your payment method has been updated", "Your Basic subscription is active"]
RENEWED = "Payment received: your Basic subscription is renewed"
FAILED = "We could not renew your Basic subscription"
CANCELLED_AFTER_RETRIES = "Your Basic subscription has been cancelled"


def _card_error(code: str, decline_code: str | None = None) -> dict[str, Any]:
    error = {"type": "card_error", "code": code, "message": f"Test decline: {code}."}
    return {"error": error | ({"decline_code": decline_code} if decline_code else {})}


INSUFFICIENT_FUNDS = _card_error("card_declined", "insufficient_funds")
EXPIRED_CARD = _card_error("expired_card")
SOFT_DECLINE = _card_error("card_declined", "do_not_honor")


@dataclass
class Customer:
    account_id: str
    client: Client
    subscription_id: str

    @property
    def email(self) -> str:
        return f"{self.account_id}@example.com"

    def subscription(self) -> dict[str, Any]:
        response = self.client.get(f"/subscriptions/{self.subscription_id}")
        assert response.status == 200, response.body
        body: dict[str, Any] = response.json()
        return body

    def payments(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.client.get(
            f"/subscriptions/{self.subscription_id}/payments"
        ).json()["items"]
        return items


class Population:
    def __init__(self, api: Api, localstripe: StandIn) -> None:
        self.api = api
        self.localstripe = localstripe
        self.bought: list[Customer] = []

    def buy(self, name: str, **order: Any) -> Customer:
        account_id = fresh_account_id(name)
        client, sub_id = self.api.subscribed(account_id, **order)
        self.bought.append(Customer(account_id, client, sub_id))
        return self.bought[-1]

    def taken_at_stripe(self) -> int:
        """What Stripe took from the customers who bought, in minor units."""
        repository = composition.root().repository
        customers = [repository.get_account(c.account_id).stripe_customer_id for c in self.bought]
        return sum(
            intent.amount
            for customer in customers
            if customer is not None
            for intent in payment_intents(self.localstripe, customer)
            if intent.status == "succeeded"
        )

    def partner_subscription(self, name: str) -> Customer:
        account_id = fresh_account_id(name)
        client = self.api.open_account(account_id, partner=PARTNER)
        opened = self.api.staff("partner", partner_id=PARTNER["id"]).post(
            f"/admin/accounts/{account_id}/subscriptions",
            {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"},
            key=f"open-{account_id}",
        )
        assert opened.status == 201, opened.body
        return Customer(account_id, client, str(opened.json()["id"]))

    def decline(self, customer: Customer, body: dict[str, Any], times: int = 1) -> None:
        """The next `times` charges of this customer's subscription are declined with `body`."""
        self.localstripe.inject(
            "POST",
            "/v1/payment_intents",
            status=402,
            body=body,
            times=times,
            body_contains=customer.subscription_id,
        )

    def charge_requests(self, customer: Customer) -> int:
        return len(stripe_charges(self.localstripe, customer.subscription_id))

    def subjects(self, customer: Customer) -> list[str]:
        return [email.subject for email in self.api.outbox.emails_to(customer.email)]

    def partner_subjects(self) -> list[str]:
        return [email.subject for email in self.api.outbox.emails_to(PARTNER["email"])]


def _reason(sub: dict[str, Any]) -> str | None:
    failure = sub["last_failure"]
    return None if failure is None else str(failure["reason"])


@pytest.fixture
def population(api: Api, localstripe: StandIn) -> Population:
    return Population(api, localstripe)


def test_a_population_lives_through_every_row_of_the_status_table(  # noqa: PLR0915 - one story
    population: Population, api: Api, schedule: RenewalSchedule, localstripe: StandIn
) -> None:
    clock = api.clock
    clock.now = START
    # --- bought at START -------------------------------------------------------------------
    renews = population.buy("renews", coupon="WELCOME20")
    dunned = population.buy("dunned")
    recovers = population.buy("recovers")
    hard = population.buy("hard-decline")
    flaky = population.buy("provider-error")
    stops = population.buy("auto-renew-off")
    resumes = population.buy("resumes")
    quits = population.buy("quits-past-due")
    retries = population.buy("retry-now")
    recharged = population.buy("sales-recharge")
    unknown = population.buy("unknown-outcome")
    lapses = population.partner_subscription("partner-lapses")
    extended = population.partner_subscription("partner-extended")
    first = renews.payments()[0]
    assert first["tax"]["net"] == 3920, "WELCOME20: 20% off the first cycle"
    assert first["amount"] == 4704, "with 20 % French VAT: no billing country given"
    assert population.api.save_card(dunned.client, "pm_card_chargeCustomerFail").status == 200
    population.decline(recovers, INSUFFICIENT_FUNDS)
    population.decline(hard, EXPIRED_CARD)
    for customer in (quits, retries, recharged, unknown):
        population.decline(customer, SOFT_DECLINE)
    # Three calls (the gateway's retries), each a 5xx that may hide a charge: looked up, absent.
    localstripe.inject(
        "POST", "/v1/payment_intents", status=500, times=3, body_contains=flaky.subscription_id
    )

    clock.now = START + timedelta(days=1)
    assert stops.client.post(f"/subscriptions/{stops.subscription_id}/cancel").status == 200
    assert resumes.client.post(f"/subscriptions/{resumes.subscription_id}/cancel").status == 200
    clock.now = START + timedelta(days=2)
    assert resumes.client.post(f"/subscriptions/{resumes.subscription_id}/resume").status == 200

    # --- a week before P1: partners are reminded, nothing is charged ------------------------
    clock.now = REMINDER - timedelta(seconds=1)
    assert schedule.run().queued["due"] == 0
    clock.now = REMINDER
    run = schedule.run()
    assert run.queued["due"] == 2
    assert sorted(population.partner_subjects()) == sorted(
        f"Reminder: subscription {customer.subscription_id} ends on 28 February 2026, 09:30 UTC"
        for customer in (lapses, extended)
    )
    clock.now = REMINDER + timedelta(days=1)
    partner = api.staff("partner", partner_id=PARTNER["id"])
    assert partner.post(f"/admin/subscriptions/{extended.subscription_id}/extend").status == 200

    # --- P1: the period ends for everyone ---------------------------------------------------
    clock.now = P1
    run = schedule.run()
    assert run.queued["due"] == 13
    assert run.drained.received == 13

    renewed = renews.subscription()
    assert (renewed["status"], renewed["current_period_start"], renewed["current_period_end"]) == (
        "active",
        "2026-02-28T09:30:00Z",
        P2,
    )
    assert [(p["kind"], p["amount"], p["status"]) for p in renews.payments()] == [
        ("renewal", 5880, "succeeded"),
        ("purchase", 4704, "succeeded"),
    ], "after the discounted first cycle, the full price"
    assert population.subjects(renews) == [*BOUGHT, RENEWED]

    past_due = dunned.subscription()
    assert (past_due["status"], past_due["access"], _reason(past_due)) == (
        "past_due",
        True,
        "card_declined",
    )
    assert (past_due["failed_attempts"], past_due["retries_left"]) == (1, 4)
    assert past_due["next_charge_at"] == "2026-03-01T09:30:00Z"
    [failed_email] = [e for e in api.outbox.emails_to(dunned.email) if e.subject == FAILED]
    assert "Why: Your bank declined the payment." in failed_email.body
    assert "We will try again on 1 March 2026, 09:30 UTC" in failed_email.body

    assert _reason(recovers.subscription()) == "insufficient_funds"
    assert _reason(hard.subscription()) == "payment_method_invalid"
    assert population.subjects(recovers)[-1] == FAILED

    backing_off = flaky.subscription()
    assert (backing_off["status"], backing_off["failed_attempts"]) == ("active", 0)
    assert backing_off["next_charge_at"] == "2026-02-28T09:35:00Z", "retried after 5 minutes"
    assert population.subjects(flaky) == BOUGHT, "a provider error emails nobody"

    ended = stops.subscription()
    assert (ended["status"], ended["cancel_reason"], ended["access"]) == (
        "cancelled",
        "auto_renew_off",
        False,
    )
    assert ended["last_failure"]["reason"] == "auto_renew_off", "the fifth reason, shown"
    assert ended["last_failure"]["action"] == "buy_new_subscription"
    assert population.charge_requests(stops) == 1, "only the purchase: no renewal charge"
    assert population.subjects(stops) == [
        *BOUGHT,
        "Automatic renewal is off for your Basic subscription",
        "Your Basic subscription has ended",
    ]
    assert resumes.subscription()["current_period_end"] == P2
    assert population.subjects(resumes) == [
        *BOUGHT,
        "Automatic renewal is off for your Basic subscription",
        "Automatic renewal is back on for your Basic subscription",
        RENEWED,
    ]

    lapsed = lapses.subscription()
    assert (lapsed["status"], lapsed["cancel_reason"]) == ("cancelled", "partner_not_renewed")
    assert f"Subscription {lapses.subscription_id} was not renewed" in population.partner_subjects()
    assert extended.subscription()["current_period_end"] == P2
    assert population.charge_requests(lapses) == population.charge_requests(extended) == 0

    # --- P1 + 5 minutes: the provider error is retried ---------------------------------------
    clock.now = P1 + timedelta(minutes=5)
    assert schedule.run().queued["due"] == 1
    assert flaky.subscription()["current_period_end"] == P2
    assert population.subjects(flaky) == [*BOUGHT, RENEWED]

    # --- P1 + 2 hours: the customer presses Retry Now; sales recharges another; one quits ----
    clock.now = P1 + timedelta(hours=2)
    pressed = retries.client.post(f"/subscriptions/{retries.subscription_id}/retry", key="r1")
    assert (pressed.status, pressed.json()["attempt"]["status"]) == (200, "succeeded")
    assert pressed.json()["current_period_start"] == "2026-02-28T09:30:00Z", "anchor kept"
    assert population.subjects(retries)[-1] == (
        "Retry Now: payment received, your Basic subscription is active"
    )
    sales = api.staff("sales").post(f"/admin/subscriptions/{recharged.subscription_id}/charge")
    assert (sales.status, sales.json()["status"]) == (200, "active")
    assert sales.json()["current_period_end"] == P2
    cancelled = quits.client.post(f"/subscriptions/{quits.subscription_id}/cancel")
    assert (cancelled.json()["status"], cancelled.json()["cancel_reason"]) == (
        "cancelled",
        "cancelled_by_customer",
    )
    assert population.subjects(quits)[-1] == "Your Basic subscription is cancelled"
    notices = api.outbox.sales_notices()
    assert [(n["notice"], n["details"]["subscription_id"]) for n in notices] == [
        ("retry_now_outcome", retries.subscription_id)
    ]

    # --- P1 + 3 hours: a Retry Now whose answer is lost; reconciled by the next run ----------
    clock.now = P1 + timedelta(hours=3)
    localstripe.inject(
        "POST",
        "/v1/payment_intents",
        delay=2.5,
        process_first=True,
        body_contains=unknown.subscription_id,
    )
    lost = unknown.client.post(f"/subscriptions/{unknown.subscription_id}/retry", key="r1")
    assert lost.status == 503, lost.body
    assert unknown.payments()[0]["status"] == "pending"
    clock.now = P1 + timedelta(hours=3, minutes=4)
    assert schedule.run().queued["pending"] == 0, "still within the in-flight window"
    clock.now = P1 + timedelta(hours=3, minutes=6)
    run = schedule.run()
    assert (run.queued["pending"], run.queued["old_pending"]) == (1, 1)
    reconciled = unknown.subscription()
    assert (reconciled["status"], reconciled["current_period_end"]) == ("active", P2)
    assert unknown.payments()[0]["status"] == "succeeded"
    assert population.charge_requests(unknown) == 3, "purchase, renewal, one Retry Now charge"

    # --- the dunning schedule: retries 1, 3, 7 and 14 days after P1 --------------------------
    clock.now = P1 + timedelta(days=1)
    schedule.run()
    assert recovers.subscription()["current_period_start"] == "2026-02-28T09:30:00Z"
    assert recovers.subscription()["status"] == "active"
    assert population.subjects(recovers)[-1] == RENEWED
    assert population.charge_requests(hard) == 2, "the hard decline is not retried on its card"
    assert hard.subscription()["retries_left"] == 3
    assert population.subjects(hard)[-1] == FAILED
    quits_requests = population.charge_requests(quits)

    for day, left in ((3, 2), (7, 1)):
        clock.now = P1 + timedelta(days=day)
        schedule.run()
        sub = dunned.subscription()
        assert (sub["status"], sub["retries_left"], sub["access"]) == ("past_due", left, True)

    clock.now = P1 + timedelta(days=14)
    schedule.run()
    for customer in (dunned, hard):
        gone = customer.subscription()
        assert (gone["status"], gone["cancel_reason"], gone["access"]) == (
            "cancelled",
            "payment_failed",
            False,
        )
        assert population.subjects(customer)[-1] == CANCELLED_AFTER_RETRIES
    assert population.charge_requests(dunned) == 6, "purchase, renewal and four retries"
    assert population.charge_requests(hard) == 2, "purchase and the declined renewal only"
    assert population.charge_requests(quits) == quits_requests, "retries stopped"
    assert sorted(
        n["details"]["subscription_id"]
        for n in api.outbox.sales_notices()
        if n["notice"] == "cancelled_after_failed_retries"
    ) == sorted([dunned.subscription_id, hard.subscription_id])
    assert [e.subject for e in api.outbox.emails_to(dunned.email)].count(FAILED) == 4

    # --- a week before P2, the extended partner subscription is reminded again --------------
    clock.now = datetime(2026, 3, 24, 9, 30, tzinfo=UTC)
    schedule.run()
    assert population.partner_subjects()[-1] == (
        f"Reminder: subscription {extended.subscription_id} ends on 31 March 2026, 09:30 UTC"
    )

    # --- every payment Stripe took is invoiced, for the same amount to the cent ---------------
    paid = [p for c in population.bought for p in c.payments() if p["status"] == "succeeded"]
    assert all(p["amount"] == p["tax"]["gross"] for p in paid)
    invoices = [p["invoice"]["number"] for p in paid]
    assert len(set(invoices)) == len(invoices) == len(paid)
    assert population.taken_at_stripe() == sum(p["tax"]["gross"] for p in paid)
