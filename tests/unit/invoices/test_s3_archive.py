"""The S3 archive's answers to what moto does not do: S3's 409 while another write of the same
key is in flight (tried again, then StorageUnavailable), and a write refused for being one of an
existing key (412: already archived). Sent to a stubbed client: nothing leaves the process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from billing.invoices.archive import CONFLICT_TRIES, S3DocumentArchive
from billing.persistence.repository import StorageUnavailable
from billing.settings import InvoiceSettings
from tests.support.documents import invoice

pytestmark = pytest.mark.unit


@pytest.fixture
def stubbed() -> Iterator[tuple[S3DocumentArchive, Stubber]]:
    archive = S3DocumentArchive(InvoiceSettings.from_environment({"INVOICES_BUCKET": "invoices"}))
    client: Any = boto3.client("s3", region_name="us-east-1")
    archive.__dict__["_s3"] = client  # the client the archive would make, stubbed
    with Stubber(client) as stubber:
        yield archive, stubber
        stubber.assert_no_pending_responses()


def _refused(stubber: Stubber, code: str, status: int) -> None:
    stubber.add_client_error("put_object", code, http_status_code=status)


def test_a_write_racing_another_is_tried_again(stubbed: tuple[S3DocumentArchive, Stubber]) -> None:
    archive, stubber = stubbed
    _refused(stubber, "ConditionalRequestConflict", 409)
    stubber.add_response(
        "put_object",
        {},
        {
            "Bucket": "invoices",
            "Key": "fr-main/00000042.pdf",
            "Body": b"%PDF",
            "ContentType": "application/pdf",
            "IfNoneMatch": "*",
        },
    )

    assert archive.store(invoice(42), b"%PDF") is True


def test_writes_that_keep_racing_are_storage_unavailable(
    stubbed: tuple[S3DocumentArchive, Stubber],
) -> None:
    archive, stubber = stubbed
    for _ in range(CONFLICT_TRIES):
        _refused(stubber, "ConditionalRequestConflict", 409)

    with pytest.raises(StorageUnavailable, match="concurrent writes"):
        archive.store(invoice(42), b"%PDF")


def test_a_key_already_written_is_already_archived(
    stubbed: tuple[S3DocumentArchive, Stubber],
) -> None:
    archive, stubber = stubbed
    _refused(stubber, "PreconditionFailed", 412)

    assert archive.store(invoice(42), b"%PDF") is False
