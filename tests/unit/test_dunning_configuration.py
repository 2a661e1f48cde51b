"""The dunning schedule is configuration (`DunningRetryDays`, `ProviderErrorGraceHours`), and so
is the renewal notice's lead (`RENEWAL_NOTICE_DAYS`): read from the environment the template
gives every function, and checked when a function starts, so a schedule that cannot work, or a
notice the law does not allow, stops the deployment's first invocation rather than a renewal (the
start itself: tests/package/test_function_start.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from billing.settings import DunningSettings


def test_the_schedule_is_read_from_the_environment() -> None:
    settings = DunningSettings.from_environment(
        {"DUNNING_RETRY_DAYS": "2, 5,10", "PROVIDER_ERROR_GRACE_HOURS": "24"}
    )
    schedule = settings.schedule()
    assert (schedule.retry_days, schedule.provider_error_grace) == ((2, 5, 10), timedelta(hours=24))
    assert DunningSettings.from_environment({}).schedule().retry_days == (1, 3, 7, 14)


@pytest.mark.parametrize(("value", "days"), [(None, 45), ("31", 31), ("60", 60), ("89", 89)])
def test_the_renewal_notice_lead_is_read_from_the_environment(value: str | None, days: int) -> None:
    variables = {} if value is None else {"RENEWAL_NOTICE_DAYS": value}
    schedule = DunningSettings.from_environment(variables).schedule()
    assert schedule.renewal_notice == timedelta(days=days)


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        ({"DUNNING_RETRY_DAYS": "7,3"}, "retry days must be positive and increasing"),
        ({"DUNNING_RETRY_DAYS": "0,3"}, "retry days must be positive and increasing"),
        ({"DUNNING_RETRY_DAYS": "1,,3"}, "DUNNING_RETRY_DAYS"),
        ({"DUNNING_RETRY_DAYS": "one"}, "DUNNING_RETRY_DAYS"),
        ({"PROVIDER_ERROR_GRACE_HOURS": "-1"}, "PROVIDER_ERROR_GRACE_HOURS"),
        ({"RENEWAL_NOTICE_DAYS": "30"}, r"RENEWAL_NOTICE_DAYS\n.*31 to 89 days.*got 30 days"),
        ({"RENEWAL_NOTICE_DAYS": "90"}, r"RENEWAL_NOTICE_DAYS\n.*31 to 89 days.*got 90 days"),
        ({"RENEWAL_NOTICE_DAYS": "0"}, r"RENEWAL_NOTICE_DAYS\n.*between one and three months"),
        ({"RENEWAL_NOTICE_DAYS": "45.5"}, "RENEWAL_NOTICE_DAYS"),
        ({"RENEWAL_NOTICE_DAYS": "six weeks"}, "RENEWAL_NOTICE_DAYS"),
    ],
)
def test_a_schedule_that_cannot_work_is_refused_naming_it(
    variables: dict[str, str], problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        DunningSettings.from_environment(variables)
