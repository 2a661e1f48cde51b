"""The archive of issued documents' PDFs (S3), and the short-lived links that download them.

Each document is stored under a key of its legal entity and number, once: the write is
conditional on no object having that key (S3's ``If-None-Match: *``; the bucket's policy refuses
any other write), so a document archived twice, by the stream and by a download racing it, keeps
the bytes first written. They are the same bytes anyway: rendering is deterministic
(`billing.invoices.pdf`).
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from billing.domain.invoices import Document, DocumentKind
from billing.persistence.repository import StorageUnavailable
from billing.settings import InvoiceSettings

PDF = "application/pdf"
FILE_NAMES = {DocumentKind.INVOICE: "facture", DocumentKind.CREDIT_NOTE: "avoir"}


def archive_key(document: Document) -> str:
    """Where `document`'s PDF is kept: ``<entity>/<number, zero-padded>.pdf``."""
    return f"{document.seller.entity}/{document.reference}.pdf"


def file_name(document: Document) -> str:
    """The name a downloaded PDF is saved under: ``facture-00000042.pdf``."""
    return f"{FILE_NAMES[document.kind]}-{document.reference}.pdf"


class DocumentArchive(Protocol):
    """Issued documents' PDFs, each written once and never replaced."""

    def store(self, document: Document, pdf: bytes) -> bool:
        """Keep `pdf` as `document`'s: True if stored now, False if it was already there (the
        stored bytes are left as they are). StorageUnavailable when the archive fails."""
        ...

    def link(self, document: Document, expires_in: timedelta) -> str:
        """An address that downloads `document`'s PDF for `expires_in`, without credentials."""
        ...


CONFLICT_TRIES = 3
"""Writes of one key tried while S3 answers that another write of it is in flight (409)."""


class S3DocumentArchive:
    """The archive in the invoices bucket. The client is made on first use: a client made at
    import would escape moto in tests."""

    def __init__(self, settings: InvoiceSettings) -> None:
        self._settings = settings

    @cached_property
    def _s3(self) -> Any:
        # Path-style addresses work with any endpoint (moto server on loopback has no bucket
        # subdomains); AWS serves them too. SigV4 is what conditional writes require.
        config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
        return boto3.client("s3", region_name=self._settings.region, config=config)

    def store(self, document: Document, pdf: bytes) -> bool:
        for _ in range(CONFLICT_TRIES):
            try:
                self._s3.put_object(
                    Bucket=self._settings.invoices_bucket,
                    Key=archive_key(document),
                    Body=pdf,
                    ContentType=PDF,
                    IfNoneMatch="*",
                )
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code")
                if code == "PreconditionFailed":
                    return False
                if code != "ConditionalRequestConflict":
                    raise StorageUnavailable(
                        f"archiving {archive_key(document)}: {code}"
                    ) from error
            except BotoCoreError as error:
                raise StorageUnavailable(f"archiving {archive_key(document)}: {error}") from error
            else:
                return True
        raise StorageUnavailable(f"archiving {archive_key(document)}: concurrent writes")

    def link(self, document: Document, expires_in: timedelta) -> str:
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self._settings.invoices_bucket,
                "Key": archive_key(document),
                "ResponseContentType": PDF,
                "ResponseContentDisposition": f'inline; filename="{file_name(document)}"',
            },
            ExpiresIn=int(expires_in.total_seconds()),
        )
        return url
