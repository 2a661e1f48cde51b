"""A charge attempt's view: its fields copied by name, the currency given; its JSON is what it
was when every field was copied by hand."""

from __future__ import annotations

from dataclasses import replace

from billing.api.views import AttemptView
from billing.domain.charges import ChargeStatus, Refund
from billing.domain.money import Currency, Money
from billing.domain.state_machine import Actor, Requester
from billing.domain.tax import taxed
from tests.support.stored_items import ATTEMPTS
from tests.support.subscriptions import ANCHOR

SALES = Requester(Actor.SALES, "sales-1")


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
        "tax": None,
        "invoice": None,
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
        "tax": None,
        "invoice": None,
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
        "tax": None,
        "invoice": None,
    }


def test_the_view_of_an_invoiced_payment_with_a_credited_refund() -> None:
    tax = taxed(Money(4900, Currency.EUR), "BE", confirmed_vat_id=True, at=ANCHOR)
    refund = Refund(Money(1000, Currency.EUR), ANCHOR, SALES, credit_note=13, reference="re_1")
    paid = replace(
        ATTEMPTS["without_method"],
        status=ChargeStatus.SUCCEEDED,
        failure_reason=None,
        amount=tax.gross,
        tax=tax,
        invoice=12,
        refunds=(refund,),
    )

    view = AttemptView.of(paid).model_dump(mode="json")

    assert view["tax"] == {
        "rule": "reverse_charge",
        "country": "BE",
        "rate": "0",
        "net": 4900,
        "vat": 0,
        "gross": 4900,
        "legal_mention": (
            "Autoliquidation : TVA due par le preneur, article 283-2 du CGI, "
            "article 196 de la directive 2006/112/CE"
        ),
    }
    assert view["invoice"] == {"number": 12, "reference": "00000012", "download": "/invoices/12"}
    assert view["refunds"][0]["credit_note"] == {
        "number": 13,
        "reference": "00000013",
        "download": "/invoices/13",
    }
