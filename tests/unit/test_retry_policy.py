"""The provider retry policy: which failures are retried, how long it waits, what it gives up as."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from billing.providers.gateway import ProviderUnavailable
from billing.providers.retry import RetryPolicy, TransientFailure
from tests.support.sleeps import Sleeps


def _failing(statuses: list[int], retry_after: str | None = None) -> Callable[[], str]:
    """A call that fails with each of `statuses` in turn, then answers "ok"."""
    remaining = list(statuses)

    def call() -> str:
        if remaining:
            raise TransientFailure(remaining.pop(0), "busy", retry_after)
        return "ok"

    return call


def test_a_call_that_recovers_returns_its_answer() -> None:
    sleeps = Sleeps()

    assert RetryPolicy(sleep=sleeps).call(_failing([503, 429])) == "ok"
    assert len(sleeps) == 2


def test_retry_after_in_seconds_is_honoured_and_capped() -> None:
    sleeps = Sleeps()
    policy = RetryPolicy(sleep=sleeps, max_retry_after=20)

    policy.call(_failing([429], retry_after="7"))
    policy.call(_failing([429], retry_after="120"))

    assert sleeps == [7.0, 20.0]


def test_retry_after_as_an_http_date_is_honoured() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)

    delay = RetryPolicy(max_retry_after=60).delay(1, when)

    assert 25 <= delay <= 30


def test_without_retry_after_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(base_delay=1, max_delay=4)

    delays = [policy.delay(retry, None) for retry in range(1, 6)]

    assert [0.5 <= delays[0] <= 1, 1 <= delays[1] <= 2, 2 <= delays[2] <= 4] == [True] * 3
    assert all(2 <= d <= 4 for d in delays[3:])


def test_a_nonsense_retry_after_falls_back_to_backoff() -> None:
    assert RetryPolicy(base_delay=1, max_delay=1).delay(1, "soon") <= 1


@pytest.mark.parametrize(("status", "maybe_processed"), [(429, False), (500, True), (503, True)])
def test_giving_up_says_whether_the_provider_may_have_acted(
    status: int, maybe_processed: bool
) -> None:
    sleeps = Sleeps()

    with pytest.raises(ProviderUnavailable) as unavailable:
        RetryPolicy(attempts=3, sleep=sleeps).call(_failing([status] * 3))

    assert unavailable.value.maybe_processed is maybe_processed
    assert unavailable.value.code == str(status)
    assert len(sleeps) == 2


def test_a_policy_makes_at_least_one_call() -> None:
    with pytest.raises(ValueError, match="at least one call"):
        RetryPolicy(attempts=0)
