"""What any notifier sends for a change's effects, and to whom: customer emails in the account's
locale (payment emails to the invoice address, the account in copy), partner emails to the
partner, sales notices with their attributes; addresses that bounced or complained get only
what the law requires; charges and audit entries are not notifications, and an email that
cannot be written is a failed delivery, not an exception. Run against the
recording fake and `Notifier` on SES and SNS in moto; what only SES and SNS do (a sender they
refuse, a topic that is gone, filter policies, configuration sets) is in
tests/integration/test_notifier.py."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

import pytest

from billing.domain.accounts import (
    Account,
    BillingInfo,
    SuppressedEmail,
    SuppressionReason,
    normalised_email,
)
from billing.domain.locales import Locale
from billing.domain.state_machine import (
    Charge,
    CustomerCancelled,
    EmailCustomer,
    EmailTemplate,
    PartnerNotice,
    RetryNowRequested,
    SalesNotice,
    apply,
)
from billing.domain.subscription import Channel
from billing.notifications.emails import Links, render
from billing.notifications.sender import DeliveryKind
from billing.settings import ContactSettings
from tests.contract.outboxes import (
    CUSTOMER,
    PARTNER,
    PARTNER_CUSTOMER,
    Outbox,
    partner_reminder,
    retry_now_declined,
)
from tests.support.subscriptions import FIRST_END, past_due

pytestmark = pytest.mark.contract

CONTACTS = ContactSettings()
LINKS = Links(CONTACTS.customer_portal_url, CONTACTS.sales)


def test_a_retry_now_emails_the_customer_in_their_locale_and_tells_sales(outbox: Outbox) -> None:
    decision = retry_now_declined()
    [email] = decision.of_type(EmailCustomer)

    deliveries = outbox.notifier().deliver(CUSTOMER, decision.effects)

    assert [(d.kind, d.to, d.template, d.sent) for d in deliveries] == [
        (DeliveryKind.CUSTOMER_EMAIL, CUSTOMER.email, EmailTemplate.RETRY_NOW_RESULT, True),
        (
            DeliveryKind.SALES_NOTICE,
            outbox.settings.sales_topic_arn,
            SalesNotice.RETRY_NOW_OUTCOME,
            True,
        ),
    ]
    [sent] = outbox.emails()
    expected = render(EmailTemplate.RETRY_NOW_RESULT, Locale.FR, email.details, LINKS)
    assert sent.source == outbox.settings.email_sender
    assert sent.destinations == {"ToAddresses": [CUSTOMER.email]}
    assert sent.subject == expected.subject
    assert sent.subject.startswith("Retry Now : le paiement de votre abonnement")
    assert sent.body == expected.text
    assert deliveries[0].message_id == sent.id


def test_the_sales_notice_arrives_as_json_with_attributes_to_filter_on(outbox: Outbox) -> None:
    decision = retry_now_declined()
    [email] = decision.of_type(EmailCustomer)

    outbox.notifier().deliver(CUSTOMER, decision.effects)

    [notice] = outbox.notices()
    assert notice.subject == "Retry Now failed: subscription sub_1"
    assert notice.message == {
        "notice": "retry_now_outcome",
        "account_id": CUSTOMER.id,
        "account_email": CUSTOMER.email,
        "details": dict(email.details),
    }
    assert notice.attributes == {
        "notice": "retry_now_outcome",
        "outcome": "failed",
        "reason": "card_declined",
    }


def test_a_partner_reminder_goes_to_the_partner(outbox: Outbox) -> None:
    decision = partner_reminder()

    [delivery] = outbox.notifier().deliver(PARTNER_CUSTOMER, decision.effects)

    assert (delivery.kind, delivery.to, delivery.template, delivery.sent) == (
        DeliveryKind.PARTNER_EMAIL,
        PARTNER.email,
        PartnerNotice.RENEWAL_REMINDER,
        True,
    )
    [sent] = outbox.emails()
    assert sent.destinations == {"ToAddresses": [PARTNER.email]}
    assert sent.subject.startswith("Reminder: subscription sub_p ends on 28 February 2026")
    assert f"Customer: {PARTNER_CUSTOMER.email}" in sent.body
    assert outbox.notices() == []


def test_a_partner_notice_without_a_partner_is_skipped_with_a_warning(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    decision = partner_reminder()
    orphan = Account(id="acct_p", email="client@example.com", channel=Channel.PARTNER)

    with caplog.at_level(logging.WARNING):
        deliveries = outbox.notifier().deliver(orphan, decision.effects)

    assert deliveries == []
    assert outbox.emails() == []
    [record] = [r for r in caplog.records if r.__dict__.get("account_id") == "acct_p"]
    assert record.levelno == logging.WARNING


def test_charges_and_audit_entries_are_not_notifications(outbox: Outbox) -> None:
    retry_now = apply(past_due(), RetryNowRequested(at=FIRST_END + timedelta(hours=2)))
    assert retry_now.of_type(Charge)

    assert outbox.notifier().deliver(CUSTOMER, retry_now.effects) == []
    assert outbox.emails() == []
    assert outbox.notices() == []


def test_an_email_that_cannot_be_written_is_a_failed_delivery(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    unpriced = EmailCustomer(EmailTemplate.RENEWAL_RECEIPT, {"plan_id": "basic"})

    with caplog.at_level(logging.ERROR):
        [delivery] = outbox.notifier().deliver(CUSTOMER, [unpriced])

    assert not delivery.sent
    assert delivery.error is not None
    assert delivery.error.startswith("unwritable")
    assert outbox.emails() == []
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is not None


def test_payment_emails_go_to_the_invoice_address_with_the_account_in_copy(
    outbox: Outbox,
) -> None:
    info = BillingInfo("Camille Martin", "factures@example.fr", "1 rue", "Lyon", "FR")
    billed = replace(CUSTOMER, billing_info=info)
    notifier = outbox.notifier()
    [payment_email, _] = notifier.deliver(billed, retry_now_declined().effects)
    notifier.deliver(billed, apply(past_due(), CustomerCancelled(at=FIRST_END)).effects)
    payment, cancellation = outbox.emails()
    assert payment_email.to == "factures@example.fr"
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
    outbox.notifier(contacts).deliver(CUSTOMER, retry_now_declined().effects)
    [sent] = outbox.emails()
    assert "https://billing.example.org/portal/#/" in sent.body


def _bounced(account: Account, address: str) -> Account:
    bounce = SuppressedEmail(
        normalised_email(address), SuppressionReason.BOUNCE, FIRST_END, "General"
    )
    return replace(account, suppressed_emails=(bounce,))


def test_an_address_that_bounced_gets_nothing_but_what_the_law_requires(outbox: Outbox) -> None:
    bounced = _bounced(CUSTOMER, CUSTOMER.email)
    notifier = outbox.notifier()

    assert notifier.deliver(bounced, retry_now_declined().of_type(EmailCustomer)) == []
    cancelled = apply(past_due(), CustomerCancelled(at=FIRST_END)).of_type(EmailCustomer)
    [confirmation] = notifier.deliver(bounced, cancelled)

    assert confirmation.sent, "a termination is confirmed on a durable medium, whatever bounced"
    [sent] = outbox.emails()
    assert sent.destinations == {"ToAddresses": [CUSTOMER.email]}


def test_when_the_invoice_address_bounced_the_account_address_still_gets_payment_emails(
    outbox: Outbox,
) -> None:
    info = BillingInfo("Camille Martin", "factures@example.fr", "1 rue", "Lyon", "FR")
    billed = _bounced(replace(CUSTOMER, billing_info=info), "Factures@Example.fr")

    [delivery] = outbox.notifier().deliver(billed, retry_now_declined().of_type(EmailCustomer))

    assert (delivery.to, delivery.sent) == (CUSTOMER.email, True)
    [sent] = outbox.emails()
    assert sent.destinations == {"ToAddresses": [CUSTOMER.email]}


def test_a_partner_address_that_complained_gets_no_partner_email(outbox: Outbox) -> None:
    complained = replace(
        _bounced(PARTNER_CUSTOMER, PARTNER.email),
        suppressed_emails=(
            SuppressedEmail(PARTNER.email, SuppressionReason.COMPLAINT, FIRST_END, "abuse"),
        ),
    )

    assert outbox.notifier().deliver(complained, partner_reminder().effects) == []
    assert outbox.emails() == []
