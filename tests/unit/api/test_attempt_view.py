"""A charge attempt's view: its fields copied by name, the currency given; its JSON is what it
was when every field was copied by hand."""

from __future__ import annotations

from billing.api.views import AttemptView
from tests.support.stored_items import ATTEMPTS


def test_the_view_of_a_pending_purchase_charge() -> None:
    assert AttemptView.of(ATTEMPTS["pending"]).model_dump(mode="json") == {
        "id": "sub_1.c00000.a001",
        "subscription_id": "sub_1",
        "kind": "purchase",
        "amount": 3920,
        "currency": "EUR",
        "status": "pending",
        "failure_reason": None,
        "provider": "stripe",
        "provider_reference": None,
        "created_at": "2026-01-31T09:30:00Z",
        "refunded": 0,
        "refunds": [],
        "dispute": None,
    }


def test_the_view_of_a_failed_renewal() -> None:
    assert AttemptView.of(ATTEMPTS["failed"]).model_dump(mode="json") == {
        "id": "sub_p.c00003.a001",
        "subscription_id": "sub_p",
        "kind": "renewal",
        "amount": 9900,
        "currency": "USD",
        "status": "failed",
        "failure_reason": "insufficient_funds",
        "provider": "paypal",
        "provider_reference": "PAYID-1",
        "created_at": "2026-02-28T09:30:00Z",
        "refunded": 0,
        "refunds": [],
        "dispute": None,
    }


def test_the_view_of_an_attempt_made_without_a_payment_method() -> None:
    assert AttemptView.of(ATTEMPTS["without_method"]).model_dump(mode="json") == {
        "id": "sub_1.c00001.a003",
        "subscription_id": "sub_1",
        "kind": "sales",
        "amount": 4900,
        "currency": "EUR",
        "status": "failed",
        "failure_reason": "payment_method_invalid",
        "provider": None,
        "provider_reference": None,
        "created_at": "2026-03-03T09:30:00Z",
        "refunded": 0,
        "refunds": [],
        "dispute": None,
    }
