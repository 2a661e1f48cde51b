"""Retry Now, cancel and resume (docs/rules.md): the state rules, one attempt in flight, three
per 24 hours, and the emails and sales notices each outcome sends."""

from __future__ import annotations

from datetime import timedelta

from tests.support.api import Api, expect_error
from tests.support.stand_ins import StandIn


def test_retry_now_that_succeeds_renews_from_the_old_period_end_and_tells_everyone(
    api: Api,
) -> None:
    customer, sub_id = api.past_due("acct_1")
    api.card_saved_quietly("acct_1")
    api.clock.advance(hours=5)

    retried = customer.post(f"/subscriptions/{sub_id}/retry", key="press-1")

    assert retried.status == 200
    body = retried.json()
    assert body["attempt"] == {
        "status": "succeeded",
        "failure_reason": None,
        "message": None,
        "action": None,
    }
    assert (body["status"], body["current_period_start"]) == ("active", "2026-02-28T09:30:00Z")
    assert body["current_period_end"] == "2026-03-31T09:30:00Z"
    assert body["last_failure"] is None
    [notice] = api.outbox.sales_notices()
    assert notice["notice"] == "retry_now_outcome"
    assert notice["details"]["outcome"] == "succeeded"
    assert any("Retry" in e.subject or "renew" in e.subject for e in api.outbox.emails[-2:])


def test_retry_now_that_is_declined_answers_200_with_the_reason_and_keeps_the_schedule(
    api: Api,
) -> None:
    customer, sub_id = api.past_due("acct_1")
    before = customer.get(f"/subscriptions/{sub_id}").json()

    retried = customer.post(f"/subscriptions/{sub_id}/retry")

    assert retried.status == 200
    body = retried.json()
    assert body["attempt"]["status"] == "failed"
    assert body["attempt"]["failure_reason"] == "card_declined"
    assert body["attempt"]["action"]
    assert body["status"] == "past_due"
    # Retry Now does not shift the dunning schedule.
    assert (body["next_charge_at"], body["retries_left"]) == (
        before["next_charge_at"],
        before["retries_left"],
    )
    assert body["failed_attempts"] == before["failed_attempts"] + 1
    [notice] = api.outbox.sales_notices()
    assert (notice["notice"], notice["details"]["outcome"]) == ("retry_now_outcome", "failed")
    follow_ups = api.staff("sales").get("/admin/retry-requests").json()["items"]
    assert [sub["id"] for sub in follow_ups] == [sub_id]


def test_retry_now_is_for_past_due_subscriptions_only(api: Api) -> None:
    customer, active = api.subscribed("acct_1")
    cancelled_client, cancelled = api.past_due("acct_2")
    cancelled_client.post(f"/subscriptions/{cancelled}/cancel")

    expect_error(customer.post(f"/subscriptions/{active}/retry"), 409, "no_action_required")
    expect_error(
        cancelled_client.post(f"/subscriptions/{cancelled}/retry"), 409, "subscription_cancelled"
    )
    expect_error(customer.post("/subscriptions/sub_unknown/retry"), 404, "not_found")


def test_at_most_three_retry_now_per_day(api: Api, localstripe: StandIn) -> None:
    customer, sub_id = api.past_due("acct_1")
    charges_before = len(localstripe.requests("POST", "/v1/payment_intents"))

    answers = []
    for _ in range(4):
        api.clock.advance(minutes=10)
        answers.append(customer.post(f"/subscriptions/{sub_id}/retry").status)
    refused = customer.post(f"/subscriptions/{sub_id}/retry")
    api.clock.advance(hours=24)
    next_day = customer.post(f"/subscriptions/{sub_id}/retry")

    assert answers == [200, 200, 200, 429]
    expect_error(refused, 429, "too_many_retries")
    assert refused.json()["error"]["details"]["retry_after"] == "2026-03-01T09:40:00Z"
    assert len(localstripe.requests("POST", "/v1/payment_intents")) - charges_before == 4
    assert next_day.status == 200


def test_a_retry_while_another_attempt_is_in_flight_is_refused(
    api: Api, localstripe: StandIn
) -> None:
    customer, sub_id = api.past_due("acct_1")
    # The scheduler's retry has claimed the next attempt and is waiting on the provider.
    api.claim_next_attempt(sub_id, "acct_1")
    charges_before = len(localstripe.requests("POST", "/v1/payment_intents"))

    refused = customer.post(f"/subscriptions/{sub_id}/retry")

    expect_error(refused, 409, "retry_in_progress")
    assert len(localstripe.requests("POST", "/v1/payment_intents")) == charges_before
    assert api.staff("sales").post(f"/admin/subscriptions/{sub_id}/charge").status == 409


def test_a_repeated_retry_now_gets_the_first_response_without_charging_again(
    api: Api, localstripe: StandIn
) -> None:
    customer, sub_id = api.past_due("acct_1")
    first = customer.post(f"/subscriptions/{sub_id}/retry", key="press")
    charges = len(localstripe.requests("POST", "/v1/payment_intents"))

    again = customer.post(f"/subscriptions/{sub_id}/retry", key="press")

    assert again.status == first.status == 200
    assert again.json() == first.json()
    assert len(localstripe.requests("POST", "/v1/payment_intents")) == charges


def test_cancel_turns_auto_renew_off_and_is_idempotent_then_resume_turns_it_back_on(
    api: Api,
) -> None:
    customer, sub_id = api.subscribed("acct_1")

    cancelled = customer.post(f"/subscriptions/{sub_id}/cancel")
    again = customer.post(f"/subscriptions/{sub_id}/cancel")
    resumed = customer.post(f"/subscriptions/{sub_id}/resume")

    assert cancelled.status == again.status == resumed.status == 200
    assert (cancelled.json()["status"], cancelled.json()["auto_renew"]) == ("active", False)
    assert cancelled.json()["next_charge_at"] is None
    assert again.json() == cancelled.json()
    assert (resumed.json()["auto_renew"], resumed.json()["next_charge_at"]) == (
        True,
        "2026-02-28T09:30:00Z",
    )
    subjects = [e.subject for e in api.outbox.emails_to("acct_1@example.com")]
    assert sum("off" in s for s in subjects) == 1
    assert sum(" on " in s or s.endswith(" on") for s in subjects) == 1
    trail = customer.get(f"/subscriptions/{sub_id}/events").json()["items"]
    assert [e["action"] for e in trail] == ["opened", "customer_cancelled", "customer_resumed"]


def test_cancelling_a_past_due_subscription_ends_it_and_stops_retries(api: Api) -> None:
    customer, sub_id = api.past_due("acct_1")

    cancelled = customer.post(f"/subscriptions/{sub_id}/cancel")

    assert cancelled.status == 200
    body = cancelled.json()
    assert (body["status"], body["cancel_reason"], body["access"]) == (
        "cancelled",
        "cancelled_by_customer",
        False,
    )
    assert (body["next_charge_at"], body["retries_left"]) == (None, 0)
    expect_error(customer.post(f"/subscriptions/{sub_id}/resume"), 409, "subscription_cancelled")


def test_resume_after_the_period_ended_is_refused(api: Api) -> None:
    customer, sub_id = api.subscribed("acct_1")
    customer.post(f"/subscriptions/{sub_id}/cancel")
    api.clock.now += timedelta(days=28, minutes=1)

    expect_error(customer.post(f"/subscriptions/{sub_id}/resume"), 409, "period_ended")
    assert customer.get(f"/subscriptions/{sub_id}").json()["auto_renew"] is False
