"""What any `DocumentArchive` does: a document's PDF stored once under its entity and number and
never replaced, and a link that downloads what was stored. Run against the in-memory archive and
S3 (moto, in-process, the bucket made from the template: versioned, with Object Lock)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import boto3
import pytest
import requests
from moto import mock_aws

from billing.invoices.archive import DocumentArchive, S3DocumentArchive, archive_key
from billing.settings import InvoiceSettings
from devstack.resources import create_buckets
from tests.contract.conftest import FAKE, REAL
from tests.fakes import InMemoryDocumentArchive
from tests.support.aws import template
from tests.support.documents import credit_note, invoice

pytestmark = pytest.mark.contract

FIVE_MINUTES = timedelta(minutes=5)


@dataclass(frozen=True)
class ArchiveUnderTest:
    archive: DocumentArchive
    download: Callable[[str], bytes]
    """What following a link gives."""


def _fetched(link: str) -> bytes:
    answer = requests.get(link, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/pdf"
    content: bytes = answer.content
    return content


@pytest.fixture(params=[pytest.param("in_memory", marks=FAKE), pytest.param("s3", marks=REAL)])
def under_test(request: pytest.FixtureRequest) -> Iterator[ArchiveUnderTest]:
    if request.param == "in_memory":
        fake = InMemoryDocumentArchive()
        yield ArchiveUnderTest(fake, fake.download)
        return
    with mock_aws():
        buckets = create_buckets(template(), boto3.client("s3", region_name="us-east-1"))
        settings = InvoiceSettings.from_environment(
            {"INVOICES_BUCKET": buckets["InvoicesBucket"].name}
        )
        yield ArchiveUnderTest(S3DocumentArchive(settings), _fetched)


def test_a_document_is_stored_once_and_its_link_downloads_it(under_test: ArchiveUnderTest) -> None:
    document = invoice(42)

    stored = under_test.archive.store(document, b"%PDF-first")
    again = under_test.archive.store(document, b"%PDF-second")

    assert (stored, again) == (True, False)
    link = under_test.archive.link(document, FIVE_MINUTES)
    assert under_test.download(link) == b"%PDF-first"


def test_documents_are_kept_apart_by_entity_and_number(under_test: ArchiveUnderTest) -> None:
    first, second = invoice(42), credit_note(43)
    elsewhere = replace(first, seller=replace(first.seller, entity="de-main"))

    stored = [
        under_test.archive.store(document, f"%PDF-{i}".encode())
        for i, document in enumerate((first, second, elsewhere))
    ]

    assert stored == [True, True, True]
    assert under_test.download(under_test.archive.link(second, FIVE_MINUTES)) == b"%PDF-1"
    assert under_test.download(under_test.archive.link(elsewhere, FIVE_MINUTES)) == b"%PDF-2"
    assert archive_key(first) == "fr-main/00000042.pdf"
