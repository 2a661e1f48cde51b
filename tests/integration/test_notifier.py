"""The notifier against SES and SNS in moto: what customers, partners and the sales team receive,
and that a failing SES or SNS is reported, never raised."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from pydantic import ValidationError

from billing.domain.accounts import Account, BillingInfo, Partner
from billing.domain.locales import Locale
from billing.domain.state_machine import (
    Charge,
    ChargeSucceeded,
    CustomerCancelled,
    Decision,
    EmailCustomer,
    EmailTemplate,
    NotifySales,
    PartnerNotice,
    PartnerReminderDue,
    RetryNowRequested,
    SalesNotice,
    apply,
)
from billing.domain.subscription import Channel, ChargeKind
from billing.notifications.emails import Links, render
from billing.notifications.sender import Delivery, DeliveryKind, Notifier, sales_subject
from billing.settings import ContactSettings, NotificationSettings
from devstack.outbox import subscribe_queue
from tests.support.notifications import REGION, Outbox, open_outbox
from tests.support.subscriptions import FIRST_END, PRICE, declined, partner, past_due

SENDER = "billing@example.com"
CUSTOMER = Account(id="acct_1", email="camille@example.fr", locale=Locale.FR)
PARTNER = Partner(id="partner_1", name="Reseller Ltd", email="renewals@reseller.example")
PARTNER_CUSTOMER = Account(
    id="acct_p", email="client@example.com", channel=Channel.PARTNER, partner=PARTNER
)
CONTACTS = ContactSettings()
LINKS = Links(CONTACTS.customer_portal_url, CONTACTS.sales)


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    with mock_aws():
        yield open_outbox(SENDER)


def _retry_now_declined() -> Decision:
    return apply(past_due(), declined(FIRST_END + timedelta(hours=2), ChargeKind.RETRY_NOW))


def _retry_now_paid() -> Decision:
    paid = ChargeSucceeded(
        at=FIRST_END + timedelta(hours=2), kind=ChargeKind.RETRY_NOW, amount=PRICE
    )
    return apply(past_due(), paid)


def _partner_reminder() -> Decision:
    return apply(partner(), PartnerReminderDue(at=FIRST_END - timedelta(days=7)))


def test_a_retry_now_emails_the_customer_in_their_locale_and_tells_sales(outbox: Outbox) -> None:
    decision = _retry_now_declined()
    [email] = decision.of_type(EmailCustomer)

    deliveries = Notifier(outbox.settings).deliver(CUSTOMER, decision.effects)

    assert [(d.kind, d.to, d.template, d.sent) for d in deliveries] == [
        (DeliveryKind.CUSTOMER_EMAIL, CUSTOMER.email, EmailTemplate.RETRY_NOW_RESULT, True),
        (
            DeliveryKind.SALES_NOTICE,
            outbox.settings.sales_topic_arn,
            SalesNotice.RETRY_NOW_OUTCOME,
            True,
        ),
    ]
    [sent] = outbox.emails
    expected = render(EmailTemplate.RETRY_NOW_RESULT, Locale.FR, email.details, LINKS)
    assert sent.source == SENDER
    assert sent.destinations == {"ToAddresses": [CUSTOMER.email]}
    assert sent.subject == expected.subject
    assert sent.subject.startswith("Retry Now : le paiement de votre abonnement")
    assert sent.body == expected.text
    assert deliveries[0].message_id == sent.id


def test_the_sales_notice_arrives_as_json_with_attributes_to_filter_on(outbox: Outbox) -> None:
    decision = _retry_now_declined()
    [email] = decision.of_type(EmailCustomer)

    Notifier(outbox.settings).deliver(CUSTOMER, decision.effects)

    [message] = outbox.sales_messages()
    assert json.loads(message["Body"]) == {
        "notice": "retry_now_outcome",
        "account_id": CUSTOMER.id,
        "account_email": CUSTOMER.email,
        "details": dict(email.details),
    }
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes == {
        "notice": "retry_now_outcome",
        "outcome": "failed",
        "reason": "card_declined",
    }


def test_sales_can_subscribe_to_failed_outcomes_only(outbox: Outbox) -> None:
    sns = boto3.client("sns", region_name=REGION)
    failed_only = subscribe_queue(
        sns,
        outbox.sqs,
        outbox.settings.sales_topic_arn,
        "failed-retries",
        FilterPolicy=json.dumps({"outcome": ["failed"]}),
    )
    notifier = Notifier(outbox.settings)

    notifier.deliver(CUSTOMER, _retry_now_paid().effects)
    notifier.deliver(CUSTOMER, _retry_now_declined().effects)

    received = outbox.sqs.receive_message(
        QueueUrl=failed_only, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    [failed] = received["Messages"]
    assert failed["MessageAttributes"]["outcome"]["StringValue"] == "failed"
    assert len(outbox.sales_messages()) == 2


def test_a_partner_reminder_goes_to_the_partner(outbox: Outbox) -> None:
    decision = _partner_reminder()

    [delivery] = Notifier(outbox.settings).deliver(PARTNER_CUSTOMER, decision.effects)

    assert (delivery.kind, delivery.to, delivery.template, delivery.sent) == (
        DeliveryKind.PARTNER_EMAIL,
        PARTNER.email,
        PartnerNotice.RENEWAL_REMINDER,
        True,
    )
    [sent] = outbox.emails
    assert sent.destinations == {"ToAddresses": [PARTNER.email]}
    assert sent.subject.startswith("Reminder: subscription sub_p ends on 28 February 2026")
    assert f"Customer: {PARTNER_CUSTOMER.email}" in sent.body
    assert outbox.sales_messages() == []


def test_a_partner_notice_without_a_partner_is_skipped_with_a_warning(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    decision = _partner_reminder()
    orphan = Account(id="acct_p", email="client@example.com", channel=Channel.PARTNER)

    with caplog.at_level(logging.WARNING, logger="billing.notifications.sender"):
        deliveries = Notifier(outbox.settings).deliver(orphan, decision.effects)

    assert deliveries == []
    assert outbox.emails == []
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.__dict__["account_id"] == "acct_p"


def test_an_unverified_sender_is_a_failed_delivery_not_an_exception(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = outbox.settings.model_copy(update={"email_sender": "nobody@unverified.example"})
    decision = _retry_now_declined()

    with caplog.at_level(logging.ERROR, logger="billing.notifications.sender"):
        email, sales = Notifier(settings).deliver(CUSTOMER, decision.effects)

    assert email == Delivery(
        DeliveryKind.CUSTOMER_EMAIL,
        CUSTOMER.email,
        EmailTemplate.RETRY_NOW_RESULT,
        error="MessageRejected",
    )
    assert not email.sent
    assert sales.sent, "one failed notification does not stop the others"
    assert outbox.emails == []
    [record] = caplog.records
    assert record.__dict__["error"] == "MessageRejected"
    assert record.__dict__["template"] == "retry_now_result"


def test_a_missing_sales_topic_is_a_failed_delivery(outbox: Outbox) -> None:
    arn = outbox.settings.sales_topic_arn.replace("sales-notices", "gone")
    settings = outbox.settings.model_copy(update={"sales_topic_arn": arn})

    email, sales = Notifier(settings).deliver(CUSTOMER, _retry_now_declined().effects)

    assert email.sent
    assert (sales.sent, sales.error, sales.to) == (False, "NotFound", arn)


class _UnreachableSES:
    def send_email(self, **_: Any) -> dict[str, str]:
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")


def test_an_unreachable_ses_is_a_failed_delivery(outbox: Outbox) -> None:
    [delivery] = Notifier(outbox.settings, ses=_UnreachableSES()).deliver(
        PARTNER_CUSTOMER, _partner_reminder().effects
    )

    assert (delivery.sent, delivery.error) == (False, "EndpointConnectionError")


def test_the_configuration_set_language_and_tags_go_with_each_email(outbox: Outbox) -> None:
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_configuration_set(ConfigurationSetName="billing-events")
    requests: list[dict[str, Any]] = []
    ses.meta.events.register(
        "provide-client-params.sesv2.SendEmail",
        lambda params, **_: requests.append(params),
    )
    settings = outbox.settings.model_copy(update={"ses_configuration_set": "billing-events"})

    [delivery] = Notifier(settings, ses=ses).deliver(PARTNER_CUSTOMER, _partner_reminder().effects)

    assert delivery.sent
    [request] = requests
    assert request["ConfigurationSetName"] == "billing-events"
    assert request["Content"]["Simple"]["Headers"] == [{"Name": "Content-Language", "Value": "en"}]
    assert {tag["Name"]: tag["Value"] for tag in request["EmailTags"]} == {
        "template": "renewal_reminder",
        "locale": "en",
    }


def test_clients_are_created_on_first_use_so_moto_started_later_catches_them() -> None:
    notifier = Notifier(
        NotificationSettings.from_environment(
            {
                "EMAIL_SENDER": SENDER,
                "SALES_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sales-notices",
            }
        )
    )
    with mock_aws():
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)

        [delivery] = notifier.deliver(PARTNER_CUSTOMER, _partner_reminder().effects)

        assert delivery.sent
        [sent] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        assert sent.destinations == {"ToAddresses": [PARTNER.email]}


def test_charges_and_audit_entries_are_not_notifications(outbox: Outbox) -> None:
    retry_now = apply(past_due(), RetryNowRequested(at=FIRST_END + timedelta(hours=2)))
    assert retry_now.of_type(Charge)

    assert Notifier(outbox.settings).deliver(CUSTOMER, retry_now.effects) == []
    assert outbox.emails == []


def test_an_email_that_cannot_be_written_is_a_failed_delivery(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    unpriced = EmailCustomer(EmailTemplate.RENEWAL_RECEIPT, {"plan_id": "basic"})

    with caplog.at_level(logging.ERROR, logger="billing.notifications.sender"):
        [delivery] = Notifier(outbox.settings).deliver(CUSTOMER, [unpriced])

    assert not delivery.sent
    assert delivery.error is not None
    assert delivery.error.startswith("unwritable")
    assert outbox.emails == []
    [record] = caplog.records
    assert record.exc_info is not None


def _last_retry_declined() -> Decision:
    sub = past_due()
    while sub.retries_left > 1:
        assert sub.next_retry_at is not None
        sub = apply(sub, declined(sub.next_retry_at, ChargeKind.RETRY)).subscription
    assert sub.next_retry_at is not None
    return apply(sub, declined(sub.next_retry_at, ChargeKind.RETRY))


@pytest.mark.parametrize(
    ("decision", "subject"),
    [
        (_retry_now_declined(), "Retry Now failed: subscription sub_1"),
        (_retry_now_paid(), "Retry Now succeeded: subscription sub_1"),
        (_last_retry_declined(), "Cancelled after failed retries: subscription sub_1"),
    ],
)
def test_sales_subjects_say_what_happened(decision: Decision, subject: str) -> None:
    [notice] = decision.of_type(NotifySales)
    assert sales_subject(notice.notice, notice.details) == subject


def test_settings_need_a_sender_and_a_sales_topic() -> None:
    with pytest.raises(ValidationError) as raised:
        NotificationSettings.from_environment({})
    assert {error["loc"][0] for error in raised.value.errors()} == {
        "EMAIL_SENDER",
        "SALES_TOPIC_ARN",
    }
    with pytest.raises(ValidationError):
        NotificationSettings.from_environment(
            {"EMAIL_SENDER": SENDER, "SALES_TOPIC_ARN": "sales-notices"}
        )


def test_payment_emails_go_to_the_invoice_address_with_the_account_in_copy(
    outbox: Outbox,
) -> None:
    info = BillingInfo("Camille Martin", "factures@example.fr", "1 rue", "Lyon", "FR")
    billed = replace(CUSTOMER, billing_info=info)
    notifier = Notifier(outbox.settings)
    notifier.deliver(billed, _retry_now_declined().effects)
    notifier.deliver(billed, apply(past_due(), CustomerCancelled(at=FIRST_END)).effects)
    payment, cancellation = outbox.emails
    assert payment.destinations == {
        "ToAddresses": ["factures@example.fr"],
        "CcAddresses": [CUSTOMER.email],
    }
    # Not a payment email: the account's own address only.
    assert cancellation.destinations == {"ToAddresses": [CUSTOMER.email]}


def test_emails_link_to_the_configured_portal(outbox: Outbox) -> None:
    contacts = ContactSettings.from_environment(
        {"CUSTOMER_PORTAL_URL": "https://billing.example.org/portal/"}
    )
    Notifier(outbox.settings, contacts).deliver(CUSTOMER, _retry_now_declined().effects)
    [sent] = outbox.emails
    assert "https://billing.example.org/portal/#/" in sent.body
