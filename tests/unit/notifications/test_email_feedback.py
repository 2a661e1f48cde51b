"""Recording bounces and complaints on the account (docs/notifications.md), on the
in-memory repository: the addresses suppressed once with an audit entry each, whoever's they
are; a redelivery or a concurrent delivery changing nothing more; a lost race re-applied to the
account as it then is; feedback without an account skipped, never raised; and the metrics."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from billing.changes import COMMIT_TRIES
from billing.domain.accounts import (
    Account,
    BillingInfo,
    Partner,
    SuppressedEmail,
    SuppressionReason,
)
from billing.domain.locales import Locale
from billing.domain.state_machine import Actor, Audit
from billing.notifications.feedback import (
    ACCOUNT_TAG,
    SUPPRESSED,
    EmailFeedback,
    Feedback,
    Ignored,
    IgnoredBecause,
    Outcome,
    Recorded,
    account_tag,
    parse_feedback,
)
from billing.persistence.repository import ConcurrentModification, StorageUnavailable
from devstack.metrics import extracted
from tests.fakes import InMemoryRepository
from tests.unit.notifications.test_feedback_messages import (
    MESSAGE_ID,
    REPORTED_AT,
    bounce,
    complaint,
)

NOW = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
ACCOUNT = Account(
    id="acct_1",
    email="ada@example.com",
    billing_info=BillingInfo("Ada Lovelace", "Billing@Example.com", "1 Main St", "Paris", "FR"),
    partner=Partner("prt_1", "Reseller", "desk@reseller.example"),
)


class Metrics:
    """The counts `EmailFeedback` publishes, as (name, value, dimensions)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, float, dict[str, str]]] = []

    def __call__(self, name: str, value: float, **dimensions: str) -> None:
        self.published.append((name, value, dimensions))


@pytest.fixture
def repository() -> InMemoryRepository:
    repository = InMemoryRepository()
    repository.save_account(ACCOUNT)
    return repository


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def feedback(repository: InMemoryRepository, metrics: Metrics) -> EmailFeedback:
    return EmailFeedback(
        repository, clock=lambda: NOW + timedelta(microseconds=250), publish=metrics
    )


def _suppressed_trail(repository: InMemoryRepository) -> list[Audit]:
    return [e for e in repository.account_trail(ACCOUNT.id) if e.action == SUPPRESSED]


def _parsed(message: str) -> Feedback:
    parsed = parse_feedback(message)
    assert isinstance(parsed, Feedback)
    return parsed


# --- recorded ---------------------------------------------------------------------------------


def test_a_hard_bounce_suppresses_the_address_with_an_audit_entry(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    result = feedback.handle(bounce(recipients=("Ada@Example.com",)))

    bounced = SuppressedEmail("ada@example.com", SuppressionReason.BOUNCE, REPORTED_AT, "General")
    assert isinstance(result, Recorded)
    assert (result.outcome, result.added, result.foreign) == (Outcome.RECORDED, (bounced,), ())
    account = repository.get_account(ACCOUNT.id)
    assert account.suppressed_emails == (bounced,)
    assert account.is_suppressed("ada@example.com")
    assert account.version == ACCOUNT.version + 2
    [entry] = _suppressed_trail(repository)
    assert (entry.actor, entry.by, entry.at) == (Actor.PROVIDER, "ses", NOW)
    assert entry.details == {
        "reason": "bounce",
        "detail": "General",
        "recipient": "account_email",
        "message_id": MESSAGE_ID,
        "template": "renewal_failed",
    }, "whose address it was, not the address: the trail is kept forever"
    assert metrics.published == [("EmailsBounced", 1, {})]


def test_a_complaint_suppresses_the_billing_address_it_was_about(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    result = feedback.handle(complaint(recipients=("billing@example.com",)))

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.RECORDED
    account = repository.get_account(ACCOUNT.id)
    assert account.suppressed_emails == (
        SuppressedEmail("billing@example.com", SuppressionReason.COMPLAINT, REPORTED_AT, "abuse"),
    )
    assert not account.is_suppressed(ACCOUNT.email), "the account's own address still works"
    [entry] = _suppressed_trail(repository)
    assert (entry.details["reason"], entry.details["recipient"]) == ("complaint", "billing_email")
    assert metrics.published == [("EmailsComplained", 1, {})]


def test_an_address_that_is_not_the_accounts_is_recorded_all_the_same(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    result = feedback.handle(
        bounce(recipients=("old-address@example.com", "desk@reseller.example"))
    )

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.RECORDED
    assert result.foreign == ("old-address@example.com",), "the partner's is the account's"
    account = repository.get_account(ACCOUNT.id)
    assert [s.address for s in account.suppressed_emails] == [
        "old-address@example.com",
        "desk@reseller.example",
    ]
    assert [e.details["recipient"] for e in _suppressed_trail(repository)] == [
        "other",
        "partner_email",
    ]
    assert metrics.published == [("EmailsBounced", 2, {})]


def test_feedback_without_a_readable_timestamp_is_dated_by_the_clock(
    feedback: EmailFeedback, repository: InMemoryRepository
) -> None:
    result = feedback.record(replace(_parsed(bounce()), at=None))

    assert isinstance(result, Recorded)
    assert [s.at for s in result.added] == [NOW], "to the second"
    assert repository.get_account(ACCOUNT.id).suppressed_emails[0].at == NOW


def test_other_fields_of_the_account_are_kept(
    feedback: EmailFeedback, repository: InMemoryRepository
) -> None:
    repository.save_account(replace(repository.get_account(ACCOUNT.id), locale=Locale.FR))

    feedback.handle(bounce())

    account = repository.get_account(ACCOUNT.id)
    assert replace(account, suppressed_emails=(), version=0) == replace(ACCOUNT, locale=Locale.FR)


# --- idempotent -------------------------------------------------------------------------------


def test_a_redelivered_message_changes_nothing(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    message = bounce()
    feedback.handle(message)
    stored = repository.get_account(ACCOUNT.id)
    trail = repository.account_trail(ACCOUNT.id)
    metrics.published.clear()
    repository.calls.clear()

    again = feedback.handle(message)

    assert isinstance(again, Recorded)
    assert (again.outcome, again.added) == (Outcome.ALREADY_RECORDED, ())
    assert "save_account" not in repository.calls
    assert repository.get_account(ACCOUNT.id) == stored
    assert repository.account_trail(ACCOUNT.id) == trail
    assert metrics.published == [], "nothing newly suppressed, nothing counted"


def test_a_second_bounce_of_a_suppressed_address_keeps_the_first(
    feedback: EmailFeedback, repository: InMemoryRepository
) -> None:
    feedback.handle(bounce(subtype="NoEmail"))

    later = feedback.handle(bounce(subtype="General", recipients=("ADA@example.com",)))

    assert isinstance(later, Recorded)
    assert later.outcome is Outcome.ALREADY_RECORDED
    [kept] = repository.get_account(ACCOUNT.id).suppressed_emails
    assert kept.detail == "NoEmail"


def test_a_message_naming_one_new_address_among_known_ones_adds_only_that_one(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    feedback.handle(bounce(recipients=("ada@example.com",)))
    metrics.published.clear()

    result = feedback.handle(bounce(recipients=("ada@example.com", "billing@example.com")))

    assert isinstance(result, Recorded)
    assert [s.address for s in result.added] == ["billing@example.com"]
    assert len(_suppressed_trail(repository)) == 2
    assert metrics.published == [("EmailsBounced", 1, {})]


# --- lost races -------------------------------------------------------------------------------


def test_a_write_lost_to_an_admins_edit_is_re_applied_to_the_edited_account(
    feedback: EmailFeedback, repository: InMemoryRepository
) -> None:
    def admin_edits_first(*_: object) -> None:
        del repository.before["save_account"]
        edited = replace(repository.get_account(ACCOUNT.id), locale=Locale.FR)
        repository.save_account(edited)

    repository.before["save_account"] = admin_edits_first

    result = feedback.handle(bounce())

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.RECORDED
    account = repository.get_account(ACCOUNT.id)
    assert account.locale is Locale.FR, "the edit that won stands"
    assert account.is_suppressed("ada@example.com")
    assert len(_suppressed_trail(repository)) == 1, "the lost write left no entry"
    assert repository.calls.count("get_account") >= 2


def test_a_write_lost_to_the_same_message_delivered_twice_at_once_records_it_once(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    message = bounce()
    other_delivery = EmailFeedback(repository, clock=lambda: NOW, publish=Metrics())

    def other_delivery_first(*_: object) -> None:
        del repository.before["save_account"]
        other_delivery.handle(message)

    repository.before["save_account"] = other_delivery_first

    result = feedback.handle(message)

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.ALREADY_RECORDED
    assert len(repository.get_account(ACCOUNT.id).suppressed_emails) == 1
    assert len(_suppressed_trail(repository)) == 1
    assert metrics.published == [], "the other delivery counted it"


def test_after_every_try_lost_the_message_is_left_to_be_delivered_again(
    feedback: EmailFeedback, repository: InMemoryRepository
) -> None:
    def another_writer_first(*_: object) -> None:
        hook = repository.before.pop("save_account")
        repository.save_account(repository.get_account(ACCOUNT.id))
        repository.before["save_account"] = hook

    repository.before["save_account"] = another_writer_first
    repository.calls.clear()

    with pytest.raises(ConcurrentModification):
        feedback.handle(bounce())

    assert repository.calls.count("save_account") == 2 * COMMIT_TRIES, "ours and the other's"
    assert repository.get_account(ACCOUNT.id).suppressed_emails == ()
    assert _suppressed_trail(repository) == []


def test_storage_failing_is_raised_for_the_message_to_be_delivered_again(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    repository.fail_next("save_account", StorageUnavailable("throttled"))

    with pytest.raises(StorageUnavailable):
        feedback.handle(bounce())

    assert repository.get_account(ACCOUNT.id).suppressed_emails == ()
    assert metrics.published == []
    redelivered = feedback.handle(bounce())
    assert isinstance(redelivered, Recorded)
    assert redelivered.outcome is Outcome.RECORDED


# --- skipped ----------------------------------------------------------------------------------


def test_feedback_without_the_account_tag_is_skipped_and_counted(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    repository.calls.clear()

    result = feedback.handle(complaint(tags={"template": ["renewal_failed"]}))

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.UNMATCHED
    assert repository.calls == [], "no account to read"
    assert metrics.published == [("EmailFeedbackUnmatched", 1, {"why": "no_account_tag"})]


def test_feedback_for_an_unknown_account_is_skipped_and_counted(
    feedback: EmailFeedback, repository: InMemoryRepository, metrics: Metrics
) -> None:
    repository.calls.clear()

    result = feedback.handle(bounce(tags={ACCOUNT_TAG: [account_tag("acct_gone")]}))

    assert isinstance(result, Recorded)
    assert result.outcome is Outcome.UNMATCHED
    assert repository.calls == ["get_account"]
    assert metrics.published == [("EmailFeedbackUnmatched", 1, {"why": "unknown_account"})]


@pytest.mark.parametrize(
    ("message", "because"),
    [
        (bounce(kind="Transient", subtype="MailboxFull"), IgnoredBecause.TRANSIENT_BOUNCE),
        (bounce(kind="Undetermined"), IgnoredBecause.UNDETERMINED_BOUNCE),
        (json.dumps({"eventType": "Delivery"}), IgnoredBecause.OTHER_EVENT),
        ("{not json", IgnoredBecause.MALFORMED),
    ],
)
def test_what_is_not_a_hard_bounce_or_a_complaint_changes_nothing_and_is_counted(
    feedback: EmailFeedback,
    repository: InMemoryRepository,
    metrics: Metrics,
    message: str,
    because: IgnoredBecause,
) -> None:
    repository.calls.clear()

    result = feedback.handle(message)

    assert isinstance(result, Ignored)
    assert result.because is because
    assert repository.calls == []
    assert metrics.published == [("EmailFeedbackIgnored", 1, {"reason": because.value})]


# --- the metrics as CloudWatch reads them -----------------------------------------------------


def test_the_counts_are_published_as_embedded_metric_format_lines(
    repository: InMemoryRepository, capsys: pytest.CaptureFixture[str]
) -> None:
    feedback = EmailFeedback(repository, clock=lambda: NOW)
    capsys.readouterr()

    feedback.handle(bounce(recipients=("ada@example.com", "billing@example.com")))
    feedback.handle(complaint(recipients=("desk@reseller.example",)))
    feedback.handle(bounce(tags={}))
    feedback.handle(bounce(kind="Transient"))

    data = list(extracted(capsys.readouterr().out.splitlines()))
    assert [(d.name, d.values, d.dimensions) for d in data] == [
        ("EmailsBounced", (2,), {"service": "billing"}),
        ("EmailsComplained", (1,), {"service": "billing"}),
        ("EmailFeedbackUnmatched", (1,), {"service": "billing", "why": "no_account_tag"}),
        ("EmailFeedbackIgnored", (1,), {"service": "billing", "reason": "transient_bounce"}),
    ]
    assert {(d.namespace, d.unit) for d in data} == {("SubscriptionBilling", "Count")}
