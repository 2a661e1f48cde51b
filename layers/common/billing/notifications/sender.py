"""Sends the outbox's messages: customer and partner emails through SES, sales notices through
SNS. Failures are reported as the delivery's error (SES's or SNS's code), never raised: the
outbox's sender (`billing.delivery`) decides whether to retry."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from string import Template
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from billing.domain.accounts import Account, Partner
from billing.domain.outbox import REQUIRED_BY_LAW
from billing.domain.state_machine import (
    Details,
    Effect,
    EmailCustomer,
    EmailTemplate,
    NotifyPartner,
    NotifySales,
    PartnerNotice,
    SalesNotice,
)
from billing.domain.values import frozen
from billing.notifications.emails import Links, RenderedEmail, render, render_partner
from billing.notifications.feedback import ACCOUNT_TAG, account_tag
from billing.settings import ContactSettings, NotificationSettings

logger = logging.getLogger(__name__)


class DeliveryKind(StrEnum):
    CUSTOMER_EMAIL = "customer_email"
    SALES_NOTICE = "sales_notice"
    PARTNER_EMAIL = "partner_email"


@frozen
class Delivery:
    """One notification handed to SES or SNS (`message_id`), or not (`error`)."""

    kind: DeliveryKind
    to: str
    """The recipient's email address, or the sales topic's ARN."""
    template: EmailTemplate | SalesNotice | PartnerNotice
    message_id: str | None = None
    error: str | None = None
    """SES's or SNS's error code, or why the message could not be written."""

    @property
    def sent(self) -> bool:
        return self.error is None


_SALES_SUBJECTS: Mapping[SalesNotice, str] = {
    SalesNotice.RETRY_NOW_OUTCOME: "Retry Now ${outcome}: subscription ${subscription_id}",
    SalesNotice.CANCELLED_AFTER_FAILED_RETRIES: (
        "Cancelled after failed retries: subscription ${subscription_id}"
    ),
    SalesNotice.DISPUTE_OPENED: "Payment disputed: ${payment_id}",
    SalesNotice.DISPUTE_WON: "Dispute won: ${payment_id}",
    SalesNotice.DISPUTE_LOST: "Dispute lost: ${payment_id}",
}

_SNS_SUBJECT_LIMIT = 100

_SALES_FILTER_KEYS = ("outcome", "reason")
"""Details also sent as message attributes, so that subscriptions can filter on them."""

PAYMENT_EMAILS = frozenset(
    {
        EmailTemplate.PURCHASE_RECEIPT,
        EmailTemplate.RENEWAL_RECEIPT,
        EmailTemplate.RENEWAL_FAILED,
        EmailTemplate.RETRY_NOW_RESULT,
        EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES,
        EmailTemplate.PAYMENT_REVERSED,
        EmailTemplate.PAYMENT_REFUNDED,
    }
)
"""Receipts and payment failures: sent to the billing form's invoice address when there is
one, with the account's own address in copy so that whoever manages the account knows too."""


def partner_recipient(account: Account) -> Partner | None:
    """The partner a partner email goes to: None when the account has none any more, or when the
    partner's address bounced or complained."""
    partner = account.partner
    if partner is None or account.is_suppressed(partner.email):
        return None
    return partner


def recipients(account: Account, template: EmailTemplate) -> dict[str, list[str]]:
    """SES's Destination for a customer email, without the addresses that bounced or complained
    unless the law requires the email (`REQUIRED_BY_LAW`); empty when none is left."""
    info = account.billing_info
    if template not in PAYMENT_EMAILS or info is None or info.email == account.email:
        addresses = [account.email]
    else:
        addresses = [info.email, account.email]
    if template not in REQUIRED_BY_LAW:
        addresses = [address for address in addresses if not account.is_suppressed(address)]
    if not addresses:
        return {}
    to, *copied = addresses
    return {"ToAddresses": [to], **({"CcAddresses": copied} if copied else {})}


def sales_subject(notice: SalesNotice, details: Details) -> str:
    """The SNS subject sales see in email subscriptions, within SNS's 100-character limit."""
    return Template(_SALES_SUBJECTS[notice]).substitute(details)[:_SNS_SUBJECT_LIMIT]


def _failure(error: ClientError | BotoCoreError) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


class Notifier:
    """Sends the emails and notices among a change's effects; charges and audit are not its own."""

    def __init__(
        self,
        settings: NotificationSettings,
        contacts: ContactSettings | None = None,
        *,
        ses: Any | None = None,
        sns: Any | None = None,
    ) -> None:
        self._settings = settings
        contacts = contacts or ContactSettings()
        self._links = Links(contacts.customer_portal_url, contacts.sales)
        self._ses = ses
        self._sns = sns

    def _ses_client(self) -> Any:
        # Created on first use: a client made earlier (at import) would escape moto in tests.
        if self._ses is None:
            self._ses = boto3.client("sesv2", region_name=self._settings.region)
        return self._ses

    def _sns_client(self) -> Any:
        if self._sns is None:
            self._sns = boto3.client("sns", region_name=self._settings.region)
        return self._sns

    def deliver(self, account: Account, effects: Iterable[Effect]) -> list[Delivery]:
        """Send every email and notice in `effects`, in order; what was sent and what failed."""
        deliveries = []
        for effect in effects:
            delivery = self._deliver_one(account, effect)
            if delivery is not None:
                deliveries.append(delivery)
        return deliveries

    def _deliver_one(self, account: Account, effect: Effect) -> Delivery | None:
        if isinstance(effect, EmailCustomer):
            return self._email_customer(account, effect)
        if isinstance(effect, NotifySales):
            return self._notify_sales(account, effect)
        if isinstance(effect, NotifyPartner):
            return self._email_partner(account, effect)
        return None

    def _email_customer(self, account: Account, effect: EmailCustomer) -> Delivery | None:
        destination = recipients(account, effect.template)
        if not destination:
            logger.warning(
                "customer email not sent: its addresses bounced or complained",
                extra={"account_id": account.id, "template": effect.template.value},
            )
            return None
        return self._send(
            DeliveryKind.CUSTOMER_EMAIL,
            destination["ToAddresses"][0],
            effect.template,
            account,
            lambda: self._email(
                destination,
                render(effect.template, account.locale, effect.details, self._links),
                effect.template,
                account,
            ),
        )

    def _notify_sales(self, account: Account, effect: NotifySales) -> Delivery:
        return self._send(
            DeliveryKind.SALES_NOTICE,
            self._settings.sales_topic_arn,
            effect.notice,
            account,
            lambda: self._publish(account, effect.notice, effect.details),
        )

    def _email_partner(self, account: Account, effect: NotifyPartner) -> Delivery | None:
        partner = partner_recipient(account)
        if partner is None:
            logger.warning(
                "partner notice skipped: no partner, or its address bounced or complained",
                extra={"account_id": account.id, "template": effect.notice.value},
            )
            return None
        # Partners resell in their own market, so they are written to in the customer's language.
        details = {**effect.details, "customer_email": account.email}
        return self._send(
            DeliveryKind.PARTNER_EMAIL,
            partner.email,
            effect.notice,
            account,
            lambda: self._email(
                {"ToAddresses": [partner.email]},
                render_partner(effect.notice, details, account.locale),
                effect.notice,
                account,
            ),
        )

    def _send(
        self,
        kind: DeliveryKind,
        to: str,
        template: EmailTemplate | SalesNotice | PartnerNotice,
        account: Account,
        send: Callable[[], str],
    ) -> Delivery:
        """Run `send` (it returns the message id) and record the outcome."""
        context = {
            "delivery_kind": kind.value,
            "template": template.value,
            "account_id": account.id,
        }
        try:
            message_id = send()
        except (ClientError, BotoCoreError) as error:
            code = _failure(error)
            logger.error("notification not sent", extra={**context, "error": code}, exc_info=True)
            return Delivery(kind, to, template, error=code)
        except (KeyError, ValueError) as error:
            # A wording that asks for a detail its producer does not give: a bug, reported
            # loudly, but no reason to fail a change that is already committed.
            logger.exception("notification could not be written", extra=context)
            return Delivery(kind, to, template, error=f"unwritable: {error!r}")
        logger.info("notification sent", extra={**context, "message_id": message_id})
        return Delivery(kind, to, template, message_id=message_id)

    def _email(
        self,
        destination: dict[str, list[str]],
        email: RenderedEmail,
        template: EmailTemplate | PartnerNotice,
        account: Account,
    ) -> str:
        account_id, locale = account.id, account.locale
        optional: dict[str, Any] = {}
        if self._settings.ses_configuration_set:
            optional["ConfigurationSetName"] = self._settings.ses_configuration_set
        response = self._ses_client().send_email(
            FromEmailAddress=self._settings.email_sender,
            Destination=destination,
            Content={
                "Simple": {
                    "Subject": {"Data": email.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": email.text, "Charset": "UTF-8"}},
                    "Headers": [{"Name": "Content-Language", "Value": locale.value}],
                }
            },
            # Tags come back with SES's events: bounces and complaints find their account by
            # them, and are counted per template and locale.
            EmailTags=[
                {"Name": ACCOUNT_TAG, "Value": account_tag(account_id)},
                {"Name": "template", "Value": template.value},
                {"Name": "locale", "Value": locale.value},
            ],
            **optional,
        )
        return str(response["MessageId"])

    def _publish(self, account: Account, notice: SalesNotice, details: Details) -> str:
        message = {
            "notice": notice.value,
            "account_id": account.id,
            "account_email": account.email,
            "details": dict(details),
        }
        attributes = {
            "notice": {"DataType": "String", "StringValue": notice.value},
            **{
                key: {"DataType": "String", "StringValue": details[key]}
                for key in _SALES_FILTER_KEYS
                if key in details
            },
        }
        response = self._sns_client().publish(
            TopicArn=self._settings.sales_topic_arn,
            Subject=sales_subject(notice, details),
            Message=json.dumps(message, sort_keys=True),
            MessageAttributes=attributes,
        )
        return str(response["MessageId"])
