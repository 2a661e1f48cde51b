"""Invoices and credit notes for their customer: each archived as PDF once issued, and
downloaded through a link that lasts minutes. Another account's document is not found."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from billing.domain.invoices import Document
from billing.domain.values import frozen
from billing.invoices.archive import DocumentArchive
from billing.invoices.pdf import render
from billing.persistence.items import AttributeValue, from_item
from billing.persistence.repository import BillingRepository, NotFound


def issued_document(image: Mapping[str, AttributeValue]) -> Document | None:
    """The document a documents table item holds, as `billing.persistence` writes it
    (`to_item(document)`, its key's ``entity`` beside it), e.g. a stream record's new image;
    None for the table's other items (the head of a sequence has no ``kind``)."""
    if "kind" not in image:
        return None
    return from_item(Document, image)


@frozen
class DownloadLink:
    document: Document
    url: str
    expires_at: datetime


class Archiving:
    """Issued documents into the archive, as PDF: what the documents table's stream runs."""

    def __init__(self, archive: DocumentArchive) -> None:
        self._archive = archive

    def archive(self, document: Document) -> bool:
        """Render `document` and archive its PDF: True if archived now, False if it already was
        (then the PDF first archived stays, the same bytes anyway)."""
        return self._archive.store(document, render(document))


class Invoices:
    """A customer's downloads of their invoices and credit notes."""

    def __init__(
        self,
        repository: BillingRepository,
        archive: DocumentArchive,
        *,
        clock: Callable[[], datetime],
        link_lifetime: timedelta,
    ) -> None:
        self._repository = repository
        self._archive = archive
        self._archiving = Archiving(archive)
        self._clock = clock
        self._link_lifetime = link_lifetime

    def download(self, account_id: str, number: int) -> DownloadLink:
        """A link to the PDF of `account_id`'s document `number`, archived first if its stream
        record has not been acted on yet; NotFound for a number never issued or another
        account's."""
        document = self._repository.get_document(number)
        if document.account_id != account_id:
            raise NotFound("Invoice")
        # One conditional write stands for "is it there yet?": S3 answers a read of a missing
        # object with 403 to a role that may not list the bucket, and none here may.
        self._archiving.archive(document)
        url = self._archive.link(document, self._link_lifetime)
        return DownloadLink(document, url, self._clock() + self._link_lifetime)
