"""Failure reasons: their classification and what the customer is told to do, per language."""

from __future__ import annotations

import pytest

from billing.domain.failures import (
    FailureExplanation,
    FailureReason,
    RecommendedAction,
    explain,
)
from billing.domain.locales import Locale

EXPECTED_ACTIONS = [
    (FailureReason.PAYMENT_METHOD_INVALID, RecommendedAction.UPDATE_PAYMENT_METHOD),
    (FailureReason.INSUFFICIENT_FUNDS, RecommendedAction.ADD_FUNDS_OR_UPDATE_PAYMENT_METHOD),
    (FailureReason.PROVIDER_ERROR, RecommendedAction.NONE_WE_WILL_RETRY),
    (FailureReason.CARD_DECLINED, RecommendedAction.CONTACT_BANK_OR_UPDATE_PAYMENT_METHOD),
    (FailureReason.AUTO_RENEW_OFF, RecommendedAction.BUY_NEW_SUBSCRIPTION),
    (FailureReason.PAYMENT_REVERSED, RecommendedAction.PAY_AGAIN),
    (FailureReason.AUTHENTICATION_REQUIRED, RecommendedAction.CONFIRM_PAYMENT),
]


def test_expected_actions_cover_every_reason() -> None:
    assert {reason for reason, _ in EXPECTED_ACTIONS} == set(FailureReason)


@pytest.mark.parametrize(
    ("reason", "value"),
    [
        (FailureReason.PAYMENT_METHOD_INVALID, "payment_method_invalid"),
        (FailureReason.INSUFFICIENT_FUNDS, "insufficient_funds"),
        (FailureReason.PROVIDER_ERROR, "provider_error"),
        (FailureReason.CARD_DECLINED, "card_declined"),
        (FailureReason.AUTO_RENEW_OFF, "auto_renew_off"),
        (FailureReason.PAYMENT_REVERSED, "payment_reversed"),
        (FailureReason.AUTHENTICATION_REQUIRED, "authentication_required"),
    ],
)
def test_reason_wire_values(reason: FailureReason, value: str) -> None:
    assert reason == value
    assert FailureReason(value) is reason


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize("reason", list(FailureReason))
def test_every_reason_is_explained_in_every_locale(reason: FailureReason, locale: Locale) -> None:
    explanation = explain(reason, locale)

    assert isinstance(explanation, FailureExplanation)
    assert explanation.reason is reason
    assert explanation.message.strip()
    assert explanation.action_text.strip()
    assert explanation.message != explanation.action_text


@pytest.mark.parametrize("locale", list(Locale))
@pytest.mark.parametrize(("reason", "action"), EXPECTED_ACTIONS)
def test_recommended_action_per_reason(
    reason: FailureReason, action: RecommendedAction, locale: Locale
) -> None:
    assert explain(reason, locale).action is action


@pytest.mark.parametrize("reason", list(FailureReason))
def test_french_and_english_texts_differ(reason: FailureReason) -> None:
    english = explain(reason, Locale.EN)
    french = explain(reason, Locale.FR)

    assert english.message != french.message
    assert english.action_text != french.action_text
    assert english.action is french.action


@pytest.mark.parametrize("locale", list(Locale))
def test_each_reason_has_its_own_message_and_action_text(locale: Locale) -> None:
    explanations = [explain(reason, locale) for reason in FailureReason]

    assert len({e.message for e in explanations}) == len(FailureReason)
    assert len({e.action_text for e in explanations}) == len(FailureReason)


@pytest.mark.parametrize(
    ("locale", "reason", "words"),
    [
        (Locale.EN, FailureReason.PROVIDER_ERROR, "not your doing"),
        (Locale.EN, FailureReason.INSUFFICIENT_FUNDS, "credit limit"),
        (Locale.EN, FailureReason.CARD_DECLINED, "declined"),
        (Locale.EN, FailureReason.AUTO_RENEW_OFF, "nothing was charged"),
        (Locale.EN, FailureReason.PAYMENT_METHOD_INVALID, "expired"),
    ],
)
def test_english_messages_say_what_happened(
    locale: Locale, reason: FailureReason, words: str
) -> None:
    assert words in explain(reason, locale).message


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        (FailureReason.PROVIDER_ERROR, "try again automatically"),
        (FailureReason.PAYMENT_METHOD_INVALID, "Update your payment method"),
        (FailureReason.INSUFFICIENT_FUNDS, "Retry Now"),
        (FailureReason.CARD_DECLINED, "Ask your bank"),
        (FailureReason.AUTO_RENEW_OFF, "Buy a new subscription"),
    ],
)
def test_english_action_texts_say_what_to_do(reason: FailureReason, words: str) -> None:
    assert words in explain(reason, Locale.EN).action_text


@pytest.mark.parametrize(
    ("reason", "hard"),
    [
        (FailureReason.PAYMENT_METHOD_INVALID, True),
        (FailureReason.INSUFFICIENT_FUNDS, False),
        (FailureReason.PROVIDER_ERROR, False),
        (FailureReason.CARD_DECLINED, False),
        (FailureReason.AUTO_RENEW_OFF, False),
    ],
)
def test_only_an_invalid_payment_method_is_a_hard_decline(
    reason: FailureReason, hard: bool
) -> None:
    assert reason.is_hard_decline is hard


@pytest.mark.parametrize(
    ("reason", "provider"),
    [
        (FailureReason.PAYMENT_METHOD_INVALID, False),
        (FailureReason.INSUFFICIENT_FUNDS, False),
        (FailureReason.PROVIDER_ERROR, True),
        (FailureReason.CARD_DECLINED, False),
        (FailureReason.AUTO_RENEW_OFF, False),
    ],
)
def test_only_provider_error_is_a_provider_error(reason: FailureReason, provider: bool) -> None:
    assert reason.is_provider_error is provider


def test_hard_declines_and_provider_errors_are_exactly_one_reason_each() -> None:
    assert {r for r in FailureReason if r.is_hard_decline} == {FailureReason.PAYMENT_METHOD_INVALID}
    assert {r for r in FailureReason if r.is_provider_error} == {FailureReason.PROVIDER_ERROR}


def test_explanation_is_the_same_on_every_call() -> None:
    assert explain(FailureReason.CARD_DECLINED, Locale.FR) == explain(
        FailureReason.CARD_DECLINED, Locale.FR
    )
