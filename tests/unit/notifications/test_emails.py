"""Every customer and partner email in every locale, rendered from the details the state machine
and the account builders really produce."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from billing.domain.accounts import (
    Account,
    BillingInfo,
    PaymentMethod,
    PaymentMethodKind,
    PaymentProvider,
)
from billing.domain.billing_calendar import parse_instant
from billing.domain.contacts import SalesContact
from billing.domain.failures import FailureReason, explain
from billing.domain.locales import Locale
from billing.domain.money import Currency, Money
from billing.domain.pricing import Discount
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    TRANSITIONS,
    CardExpiryCheckDue,
    ChargeSucceeded,
    CustomerCancelled,
    CustomerResumed,
    DisputeLost,
    EmailCustomer,
    EmailTemplate,
    Event,
    NotifyPartner,
    PartnerNotice,
    PartnerReminderDue,
    PeriodEnded,
    RenewalNoticeDue,
    RetryDue,
    SalesCancelled,
    apply,
    find_transition,
)
from billing.domain.subscription import ChargeKind, Subscription
from billing.notifications.emails import (
    CUSTOMER_EMAILS,
    PARTNER_EMAILS,
    Links,
    PortalPage,
    RenderedEmail,
    billing_info_updated,
    payment_method_removed,
    payment_method_updated,
    payment_refunded,
    portal_link,
    readable_amount,
    readable_instant,
    render,
    render_partner,
)
from tests.support.subscriptions import (
    ANCHOR,
    CARD,
    FIRST_END,
    PRICE,
    YEAR_END,
    active,
    bought,
    declined,
    partner,
    past_due,
    yearly,
)

RETRY_AT = FIRST_END + timedelta(days=1)
"""The first scheduled retry after the renewal declined at FIRST_END."""
RETRY_NOW_AT = FIRST_END + timedelta(hours=2)
NOTICE_AT = YEAR_END - DEFAULT_SCHEDULE.renewal_notice
"""When the yearly subscription bought at ANCHOR is told of its renewal on YEAR_END."""
CARD_CHECK_AT = YEAR_END - timedelta(days=30)
WELCOME20 = Discount("WELCOME20", Money(980, Currency.EUR), 1)


def _at_last_retry(reason: FailureReason) -> Subscription:
    """Past due with only the last scheduled retry left, every earlier one declined for `reason`."""
    sub = past_due(reason)
    while sub.retries_left > 1:
        assert sub.next_retry_at is not None
        sub = apply(sub, declined(sub.next_retry_at, ChargeKind.RETRY, reason)).subscription
    return sub


def _changes() -> dict[str, tuple[Subscription, Event]]:
    """One change for every row of the transition table that emails a customer or a partner."""
    soft_last = _at_last_retry(FailureReason.CARD_DECLINED)
    hard_last = _at_last_retry(FailureReason.PAYMENT_METHOD_INVALID)
    assert soft_last.next_retry_at is not None
    assert hard_last.next_retry_at is not None
    return {
        "renewal paid": (
            active(),
            ChargeSucceeded(at=FIRST_END, kind=ChargeKind.RENEWAL, amount=PRICE),
        ),
        "scheduled retry paid": (
            past_due(),
            ChargeSucceeded(at=RETRY_AT, kind=ChargeKind.RETRY, amount=PRICE),
        ),
        "renewal declined": (active(), declined(FIRST_END)),
        "scheduled retry declined": (past_due(), declined(RETRY_AT, ChargeKind.RETRY)),
        "sales recharge declined": (past_due(), declined(RETRY_NOW_AT, ChargeKind.SALES)),
        "retry now paid": (
            past_due(),
            ChargeSucceeded(at=RETRY_NOW_AT, kind=ChargeKind.RETRY_NOW, amount=PRICE),
        ),
        "retry now declined": (past_due(), declined(RETRY_NOW_AT, ChargeKind.RETRY_NOW)),
        "retry now provider error": (
            past_due(),
            declined(RETRY_NOW_AT, ChargeKind.RETRY_NOW, FailureReason.PROVIDER_ERROR),
        ),
        "auto-renew turned off": (active(), CustomerCancelled(at=ANCHOR + timedelta(days=3))),
        "ended with auto-renew off": (active(auto_renew=False), PeriodEnded(at=FIRST_END)),
        "renewal provider error past the grace": (
            active(),
            declined(FIRST_END + timedelta(days=3), reason=FailureReason.PROVIDER_ERROR),
        ),
        "auto-renew turned on": (
            active(auto_renew=False),
            CustomerResumed(at=ANCHOR + timedelta(days=3)),
        ),
        "last retry declined": (
            soft_last,
            declined(soft_last.next_retry_at, ChargeKind.RETRY, FailureReason.CARD_DECLINED),
        ),
        "last retry skipped after a hard decline": (
            hard_last,
            RetryDue(at=hard_last.next_retry_at, payment_method_id=CARD),
        ),
        "cancelled while past due": (past_due(), CustomerCancelled(at=RETRY_NOW_AT)),
        "renewal to confirm with the bank": (
            active(),
            replace(
                declined(FIRST_END, reason=FailureReason.AUTHENTICATION_REQUIRED),
                payment_id="sub_1.c00001.a001",
            ),
        ),
        "partner reminder": (partner(), PartnerReminderDue(at=FIRST_END - timedelta(days=7))),
        "partner did not renew": (partner(), PeriodEnded(at=FIRST_END)),
        "renewal notice": (yearly(renewal_notice_at=NOTICE_AT), RenewalNoticeDue(at=NOTICE_AT)),
        "renewal notice after a discount": (
            yearly(renewal_notice_at=NOTICE_AT, discount=WELCOME20),
            RenewalNoticeDue(at=NOTICE_AT),
        ),
        "card expiring": (
            yearly(renewal_notice_at=NOTICE_AT, renewal_notice_sent_at=NOTICE_AT),
            CardExpiryCheckDue(at=CARD_CHECK_AT, card_valid_through=date(2026, 12, 31)),
        ),
        "monthly renewal paid, card expiring": (
            active(),
            ChargeSucceeded(
                at=FIRST_END,
                kind=ChargeKind.RENEWAL,
                amount=PRICE,
                card_valid_through=date(2026, 3, 30),
            ),
        ),
        "scheduled retry paid, card expiring": (
            past_due(),
            ChargeSucceeded(
                at=RETRY_AT,
                kind=ChargeKind.RETRY,
                amount=PRICE,
                card_valid_through=date(2026, 3, 30),
            ),
        ),
        "renewal's dispute lost": (
            replace(active(), cycle=1, disputed_payment_id="sub_1.c00001.a001"),
            DisputeLost(
                at=FIRST_END + timedelta(days=40),
                payment_id="sub_1.c00001.a001",
                cycle=1,
                attempt=1,
            ),
        ),
        "cancelled by sales": (active(), SalesCancelled(at=RETRY_NOW_AT)),
        "retry now paid, card expiring": (
            past_due(),
            ChargeSucceeded(
                at=RETRY_NOW_AT,
                kind=ChargeKind.RETRY_NOW,
                amount=PRICE,
                card_valid_through=date(2026, 3, 30),
            ),
        ),
    }


CHANGES = _changes()

CARD_METHOD = PaymentMethod(
    provider=PaymentProvider.STRIPE,
    kind=PaymentMethodKind.CARD,
    token="pm_card_visa",
    brand="visa",
    last4="4242",
    exp_month=12,
    exp_year=2030,
)
PAYPAL_METHOD = PaymentMethod(
    provider=PaymentProvider.PAYPAL,
    kind=PaymentMethodKind.PAYPAL,
    token="vault_token_7",
    paypal_email="payer@example.com",
)
BILLING = BillingInfo(
    name="Camille Martin",
    email="factures@example.fr",
    address_line1="12 rue des Lilas",
    city="Lyon",
    postal_code="69003",
    country="FR",
    company="Martin SARL",
    vat_id="FR40303265045",
)
ACCOUNT = Account(id="acct_1", email="camille@example.fr", locale=Locale.FR)


def _purchase(discount: Discount | None = None) -> EmailCustomer:
    """The receipt of a monthly Basic plan bought at ANCHOR."""
    [email] = bought(discount=discount).of_type(EmailCustomer)
    return email


def _customer_emails() -> dict[str, EmailCustomer]:
    emails = {"purchase": _purchase()}
    for name, (sub, event) in CHANGES.items():
        for email in apply(sub, event).of_type(EmailCustomer):
            emails[f"{name}: {email.template}"] = email
    emails |= {
        "card saved": payment_method_updated(replace(ACCOUNT, payment_method=CARD_METHOD)),
        "paypal saved": payment_method_updated(replace(ACCOUNT, payment_method=PAYPAL_METHOD)),
        "billing info saved": billing_info_updated(replace(ACCOUNT, billing_info=BILLING)),
        "refunded": payment_refunded(active(), Money(1000, Currency.EUR)),
        "refunded and cancelled": payment_refunded(
            apply(active(), SalesCancelled(at=RETRY_NOW_AT)).subscription, PRICE
        ),
        "card removed at the provider": payment_method_removed(
            ACCOUNT, CARD_METHOD, (FIRST_END, PRICE)
        ),
        "paypal removed, nothing coming": payment_method_removed(ACCOUNT, PAYPAL_METHOD, None),
        "billing info saved, no company": billing_info_updated(
            replace(ACCOUNT, billing_info=replace(BILLING, company=None, vat_id=None))
        ),
    }
    return emails


def _partner_notices() -> dict[str, NotifyPartner]:
    return {
        name: notice
        for name, (sub, event) in CHANGES.items()
        for notice in apply(sub, event).of_type(NotifyPartner)
    }


CUSTOMER = _customer_emails()
PARTNER = _partner_notices()


def _of(template: EmailTemplate) -> list[EmailCustomer]:
    return [email for email in CUSTOMER.values() if email.template is template]


LINKS = Links(
    "https://app.example.com/billing",
    SalesContact("sales@example.com", "https://app.example.com/chat"),
)


def _rendered(email: EmailCustomer, locale: Locale) -> RenderedEmail:
    return render(email.template, locale, email.details, LINKS)


# --- Coverage: every template has words, and every producer's details fill them ---------------


@pytest.mark.parametrize("locale", list(Locale))
def test_every_template_and_partner_notice_has_words_in_every_locale(locale: Locale) -> None:
    assert set(CUSTOMER_EMAILS[locale]) == set(EmailTemplate)
    assert set(PARTNER_EMAILS[locale]) == set(PartnerNotice)


def test_the_producers_exercised_here_send_every_template_and_notice() -> None:
    assert {email.template for email in CUSTOMER.values()} == set(EmailTemplate)
    assert {notice.notice for notice in PARTNER.values()} == set(PartnerNotice)


def test_every_transition_that_writes_to_someone_is_exercised() -> None:
    writing = {
        row
        for row in TRANSITIONS
        if any(isinstance(spec, EmailTemplate | PartnerNotice) for spec in row.effects)
    }
    exercised = {find_transition(sub, event) for sub, event in CHANGES.values()}
    assert writing <= exercised, f"add a change for {writing - exercised}"


# --- Every email, every locale ------------------------------------------------------------------

ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
PLACEHOLDER = re.compile(r"[${}]")


def _assert_finished(email: RenderedEmail) -> None:
    for text in (email.subject, email.text):
        assert not PLACEHOLDER.search(text), "every placeholder is filled"
        assert not ISO_INSTANT.search(text), "dates are written for people"
    assert email.subject.strip()
    assert "\n" not in email.subject
    assert "\n\n\n" not in email.text


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", list(CUSTOMER))
def test_every_customer_email_renders_completely(name: str, locale: Locale) -> None:
    email = CUSTOMER[name]
    rendered = _rendered(email, locale)
    _assert_finished(rendered)
    if "plan_id" in email.details:
        assert "Basic" in rendered.subject, "the plan's name, not its id"
    if "reason" in email.details:
        assert email.details["reason"] not in rendered.text, "the reason in words, not its code"


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", list(PARTNER))
def test_every_partner_email_renders_completely(name: str, locale: Locale) -> None:
    notice = PARTNER[name]
    details = {**notice.details, "customer_email": "camille@example.fr"}
    rendered = render_partner(notice.notice, details, locale)
    _assert_finished(rendered)
    assert notice.details["subscription_id"] in rendered.subject
    assert "camille@example.fr" in rendered.text
    assert readable_instant(FIRST_END, locale) in rendered.text


@pytest.mark.parametrize("name", list(PARTNER))
def test_partner_emails_default_to_english_and_need_no_customer_email(name: str) -> None:
    notice = PARTNER[name]
    rendered = render_partner(notice.notice, notice.details)
    _assert_finished(rendered)
    assert rendered.text.startswith("Hello,")


FRENCH_WORDS = re.compile(r"\b(votre|vos|abonnement|paiement|Bonjour)\b", re.IGNORECASE)
ENGLISH_WORDS = re.compile(r"\b(your|the|subscription|payment|Hello)\b", re.IGNORECASE)


@pytest.mark.parametrize("name", list(CUSTOMER))
def test_french_emails_are_written_in_french(name: str) -> None:
    rendered = _rendered(CUSTOMER[name], Locale.FR)
    assert rendered.text.startswith("Bonjour,")
    assert FRENCH_WORDS.search(rendered.subject)
    assert not ENGLISH_WORDS.search(rendered.subject.replace("Retry Now", ""))
    assert rendered != _rendered(CUSTOMER[name], Locale.EN)


# --- Dates and amounts --------------------------------------------------------------------------


def test_dates_are_written_in_words_in_utc() -> None:
    purchase = CUSTOMER["purchase"]
    assert "28 February 2026, 09:30 UTC" in _rendered(purchase, Locale.EN).text
    assert "28 février 2026, 09:30 UTC" in _rendered(purchase, Locale.FR).text


@pytest.mark.parametrize(
    ("at", "locale", "written"),
    [
        (datetime(2026, 3, 1, 9, 30, tzinfo=UTC), Locale.FR, "1er mars 2026, 09:30 UTC"),
        (datetime(2026, 3, 1, 9, 30, tzinfo=UTC), Locale.EN, "1 March 2026, 09:30 UTC"),
        (datetime(2026, 8, 15, 23, 5, tzinfo=UTC), Locale.FR, "15 août 2026, 23:05 UTC"),
        (datetime(2026, 12, 31, 0, 0, tzinfo=UTC), Locale.EN, "31 December 2026, 00:00 UTC"),
    ],
)
def test_readable_instant(at: datetime, locale: Locale, written: str) -> None:
    assert readable_instant(at, locale) == written


@pytest.mark.parametrize(
    ("money", "locale", "written"),
    [
        (Money(4900, Currency.EUR), Locale.EN, "49.00 EUR"),
        (Money(4900, Currency.EUR), Locale.FR, "49,00 EUR"),
        (Money(190805, Currency.USD), Locale.EN, "1,908.05 USD"),
        (Money(190805, Currency.USD), Locale.FR, "1\u202f908,05 USD"),
        (Money(7, Currency.EUR), Locale.FR, "0,07 EUR"),
        (Money(-980, Currency.EUR), Locale.EN, "-9.80 EUR"),
    ],
)
def test_readable_amount(money: Money, locale: Locale, written: str) -> None:
    assert readable_amount(money, locale) == written


@pytest.mark.parametrize(
    ("locale", "written"), [(Locale.EN, "49.00 EUR"), (Locale.FR, "49,00 EUR")]
)
def test_receipts_show_the_amount_from_minor_units(locale: Locale, written: str) -> None:
    receipts = _of(EmailTemplate.RENEWAL_RECEIPT)
    assert receipts
    for receipt in receipts:
        assert receipt.details["amount"] == "4900"
        assert written in _rendered(receipt, locale).text


# --- What each email has to say -----------------------------------------------------------------

FAILURE_EMAILS = [
    name
    for name, email in CUSTOMER.items()
    if email.template is EmailTemplate.RENEWAL_FAILED
    or (email.template is EmailTemplate.RETRY_NOW_RESULT and email.details["outcome"] == "failed")
]


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", FAILURE_EMAILS)
def test_failure_emails_explain_the_reason_the_action_and_the_next_retry(
    name: str, locale: Locale
) -> None:
    email = CUSTOMER[name]
    text = _rendered(email, locale).text
    explanation = explain(FailureReason(email.details["reason"]), locale)
    assert explanation.message in text
    assert explanation.action_text in text
    next_retry = email.details["next_retry_at"]
    assert readable_instant(parse_instant(next_retry), locale) in text


@pytest.mark.parametrize(
    "reason",
    [
        FailureReason.PAYMENT_METHOD_INVALID,
        FailureReason.INSUFFICIENT_FUNDS,
        FailureReason.CARD_DECLINED,
    ],
)
@pytest.mark.parametrize("locale", list(Locale))
def test_a_declined_renewal_explains_each_reason(reason: FailureReason, locale: Locale) -> None:
    [email] = apply(active(), declined(FIRST_END, reason=reason)).of_type(EmailCustomer)
    text = _rendered(email, locale).text
    assert explain(reason, locale).message in text
    assert explain(reason, locale).action_text in text


@pytest.mark.parametrize("locale", list(Locale))
def test_retry_now_reads_differently_when_paid_and_when_declined(locale: Locale) -> None:
    [paid] = apply(*CHANGES["retry now paid"]).of_type(EmailCustomer)
    [failed] = apply(*CHANGES["retry now declined"]).of_type(EmailCustomer)
    assert paid.template is failed.template is EmailTemplate.RETRY_NOW_RESULT
    paid_email, failed_email = _rendered(paid, locale), _rendered(failed, locale)
    assert paid_email.subject != failed_email.subject
    assert readable_amount(PRICE, locale) in paid_email.text
    assert readable_amount(PRICE, locale) not in failed_email.text
    assert explain(FailureReason.CARD_DECLINED, locale).message in failed_email.text


@pytest.mark.parametrize(
    ("locale", "words"), [(Locale.EN, "make a new purchase"), (Locale.FR, "nouvel achat")]
)
def test_cancelled_after_failed_retries_asks_for_a_new_purchase(locale: Locale, words: str) -> None:
    emails = _of(EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES)
    assert len(emails) == 2
    for email in emails:
        text = _rendered(email, locale).text
        assert words in text
        assert explain(FailureReason(email.details["reason"]), locale).message in text


@pytest.mark.parametrize("locale", list(Locale))
def test_turning_auto_renew_off_says_when_the_subscription_ends(locale: Locale) -> None:
    [email] = _of(EmailTemplate.AUTO_RENEW_OFF)
    text = _rendered(email, locale).text
    assert readable_instant(FIRST_END, locale) in text


def test_purchase_receipt_shows_the_first_cycle_amount_after_the_discount() -> None:
    assert "Montant débité : 49,00 EUR." in _rendered(CUSTOMER["purchase"], Locale.FR).text


@pytest.mark.parametrize(
    ("locale", "written"),
    [
        (
            Locale.EN,
            "On 28 February 2026, 09:30 UTC the subscription renews automatically for the same "
            "length, and 49.00 EUR will be charged",
        ),
        (Locale.FR, "Le 28 février 2026, 09:30 UTC, l'abonnement sera renouvelé"),
    ],
)
def test_purchase_receipt_states_the_first_renewal_and_its_amount(
    locale: Locale, written: str
) -> None:
    text = _rendered(CUSTOMER["purchase"], locale).text
    assert written in text
    assert not re.search("full price|prix fort", text), "no discount to end"


@pytest.mark.parametrize(
    ("locale", "charged", "renewal", "words"),
    [
        (Locale.EN, "Amount charged: 39.20 EUR.", "49.00 EUR will be charged", "full price"),
        (Locale.FR, "Montant débité : 39,20 EUR.", "49,00 EUR seront débités", "prix fort"),
    ],
)
def test_a_first_cycle_discount_is_not_a_surprise_at_renewal(
    locale: Locale, charged: str, renewal: str, words: str
) -> None:
    email = _purchase(Discount("WELCOME20", Money(980, Currency.EUR), 1))
    text = _rendered(email, locale).text
    assert charged in text
    assert renewal in text
    assert words in text


EXPECTED_PAGES = {
    "purchase": PortalPage.SUBSCRIPTION,
    "renewal paid: renewal_receipt": PortalPage.SUBSCRIPTION,
    "renewal declined: renewal_failed": PortalPage.PAYMENT_METHOD,
    "renewal provider error past the grace: renewal_failed": PortalPage.SUBSCRIPTION,
    "retry now declined: retry_now_result": PortalPage.PAYMENT_METHOD,
    "retry now paid: retry_now_result": PortalPage.SUBSCRIPTION,
    "auto-renew turned off: auto_renew_off": PortalPage.SUBSCRIPTION,
    "ended with auto-renew off: subscription_ended": PortalPage.PLANS,
    "last retry declined: cancelled_after_failed_retries": PortalPage.PLANS,
    "cancelled while past due: subscription_cancelled": PortalPage.PLANS,
    "card saved": PortalPage.BILLING,
    "renewal to confirm with the bank: renewal_failed": PortalPage.CONFIRM_PAYMENT,
    "renewal notice: renewal_notice": PortalPage.SUBSCRIPTION,
    "card expiring: card_expiring": PortalPage.PAYMENT_METHOD,
    "monthly renewal paid, card expiring: card_expiring": PortalPage.PAYMENT_METHOD,
}


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("name", list(CUSTOMER))
def test_every_customer_email_links_to_where_the_customer_acts(name: str, locale: Locale) -> None:
    email = CUSTOMER[name]
    text = _rendered(email, locale).text
    assert f": {LINKS.portal}/#/" in text
    if name in EXPECTED_PAGES:
        assert portal_link(LINKS, EXPECTED_PAGES[name], email.details) in text


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize(
    ("name", "hinted"),
    [
        ("renewal declined: renewal_failed", True),
        ("renewal to confirm with the bank: renewal_failed", False),
        ("renewal provider error past the grace: renewal_failed", False),
    ],
)
def test_retry_now_is_suggested_only_once_the_customer_can_fix_the_payment_method(
    name: str, hinted: bool, locale: Locale
) -> None:
    text = _rendered(CUSTOMER[name], locale).text
    assert ("Retry Now" in text) is hinted
    assert readable_instant(parse_instant(CUSTOMER[name].details["next_retry_at"]), locale) in text


def test_a_renewal_to_confirm_links_to_its_payment() -> None:
    email = CUSTOMER["renewal to confirm with the bank: renewal_failed"]
    link = portal_link(LINKS, PortalPage.CONFIRM_PAYMENT, email.details)
    assert (
        link
        == "https://app.example.com/billing/#/subscriptions/sub_1/payments/sub_1.c00001.a001/confirm"
    )


def test_links_name_the_subscription_they_are_about() -> None:
    [email] = apply(active(), declined(FIRST_END)).of_type(EmailCustomer)
    link = portal_link(LINKS, PortalPage.SUBSCRIPTION, email.details)
    assert link == "https://app.example.com/billing/#/subscriptions/sub_1"


@pytest.mark.parametrize("locale", list(Locale))
def test_a_failed_retry_now_says_how_to_reach_sales(locale: Locale) -> None:
    text = _rendered(CUSTOMER["retry now declined: retry_now_result"], locale).text
    assert "sales@example.com" in text
    assert "https://app.example.com/chat" in text


def test_retry_now_always_emails_its_result() -> None:
    for change in ("retry now paid", "retry now declined", "retry now provider error"):
        [email] = apply(*CHANGES[change]).of_type(EmailCustomer)
        assert email.template is EmailTemplate.RETRY_NOW_RESULT


@pytest.mark.parametrize(
    ("locale", "words"),
    [(Locale.EN, "automatic renewal was turned off"), (Locale.FR, "renouvellement automatique")],
)
def test_the_end_with_auto_renew_off_is_explained_with_the_way_back(
    locale: Locale, words: str
) -> None:
    [email] = _of(EmailTemplate.SUBSCRIPTION_ENDED)
    text = _rendered(email, locale).text
    assert words in text
    assert readable_instant(FIRST_END, locale) in text
    assert f"{LINKS.portal}/#/plans" in text


@pytest.mark.parametrize(
    ("locale", "renews", "cancel"),
    [
        (
            Locale.EN,
            "Your Basic subscription renews automatically on 31 January 2027, 09:30 UTC for the "
            "same length, and 49.00 EUR will then be charged to your saved payment method.",
            "To cancel, turn automatic renewal off on your subscription's page (link below) at "
            "any time before 31 January 2027, 09:30 UTC: your subscription then stays active "
            "until that date and nothing more is charged.",
        ),
        (
            Locale.FR,
            "Votre abonnement Basic sera renouvelé automatiquement le 31 janvier 2027, 09:30 UTC "
            "pour la même durée, et 49,00 EUR seront alors débités sur votre mode de paiement "
            "enregistré.",
            "Pour le résilier, désactivez le renouvellement automatique depuis la page de votre "
            "abonnement (lien ci-dessous) à tout moment avant le 31 janvier 2027, 09:30 UTC : "
            "votre abonnement restera actif jusqu'à cette date et plus rien ne sera débité.",
        ),
    ],
)
def test_the_renewal_notice_states_the_date_the_amount_and_how_to_cancel_until_then(
    locale: Locale, renews: str, cancel: str
) -> None:
    rendered = _rendered(CUSTOMER["renewal notice: renewal_notice"], locale)
    assert readable_instant(YEAR_END, locale) in rendered.subject
    assert renews in rendered.text
    assert cancel in rendered.text
    assert f"{LINKS.portal}/#/subscriptions/sub_1" in rendered.text
    assert not re.search("full price|prix fort", rendered.text)


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        (
            Locale.EN,
            "Your discount does not apply to this renewal: it is charged at the full price.",
        ),
        (
            Locale.FR,
            "Votre remise ne s'applique pas à ce renouvellement : il est facturé au prix fort.",
        ),
    ],
)
def test_the_renewal_notice_says_when_a_discount_ends(locale: Locale, words: str) -> None:
    text = _rendered(CUSTOMER["renewal notice after a discount: renewal_notice"], locale).text
    assert words in text
    assert readable_amount(PRICE, locale) in text, "the full price, charged then"


@pytest.mark.parametrize(
    ("locale", "expiry", "action"),
    [
        (
            Locale.EN,
            "The card saved on your account expires at the end of 12/2026, before your Basic "
            "subscription renews on 31 January 2027, 09:30 UTC.",
            "please save a new payment method before that date (link below): the renewal, "
            "49.00 EUR, will be charged to it.",
        ),
        (
            Locale.FR,
            "La carte enregistrée sur votre compte expire fin 12/2026, avant le renouvellement de "
            "votre abonnement Basic le 31 janvier 2027, 09:30 UTC.",
            "enregistrez un nouveau mode de paiement avant cette date (lien ci-dessous) : le "
            "renouvellement, d'un montant de 49,00 EUR, y sera débité.",
        ),
    ],
)
def test_the_card_expiring_email_asks_for_a_new_payment_method_before_the_renewal(
    locale: Locale, expiry: str, action: str
) -> None:
    text = _rendered(CUSTOMER["card expiring: card_expiring"], locale).text
    assert expiry in text
    assert action in text
    assert f"{LINKS.portal}/#/payment-method" in text


def test_a_template_asking_for_a_missing_detail_fails_loudly() -> None:
    [receipt, *_] = _of(EmailTemplate.RENEWAL_RECEIPT)
    details = {key: value for key, value in receipt.details.items() if key != "amount"}
    with pytest.raises(KeyError, match="amount"):
        render(EmailTemplate.RENEWAL_RECEIPT, Locale.EN, details, LINKS)


# --- Account-level emails -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "locale", "shown"),
    [
        ("card saved", Locale.EN, "now: Visa •••• 4242."),
        ("card saved", Locale.EN, "It expires at the end of 12/2030."),
        ("card saved", Locale.FR, "Il expire fin 12/2030."),
        ("paypal saved", Locale.EN, "now: PayPal (payer@example.com)."),
        ("paypal saved", Locale.FR, "désormais : PayPal (payer@example.com)."),
    ],
)
def test_payment_method_email_shows_display_data(name: str, locale: Locale, shown: str) -> None:
    email = CUSTOMER[name]
    text = _rendered(email, locale).text
    assert shown in text
    assert email.details["account_id"] == "acct_1"
    assert not any(token in text for token in ("pm_card_visa", "vault_token_7"))


def test_paypal_has_no_expiry_line() -> None:
    assert "expire" not in _rendered(CUSTOMER["paypal saved"], Locale.EN).text


def test_billing_info_email_shows_what_invoices_will_say() -> None:
    text = _rendered(CUSTOMER["billing info saved"], Locale.FR).text
    assert "Nom : Camille Martin\nSociété : Martin SARL\n" in text
    assert "Adresse : 12 rue des Lilas, 69003 Lyon, FR" in text
    assert "E-mail de facturation : factures@example.fr" in text
    assert "Numéro de TVA : FR40303265045" in text


def test_billing_info_email_leaves_out_what_was_not_given() -> None:
    text = _rendered(CUSTOMER["billing info saved, no company"], Locale.EN).text
    assert "Name: Camille Martin\nAddress: 12 rue des Lilas, 69003 Lyon, FR\n" in text
    assert "Company" not in text
    assert "VAT" not in text


def test_account_emails_need_something_to_confirm() -> None:
    with pytest.raises(ValueError, match="payment method"):
        payment_method_updated(ACCOUNT)
    with pytest.raises(ValueError, match="billing information"):
        billing_info_updated(ACCOUNT)
