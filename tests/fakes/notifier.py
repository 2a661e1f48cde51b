"""The notifier port in memory: the emails and sales notices a change's effects call for,
written and addressed as `Notifier` writes and addresses them, kept instead of handed to SES
and SNS."""

from __future__ import annotations

import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterable

from billing.domain.accounts import Account
from billing.domain.state_machine import (
    Effect,
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    NotifySales,
    PartnerNotice,
    SalesNotice,
)
from billing.notifications.emails import Links, RenderedEmail, render, render_partner
from billing.notifications.sender import (
    Delivery,
    DeliveryKind,
    partner_recipient,
    recipients,
    sales_subject,
)
from billing.settings import ContactSettings, NotificationSettings
from devstack.outbox import Notice, SentEmail

logger = logging.getLogger(__name__)

SALES_FILTER_KEYS = ("outcome", "reason")
"""Details also sent as the notice's attributes, for sales' subscriptions to filter on."""

DEFAULT_SETTINGS = NotificationSettings.from_environment(
    {
        "EMAIL_SENDER": "billing@example.com",
        "SALES_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sales-notices",
    }
)


class RecordingNotifier:
    """`emails` and `notices` hold what was sent, oldest first, in the shapes the real
    notifier's outbox reads back (`devstack.outbox`)."""

    def __init__(
        self,
        settings: NotificationSettings = DEFAULT_SETTINGS,
        contacts: ContactSettings | None = None,
    ) -> None:
        self._settings = settings
        contacts = contacts or ContactSettings()
        self._links = Links(contacts.customer_portal_url, contacts.sales)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.emails: list[SentEmail] = []
        self.notices: list[Notice] = []

    def deliver(self, account: Account, effects: Iterable[Effect]) -> list[Delivery]:
        deliveries = []
        for effect in effects:
            delivery = self._deliver_one(account, effect)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    def subjects_to(self, address: str) -> list[str]:
        """The subjects of the emails `address` received (as To or Cc), oldest first."""
        return [email.subject for email in self.emails if address in email.recipients]

    def _deliver_one(self, account: Account, effect: Effect) -> Delivery | None:
        if isinstance(effect, EmailCustomer):
            destination = recipients(account, effect.template)
            if not destination:
                return None
            return self._send(
                DeliveryKind.CUSTOMER_EMAIL,
                destination["ToAddresses"][0],
                effect.template,
                lambda: self._email(
                    destination,
                    render(effect.template, account.locale, effect.details, self._links),
                ),
            )
        if isinstance(effect, NotifySales):
            return self._send(
                DeliveryKind.SALES_NOTICE,
                self._settings.sales_topic_arn,
                effect.notice,
                lambda: self._publish(account, effect),
            )
        if isinstance(effect, NotifyPartner):
            return self._email_partner(account, effect)
        return None

    def _email_partner(self, account: Account, effect: NotifyPartner) -> Delivery | None:
        partner = partner_recipient(account)
        if partner is None:
            logger.warning(
                "partner notice skipped: no partner, or its address bounced or complained",
                extra={"account_id": account.id, "template": effect.notice.value},
            )
            return None
        details = {**effect.details, "customer_email": account.email}
        return self._send(
            DeliveryKind.PARTNER_EMAIL,
            partner.email,
            effect.notice,
            lambda: self._email(
                {"ToAddresses": [partner.email]},
                render_partner(effect.notice, details, account.locale),
            ),
        )

    def _send(
        self,
        kind: DeliveryKind,
        to: str,
        template: EmailTemplate | SalesNotice | PartnerNotice,
        send: Callable[[], str],
    ) -> Delivery:
        try:
            message_id = send()
        except (KeyError, ValueError) as error:
            logger.exception("notification could not be written", extra={"template": template})
            return Delivery(kind, to, template, error=f"unwritable: {error!r}")
        return Delivery(kind, to, template, message_id=message_id)

    def _email(self, destination: dict[str, list[str]], email: RenderedEmail) -> str:
        with self._lock:
            message_id = f"fake-{next(self._ids)}"
            self.emails.append(
                SentEmail(
                    message_id, self._settings.email_sender, destination, email.subject, email.text
                )
            )
        return message_id

    def _publish(self, account: Account, effect: NotifySales) -> str:
        message = {
            "notice": effect.notice.value,
            "account_id": account.id,
            "account_email": account.email,
            "details": dict(effect.details),
        }
        attributes = {
            "notice": effect.notice.value,
            **{key: effect.details[key] for key in SALES_FILTER_KEYS if key in effect.details},
        }
        subject = sales_subject(effect.notice, effect.details)
        with self._lock:
            self.notices.append(Notice(subject, json.loads(json.dumps(message)), attributes))
            return f"fake-{next(self._ids)}"
