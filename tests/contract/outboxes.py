"""The notifiers under the notifier contract, each with where to read what it sent (the recording
fake, and `Notifier` on SES and SNS in moto, in-process, started by the caller), and the
accounts and decisions the notifier's tests deliver."""

from __future__ import annotations

from datetime import timedelta

import boto3

from billing.domain.accounts import Account, Partner
from billing.domain.locales import Locale
from billing.domain.state_machine import ChargeSucceeded, Decision, PartnerReminderDue, apply
from billing.domain.subscription import Channel, ChargeKind
from billing.notifications.sender import Notifier
from billing.settings import ContactSettings
from devstack.outbox import Notice, NoticeTap, SentEmail
from tests.fakes import RecordingNotifier
from tests.fakes.notifier import DEFAULT_SETTINGS
from tests.support.notifications import open_outbox
from tests.support.subscriptions import FIRST_END, PRICE, declined, partner, past_due

CUSTOMER = Account(id="acct_1", email="camille@example.fr", locale=Locale.FR)
PARTNER = Partner(id="partner_1", name="Reseller Ltd", email="renewals@reseller.example")
PARTNER_CUSTOMER = Account(
    id="acct_p", email="client@example.com", channel=Channel.PARTNER, partner=PARTNER
)


def retry_now_declined() -> Decision:
    return apply(past_due(), declined(FIRST_END + timedelta(hours=2), ChargeKind.RETRY_NOW))


def retry_now_paid() -> Decision:
    paid = ChargeSucceeded(
        at=FIRST_END + timedelta(hours=2), kind=ChargeKind.RETRY_NOW, amount=PRICE
    )
    return apply(past_due(), paid)


def partner_reminder() -> Decision:
    return apply(partner(), PartnerReminderDue(at=FIRST_END - timedelta(days=7)))


class RecordedOutbox:
    """The fake notifier's side of the notifier contract: notifiers made with the given settings,
    and what the last one sent."""

    def __init__(self) -> None:
        self.settings = DEFAULT_SETTINGS
        self._made = RecordingNotifier()

    def notifier(self, contacts: ContactSettings | None = None) -> RecordingNotifier:
        self._made = RecordingNotifier(self.settings, contacts)
        return self._made

    def emails(self) -> list[SentEmail]:
        return list(self._made.emails)

    def notices(self) -> list[Notice]:
        return list(self._made.notices)


class MotoOutbox:
    """The real notifier's side: SES and SNS in moto (in-process), a verified sender, and the
    sales topic read through a queue subscribed to it (with the subject and attributes)."""

    def __init__(self) -> None:
        self._outbox = open_outbox(DEFAULT_SETTINGS.email_sender)
        self.settings = self._outbox.settings
        sns = boto3.client("sns", region_name="us-east-1")
        self._tap = NoticeTap(sns, self._outbox.sqs, self.settings.sales_topic_arn, "sales-tap")

    def notifier(self, contacts: ContactSettings | None = None) -> Notifier:
        return Notifier(self.settings, contacts)

    def emails(self) -> list[SentEmail]:
        return self._outbox.emails

    def notices(self) -> list[Notice]:
        return self._tap.notices()


Outbox = RecordedOutbox | MotoOutbox
