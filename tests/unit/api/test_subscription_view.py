"""The subscription's view: the fields it shares with the subscription are copied by name, the
others computed; its JSON is what it was when every field was copied by hand."""

from __future__ import annotations

from billing.api.views import SubscriptionView
from billing.domain.locales import Locale
from tests.support.subscription_items import (
    SUBSCRIPTIONS,
    NotedSubscriptionView,
    noted,
)

SHARED = {
    "id": "sub_1",
    "account_id": "acct_1",
    "plan_id": "basic",
    "cycle_months": 1,
    "currency": "EUR",
    "price": 4900,
    "channel": "direct",
    "current_period_start": "2026-01-31T09:30:00Z",
    "current_period_end": "2026-02-28T09:30:00Z",
    "retries_left": 0,
}
"""What the views of the discounted and the cancelled subscription have in common."""


def test_the_view_of_a_discounted_subscription() -> None:
    view = SubscriptionView.of(SUBSCRIPTIONS["discounted"], Locale.EN)

    assert view.model_dump(mode="json") == SHARED | {
        "status": "active",
        "auto_renew": True,
        "access": True,
        "next_charge_at": "2026-02-28T09:30:00Z",
        "next_charge_amount": 3920,
        "failed_attempts": 0,
        "last_failure": None,
        "cancelled_at": None,
        "cancel_reason": None,
        "discount": {"coupon": "WELCOME20", "amount_off": 980, "cycles": 2},
        "disputed_payment_id": None,
        "next_charge_tax": None,
    }


def test_the_view_of_a_cancelled_subscription() -> None:
    view = SubscriptionView.of(SUBSCRIPTIONS["cancelled"], Locale.EN)

    assert view.model_dump(mode="json") == SHARED | {
        "status": "cancelled",
        "auto_renew": False,
        "access": False,
        "next_charge_at": None,
        "next_charge_amount": None,
        "failed_attempts": 1,
        "last_failure": {
            "reason": "insufficient_funds",
            "message": "There were not enough funds on your payment method, or its credit "
            "limit was reached.",
            "action": "add_funds_or_update_payment_method",
            "action_text": "Add funds to your account or use another payment method, then "
            "press Retry Now.",
            "at": "2026-02-28T09:30:00Z",
        },
        "cancelled_at": "2026-02-28T10:30:00Z",
        "cancel_reason": "cancelled_by_customer",
        "discount": None,
        "disputed_payment_id": None,
        "next_charge_tax": None,
    }


def test_a_field_declared_in_the_view_shows_the_subscription_field_of_its_name() -> None:
    shown = NotedSubscriptionView.of(noted("called on 2026-03-02"), Locale.EN)

    assert shown.sales_note == "called on 2026-03-02"
    assert shown.model_dump() == SubscriptionView.of(noted(), Locale.EN).model_dump() | {
        "sales_note": "called on 2026-03-02"
    }
