"""VAT at each charge and the documents it produces, on the fakes: the tax of the customer's
country and status (French, German and Belgian consumers, a Belgian business VIES confirmed, one
VIES could not check yet, an American), the invoice of every succeeded payment, the credit note
of every refund, and provider charges equal to the invoices' gross amounts to the cent."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from billing.charging import ChargeOperation
from billing.domain.accounts import Account, BillingInfo, PaymentProvider, VatIdCheck, VatIdStatus
from billing.domain.charges import ChargeStatus
from billing.domain.invoices import DocumentKind
from billing.domain.money import Currency, Money
from billing.domain.state_machine import Actor, Requester
from billing.domain.subscription import Status
from billing.domain.tax import TaxRule
from billing.operations.refunds import Refunds
from billing.operations.vat_ids import VatIdChecks
from billing.providers.gateway import PaymentGateway
from tests.fakes import FakeGateway, InMemoryRepository
from tests.fakes.vies import FakeVies
from tests.orchestration.charges import card_holder, opened
from tests.support.api import Clock
from tests.support.subscriptions import FIRST_END

pytestmark = pytest.mark.unit

EUR = Currency.EUR
SALES = Requester(Actor.SALES, "sales-1")
NET = 4900
"""The monthly plan's price, net of VAT."""


def _customer(
    stripe: FakeGateway,
    country: str,
    *,
    company: str | None = None,
    vat_id: str | None = None,
    vies: VatIdStatus | None = None,
) -> Account:
    card = f"pm_{uuid4().hex[:10]}"
    account = card_holder(stripe, lambda customer: stripe.card_setup(customer, card))
    info = BillingInfo(
        name="Ada Lovelace",
        email=account.email,
        address_line1="1 Main Street",
        city="Somewhere",
        country=country,
        company=company,
        vat_id=vat_id,
    )
    check = None
    if vies is not None and vat_id is not None:
        check = VatIdCheck(vat_id, vies, FIRST_END - timedelta(days=40))
    return replace(account, billing_info=info, vat_id_check=check)


def _renewed(
    repository: InMemoryRepository, operation: ChargeOperation, clock: Clock, account: Account
) -> tuple[str, int]:
    """Renew `account`'s monthly subscription at the end of its first period; its id and the
    amount the provider was asked for."""
    sub = opened(repository, account)
    clock.now = FIRST_END
    result = operation.renew(sub.id, account.id)
    assert result.attempt is not None
    assert result.attempt.status is ChargeStatus.SUCCEEDED
    return sub.id, result.attempt.amount.amount


@pytest.mark.parametrize(
    ("country", "company", "vat_id", "vies", "rule", "rate", "gross"),
    [
        pytest.param("FR", None, None, None, TaxRule.DOMESTIC, 2000, 5880, id="french-consumer"),
        pytest.param(
            "FR", "Lovelace SARL", "FR40303265045", VatIdStatus.VALID, TaxRule.DOMESTIC, 2000,
            5880, id="french-business-pays-french-vat",
        ),
        pytest.param("DE", None, None, None, TaxRule.EU_CONSUMER, 1900, 5831, id="german-consumer"),
        pytest.param(
            "BE", "Lovelace BV", "BE0123456789", VatIdStatus.VALID, TaxRule.REVERSE_CHARGE, 0,
            4900, id="belgian-business-reverse-charged",
        ),
        pytest.param(
            "BE", "Lovelace BV", "BE0123456789", VatIdStatus.UNCHECKED, TaxRule.EU_CONSUMER, 2100,
            5929, id="belgian-business-vies-unavailable",
        ),
        pytest.param(
            "BE", "Lovelace BV", "BE0123456789", VatIdStatus.INVALID, TaxRule.EU_CONSUMER, 2100,
            5929, id="belgian-business-vat-id-refused",
        ),
        pytest.param("US", None, None, None, TaxRule.OUTSIDE_EU, 0, 4900, id="american"),
    ],
)  # fmt: skip
def test_each_renewal_is_taxed_by_the_customers_country_and_status_and_invoiced(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    clock: Clock,
    country: str,
    company: str | None,
    vat_id: str | None,
    vies: VatIdStatus | None,
    rule: TaxRule,
    rate: int,
    gross: int,
) -> None:
    account = _customer(stripe, country, company=company, vat_id=vat_id, vies=vies)

    sub_id, charged = _renewed(repository, operation, clock, account)

    assert charged == gross
    assert [c.request.amount for c in stripe.charges][-1] == Money(gross, EUR)
    [payment, _] = repository.charge_attempts(sub_id)
    assert payment.tax is not None
    assert (payment.tax.rule, payment.tax.rate, payment.tax.net) == (rule, rate, Money(NET, EUR))
    assert payment.tax.gross == payment.amount
    assert payment.invoice is not None
    invoice = repository.get_document(payment.invoice)
    assert (invoice.kind, invoice.payment_id, invoice.tax) == (
        DocumentKind.INVOICE,
        payment.id,
        payment.tax,
    )
    assert invoice.buyer.vat_id == vat_id
    assert invoice.buyer.name == (company or "Ada Lovelace")
    mention = invoice.tax.legal_mention
    assert (mention is not None and mention.startswith("Autoliquidation")) == (
        rule is TaxRule.REVERSE_CHARGE
    )
    # The renewal's receipt says the VAT too.
    [receipt] = [m for m in repository.posted_messages() if "vat_amount" in m.details][-1:]
    assert receipt.details["vat_amount"] == str(gross - NET)
    assert receipt.details["invoice"] == str(payment.invoice), "the receipt links to it"


def test_a_vies_check_that_could_not_be_made_never_stops_a_renewal(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation, clock: Clock
) -> None:
    account = _customer(
        stripe, "BE", company="Lovelace BV", vat_id="BE0123456789", vies=VatIdStatus.UNCHECKED
    )

    sub_id, charged = _renewed(repository, operation, clock, account)

    assert repository.get_subscription(sub_id).status is Status.ACTIVE
    assert charged == 5929, "taxed as a consumer meanwhile: 21 % Belgian VAT"


def test_a_refund_gives_a_credit_note_of_its_share_of_net_and_vat_referring_to_the_invoice(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    operation: ChargeOperation,
    refunds: Refunds,
    clock: Clock,
) -> None:
    account = _customer(stripe, "DE")
    sub_id, _ = _renewed(repository, operation, clock, account)
    [payment, _] = repository.charge_attempts(sub_id)

    part = refunds.refund(payment.id, 1000, cancel=False, by=SALES)
    rest = refunds.refund(payment.id, None, cancel=False, by=SALES)

    first, second = (r.credit_note for r in rest.payment.refunds)
    assert part.payment.refunds[0].credit_note == first
    assert first is not None
    assert second is not None
    notes = [repository.get_document(first), repository.get_document(second)]
    assert {n.kind for n in notes} == {DocumentKind.CREDIT_NOTE}
    assert {n.credits for n in notes} == {payment.invoice}
    # 10.00 EUR given back of 58.31 at 19 %: 8.40 net and 1.60 VAT; the rest is the other part,
    # so that the notes add up to the invoice exactly.
    assert (notes[0].tax.net, notes[0].tax.vat) == (Money(840, EUR), Money(160, EUR))
    assert notes[0].tax.gross + notes[1].tax.gross == Money(5831, EUR)
    assert notes[0].tax.net + notes[1].tax.net == Money(NET, EUR)
    refunded = [m for m in repository.posted_messages() if "credit_note" in m.details]
    assert [m.details["credit_note"] for m in refunded] == [str(first), str(second)]
    # The invoice itself never changed.
    assert payment.invoice is not None
    assert repository.get_document(payment.invoice).tax.gross == Money(5831, EUR)


def test_provider_charges_equal_the_invoices_gross_to_the_cent(
    repository: InMemoryRepository, stripe: FakeGateway, operation: ChargeOperation, clock: Clock
) -> None:
    customers = [
        _customer(stripe, "FR"),
        _customer(stripe, "DE"),
        _customer(stripe, "FI"),
        _customer(
            stripe, "BE", company="Lovelace BV", vat_id="BE0123456789", vies=VatIdStatus.VALID
        ),
        _customer(stripe, "US"),
    ]
    subs = [opened(repository, account) for account in customers]
    for _ in range(12):
        for sub, account in zip(subs, customers, strict=True):
            clock.now = repository.get_subscription(sub.id).period.end
            operation.renew(sub.id, account.id)

    invoices = [d for d in repository.documents() if d.kind is DocumentKind.INVOICE]
    renewals = [c for c in stripe.charges if c.request.key.split(".")[1] != "c00000"]
    assert len(invoices) == len(renewals) == 12 * len(customers)
    assert sum(c.request.amount.amount for c in renewals) == sum(
        d.tax.gross.amount for d in invoices
    )
    assert [d.number for d in repository.documents()] == list(range(1, len(invoices) + 1))


@pytest.mark.parametrize("vies_answers", [True, False], ids=["vies-answers", "vies-still-down"])
def test_a_vat_id_vies_could_not_check_is_asked_again_before_the_next_charge(
    repository: InMemoryRepository,
    stripe: FakeGateway,
    gateways: dict[PaymentProvider, PaymentGateway],
    clock: Clock,
    vies_answers: bool,
) -> None:
    vies = FakeVies("BE0123456789")
    if not vies_answers:
        vies.unavailable("BE")
    checks = VatIdChecks(repository, vies, clock=clock)
    operation = ChargeOperation(repository, gateways, clock=clock, vat_ids=checks)
    account = _customer(
        stripe, "BE", company="Lovelace BV", vat_id="BE0123456789", vies=VatIdStatus.UNCHECKED
    )
    assert account.vat_id_check is not None
    due = replace(account.vat_id_check, next_check_at=FIRST_END - timedelta(hours=1))
    account = replace(account, vat_id_check=due)

    sub_id, charged = _renewed(repository, operation, clock, account)

    assert vies.checked == ["BE0123456789"], "asked once, right before the charge"
    stored = repository.get_account(account.id).vat_id_check
    assert stored is not None
    if vies_answers:
        assert (charged, stored.status) == (4900, VatIdStatus.VALID), "reverse-charged"
    else:
        assert (charged, stored.status) == (5929, VatIdStatus.UNCHECKED), "a consumer meanwhile"
        assert stored.next_check_at is not None
        assert stored.next_check_at > FIRST_END
    assert repository.get_subscription(sub_id).status is Status.ACTIVE
