"""Why a renewal did not go through, in plain words and with what the customer should do.

The reasons are the help centre's list; providers' decline codes are mapped onto them by the
provider adapters.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from billing.domain.locales import Locale
from billing.domain.values import frozen


class FailureReason(StrEnum):
    PAYMENT_METHOD_INVALID = "payment_method_invalid"
    """Expired, removed, hard decline: retrying it cannot succeed."""
    INSUFFICIENT_FUNDS = "insufficient_funds"
    """Includes a reached credit limit."""
    PROVIDER_ERROR = "provider_error"
    """The bank or payment system failed (timeouts, 5xx, processing): not the customer's doing."""
    CARD_DECLINED = "card_declined"
    """Any other soft decline."""
    AUTO_RENEW_OFF = "auto_renew_off"
    """The customer turned auto-renewal off, so nothing was charged."""
    PAYMENT_REVERSED = "payment_reversed"
    """The payer disputed the period's payment and won: the money went back, the period is
    unpaid."""
    AUTHENTICATION_REQUIRED = "authentication_required"
    """The bank asks the customer to confirm the payment (3-D Secure, under PSD2), or they did
    not confirm it: the card is fine, the customer must be present. Not a hard decline."""

    @property
    def is_hard_decline(self) -> bool:
        """Retrying the same payment method cannot succeed."""
        return self is FailureReason.PAYMENT_METHOD_INVALID

    @property
    def is_provider_error(self) -> bool:
        """Not the customer's problem: uses no dunning attempt, no email, retried with backoff."""
        return self is FailureReason.PROVIDER_ERROR


class RecommendedAction(StrEnum):
    UPDATE_PAYMENT_METHOD = "update_payment_method"
    ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD = "add_funds_or_update_payment_method"
    NONE_WE_WILL_RETRY = "none_we_will_retry"
    CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD = "contact_bank_or_update_payment_method"
    BUY_NEW_SUBSCRIPTION = "buy_new_subscription"
    PAY_AGAIN = "pay_again"
    CONFIRM_PAYMENT = "confirm_payment"


@frozen
class FailureExplanation:
    """What is shown to the customer for one failure reason, in one language."""

    reason: FailureReason
    message: str
    action: RecommendedAction
    action_text: str


_ACTIONS: Mapping[FailureReason, RecommendedAction] = {
    FailureReason.PAYMENT_METHOD_INVALID: RecommendedAction.UPDATE_PAYMENT_METHOD,
    FailureReason.INSUFFICIENT_FUNDS: RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD,
    FailureReason.PROVIDER_ERROR: RecommendedAction.NONE_WE_WILL_RETRY,
    FailureReason.CARD_DECLINED: RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD,
    FailureReason.AUTO_RENEW_OFF: RecommendedAction.BUY_NEW_SUBSCRIPTION,
    FailureReason.PAYMENT_REVERSED: RecommendedAction.PAY_AGAIN,
    FailureReason.AUTHENTICATION_REQUIRED: RecommendedAction.CONFIRM_PAYMENT,
}

_MESSAGES: Mapping[Locale, Mapping[FailureReason, str]] = {
    Locale.EN: {
        FailureReason.PAYMENT_METHOD_INVALID: (
            "Your payment method can no longer be used: it has expired, been removed, "
            "or your bank refused it."
        ),
        FailureReason.INSUFFICIENT_FUNDS: (
            "There were not enough funds on your payment method, or its credit limit was reached."
        ),
        FailureReason.PROVIDER_ERROR: (
            "Your bank or the payment system did not answer correctly. This is not your doing."
        ),
        FailureReason.CARD_DECLINED: "Your bank declined the payment.",
        FailureReason.AUTO_RENEW_OFF: (
            "Automatic renewal was turned off, so the subscription ended with its period and "
            "nothing was charged."
        ),
        FailureReason.PAYMENT_REVERSED: (
            "The payment for this period was disputed with your bank or PayPal and given back "
            "to you, so the period is unpaid."
        ),
        FailureReason.AUTHENTICATION_REQUIRED: (
            "Your bank asks you to confirm this payment (3-D Secure): it is not taken until you "
            "do. Your card itself is fine."
        ),
    },
    Locale.FR: {
        FailureReason.PAYMENT_METHOD_INVALID: (
            "Votre mode de paiement n'est plus utilisable : il a expiré, a été supprimé, "
            "ou votre banque l'a refusé."
        ),
        FailureReason.INSUFFICIENT_FUNDS: (
            "Les fonds de votre mode de paiement étaient insuffisants, "
            "ou sa limite de crédit a été atteinte."
        ),
        FailureReason.PROVIDER_ERROR: (
            "Votre banque ou le système de paiement n'a pas répondu correctement. "
            "Vous n'y êtes pour rien."
        ),
        FailureReason.CARD_DECLINED: "Votre banque a refusé le paiement.",
        FailureReason.AUTO_RENEW_OFF: (
            "Le renouvellement automatique était désactivé : l'abonnement a pris fin avec sa "
            "période et rien n'a été débité."
        ),
        FailureReason.PAYMENT_REVERSED: (
            "Le paiement de cette période a été contesté auprès de votre banque ou de PayPal et "
            "vous a été restitué : la période n'est pas payée."
        ),
        FailureReason.AUTHENTICATION_REQUIRED: (
            "Votre banque vous demande de confirmer ce paiement (3-D Secure) : il n'est pas "
            "débité tant que vous ne l'avez pas fait. Votre carte elle-même est valable."
        ),
    },
}

_ACTION_TEXTS: Mapping[Locale, Mapping[RecommendedAction, str]] = {
    Locale.EN: {
        RecommendedAction.UPDATE_PAYMENT_METHOD: (
            "Update your payment method in Billing information."
        ),
        RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD: (
            "Add funds to your account or use another payment method, then press Retry Now."
        ),
        RecommendedAction.NONE_WE_WILL_RETRY: "Nothing to do: we will try again automatically.",
        RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD: (
            "Ask your bank why it declined the payment, or use another payment method."
        ),
        RecommendedAction.BUY_NEW_SUBSCRIPTION: "Buy a new subscription to use the service again.",
        RecommendedAction.PAY_AGAIN: (
            "Press Retry Now to pay for the period, or contact us if you think this is a mistake."
        ),
        RecommendedAction.CONFIRM_PAYMENT: (
            "Confirm the payment with your bank from the link we sent you or your billing page."
        ),
    },
    Locale.FR: {
        RecommendedAction.UPDATE_PAYMENT_METHOD: (
            "Mettez à jour votre mode de paiement dans Informations de facturation."
        ),
        RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD: (
            "Approvisionnez votre compte ou utilisez un autre mode de paiement, "
            "puis cliquez sur Retry Now."
        ),
        RecommendedAction.NONE_WE_WILL_RETRY: (
            "Aucune action n'est nécessaire : nous réessaierons automatiquement."
        ),
        RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD: (
            "Demandez à votre banque pourquoi elle a refusé le paiement, "
            "ou utilisez un autre mode de paiement."
        ),
        RecommendedAction.BUY_NEW_SUBSCRIPTION: (
            "Achetez un nouvel abonnement pour utiliser à nouveau le service."
        ),
        RecommendedAction.PAY_AGAIN: (
            "Cliquez sur Retry Now pour régler la période, ou contactez-nous si vous pensez "
            "qu'il s'agit d'une erreur."
        ),
        RecommendedAction.CONFIRM_PAYMENT: (
            "Confirmez le paiement auprès de votre banque depuis le lien que nous vous avons "
            "envoyé ou votre page de facturation."
        ),
    },
}


def recommended_action(reason: FailureReason) -> RecommendedAction:
    return _ACTIONS[reason]


def explain(reason: FailureReason, locale: Locale) -> FailureExplanation:
    """The customer-facing message and recommended action for `reason` in `locale`."""
    action = recommended_action(reason)
    return FailureExplanation(
        reason=reason,
        message=_MESSAGES[locale][reason],
        action=action,
        action_text=_ACTION_TEXTS[locale][action],
    )
