"""A payment-system outage at renewal time, through the renewal run: the renewal is retried with
backoff and nobody is told while the grace lasts; once it is over the subscription is past due
with the reason explained, the customer is emailed once, and Retry Now is theirs."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from billing import composition
from billing.domain.billing_calendar import parse_instant
from tests.support.api import Api, Client, expect_error, fresh_account_id
from tests.support.renewals import RenewalSchedule
from tests.support.stand_ins import StandIn

GRACE = timedelta(hours=1)
"""ProviderErrorGraceHours as configured here: the same rules as the default 72 hours, in the
five renewal runs of 5, 10 and 20 minutes' backoff and the grace's end rather than nineteen."""
PROCESSING_ERROR = {
    "error": {"type": "card_error", "code": "processing_error", "message": "Processing error."}
}
"""Stripe's answer when the card network failed: the bank's side, not the customer's."""
FAILED = "We could not renew your Basic subscription"


def _subscription(client: Client, sub_id: str) -> dict[str, Any]:
    answer = client.get(f"/subscriptions/{sub_id}")
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json()
    return body


def test_an_outage_past_the_grace_makes_the_renewal_past_due_with_one_email(
    api: Api, schedule: RenewalSchedule, localstripe: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVIDER_ERROR_GRACE_HOURS", "1")
    composition.install()
    account_id = fresh_account_id("outage")
    client, sub_id = api.subscribed(account_id)
    due = parse_instant(_subscription(client, sub_id)["current_period_end"])
    localstripe.inject(
        "POST", "/v1/payment_intents", status=402, body=PROCESSING_ERROR, times=100,
        body_contains=sub_id,
    )  # fmt: skip
    mailbox = f"{account_id}@example.com"
    bought = len(api.outbox.emails_to(mailbox))

    # Every run at the time the subscription asks to be looked at again, until it moves.
    tries: list[datetime] = []
    api.clock.now = due
    while _subscription(client, sub_id)["status"] == "active":
        assert api.clock.now <= due + GRACE, "active never outlasts the grace"
        expect_error(client.post(f"/subscriptions/{sub_id}/retry"), 409, "no_action_required")
        assert len(api.outbox.emails_to(mailbox)) == bought, "nobody is told during the grace"
        schedule.run()
        tries.append(api.clock.now)
        next_look = _subscription(client, sub_id)["next_charge_at"]
        api.clock.now = parse_instant(next_look)

    assert [try_at - due for try_at in tries] == [
        timedelta(0),
        timedelta(minutes=5),
        timedelta(minutes=15),
        timedelta(minutes=35),
        GRACE,
    ], "backoff doubling from 5 minutes, no later than the grace's end"
    sub = _subscription(client, sub_id)
    assert (sub["status"], sub["access"], sub["retries_left"]) == ("past_due", True, 4)
    failure = sub["last_failure"]
    assert (failure["reason"], failure["action"]) == ("provider_error", "none_we_will_retry")
    assert parse_instant(failure["at"]) == due + GRACE
    assert parse_instant(sub["next_charge_at"]) == due + GRACE + timedelta(days=1)
    [email] = api.outbox.emails_to(mailbox)[bought:]
    assert email.subject == FAILED
    assert "not your doing" in email.body

    # Past due: Retry Now is allowed, and its result is emailed even when the bank still fails.
    retried = client.post(f"/subscriptions/{sub_id}/retry", key="retry-after-outage")
    assert retried.status == 200, retried.body
    assert retried.json()["attempt"]["failure_reason"] == "provider_error"
    assert len(api.outbox.emails_to(mailbox)) == bought + 2
