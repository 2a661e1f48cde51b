"""The dunning schedule the template configures is the one renewals follow."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from billing import composition
from tests.support.api import Api, fresh_account_id


def test_a_declined_renewal_is_retried_on_the_configured_days(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DUNNING_RETRY_DAYS", "2,5")
    composition.install()

    client, sub_id = api.past_due(fresh_account_id("configured-dunning"))

    sub = client.get(f"/subscriptions/{sub_id}").json()
    declined_at = datetime.fromisoformat(sub["current_period_end"])
    assert sub["retries_left"] == 2
    assert datetime.fromisoformat(sub["next_charge_at"]) == declined_at + timedelta(days=2)
