"""The words of customer and partner emails in every locale, and how an effect's details become
readable text: amounts, UTC dates, plan names, failure reasons with the action to take.

Wordings are `string.Template` text over the details, plus these readable values derived from
them: ``plan`` (from plan_id), ``amount`` and ``next_charge_amount`` (with the currency),
``period_end``, ``next_retry_at`` and ``next_charge_at`` (as dates), ``reason`` (the plain
message) and ``action`` (what to do); and from the links: ``action_url`` and ``action_label``
(the page of the customer portal where the customer acts on this email), ``sales_email`` and
``sales_chat_url``. A card's expiry (``card_expiry``) is written as cards show it: ``03/2027``.
A placeholder the details cannot fill raises KeyError: a template asking for a key its producer
does not provide is a bug.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from string import Template

from billing.domain.accounts import Account, BillingInfo, PaymentMethod, PaymentMethodKind
from billing.domain.billing_calendar import format_instant, parse_instant
from billing.domain.contacts import SalesContact
from billing.domain.failures import (
    FailureReason,
    RecommendedAction,
    explain,
    recommended_action,
)
from billing.domain.locales import Locale
from billing.domain.money import Currency, Money
from billing.domain.pricing import default_catalogue
from billing.domain.state_machine import Details, EmailCustomer, EmailTemplate, PartnerNotice
from billing.domain.subscription import CancelReason, Subscription
from billing.domain.values import frozen


@frozen
class RenderedEmail:
    subject: str
    text: str


@frozen
class Links:
    """Where emails send customers to act: the customer portal's pages, and the sales team."""

    portal: str
    """The portal's address; its pages are fragments of it (it is a static page)."""
    sales: SalesContact


@frozen
class If:
    """A line written only when the details carry `key`, e.g. an amount or a retry date."""

    key: str
    text: str


Line = str | If


@frozen
class Wording:
    """One email's words: a subject and the body's lines ("" is a blank line)."""

    subject: str
    lines: tuple[Line, ...]


@frozen
class ByDetail:
    """Wordings chosen by the value of one detail, e.g. a Retry Now's outcome."""

    key: str
    wordings: Mapping[str, Wording]


@frozen
class Frame:
    """What every email of a locale opens and closes with."""

    opening: tuple[Line, ...]
    closing: tuple[Line, ...]


# --- Readable values ----------------------------------------------------------------------------

_MONTHS: Mapping[Locale, tuple[str, ...]] = {
    Locale.EN: (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
    Locale.FR: (
        "janvier", "février", "mars", "avril", "mai", "juin",
        "juillet", "août", "septembre", "octobre", "novembre", "décembre",
    ),
}  # fmt: skip

_NUMBER_MARKS: Mapping[Locale, tuple[str, str]] = {
    Locale.EN: (",", "."),
    Locale.FR: ("\u202f", ","),
}
"""(thousands separator, decimal mark); French groups thousands with a narrow no-break space."""

_INSTANT_KEYS = ("period_end", "next_retry_at", "next_charge_at")
_AMOUNT_KEYS = ("amount", "next_charge_amount", "net_amount", "vat_amount")


def readable_instant(at: datetime, locale: Locale) -> str:
    """A UTC instant as customers read it: ``28 February 2026, 09:30 UTC``."""
    day = "1er" if locale is Locale.FR and at.day == 1 else str(at.day)
    return f"{day} {_MONTHS[locale][at.month - 1]} {at.year}, {at:%H:%M} UTC"


def readable_amount(money: Money, locale: Locale) -> str:
    """Minor units in the locale's notation with the currency code: ``1,234.50 EUR``."""
    thousands, decimal_mark = _NUMBER_MARKS[locale]
    digits = money.currency.minor_units
    whole, minor = divmod(abs(money.amount), 10**digits)
    text = f"{whole:,}".replace(",", thousands)
    if digits:
        text += f"{decimal_mark}{minor:0{digits}d}"
    sign = "-" if money.amount < 0 else ""
    return f"{sign}{text} {money.currency}"


def _plan_name(plan_id: str) -> str:
    # A plan withdrawn from the catalogue since the purchase keeps its id as its name.
    plan = default_catalogue().plans.get(plan_id)
    return plan_id if plan is None else plan.name


def _readable(details: Details, locale: Locale) -> dict[str, str]:
    values = dict(details)
    for key in _INSTANT_KEYS:
        if key in details:
            values[key] = readable_instant(parse_instant(details[key]), locale)
    if "plan_id" in details:
        values["plan"] = _plan_name(details["plan_id"])
    for key in _AMOUNT_KEYS:
        if key in details:
            money = Money(int(details[key]), Currency(details["currency"]))
            values[key] = readable_amount(money, locale)
    if "reason" in details:
        explanation = explain(FailureReason(details["reason"]), locale)
        values["reason"] = explanation.message
        values["action"] = explanation.action_text
        if "next_retry_at" in details and explanation.action in _FIXED_THEN_RETRIED:
            values["retry_now_after_fix"] = "yes"
    return values


_FIXED_THEN_RETRIED = frozenset(
    {
        RecommendedAction.UPDATE_PAYMENT_METHOD,
        RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD,
        RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD,
    }
)
"""Actions after which Retry Now is worth pressing before the next retry: the customer fixed
the payment method. Not a payment to confirm with the bank (its link does it), nor the payment
system's failure (nothing for the customer to fix)."""


# --- Customer emails ----------------------------------------------------------------------------

_VAT_EN = (
    If(
        "vat_amount", "Of which ${net_amount} excluding VAT and ${vat_amount} VAT at ${vat_rate} %."
    ),
    If("vat_mention", "${vat_mention}."),
)
_VAT_FR = (
    If("vat_amount", "Dont ${net_amount} HT et ${vat_amount} de TVA à ${vat_rate} %."),
    If("vat_mention", "${vat_mention}."),
)
"""A payment's VAT on its receipt."""

CUSTOMER_EMAILS: Mapping[Locale, Mapping[EmailTemplate, Wording | ByDetail]] = {
    Locale.EN: {
        EmailTemplate.PURCHASE_RECEIPT: Wording(
            "Your ${plan} subscription is active",
            (
                "Thank you for your purchase: your ${plan} subscription is now active.",
                "Amount charged: ${amount}.",
                *_VAT_EN,
                "",
                "Your current period runs until ${period_end}. On ${next_charge_at} the "
                "subscription renews automatically for the same length, and ${next_charge_amount} "
                "will be charged to your saved payment method.",
                If(
                    "discount_ends",
                    "Your discount applied to this first payment only: renewals are charged at "
                    "the full price.",
                ),
                "You can turn automatic renewal off at any time before that date.",
                "",
                If("invoice_url", "Your invoice ${invoice_reference}: ${invoice_url}"),
            ),
        ),
        EmailTemplate.RENEWAL_RECEIPT: Wording(
            "Payment received: your ${plan} subscription is renewed",
            (
                "We received your payment of ${amount} for your ${plan} subscription.",
                *_VAT_EN,
                "",
                "Your subscription is renewed until ${period_end}. Thank you for staying with us.",
                "",
                If("invoice_url", "Your invoice ${invoice_reference}: ${invoice_url}"),
            ),
        ),
        EmailTemplate.RENEWAL_FAILED: Wording(
            "We could not renew your ${plan} subscription",
            (
                "We could not take the payment to renew your ${plan} subscription.",
                "",
                "Why: ${reason}",
                "What to do: ${action}",
                "",
                If(
                    "next_retry_at",
                    "We will try again on ${next_retry_at}; your subscription "
                    "stays available until then.",
                ),
                If(
                    "retry_now_after_fix",
                    "Once your payment method is sorted out, you can also press Retry Now "
                    "instead of waiting.",
                ),
            ),
        ),
        EmailTemplate.RETRY_NOW_RESULT: ByDetail(
            "outcome",
            {
                "succeeded": Wording(
                    "Retry Now: payment received, your ${plan} subscription is active",
                    (
                        "Thank you: your payment of ${amount} went through.",
                        "",
                        "Your ${plan} subscription is active again and renewed until "
                        "${period_end}. There is nothing more to do.",
                        "",
                        If("invoice_url", "Your invoice ${invoice_reference}: ${invoice_url}"),
                    ),
                ),
                "failed": Wording(
                    "Retry Now: the payment for your ${plan} subscription did not go through",
                    (
                        "You asked us to try the payment for your ${plan} subscription again, "
                        "but it did not go through.",
                        "",
                        "Why: ${reason}",
                        "What to do: ${action}",
                        "",
                        If(
                            "next_retry_at",
                            "The scheduled retries are unchanged: the next one is on "
                            "${next_retry_at}, and your subscription stays available until then.",
                        ),
                        "Our sales team has been told and may contact you to help. You can also "
                        "write to them at ${sales_email}.",
                        If("sales_chat_url", "Or chat with them: ${sales_chat_url}"),
                    ),
                ),
            },
        ),
        EmailTemplate.AUTO_RENEW_OFF: Wording(
            "Automatic renewal is off for your ${plan} subscription",
            (
                "As you asked, automatic renewal is now off for your ${plan} subscription: "
                "nothing more will be charged.",
                "",
                "Your subscription stays active until ${period_end} and ends then.",
                "",
                "Changed your mind? Turn automatic renewal back on before that date and your "
                "subscription continues without interruption.",
            ),
        ),
        EmailTemplate.AUTO_RENEW_ON: Wording(
            "Automatic renewal is back on for your ${plan} subscription",
            (
                "Automatic renewal is on again for your ${plan} subscription.",
                "",
                "It renews on ${period_end} for the same length and is charged to your saved "
                "payment method. You can turn automatic renewal off again at any time before then.",
            ),
        ),
        EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES: Wording(
            "Your ${plan} subscription has been cancelled",
            (
                "We tried several times to take the payment for your ${plan} subscription, "
                "without success. It has now been cancelled and you no longer have access to it.",
                "",
                "Why the last attempt failed: ${reason}",
                "",
                "Nothing more will be charged for this subscription. To use the service again, "
                "please make a new purchase.",
            ),
        ),
        EmailTemplate.SUBSCRIPTION_CANCELLED: Wording(
            "Your ${plan} subscription is cancelled",
            (
                "As you asked, your ${plan} subscription is cancelled: we will not try to charge "
                "for it again, and you no longer have access to it.",
                "",
                "You are welcome back at any time with a new purchase.",
            ),
        ),
        EmailTemplate.SUBSCRIPTION_ENDED: Wording(
            "Your ${plan} subscription has ended",
            (
                "Your ${plan} subscription ended on ${period_end}: automatic renewal was turned "
                "off, so it was not renewed and nothing was charged.",
                "",
                "You no longer have access to it. To use the service again, buy a new "
                "subscription.",
            ),
        ),
        EmailTemplate.PAYMENT_METHOD_UPDATED: Wording(
            "Your payment method has been updated",
            (
                "The payment method saved on your account is now: ${payment_method}.",
                If("payment_method_expiry", "It expires at the end of ${payment_method_expiry}."),
                "",
                "Your next renewals will be charged to it. If a renewal is overdue, we try it "
                "again with this payment method right away.",
                "",
                "If you did not make this change, please contact us at once.",
            ),
        ),
        EmailTemplate.BILLING_INFO_UPDATED: Wording(
            "Your billing information has been updated",
            (
                "Your billing information has been updated. Your next invoices will show:",
                "",
                "Name: ${billing_name}",
                If("billing_company", "Company: ${billing_company}"),
                "Address: ${billing_address}",
                "Invoice email: ${billing_email}",
                If("billing_vat_id", "VAT ID: ${billing_vat_id}"),
                "",
                "If you did not make this change, please contact us at once.",
            ),
        ),
        EmailTemplate.RENEWAL_NOTICE: Wording(
            "Your ${plan} subscription renews on ${next_charge_at}",
            (
                "Your ${plan} subscription renews automatically on ${next_charge_at} for the same "
                "length, and ${next_charge_amount} will then be charged to your saved payment "
                "method.",
                If(
                    "discount_ends",
                    "Your discount does not apply to this renewal: it is charged at the full "
                    "price.",
                ),
                "",
                "To keep your subscription, there is nothing to do.",
                "",
                "To cancel, turn automatic renewal off on your subscription's page (link below) "
                "at any time before ${next_charge_at}: your subscription then stays active until "
                "that date and nothing more is charged.",
            ),
        ),
        EmailTemplate.CARD_EXPIRING: Wording(
            "Your card expires before your ${plan} subscription renews",
            (
                "The card saved on your account expires at the end of ${card_expiry}, before "
                "your ${plan} subscription renews on ${next_charge_at}.",
                "",
                "To keep your subscription without interruption, please save a new payment "
                "method before that date (link below): the renewal, ${next_charge_amount}, will "
                "be charged to it.",
            ),
        ),
        EmailTemplate.PAYMENT_REVERSED: Wording(
            "The payment for your ${plan} subscription was reversed",
            (
                "Why: ${reason}",
                "What to do: ${action}",
                "",
                If(
                    "next_retry_at",
                    "Your subscription stays available meanwhile. Once our team has reviewed the "
                    "dispute, we will also try the payment again from ${next_retry_at}.",
                ),
            ),
        ),
        EmailTemplate.PAYMENT_REFUNDED: Wording(
            "We refunded ${amount} on your ${plan} subscription",
            (
                "We have refunded ${amount} of a payment for your ${plan} subscription to the "
                "payment method it was made with.",
                "",
                "Depending on your bank or PayPal, it may take a few days to appear on your "
                "statement.",
                If("cancel_reason", "As agreed, the subscription is cancelled."),
                "",
                If(
                    "credit_note_url",
                    "Your credit note ${credit_note_reference}: ${credit_note_url}",
                ),
            ),
        ),
        EmailTemplate.PAYMENT_METHOD_REMOVED: Wording(
            "Your payment method was removed: please add a new one",
            (
                "The payment method saved on your account, ${payment_method}, was removed at the "
                "payment provider's request and can no longer be charged.",
                "",
                If(
                    "next_charge_at",
                    "Please add a new payment method before ${next_charge_at}, when your "
                    "subscription's next payment of ${next_charge_amount} is due.",
                ),
                "Until then, we cannot renew your subscription automatically.",
            ),
        ),
    },
    Locale.FR: {
        EmailTemplate.PURCHASE_RECEIPT: Wording(
            "Votre abonnement ${plan} est actif",
            (
                "Merci pour votre achat : votre abonnement ${plan} est désormais actif.",
                "Montant débité : ${amount}.",
                *_VAT_FR,
                "",
                "Votre période en cours se termine le ${period_end}. Le ${next_charge_at}, "
                "l'abonnement sera renouvelé automatiquement pour la même durée et "
                "${next_charge_amount} seront débités sur votre mode de paiement enregistré.",
                If(
                    "discount_ends",
                    "Votre remise ne s'appliquait qu'à ce premier paiement : les renouvellements "
                    "sont facturés au prix fort.",
                ),
                "Vous pouvez désactiver le renouvellement automatique à tout moment avant cette "
                "date.",
                "",
                If("invoice_url", "Votre facture ${invoice_reference} : ${invoice_url}"),
            ),
        ),
        EmailTemplate.RENEWAL_RECEIPT: Wording(
            "Paiement reçu : votre abonnement ${plan} est renouvelé",
            (
                "Nous avons bien reçu votre paiement de ${amount} pour votre abonnement ${plan}.",
                *_VAT_FR,
                "",
                "Votre abonnement est renouvelé jusqu'au ${period_end}. Merci de votre fidélité.",
                "",
                If("invoice_url", "Votre facture ${invoice_reference} : ${invoice_url}"),
            ),
        ),
        EmailTemplate.RENEWAL_FAILED: Wording(
            "Le renouvellement de votre abonnement ${plan} a échoué",
            (
                "Nous n'avons pas pu prélever le paiement du renouvellement de votre abonnement "
                "${plan}.",
                "",
                "Motif : ${reason}",
                "Que faire : ${action}",
                "",
                If(
                    "next_retry_at",
                    "Nous réessaierons le ${next_retry_at} ; votre abonnement "
                    "reste accessible d'ici là.",
                ),
                If(
                    "retry_now_after_fix",
                    "Une fois votre mode de paiement réglé, vous pouvez aussi cliquer sur "
                    "Retry Now sans attendre.",
                ),
            ),
        ),
        EmailTemplate.RETRY_NOW_RESULT: ByDetail(
            "outcome",
            {
                "succeeded": Wording(
                    "Retry Now : paiement reçu, votre abonnement ${plan} est actif",
                    (
                        "Merci : votre paiement de ${amount} a bien été accepté.",
                        "",
                        "Votre abonnement ${plan} est de nouveau actif et renouvelé jusqu'au "
                        "${period_end}. Vous n'avez rien d'autre à faire.",
                        "",
                        If("invoice_url", "Votre facture ${invoice_reference} : ${invoice_url}"),
                    ),
                ),
                "failed": Wording(
                    "Retry Now : le paiement de votre abonnement ${plan} n'a pas abouti",
                    (
                        "Vous nous avez demandé de retenter le paiement de votre abonnement "
                        "${plan}, mais il n'a pas abouti.",
                        "",
                        "Motif : ${reason}",
                        "Que faire : ${action}",
                        "",
                        If(
                            "next_retry_at",
                            "Les nouvelles tentatives prévues restent inchangées : la "
                            "prochaine aura lieu le ${next_retry_at}, et votre abonnement reste "
                            "accessible d'ici là.",
                        ),
                        "Notre équipe commerciale en a été informée et pourra vous contacter "
                        "pour vous aider. Vous pouvez aussi lui écrire à ${sales_email}.",
                        If("sales_chat_url", "Ou discuter avec elle : ${sales_chat_url}"),
                    ),
                ),
            },
        ),
        EmailTemplate.AUTO_RENEW_OFF: Wording(
            "Le renouvellement automatique de votre abonnement ${plan} est désactivé",
            (
                "Comme vous l'avez demandé, le renouvellement automatique de votre abonnement "
                "${plan} est désactivé : plus rien ne sera débité.",
                "",
                "Votre abonnement reste actif jusqu'au ${period_end} et prendra fin à cette date.",
                "",
                "Vous avez changé d'avis ? Réactivez le renouvellement automatique avant cette "
                "date et votre abonnement continuera sans interruption.",
            ),
        ),
        EmailTemplate.AUTO_RENEW_ON: Wording(
            "Le renouvellement automatique de votre abonnement ${plan} est réactivé",
            (
                "Le renouvellement automatique de votre abonnement ${plan} est de nouveau activé.",
                "",
                "Le ${period_end}, il sera renouvelé pour la même durée et débité sur votre mode "
                "de paiement enregistré. Vous pouvez le désactiver à nouveau à tout moment avant "
                "cette date.",
            ),
        ),
        EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES: Wording(
            "Votre abonnement ${plan} a été résilié",
            (
                "Nous avons tenté plusieurs fois de prélever le paiement de votre abonnement "
                "${plan}, sans succès. Il est désormais résilié et vous n'y avez plus accès.",
                "",
                "Motif du dernier échec : ${reason}",
                "",
                "Plus rien ne sera débité pour cet abonnement. Pour utiliser à nouveau le service, "
                "effectuez un nouvel achat.",
            ),
        ),
        EmailTemplate.SUBSCRIPTION_CANCELLED: Wording(
            "Votre abonnement ${plan} est résilié",
            (
                "Comme vous l'avez demandé, votre abonnement ${plan} est résilié : nous ne "
                "tenterons plus de le prélever et vous n'y avez plus accès.",
                "",
                "Vous pourrez revenir à tout moment en effectuant un nouvel achat.",
            ),
        ),
        EmailTemplate.SUBSCRIPTION_ENDED: Wording(
            "Votre abonnement ${plan} a pris fin",
            (
                "Votre abonnement ${plan} a pris fin le ${period_end} : le renouvellement "
                "automatique était désactivé, il n'a donc pas été renouvelé et rien n'a été "
                "débité.",
                "",
                "Vous n'y avez plus accès. Pour utiliser à nouveau le service, achetez un nouvel "
                "abonnement.",
            ),
        ),
        EmailTemplate.PAYMENT_METHOD_UPDATED: Wording(
            "Votre mode de paiement a été mis à jour",
            (
                "Le mode de paiement enregistré sur votre compte est désormais : "
                "${payment_method}.",
                If("payment_method_expiry", "Il expire fin ${payment_method_expiry}."),
                "",
                "Vos prochains renouvellements y seront débités. Si un renouvellement est en "
                "retard, nous le retentons aussitôt avec ce mode de paiement.",
                "",
                "Si vous n'êtes pas à l'origine de cette modification, contactez-nous sans tarder.",
            ),
        ),
        EmailTemplate.BILLING_INFO_UPDATED: Wording(
            "Vos informations de facturation ont été mises à jour",
            (
                "Vos informations de facturation ont été mises à jour. Vos prochaines factures "
                "indiqueront :",
                "",
                "Nom : ${billing_name}",
                If("billing_company", "Société : ${billing_company}"),
                "Adresse : ${billing_address}",
                "E-mail de facturation : ${billing_email}",
                If("billing_vat_id", "Numéro de TVA : ${billing_vat_id}"),
                "",
                "Si vous n'êtes pas à l'origine de cette modification, contactez-nous sans tarder.",
            ),
        ),
        EmailTemplate.RENEWAL_NOTICE: Wording(
            "Votre abonnement ${plan} sera renouvelé le ${next_charge_at}",
            (
                "Votre abonnement ${plan} sera renouvelé automatiquement le ${next_charge_at} "
                "pour la même durée, et ${next_charge_amount} seront alors débités sur votre mode "
                "de paiement enregistré.",
                If(
                    "discount_ends",
                    "Votre remise ne s'applique pas à ce renouvellement : il est facturé au prix "
                    "fort.",
                ),
                "",
                "Pour conserver votre abonnement, vous n'avez rien à faire.",
                "",
                "Pour le résilier, désactivez le renouvellement automatique depuis la page de "
                "votre abonnement (lien ci-dessous) à tout moment avant le ${next_charge_at} : "
                "votre abonnement restera actif jusqu'à cette date et plus rien ne sera débité.",
            ),
        ),
        EmailTemplate.CARD_EXPIRING: Wording(
            "Votre carte expire avant le renouvellement de votre abonnement ${plan}",
            (
                "La carte enregistrée sur votre compte expire fin ${card_expiry}, avant le "
                "renouvellement de votre abonnement ${plan} le ${next_charge_at}.",
                "",
                "Pour que votre abonnement continue sans interruption, enregistrez un nouveau "
                "mode de paiement avant cette date (lien ci-dessous) : le renouvellement, d'un "
                "montant de ${next_charge_amount}, y sera débité.",
            ),
        ),
        EmailTemplate.PAYMENT_REVERSED: Wording(
            "Le paiement de votre abonnement ${plan} a été annulé",
            (
                "Pourquoi : ${reason}",
                "Que faire : ${action}",
                "",
                If(
                    "next_retry_at",
                    "Votre abonnement reste disponible en attendant. Une fois la contestation "
                    "examinée par notre équipe, nous tenterons aussi à nouveau le paiement à "
                    "partir du ${next_retry_at}.",
                ),
            ),
        ),
        EmailTemplate.PAYMENT_REFUNDED: Wording(
            "Nous vous avons remboursé ${amount} sur votre abonnement ${plan}",
            (
                "Nous avons remboursé ${amount} d'un paiement de votre abonnement ${plan} sur le "
                "mode de paiement utilisé.",
                "",
                "Selon votre banque ou PayPal, il peut s'écouler quelques jours avant qu'il "
                "apparaisse sur votre relevé.",
                If("cancel_reason", "Comme convenu, l'abonnement est résilié."),
                "",
                If("credit_note_url", "Votre avoir ${credit_note_reference} : ${credit_note_url}"),
            ),
        ),
        EmailTemplate.PAYMENT_METHOD_REMOVED: Wording(
            "Votre mode de paiement a été supprimé : ajoutez-en un nouveau",
            (
                "Le mode de paiement enregistré sur votre compte, ${payment_method}, a été "
                "supprimé à la demande du prestataire de paiement et ne peut plus être débité.",
                "",
                If(
                    "next_charge_at",
                    "Ajoutez un nouveau mode de paiement avant le ${next_charge_at}, date du "
                    "prochain paiement de votre abonnement (${next_charge_amount}).",
                ),
                "D'ici là, nous ne pouvons pas renouveler votre abonnement automatiquement.",
            ),
        ),
    },
}

_CUSTOMER_FRAMES: Mapping[Locale, Frame] = {
    Locale.EN: Frame(
        opening=("Hello,", ""),
        closing=(
            "",
            "${action_label}: ${action_url}",
            "",
            "Best regards,",
            "The billing team",
            "",
            If("subscription_id", "Subscription reference: ${subscription_id}"),
        ),
    ),
    Locale.FR: Frame(
        opening=("Bonjour,", ""),
        closing=(
            "",
            "${action_label} : ${action_url}",
            "",
            "Cordialement,",
            "L'équipe facturation",
            "",
            If("subscription_id", "Référence de l'abonnement : ${subscription_id}"),
        ),
    ),
}

# --- Links to act -------------------------------------------------------------------------------


class PortalPage(StrEnum):
    """The customer portal's pages an email can send to (fragments of the portal's address)."""

    SUBSCRIPTION = "subscriptions/${subscription_id}"
    """Its status, Retry Now, automatic renewal on or off."""
    PAYMENT_METHOD = "payment-method"
    BILLING = "billing"
    PLANS = "plans"
    """Buying a new subscription."""
    CONFIRM_PAYMENT = "subscriptions/${subscription_id}/payments/${payment_id}/confirm"
    """Confirming a payment with the bank (3-D Secure), with Stripe.js."""
    DOCUMENT = "invoices/${number}"
    """An invoice or a credit note: the page asks the API for a fresh download link and opens
    it (the link itself lasts minutes, an email is read days later)."""


_PAGE_LABELS: Mapping[Locale, Mapping[PortalPage, str]] = {
    Locale.EN: {
        PortalPage.SUBSCRIPTION: "Manage your subscription",
        PortalPage.PAYMENT_METHOD: "Update your payment method",
        PortalPage.BILLING: "Review your billing information",
        PortalPage.PLANS: "Buy a new subscription",
        PortalPage.CONFIRM_PAYMENT: "Confirm the payment",
        PortalPage.DOCUMENT: "Download the document",
    },
    Locale.FR: {
        PortalPage.SUBSCRIPTION: "Gérer votre abonnement",
        PortalPage.PAYMENT_METHOD: "Mettre à jour votre mode de paiement",
        PortalPage.BILLING: "Vérifier vos informations de facturation",
        PortalPage.PLANS: "Acheter un nouvel abonnement",
        PortalPage.CONFIRM_PAYMENT: "Confirmer le paiement",
        PortalPage.DOCUMENT: "Télécharger le document",
    },
}

_TEMPLATE_PAGES: Mapping[EmailTemplate, PortalPage] = {
    EmailTemplate.PURCHASE_RECEIPT: PortalPage.SUBSCRIPTION,
    EmailTemplate.RENEWAL_RECEIPT: PortalPage.SUBSCRIPTION,
    EmailTemplate.AUTO_RENEW_OFF: PortalPage.SUBSCRIPTION,
    EmailTemplate.AUTO_RENEW_ON: PortalPage.SUBSCRIPTION,
    EmailTemplate.CANCELLED_AFTER_FAILED_RETRIES: PortalPage.PLANS,
    EmailTemplate.SUBSCRIPTION_CANCELLED: PortalPage.PLANS,
    EmailTemplate.SUBSCRIPTION_ENDED: PortalPage.PLANS,
    EmailTemplate.PAYMENT_METHOD_UPDATED: PortalPage.BILLING,
    EmailTemplate.BILLING_INFO_UPDATED: PortalPage.BILLING,
    EmailTemplate.RENEWAL_NOTICE: PortalPage.SUBSCRIPTION,
    EmailTemplate.CARD_EXPIRING: PortalPage.PAYMENT_METHOD,
    EmailTemplate.PAYMENT_REVERSED: PortalPage.SUBSCRIPTION,
    EmailTemplate.PAYMENT_REFUNDED: PortalPage.SUBSCRIPTION,
    EmailTemplate.PAYMENT_METHOD_REMOVED: PortalPage.PAYMENT_METHOD,
}
"""The page of each email; the others (a failed payment) send to where its reason's action is."""

_ACTION_PAGES: Mapping[RecommendedAction, PortalPage] = {
    RecommendedAction.UPDATE_PAYMENT_METHOD: PortalPage.PAYMENT_METHOD,
    RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD: PortalPage.PAYMENT_METHOD,
    # Funds added or the bank back: Retry Now is on the subscription's page.
    RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD: PortalPage.SUBSCRIPTION,
    RecommendedAction.NONE_WE_WILL_RETRY: PortalPage.SUBSCRIPTION,
    RecommendedAction.BUY_NEW_SUBSCRIPTION: PortalPage.PLANS,
    RecommendedAction.PAY_AGAIN: PortalPage.SUBSCRIPTION,
    RecommendedAction.CONFIRM_PAYMENT: PortalPage.CONFIRM_PAYMENT,
}


def _page(template: EmailTemplate, details: Details) -> PortalPage:
    page = _TEMPLATE_PAGES.get(template)
    if page is not None:
        return page
    if details.get("outcome") == "succeeded" or "reason" not in details:
        return PortalPage.SUBSCRIPTION
    return _ACTION_PAGES[recommended_action(FailureReason(details["reason"]))]


def portal_link(links: Links, page: PortalPage, details: Details) -> str:
    """The address of `page` for the subscription or account `details` are about."""
    return f"{links.portal.rstrip('/')}/#/{Template(page.value).substitute(details)}"


DOCUMENT_KEYS = ("invoice", "credit_note")
"""Details naming the number of the invoice a payment's receipt links to, or of the credit note
a refund's email links to: the persistence adds them to the message it writes with the
document, in the same transaction."""


def _document_links(details: Details, links: Links) -> dict[str, str]:
    values: dict[str, str] = {}
    for key in DOCUMENT_KEYS:
        if key in details:
            number = int(details[key])
            page = portal_link(links, PortalPage.DOCUMENT, {"number": f"{number:08d}"})
            values |= {f"{key}_reference": f"{number:08d}", f"{key}_url": page}
    return values


def _link_values(
    template: EmailTemplate, details: Details, locale: Locale, links: Links
) -> dict[str, str]:
    page = _page(template, details)
    values = {
        "action_url": portal_link(links, page, details),
        "action_label": _PAGE_LABELS[locale][page],
        "sales_email": links.sales.email,
        **_document_links(details, links),
    }
    if links.sales.chat_url:
        values["sales_chat_url"] = links.sales.chat_url
    return values


# --- Partner emails -----------------------------------------------------------------------------

PARTNER_EMAILS: Mapping[Locale, Mapping[PartnerNotice, Wording]] = {
    Locale.EN: {
        PartnerNotice.RENEWAL_REMINDER: Wording(
            "Reminder: subscription ${subscription_id} ends on ${period_end}",
            (
                "The ${plan} subscription ${subscription_id} (account ${account_id}) that you "
                "manage ends on ${period_end}.",
                If("customer_email", "Customer: ${customer_email}"),
                "",
                "To keep your customer's access, extend it by one cycle before that date. "
                "If it is not extended, it is cancelled when the period ends.",
            ),
        ),
        PartnerNotice.NOT_RENEWED: Wording(
            "Subscription ${subscription_id} was not renewed",
            (
                "The ${plan} subscription ${subscription_id} (account ${account_id}) that you "
                "manage was not extended before its period ended on ${period_end}. It has been "
                "cancelled and your customer no longer has access.",
                If("customer_email", "Customer: ${customer_email}"),
                "",
                "To restore access, create a new subscription for this customer.",
            ),
        ),
    },
    Locale.FR: {
        PartnerNotice.RENEWAL_REMINDER: Wording(
            "Rappel : l'abonnement ${subscription_id} se termine le ${period_end}",
            (
                "L'abonnement ${plan} ${subscription_id} (compte ${account_id}) que vous gérez se "
                "termine le ${period_end}.",
                If("customer_email", "Client : ${customer_email}"),
                "",
                "Pour que votre client garde son accès, prolongez-le d'un cycle avant cette date. "
                "Sans prolongation, il sera résilié à la fin de la période.",
            ),
        ),
        PartnerNotice.NOT_RENEWED: Wording(
            "L'abonnement ${subscription_id} n'a pas été renouvelé",
            (
                "L'abonnement ${plan} ${subscription_id} (compte ${account_id}) que vous gérez "
                "n'a pas été prolongé avant la fin de sa période, le ${period_end}. Il a été "
                "résilié et votre client n'y a plus accès.",
                If("customer_email", "Client : ${customer_email}"),
                "",
                "Pour rétablir l'accès, créez un nouvel abonnement pour ce client.",
            ),
        ),
    },
}

_PARTNER_FRAMES: Mapping[Locale, Frame] = {
    Locale.EN: Frame(opening=("Hello,", ""), closing=("", "The billing team")),
    Locale.FR: Frame(opening=("Bonjour,", ""), closing=("", "L'équipe facturation")),
}

# --- Rendering ----------------------------------------------------------------------------------

_BLANK_RUNS = re.compile(r"\n{3,}")


def _fill(text: str, values: Mapping[str, str]) -> str:
    return Template(text).substitute(values)


def _body(lines: tuple[Line, ...], values: Mapping[str, str]) -> str:
    written = [
        _fill(line.text if isinstance(line, If) else line, values)
        for line in lines
        if not isinstance(line, If) or line.key in values
    ]
    # A left-out line may leave two blank lines side by side.
    return _BLANK_RUNS.sub("\n\n", "\n".join(written)).strip() + "\n"


def _written(wording: Wording, frame: Frame, values: Mapping[str, str]) -> RenderedEmail:
    return RenderedEmail(
        subject=_fill(wording.subject, values),
        text=_body(frame.opening + wording.lines + frame.closing, values),
    )


def render(
    template: EmailTemplate, locale: Locale, details: Details, links: Links
) -> RenderedEmail:
    """The customer email `template` in `locale`, with the link to act on it; KeyError when
    `details` lack a key it uses."""
    wording = CUSTOMER_EMAILS[locale][template]
    if isinstance(wording, ByDetail):
        wording = wording.wordings[details[wording.key]]
    values = _readable(details, locale) | _link_values(template, details, locale, links)
    return _written(wording, _CUSTOMER_FRAMES[locale], values)


def render_partner(
    notice: PartnerNotice, details: Details, locale: Locale = Locale.EN
) -> RenderedEmail:
    """The email to the partner managing a subscription. `details` may add ``customer_email``."""
    return _written(
        PARTNER_EMAILS[locale][notice], _PARTNER_FRAMES[locale], _readable(details, locale)
    )


# --- Account-level emails -----------------------------------------------------------------------

_CARD_BRANDS: Mapping[str, str] = {
    "amex": "American Express",
    "cartes_bancaires": "Cartes Bancaires",
    "diners": "Diners Club",
    "discover": "Discover",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}
"""Display names of Stripe's card brand codes."""


def _method_label(method: PaymentMethod) -> str:
    """``Visa •••• 4242`` or ``PayPal (payer@example.com)``: display data only."""
    if method.kind is PaymentMethodKind.PAYPAL:
        return f"PayPal ({method.paypal_email})" if method.paypal_email else "PayPal"
    brand = method.brand or "card"
    parts = [_CARD_BRANDS.get(brand.lower(), brand.title())]
    if method.last4:
        parts.append(f"•••• {method.last4}")
    return " ".join(parts)


def payment_method_updated(account: Account) -> EmailCustomer:
    """The confirmation that `account`'s new payment method is saved."""
    method = account.payment_method
    if method is None:
        raise ValueError(f"account {account.id} has no payment method to confirm")
    details = {"account_id": account.id, "payment_method": _method_label(method)}
    if method.exp_month is not None and method.exp_year is not None:
        details["payment_method_expiry"] = f"{method.exp_month:02d}/{method.exp_year}"
    return EmailCustomer(EmailTemplate.PAYMENT_METHOD_UPDATED, details)


def payment_refunded(sub: Subscription, amount: Money) -> EmailCustomer:
    """The confirmation of a refund of `amount` on a payment of `sub` (as it is after the
    refund: cancelled with it, when sales cancelled it)."""
    details = {
        "subscription_id": sub.id,
        "account_id": sub.account_id,
        "plan_id": sub.plan_id,
        "amount": str(amount.amount),
        "currency": amount.currency.value,
    }
    if sub.cancel_reason is CancelReason.CANCELLED_BY_SALES:
        details["cancel_reason"] = sub.cancel_reason.value
    return EmailCustomer(EmailTemplate.PAYMENT_REFUNDED, details)


def payment_method_removed(
    account: Account, removed: PaymentMethod, next_charge: tuple[datetime, Money] | None
) -> EmailCustomer:
    """The request for a new method after the provider removed `removed`, with when the next
    charge is due and how much (`next_charge`), if one is coming."""
    details = {"account_id": account.id, "payment_method": _method_label(removed)}
    if next_charge is not None:
        at, amount = next_charge
        details |= {
            "next_charge_at": format_instant(at),
            "next_charge_amount": str(amount.amount),
            "currency": amount.currency.value,
        }
    return EmailCustomer(EmailTemplate.PAYMENT_METHOD_REMOVED, details)


def _address(info: BillingInfo) -> str:
    city = " ".join(part for part in (info.postal_code, info.city) if part)
    parts = (info.address_line1, info.address_line2, city, info.region, info.country)
    return ", ".join(part for part in parts if part)


def billing_info_updated(account: Account) -> EmailCustomer:
    """The confirmation of `account`'s new billing information, showing what invoices will say."""
    info = account.billing_info
    if info is None:
        raise ValueError(f"account {account.id} has no billing information to confirm")
    details = {
        "account_id": account.id,
        "billing_name": info.name,
        "billing_address": _address(info),
        "billing_email": info.email,
    }
    if info.company:
        details["billing_company"] = info.company
    if info.vat_id:
        details["billing_vat_id"] = info.vat_id
    return EmailCustomer(EmailTemplate.BILLING_INFO_UPDATED, details)
