"""The notices before a renewal, through the renewal run as it runs in AWS: a yearly customer
bought over HTTP is looked at by the schedule at the moments its due date names, is told of the
renewal 45 days before it (the date, the amount, how to stop it) and of a card that expires
first 30 days before it, each once, by email from the outbox; and is then renewed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from billing import composition
from billing.domain.billing_calendar import parse_instant
from tests.support.api import Api, Client, fresh_account_id
from tests.support.renewals import RenewalSchedule

NOTICE = "Your Basic subscription renews on"
CARD = "Your card expires before your Basic subscription renews"
RENEWED = "Payment received: your Basic subscription is renewed"


def _subscription(client: Client, sub_id: str) -> dict[str, Any]:
    answer = client.get(f"/subscriptions/{sub_id}")
    assert answer.status == 200, answer.body
    body: dict[str, Any] = answer.json()
    return body


def _next_due(until: datetime) -> datetime | None:
    """The earliest moment at or before `until` that the due index holds."""
    repository = composition.root().repository
    due = [
        entry.due_at
        for shard in repository.shards()
        for entry in repository.due_in_shard(shard, until)
    ]
    return min(due, default=None)


def _runs_until(api: Api, schedule: RenewalSchedule, until: datetime) -> list[datetime]:
    """A renewal run at every moment the due index asks for one, up to `until`."""
    runs = []
    while (due := _next_due(until)) is not None:
        api.clock.now = max(api.clock.now, due)
        schedule.run()
        runs.append(api.clock.now)
    return runs


def _card_expiring_on(account_id: str, year: int, month: int) -> None:
    """The saved card's expiry, as the card network's updater would have changed it."""
    repository = composition.root().repository
    account = repository.get_account(account_id)
    assert account.payment_method is not None
    card = replace(account.payment_method, exp_month=month, exp_year=year)
    repository.save_account(replace(account, payment_method=card))


def test_a_yearly_customer_is_told_of_the_renewal_and_of_an_expiring_card_once_each(
    api: Api, schedule: RenewalSchedule
) -> None:
    account_id = fresh_account_id("yearly")
    client = api.open_account(account_id)
    assert api.save_card(client).status == 200
    bought = api.buy(client, cycle_months=12)
    assert bought.status == 201, bought.body
    sub_id = bought.json()["id"]
    end = parse_instant(_subscription(client, sub_id)["current_period_end"])
    _card_expiring_on(account_id, end.year - 1, 12)

    runs = _runs_until(api, schedule, end - timedelta(seconds=1))

    assert end - timedelta(days=45) in runs, "the renewal notice's moment"
    assert end - timedelta(days=30) in runs, "the card check's moment"
    assert len(runs) <= 3, "the first look, the notice, the card: nothing else before the end"
    emails = api.outbox.emails_to(f"{account_id}@example.com")
    notice, card = (
        [e for e in emails if e.subject.startswith(NOTICE)],
        [e for e in emails if e.subject == CARD],
    )
    assert len(notice) == len(card) == 1, [e.subject for e in emails]
    assert "31 January 2027" in notice[0].body
    assert "12/2026" in card[0].body

    api.clock.now = end
    schedule.run()

    assert parse_instant(_subscription(client, sub_id)["current_period_end"]) > end
    subjects = [e.subject for e in api.outbox.emails_to(f"{account_id}@example.com")]
    assert subjects.count(RENEWED) == 1
    assert sum(s.startswith(NOTICE) for s in subjects) == 1, "once a period"
