"""What SES publishes to the feedback topic, read: permanent bounces and complaints become
feedback about the account the email was tagged with; soft and undetermined bounces, other
events and anything that is not an SES event record are ignored, each with its reason. And the
account tag, which carries any account id in the characters SES allows in a tag value."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.api.http import ID_PATTERN
from billing.domain.accounts import SuppressionReason
from billing.notifications.feedback import (
    ACCOUNT_TAG,
    Feedback,
    Ignored,
    IgnoredBecause,
    account_of_tag,
    account_tag,
    parse_feedback,
)

MESSAGE_ID = "0100019a1b2c3d4e-5f6a7b8c-0000-0000-0000-000000000000-000000"
REPORTED = "2026-02-03T08:00:01.669Z"
REPORTED_AT = datetime(2026, 2, 3, 8, 0, 1, tzinfo=UTC)
TAG_VALUE = re.compile(r"[A-Za-z0-9_-]{1,256}")
"""What SES accepts as a message tag value (ASCII letters, digits, ``_`` and ``-``, at most 256
characters: the SES v2 API reference, MessageTag)."""


def _mail(tags: dict[str, list[str]] | None) -> dict[str, Any]:
    """The ``mail`` object of an event record, as SES's examples show it."""
    mail: dict[str, Any] = {
        "timestamp": "2026-02-03T07:59:58.012Z",
        "source": "billing@example.com",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/billing@example.com",
        "sendingAccountId": "123456789012",
        "messageId": MESSAGE_ID,
        "destination": ["ada@example.com"],
        "headersTruncated": False,
    }
    if tags is not None:
        mail["tags"] = {
            "ses:configuration-set": ["billing-feedback"],
            "ses:source-ip": ["192.0.2.0"],
            "ses:from-domain": ["example.com"],
            **tags,
        }
    return mail


def _tags(account_id: str = "acct_1") -> dict[str, list[str]]:
    return {
        ACCOUNT_TAG: [account_tag(account_id)],
        "template": ["renewal_failed"],
        "locale": ["en"],
    }


def bounce(
    kind: str = "Permanent",
    subtype: str = "General",
    recipients: tuple[str, ...] = ("ada@example.com",),
    tags: dict[str, list[str]] | None = None,
) -> str:
    """The ``Sns.Message`` of a Bounce event record."""
    return json.dumps(
        {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": kind,
                "bounceSubType": subtype,
                "bouncedRecipients": [
                    {
                        "emailAddress": address,
                        "action": "failed",
                        "status": "5.1.1",
                        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
                    }
                    for address in recipients
                ],
                "timestamp": REPORTED,
                "feedbackId": "0100019a-feedback-000000",
                "reportingMTA": "dsn; mta.example.com",
            },
            "mail": _mail(_tags() if tags is None else tags),
        }
    )


def complaint(
    recipients: tuple[str, ...] = ("ada@example.com",),
    feedback_type: str | None = "abuse",
    tags: dict[str, list[str]] | None = None,
) -> str:
    """The ``Sns.Message`` of a Complaint event record."""
    event: dict[str, Any] = {
        "complainedRecipients": [{"emailAddress": address} for address in recipients],
        "timestamp": REPORTED,
        "feedbackId": "0100019a-feedback-000001",
        "userAgent": "Mozilla/5.0",
        "arrivalDate": REPORTED,
    }
    if feedback_type is not None:
        event["complaintFeedbackType"] = feedback_type
    return json.dumps(
        {
            "eventType": "Complaint",
            "complaint": event,
            "mail": _mail(_tags() if tags is None else tags),
        }
    )


# --- permanent bounces and complaints ---------------------------------------------------------


def test_a_permanent_bounce_is_feedback_about_its_recipients_and_the_tagged_account() -> None:
    parsed = parse_feedback(bounce(recipients=("Ada@Example.com", "grace@example.com")))

    assert parsed == Feedback(
        reason=SuppressionReason.BOUNCE,
        addresses=("ada@example.com", "grace@example.com"),
        account_id="acct_1",
        detail="General",
        at=REPORTED_AT,
        message_id=MESSAGE_ID,
        template="renewal_failed",
    )


@pytest.mark.parametrize(
    "subtype", ["General", "NoEmail", "Suppressed", "OnAccountSuppressionList"]
)
def test_every_permanent_bounce_counts_with_its_subtype(subtype: str) -> None:
    parsed = parse_feedback(bounce(subtype=subtype))

    assert isinstance(parsed, Feedback)
    assert (parsed.reason, parsed.detail) == (SuppressionReason.BOUNCE, subtype)


def test_a_complaint_is_feedback_with_its_feedback_type() -> None:
    parsed = parse_feedback(complaint())

    assert parsed == Feedback(
        reason=SuppressionReason.COMPLAINT,
        addresses=("ada@example.com",),
        account_id="acct_1",
        detail="abuse",
        at=REPORTED_AT,
        message_id=MESSAGE_ID,
        template="renewal_failed",
    )


def test_a_complaint_without_a_feedback_type_still_counts() -> None:
    """Mailbox providers need not send a feedback type; SES then leaves it out."""
    parsed = parse_feedback(complaint(feedback_type=None))

    assert isinstance(parsed, Feedback)
    assert (parsed.reason, parsed.detail) == (SuppressionReason.COMPLAINT, None)


def test_an_address_reported_twice_in_one_message_is_one_address() -> None:
    parsed = parse_feedback(bounce(recipients=("ada@example.com", "ADA@example.com")))

    assert isinstance(parsed, Feedback)
    assert parsed.addresses == ("ada@example.com",)


def test_an_identity_notification_reads_as_an_event_record_without_tags() -> None:
    """Feedback notifications set on the identity rather than a configuration set name the type
    ``notificationType`` and carry no tags: read, but matched to no account."""
    record = json.loads(bounce())
    record["notificationType"] = record.pop("eventType")
    del record["mail"]["tags"]

    parsed = parse_feedback(json.dumps(record))

    assert isinstance(parsed, Feedback)
    assert (parsed.reason, parsed.account_id) == (SuppressionReason.BOUNCE, None)


def test_an_unreadable_timestamp_is_left_for_the_recorder_to_date() -> None:
    record = json.loads(bounce())
    record["bounce"]["timestamp"] = "yesterday"

    parsed = parse_feedback(json.dumps(record))

    assert isinstance(parsed, Feedback)
    assert parsed.at is None


# --- the account tag --------------------------------------------------------------------------


def test_without_the_account_tag_the_feedback_names_no_account() -> None:
    tags = _tags()
    del tags[ACCOUNT_TAG]

    parsed = parse_feedback(complaint(tags=tags))

    assert isinstance(parsed, Feedback)
    assert parsed.account_id is None
    assert parsed.addresses == ("ada@example.com",), "still read: it is logged and counted"


def test_an_account_tag_account_tag_cannot_have_written_names_no_account() -> None:
    parsed = parse_feedback(bounce(tags={ACCOUNT_TAG: ["acct_x1"]}))

    assert isinstance(parsed, Feedback)
    assert parsed.account_id is None


def test_without_any_tags_the_feedback_names_no_account() -> None:
    record = json.loads(bounce())
    del record["mail"]["tags"]

    parsed = parse_feedback(json.dumps(record))

    assert isinstance(parsed, Feedback)
    assert parsed.account_id is None


@pytest.mark.parametrize(
    ("account_id", "tag"),
    [
        ("demo", "demo"),
        ("acct-1", "acct-1"),
        ("acct_1", "acct__1"),
        ("team.example:42", "team_dexample_c42"),
        ("a_d", "a__d"),
    ],
)
def test_an_account_id_is_written_in_the_characters_a_tag_value_allows(
    account_id: str, tag: str
) -> None:
    assert account_tag(account_id) == tag
    assert account_of_tag(tag) == account_id


@given(st.from_regex(ID_PATTERN, fullmatch=True))
def test_any_account_id_comes_back_from_its_tag(account_id: str) -> None:
    tag = account_tag(account_id)

    assert TAG_VALUE.fullmatch(tag)
    assert account_of_tag(tag) == account_id


@pytest.mark.parametrize("account_id", ["", "acct 1", "acct/1", "accé", "a" * 257, "a_" * 86])
def test_what_no_account_id_can_be_has_no_tag(account_id: str) -> None:
    with pytest.raises(ValueError, match=r"cannot be in an account id|as a tag value"):
        account_tag(account_id)


@pytest.mark.parametrize("tag", ["", "_", "acct_x1", "acct_", "acct.1", "acct 1"])
def test_a_tag_value_account_tag_cannot_have_written_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match=r"escape|cannot be in a tag value|not a tag value"):
        account_of_tag(tag)


# --- what is ignored --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "because"),
    [
        (bounce(kind="Transient", subtype="MailboxFull"), IgnoredBecause.TRANSIENT_BOUNCE),
        (bounce(kind="Transient", subtype="General"), IgnoredBecause.TRANSIENT_BOUNCE),
        (bounce(kind="Undetermined", subtype="Undetermined"), IgnoredBecause.UNDETERMINED_BOUNCE),
        (bounce(kind="Soft"), IgnoredBecause.UNDETERMINED_BOUNCE),
    ],
)
def test_a_bounce_that_is_not_permanent_is_ignored(message: str, because: IgnoredBecause) -> None:
    parsed = parse_feedback(message)

    assert isinstance(parsed, Ignored)
    assert parsed.because is because


@pytest.mark.parametrize("event_type", ["Delivery", "Send", "Reject", "Open", "DeliveryDelay"])
def test_events_that_are_not_feedback_are_ignored(event_type: str) -> None:
    message = json.dumps({"eventType": event_type, "mail": _mail(_tags())})

    parsed = parse_feedback(message)

    assert parsed == Ignored(IgnoredBecause.OTHER_EVENT, f"event type {event_type!r}")


def _without_recipients() -> str:
    record = json.loads(bounce())
    record["bounce"]["bouncedRecipients"] = []
    return json.dumps(record)


def _recipients_without_addresses() -> str:
    record = json.loads(complaint())
    record["complaint"]["complainedRecipients"] = [{"status": "5.1.1"}, "ada@example.com", None]
    return json.dumps(record)


@pytest.mark.parametrize(
    "message",
    [
        "",
        "not json",
        '{"eventType": "Bounce", "bounce": ',
        "[]",
        '"Bounce"',
        json.dumps({"eventType": "Bounce"}),
        json.dumps({"eventType": "Bounce", "bounce": "Permanent"}),
        json.dumps({"eventType": "Complaint", "complaint": None}),
        _without_recipients(),
        _recipients_without_addresses(),
        json.dumps(
            {"eventType": "Bounce", "bounce": {"bounceType": "Permanent", "bouncedRecipients": {}}}
        ),
    ],
)
def test_a_malformed_message_is_ignored_not_raised(message: str) -> None:
    parsed = parse_feedback(message)

    assert isinstance(parsed, Ignored)
    assert parsed.because is IgnoredBecause.MALFORMED


def test_a_bounce_with_a_malformed_mail_object_still_counts_without_an_account() -> None:
    record = json.loads(bounce())
    record["mail"] = ["not", "an", "object"]

    parsed = parse_feedback(json.dumps(record))

    assert isinstance(parsed, Feedback)
    assert (parsed.addresses, parsed.account_id, parsed.message_id) == (
        ("ada@example.com",),
        None,
        None,
    )
