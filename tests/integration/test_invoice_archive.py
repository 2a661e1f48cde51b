"""The invoices' archive in moto server, the bucket made from the template as the local stack
makes it: a presigned link that any HTTP client on loopback follows without credentials, for
five minutes, to the PDF saved under its document's name; every version kept under the
template's Object Lock retention; a failing archive as StorageUnavailable."""

from __future__ import annotations

import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from billing.invoices.archive import S3DocumentArchive, archive_key
from billing.invoices.pdf import render
from billing.persistence.repository import StorageUnavailable
from billing.settings import InvoiceSettings
from devstack.resources import create_buckets
from tests.support.aws import template
from tests.support.documents import credit_note
from tests.support.moto_server import MotoServer

pytestmark = pytest.mark.integration

BUCKET = "invoicesbucket"
"""The template's InvoicesBucket as the local stack names it."""


@pytest.fixture
def archive(moto: MotoServer, monkeypatch: pytest.MonkeyPatch) -> S3DocumentArchive:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    bucket = create_buckets(template(), moto.client("s3"))["InvoicesBucket"]
    assert bucket.name == BUCKET
    return S3DocumentArchive(InvoiceSettings.from_environment({"INVOICES_BUCKET": BUCKET}))


def test_a_link_downloads_the_pdf_on_loopback_without_credentials_for_five_minutes(
    archive: S3DocumentArchive,
) -> None:
    document = credit_note(45)
    pdf = render(document)
    archive.store(document, pdf)

    link = archive.link(document, timedelta(minutes=5))

    address = urlsplit(link)
    assert (address.hostname, parse_qs(address.query)["X-Amz-Expires"]) == ("127.0.0.1", ["300"])
    with urllib.request.urlopen(link, timeout=10) as answer:  # no Authorization header
        assert answer.read() == pdf
        assert answer.headers["Content-Type"] == "application/pdf"
        assert answer.headers["Content-Disposition"] == 'inline; filename="avoir-00000045.pdf"'


def test_every_stored_pdf_is_kept_under_the_templates_retention(
    archive: S3DocumentArchive, moto: MotoServer
) -> None:
    document = credit_note(45)
    archive.store(document, render(document))

    stored = moto.client("s3").head_object(Bucket=BUCKET, Key=archive_key(document))

    assert stored["ObjectLockMode"] == "GOVERNANCE"
    kept = stored["ObjectLockRetainUntilDate"] - datetime.now(UTC)
    assert timedelta(days=11 * 365 - 1) < kept < timedelta(days=11 * 366 + 1)


def test_an_archive_that_fails_is_storage_unavailable(
    moto: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    missing = S3DocumentArchive(InvoiceSettings.from_environment({"INVOICES_BUCKET": "no-such"}))

    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        missing.store(credit_note(45), b"%PDF")
