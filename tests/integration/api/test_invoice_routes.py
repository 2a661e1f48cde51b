"""GET /invoices/{number} through the local API Gateway and the real handler: the caller's own
document archived as PDF in S3 (moto server) on first download and linked for five minutes, the
link followed on loopback without credentials; another account's document or a number never
issued is 404, a number that is not one 422, both in the API's error shape. Documents are read
from the in-memory repository, as the persistence will store them with their payment."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Iterator

import pytest
from pypdf import PdfReader

from billing import composition
from billing.api.http import AccountRole
from devstack.api_gateway import LocalApiGateway, routes_from_template
from devstack.resources import create_buckets
from devstack.tokens import TokenIssuer, generate_secret
from tests.fakes import InMemoryRepository
from tests.support.api import Client, Clock, expect_error
from tests.support.aws import template
from tests.support.documents import credit_note, invoice
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration


class Invoices:
    def __init__(self, gateway: LocalApiGateway, issuer: TokenIssuer, moto: MotoServer) -> None:
        self.gateway, self.issuer, self.moto = gateway, issuer, moto
        self.repository = InMemoryRepository()

    def customer(self, account_id: str, role: AccountRole = AccountRole.ADMIN) -> Client:
        return Client(self.gateway, lambda: self.issuer.issue(account_id, account_role=role))

    def archived(self) -> list[str]:
        listed = self.moto.client("s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
        return [str(entry["Key"]) for entry in listed]


BUCKET = "invoicesbucket"


@pytest.fixture
def invoices(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Invoices]:
    create_buckets(template(), moto.client("s3"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("INVOICES_BUCKET", BUCKET)
    clock = Clock()
    monkeypatch.setattr(composition, "clock", clock)
    issuer = TokenIssuer(generate_secret(), clock=clock)
    gateway = LocalApiGateway(routes_from_template(template()), verifier=issuer.verify, clock=clock)
    under_test = Invoices(gateway, issuer, moto)
    composition.install(composition.Root(repository=under_test.repository))
    yield under_test
    composition.install()


def _pdf_text(link: str) -> str:
    with urllib.request.urlopen(link, timeout=10) as answer:  # no credentials: the link's own
        assert answer.headers["Content-Type"] == "application/pdf"
        return PdfReader(io.BytesIO(answer.read())).pages[0].extract_text()


def test_a_customer_downloads_their_invoice_through_a_link_that_lasts_five_minutes(
    invoices: Invoices,
) -> None:
    invoices.repository.add_document(invoice(42, account_id="acct_1"))
    customer = invoices.customer("acct_1")

    answer = customer.get("/invoices/42")

    assert answer.status == 200, answer.body
    link = answer.json()
    assert {k: link[k] for k in ("number", "reference", "kind")} == {
        "number": 42,
        "reference": "00000042",
        "kind": "invoice",
    }
    assert link["expires_at"] == "2026-01-31T09:35:00Z"
    assert "FACTURE" in _pdf_text(link["url"])
    assert invoices.archived() == ["fr-main/00000042.pdf"]


def test_a_second_download_links_the_pdf_archived_first(invoices: Invoices) -> None:
    invoices.repository.add_document(credit_note(45, corrects=42))
    customer = invoices.customer("acct-fr")
    first = customer.get("/invoices/45").json()["url"]
    before = _pdf_text(first)

    again = customer.get("/invoices/00000045")

    assert again.status == 200, again.body
    assert _pdf_text(again.json()["url"]) == before
    assert invoices.archived() == ["fr-main/00000045.pdf"]
    versions = invoices.moto.client("s3").list_object_versions(Bucket=BUCKET)["Versions"]
    assert len(versions) == 1, "written once, never replaced"


def test_another_accounts_document_or_a_number_never_issued_is_not_found(
    invoices: Invoices,
) -> None:
    invoices.repository.add_document(invoice(42, account_id="acct_victim"))
    intruder = invoices.customer("acct_intruder")

    for number in ("42", "43", "0"):
        expect_error(intruder.get(f"/invoices/{number}"), 404, "not_found")
    assert invoices.archived() == []


@pytest.mark.parametrize("number", ["abc", "-1", "4.2", "1e3", "٤٢", "1234567890123"])
def test_a_number_that_is_not_one_is_an_invalid_field(invoices: Invoices, number: str) -> None:
    error = expect_error(
        invoices.customer("acct_1").get(f"/invoices/{number}"), 422, "invalid_fields"
    )

    assert [detail["field"] for detail in error["details"]] == ["number"]


def test_only_the_accounts_administrators_download_its_invoices(invoices: Invoices) -> None:
    invoices.repository.add_document(invoice(42, account_id="acct_1"))

    error = expect_error(
        invoices.customer("acct_1", AccountRole.USER).get("/invoices/42"), 403, "forbidden"
    )

    assert error["details"] == {"required_account_role": "admin"}
    assert invoices.repository.calls == []
