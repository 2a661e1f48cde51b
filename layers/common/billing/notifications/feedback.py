"""Bounces and complaints of the emails we send: SES publishes them (through the configuration
set's event destination) to an SNS topic, and each one that counts is recorded on the account
whose email it was, so that the address is not emailed again (docs/notifications.md).

Only permanent bounces and complaints count. A transient bounce (a full mailbox, a server that
is down) or an undetermined one says nothing lasting about the address, and SES already retried
it; other event types (deliveries, opens…) are not feedback.

The account is found from the ``account_id`` tag of the email (`ACCOUNT_TAG`), which the sender
writes with `account_tag`: SES message tag values may only hold ASCII letters, digits, ``_``
and ``-``, and account ids may also hold ``.`` and ``:``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit

from billing.changes import AccountWrite, write_account
from billing.domain.accounts import (
    Account,
    SuppressedEmail,
    SuppressionReason,
    normalised_email,
)
from billing.domain.billing_calendar import instant
from billing.domain.state_machine import Actor, Audit, Requester, account_audit
from billing.domain.values import frozen
from billing.observability import publish
from billing.persistence.repository import BillingRepository, NotFound

logger = logging.getLogger(__name__)

ACCOUNT_TAG = "account_id"
"""The SES message tag naming the account an email was sent for, its value `account_tag(id)`."""

SES = Requester(Actor.PROVIDER, "ses")
"""Who the audit trail says suppressed an address: the email provider, reporting the bounce or
the complaint."""

SUPPRESSED = "email_suppressed"
"""The audit action of an address recorded as suppressed."""

# --- The account tag --------------------------------------------------------------------------

_ESCAPES = {"_": "_", ".": "d", ":": "c"}
"""Characters of account ids (`billing.api.http.ID_PATTERN`) that a tag value cannot hold,
written as ``_`` and a letter; ``_`` itself is the escape, so it is written twice."""
_UNESCAPES = {letter: character for character, letter in _ESCAPES.items()}
_TAG_LIMIT = 256
"""SES's longest tag value."""


def _plain(character: str) -> bool:
    return character.isascii() and (character.isalnum() or character == "-")


def account_tag(account_id: str) -> str:
    """`account_id` as an SES message tag value (ASCII letters, digits, ``_`` and ``-``, at most
    256 characters): letters, digits and ``-`` as they are, ``_`` as ``__``, ``.`` as ``_d``,
    ``:`` as ``_c``. ``acct-1`` stays ``acct-1``; ``acct_1`` is ``acct__1``.

    Raises ValueError for an id no account can have (another character, or too long)."""
    parts = []
    for character in account_id:
        if character in _ESCAPES:
            parts.append("_" + _ESCAPES[character])
        elif _plain(character):
            parts.append(character)
        else:
            raise ValueError(f"{account_id!r}: {character!r} cannot be in an account id")
    tag = "".join(parts)
    if not tag or len(tag) > _TAG_LIMIT:
        raise ValueError(f"{account_id!r}: not 1 to {_TAG_LIMIT} characters as a tag value")
    return tag


def account_of_tag(tag: str) -> str:
    """The account id `account_tag` wrote as `tag`; ValueError if it cannot have written it."""
    characters = []
    escaped = False
    for character in tag:
        if escaped:
            if character not in _UNESCAPES:
                raise ValueError(f"{tag!r}: unknown escape _{character}")
            characters.append(_UNESCAPES[character])
            escaped = False
        elif character == "_":
            escaped = True
        elif _plain(character):
            characters.append(character)
        else:
            raise ValueError(f"{tag!r}: {character!r} cannot be in a tag value")
    if escaped or not characters:
        raise ValueError(f"{tag!r}: not a tag value account_tag writes")
    return "".join(characters)


# --- Parsing SES's event records --------------------------------------------------------------


class IgnoredBecause(StrEnum):
    """Why a message from the topic records nothing."""

    MALFORMED = "malformed"
    """Not an SES event record: not JSON, not an object, or a bounce or complaint without the
    fields that say who it was about."""
    OTHER_EVENT = "other_event"
    """An event that is not feedback about an address (Delivery, Send, Open, Reject…)."""
    TRANSIENT_BOUNCE = "transient_bounce"
    """A soft bounce (full mailbox, server down, message too large): the address may work
    tomorrow."""
    UNDETERMINED_BOUNCE = "undetermined_bounce"
    """A bounce whose kind SES could not tell: not enough to stop writing to the address."""


@frozen
class Ignored:
    because: IgnoredBecause
    why: str
    """For the log: what the message was."""


@frozen
class Feedback:
    """A permanent bounce or a complaint about one email: its recipients that must no longer
    be emailed, and the account the email was sent for."""

    reason: SuppressionReason
    addresses: tuple[str, ...]
    """Normalised (`normalised_email`), each once, in SES's order."""
    account_id: str | None
    """From the email's `ACCOUNT_TAG`; None without the tag, or with a value `account_tag`
    cannot have written."""
    detail: str | None = None
    """The bounce subtype, or the complaint's feedback type (its subtype without one)."""
    at: datetime | None = None
    """When the bounce or complaint was reported; None if SES gave no readable instant."""
    message_id: str | None = None
    """SES's id of the email that bounced or was complained about."""
    template: str | None = None
    """The email's ``template`` tag: which email it was."""


def parse_feedback(message: str) -> Feedback | Ignored:
    """The feedback in `message`, the ``Sns.Message`` of a record of the topic SES publishes to:
    the JSON of an SES event publishing record (``eventType``, ``mail``, ``bounce`` or
    ``complaint``), or of an identity notification (``notificationType``, which carries no
    tags). Never raises: what is not a permanent bounce or a complaint is Ignored, with why."""
    try:
        record = json.loads(message)
    except (TypeError, ValueError) as error:
        return Ignored(IgnoredBecause.MALFORMED, f"not JSON: {error}")
    if not isinstance(record, dict):
        return Ignored(IgnoredBecause.MALFORMED, "not a JSON object")
    event_type = record.get("eventType", record.get("notificationType"))
    if event_type == "Bounce":
        return _bounce(record)
    if event_type == "Complaint":
        return _complaint(record)
    return Ignored(IgnoredBecause.OTHER_EVENT, f"event type {event_type!r}")


def _bounce(record: Mapping[str, Any]) -> Feedback | Ignored:
    bounce = record.get("bounce")
    if not isinstance(bounce, dict):
        return Ignored(IgnoredBecause.MALFORMED, "a Bounce without its bounce object")
    kind = bounce.get("bounceType")
    if kind == "Transient":
        return Ignored(IgnoredBecause.TRANSIENT_BOUNCE, f"subtype {bounce.get('bounceSubType')!r}")
    if kind != "Permanent":
        return Ignored(IgnoredBecause.UNDETERMINED_BOUNCE, f"bounce type {kind!r}")
    return _feedback(
        SuppressionReason.BOUNCE,
        record,
        bounce,
        "bouncedRecipients",
        _text(bounce, "bounceSubType"),
    )


def _complaint(record: Mapping[str, Any]) -> Feedback | Ignored:
    complaint = record.get("complaint")
    if not isinstance(complaint, dict):
        return Ignored(IgnoredBecause.MALFORMED, "a Complaint without its complaint object")
    detail = _text(complaint, "complaintFeedbackType") or _text(complaint, "complaintSubType")
    return _feedback(SuppressionReason.COMPLAINT, record, complaint, "complainedRecipients", detail)


def _feedback(
    reason: SuppressionReason,
    record: Mapping[str, Any],
    event: Mapping[str, Any],
    recipients_field: str,
    detail: str | None,
) -> Feedback | Ignored:
    recipients = event.get(recipients_field)
    addresses = (
        [r.get("emailAddress") for r in recipients if isinstance(r, dict)]
        if isinstance(recipients, list)
        else []
    )
    normalised = tuple(
        dict.fromkeys(normalised_email(a) for a in addresses if isinstance(a, str) and a.strip())
    )
    if not normalised:
        return Ignored(IgnoredBecause.MALFORMED, f"a {reason.value} without {recipients_field}")
    mail = record.get("mail")
    mail = mail if isinstance(mail, dict) else {}
    tags = mail.get("tags")
    tags = tags if isinstance(tags, dict) else {}
    return Feedback(
        reason=reason,
        addresses=normalised,
        account_id=_account_id(_tag(tags, ACCOUNT_TAG)),
        detail=detail,
        at=_instant(event.get("timestamp")),
        message_id=_text(mail, "messageId"),
        template=_tag(tags, "template"),
    )


def _text(mapping: Mapping[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) and value else None


def _tag(tags: Mapping[str, Any], name: str) -> str | None:
    """A tag's value: SES writes each tag as a list of values (one, for tags we set)."""
    values = tags.get(name)
    if isinstance(values, list) and values and isinstance(values[0], str):
        return values[0]
    return None


def _account_id(tag: str | None) -> str | None:
    if tag is None:
        return None
    try:
        return account_of_tag(tag)
    except ValueError:
        logger.warning("email feedback with an unreadable account tag", extra={"tag": tag})
        return None


def _instant(value: object) -> datetime | None:
    """SES's ISO 8601 timestamp (``2017-08-05T00:41:02.669Z``), to the second; None if absent
    or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else instant(parsed)


# --- Recording --------------------------------------------------------------------------------


class Outcome(StrEnum):
    RECORDED = "recorded"
    """At least one address was added to the account's suppressed emails."""
    ALREADY_RECORDED = "already_recorded"
    """Every address was suppressed for this reason already (a redelivered message, or an
    address that bounced twice): nothing was written."""
    UNMATCHED = "unmatched"
    """No account to record it on: the email had no readable account tag, or the account does
    not exist. Logged and skipped."""


@frozen
class Recorded:
    """What recording one feedback did."""

    outcome: Outcome
    feedback: Feedback
    added: tuple[SuppressedEmail, ...] = ()
    """The suppressions this call wrote (none when another caller, or an earlier delivery, had
    written them)."""
    foreign: tuple[str, ...] = ()
    """The addresses that are neither the account's email, its billing form's, nor its
    partner's (recorded all the same)."""


class Publish(Protocol):
    """`billing.observability.publish`'s shape: a count, by name, with its dimensions."""

    def __call__(self, name: str, value: float, **dimensions: str) -> None: ...


def _metric(name: str, value: float, **dimensions: str) -> None:
    """A count, through `billing.observability.publish` (an EMF line on stdout)."""
    publish(name, value, MetricUnit.Count, **dimensions)


class EmailFeedback:
    """Records bounces and complaints on the accounts whose emails they were about."""

    def __init__(
        self,
        repository: BillingRepository,
        *,
        clock: Callable[[], datetime],
        publish: Publish = _metric,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self._publish = publish

    def handle(self, message: str) -> Recorded | Ignored:
        """Parse, record, log and count one ``Records[].Sns.Message``: what the ``notify``
        handler calls for each record of its event.

        Metrics (counts): ``EmailsBounced`` and ``EmailsComplained``, the addresses newly
        suppressed (none for a redelivery); ``EmailFeedbackUnmatched`` by ``why``
        (``no_account_tag``, ``unknown_account``); ``EmailFeedbackIgnored`` by ``reason`` (an
        `IgnoredBecause`).

        Raises only what `record` raises, for the message to be delivered again."""
        parsed = parse_feedback(message)
        if isinstance(parsed, Ignored):
            logger.info(
                "email feedback ignored",
                extra={"because": parsed.because.value, "why": parsed.why},
            )
            self._publish("EmailFeedbackIgnored", 1, reason=parsed.because.value)
            return parsed
        recorded = self.record(parsed)
        self._count(recorded)
        return recorded

    def record(self, feedback: Feedback) -> Recorded:
        """Add the feedback's addresses to its account's suppressed emails, with one audit
        entry each, in one write; an address already suppressed for the same reason is not
        added again, so a redelivered message changes nothing.

        Every address SES reported is recorded, also one that is neither the account's email,
        its billing form's nor its partner's (an address changed since the email was sent, or
        a partner's email tagged with its customer's account): it bounced or complained all the
        same. Those are returned as `Recorded.foreign` and logged.

        A feedback without an account (no tag) or for an account that does not exist is
        logged and answered UNMATCHED, never raised: SNS would deliver it again in vain.
        A lost race with another write of the account is re-applied to the account as it
        then is, COMMIT_TRIES times; after that ConcurrentModification, like StorageUnavailable,
        is raised so that the message is delivered again.
        """
        context = {"message_id": feedback.message_id, "reason": feedback.reason.value}
        if feedback.account_id is None:
            logger.warning("email feedback without an account tag", extra=context)
            return Recorded(Outcome.UNMATCHED, feedback)
        context["account_id"] = feedback.account_id
        now = instant(self._clock())
        entries = [
            SuppressedEmail(address, feedback.reason, feedback.at or now, feedback.detail)
            for address in feedback.addresses
        ]

        def suppressed(
            account: Account,
        ) -> tuple[tuple[tuple[SuppressedEmail, ...], tuple[str, ...]], AccountWrite | None]:
            updated, added = account.suppressing(*entries)
            foreign = tuple(a for a in feedback.addresses if _role(account, a) == "other")
            write = AccountWrite(updated, _audit(account, added, feedback, now)) if added else None
            return (added, foreign), write

        try:
            (added, foreign), _ = write_account(self._repository, feedback.account_id, suppressed)
        except NotFound:
            logger.warning("email feedback for an unknown account", extra=context)
            return Recorded(Outcome.UNMATCHED, feedback)
        if not added:
            logger.info("email feedback already recorded", extra=context)
            return Recorded(Outcome.ALREADY_RECORDED, feedback, foreign=foreign)
        logger.info(
            "email addresses suppressed",
            extra={**context, "added": len(added), "foreign": len(foreign)},
        )
        return Recorded(Outcome.RECORDED, feedback, added, foreign)

    def _count(self, recorded: Recorded) -> None:
        if recorded.outcome is Outcome.UNMATCHED:
            why = "no_account_tag" if recorded.feedback.account_id is None else "unknown_account"
            self._publish("EmailFeedbackUnmatched", 1, why=why)
            return
        metric = {
            SuppressionReason.BOUNCE: "EmailsBounced",
            SuppressionReason.COMPLAINT: "EmailsComplained",
        }[recorded.feedback.reason]
        if recorded.added:
            self._publish(metric, len(recorded.added))


def _role(account: Account, address: str) -> str:
    """Whose `address` (normalised) is on `account`: ``account_email``, ``billing_email``,
    ``partner_email`` or ``other``."""
    if normalised_email(account.email) == address:
        return "account_email"
    if account.billing_info is not None and normalised_email(account.billing_info.email) == address:
        return "billing_email"
    if account.partner is not None and normalised_email(account.partner.email) == address:
        return "partner_email"
    return "other"


def _audit(
    account: Account, added: Sequence[SuppressedEmail], feedback: Feedback, now: datetime
) -> list[Audit]:
    """One entry per address suppressed. The trail is kept forever, so it says whose address it
    was (`_role`), not the address itself: that is on the account, where it can be erased."""
    entries = []
    for suppressed in added:
        details = {
            "reason": suppressed.reason.value,
            "recipient": _role(account, suppressed.address),
        }
        optional = {
            "detail": suppressed.detail,
            "message_id": feedback.message_id,
            "template": feedback.template,
        }
        details |= {key: value for key, value in optional.items() if value is not None}
        entries.append(account_audit(SES, SUPPRESSED, now, details))
    return entries
