"""Invoices for their customer, on the in-memory repository and archive: a document archived as
PDF once however often it is archived or downloaded, a download link that lasts the configured
time, and another account's document or a number never issued not found, nothing archived."""

from __future__ import annotations

from datetime import timedelta

import pytest

from billing.invoices.pdf import render
from billing.operations.invoices import Archiving, Invoices
from billing.persistence.repository import NotFound
from tests.fakes import InMemoryDocumentArchive, InMemoryRepository
from tests.support.api import Clock
from tests.support.documents import credit_note, invoice

pytestmark = pytest.mark.unit

LIFETIME = timedelta(minutes=5)


@pytest.fixture
def archive() -> InMemoryDocumentArchive:
    return InMemoryDocumentArchive()


@pytest.fixture
def invoices(
    repository: InMemoryRepository, archive: InMemoryDocumentArchive, clock: Clock
) -> Invoices:
    return Invoices(repository, archive, clock=clock, link_lifetime=LIFETIME)


def test_a_document_is_archived_as_its_pdf_once(archive: InMemoryDocumentArchive) -> None:
    document, archiving = credit_note(45), Archiving(archive)

    archived = [archiving.archive(document), archiving.archive(document)]

    assert archived == [True, False]
    assert archive.objects == {"fr-main/00000045.pdf": render(document)}


def test_a_download_links_the_callers_document_archived_first_for_a_few_minutes(
    invoices: Invoices,
    repository: InMemoryRepository,
    archive: InMemoryDocumentArchive,
    clock: Clock,
) -> None:
    document = invoice(42, account_id="acct_1")
    repository.add_document(document)

    link = invoices.download("acct_1", 42)

    assert link.document == document
    assert link.expires_at == clock() + LIFETIME
    assert archive.download(link.url) == render(document)
    assert "expires_in=300" in link.url


def test_a_document_already_archived_is_linked_as_it_was_archived(
    invoices: Invoices, repository: InMemoryRepository, archive: InMemoryDocumentArchive
) -> None:
    repository.add_document(invoice(42, account_id="acct_1"))
    archive.objects["fr-main/00000042.pdf"] = b"%PDF-as archived by the stream"

    link = invoices.download("acct_1", 42)

    assert archive.download(link.url) == b"%PDF-as archived by the stream"


@pytest.mark.parametrize(("account_id", "number"), [("acct_intruder", 42), ("acct_1", 43)])
def test_another_accounts_document_or_a_number_never_issued_is_not_found(
    invoices: Invoices,
    repository: InMemoryRepository,
    archive: InMemoryDocumentArchive,
    account_id: str,
    number: int,
) -> None:
    repository.add_document(invoice(42, account_id="acct_1"))

    with pytest.raises(NotFound):
        invoices.download(account_id, number)

    assert archive.stores == []
