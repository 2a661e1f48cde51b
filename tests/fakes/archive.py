"""The document archive in a dict: what `S3DocumentArchive` answers, for orchestration tests
(tests/contract/test_archive_contract.py holds the two to the same cases)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from billing.domain.invoices import Document
from billing.invoices.archive import archive_key

SCHEME = "memory"


class InMemoryDocumentArchive:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.stores: list[str] = []
        """The key of every store asked for, in order, whether it wrote or not."""

    def store(self, document: Document, pdf: bytes) -> bool:
        key = archive_key(document)
        self.stores.append(key)
        if key in self.objects:
            return False
        self.objects[key] = pdf
        return True

    def link(self, document: Document, expires_in: timedelta) -> str:
        seconds = int(expires_in.total_seconds())
        return f"{SCHEME}://invoices/{archive_key(document)}?expires_in={seconds}"

    def download(self, link: str) -> bytes:
        """What following `link` gives: KeyError when nothing is stored there."""
        address = urlsplit(link)
        assert address.scheme == SCHEME, link
        assert parse_qs(address.query)["expires_in"], link
        return self.objects[address.path.removeprefix("/")]
