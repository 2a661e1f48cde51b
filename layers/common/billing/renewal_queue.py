"""The SQS adapter of the renewal queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3

from billing.settings import RenewalSettings

SEND_TRIES = 3
"""SendMessageBatch answers per message; the ones SQS failed on its side are sent again."""


class QueueUnavailable(Exception):
    """Messages could not be queued; the run fails and the next run queues them again."""


class SqsRenewalQueue:
    def __init__(self, settings: RenewalSettings, *, sqs: Any | None = None) -> None:
        self._url = settings.renewal_queue_url
        self._region = settings.region
        self._sqs = sqs

    def _client(self) -> Any:
        # Created on first use: a client made at import time would escape moto in tests.
        if self._sqs is None:
            self._sqs = boto3.client("sqs", region_name=self._region)
        return self._sqs

    def backlog(self) -> int:
        attributes = self._client().get_queue_attributes(
            QueueUrl=self._url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def send(self, bodies: Sequence[str]) -> None:
        entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(bodies)]
        for _ in range(SEND_TRIES):
            failed = (
                self._client()
                .send_message_batch(QueueUrl=self._url, Entries=entries)
                .get("Failed", [])
            )
            if not failed:
                return
            if any(failure.get("SenderFault") for failure in failed):
                raise QueueUnavailable(f"SQS refused renewal messages: {failed}")
            again = {failure["Id"] for failure in failed}
            entries = [entry for entry in entries if entry["Id"] in again]
        raise QueueUnavailable(f"SQS kept failing {len(entries)} renewal message(s)")
