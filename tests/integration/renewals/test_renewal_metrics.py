"""The renewal run publishes the metrics operators chart and the template's alarm watches: read
back from the CloudWatch embedded-metric-format lines the functions print, as CloudWatch Logs
would extract them, after one run that renews one subscription and fails to renew another."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from billing import composition
from billing.domain.state_machine import account_audit
from devstack.metrics import Datum, extracted
from tests.support.api import START, Api, fresh_account_id
from tests.support.aws import resources_of_type
from tests.support.renewals import RenewalSchedule
from tests.support.subscriptions import CUSTOMER, active, first_attempt, purchase_of

P1 = START.replace(month=2, day=28)
"""The end of the first period of a subscription bought at START."""
SERVICE = {"service": "billing"}
"""The dimension every metric carries (POWERTOOLS_SERVICE_NAME in template.yaml)."""


def _extracted(stdout: str) -> list[Datum]:
    return list(extracted(stdout.splitlines()))


def _series(data: Iterable[Datum], name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The sum of every value of metric `name`, by dimension set."""
    sums: dict[tuple[tuple[str, str], ...], float] = {}
    for datum in data:
        if datum.name == name:
            key = tuple(sorted(datum.dimensions.items()))
            sums[key] = sums.get(key, 0) + sum(datum.values)
    return sums


def _key(**dimensions: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({**SERVICE, **dimensions}.items()))


def _leave_a_purchase_pending(account_id: str, claimed_at: datetime) -> None:
    """A purchase whose caller died after claiming its attempt and the account's open slot:
    pending until a run looks the charge up, and counted (OldPendingAttempts) meanwhile."""
    method = composition.root().repository.get_account(account_id).payment_method
    assert method is not None
    sub = replace(active(), id=f"sub_{uuid.uuid4().hex[:24]}", account_id=account_id)
    attempt = replace(
        first_attempt(sub),
        created_at=claimed_at,
        provider=method.provider,
        payment_method_id=method.token,
    )
    composition.root().repository.claim(
        attempt,
        account_audit(CUSTOMER, "charge_requested", claimed_at, {"attempt_id": attempt.id}),
        purchase_of(sub),
    )


def test_a_renewal_run_publishes_renewals_declines_by_reason_and_revenue(
    api: Api, schedule: RenewalSchedule, capsys: pytest.CaptureFixture[str]
) -> None:
    api.clock.now = START
    api.subscribed(fresh_account_id("metrics-renews"))
    declined_client, _ = api.subscribed(fresh_account_id("metrics-declined"))
    assert api.save_card(declined_client, "pm_card_chargeCustomerFail").status == 200
    api.clock.now = P1
    capsys.readouterr()

    run = schedule.run()

    data = _extracted(capsys.readouterr().out)
    assert run.queued["due"] == 2
    assert (run.drained.received, run.drained.deleted) == (2, 2)
    assert {datum.namespace for datum in data} == {"SubscriptionBilling"}
    assert all(SERVICE.items() <= datum.dimensions.items() for datum in data)
    assert _series(data, "RenewalsSucceeded") == {_key(): 1}
    assert _series(data, "RenewalsFailed") == {_key(reason="card_declined"): 1}
    assert _series(data, "Revenue") == {_key(currency="EUR"): 4900}, "minor units"
    assert {d.unit for d in data if d.name == "Revenue"} == {"None"}
    assert _series(data, "RenewalMessages") == {
        _key(outcome="charged"): 1,
        _key(outcome="declined"): 1,
    }


def test_old_pending_attempts_are_published_where_the_alarm_watches(
    api: Api, schedule: RenewalSchedule, capsys: pytest.CaptureFixture[str]
) -> None:
    alarm = resources_of_type("AWS::CloudWatch::Alarm")["OldPendingAttemptsAlarm"]["Properties"]
    watched = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    stuck = fresh_account_id("alarm-stuck-purchase")
    assert api.save_card(api.open_account(stuck)).status == 200
    _leave_a_purchase_pending(stuck, claimed_at=P1 - timedelta(minutes=10))
    api.clock.now = P1
    capsys.readouterr()

    assert schedule.dispatch()["old_pending"] == 1

    [published] = [d for d in _extracted(capsys.readouterr().out) if d.name == "OldPendingAttempts"]
    assert (published.namespace, published.name) == (alarm["Namespace"], alarm["MetricName"])
    assert published.dimensions == watched == SERVICE, "only the dimensions the alarm names"
    assert published.values == (1,)
    assert max(published.values) >= alarm["Threshold"], "one stuck purchase is enough to alarm"
