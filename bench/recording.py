"""Every AWS request the code under measure sends, whichever client sends it (PynamoDB's, boto3's,
Powertools'), with the DynamoDB ones optionally metered in capacity units."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.client

from bench.capacity import CapacityMeter


@dataclass(frozen=True)
class Request:
    service: str
    """The signing name: ``dynamodb``, ``sqs``, ``ses``, ``sns``…"""
    operation: str
    params: Mapping[str, Any]
    thread: int
    seconds: float = 0.0
    """From the call to its answer, as the caller waits for it."""


@dataclass
class Requests:
    sent: list[Request] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, request: Request) -> None:
        with self._lock:
            self.sent.append(request)

    def of(self, service: str) -> list[Request]:
        return [r for r in self.sent if r.service == service]


@contextmanager
def recording(meter: CapacityMeter | None = None) -> Iterator[Requests]:
    """Record every request botocore sends until the block ends; `meter` meters the DynamoDB
    ones (its own reads are neither recorded nor metered)."""
    requests = Requests()
    original: Callable[..., Any] = botocore.client.BaseClient._make_api_call

    def make_api_call(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
        if meter is not None and client is meter.client:
            return original(client, operation, params)
        service = client.meta.service_model.signing_name
        started = time.perf_counter()
        try:
            if meter is not None and service == "dynamodb":
                return meter.send(operation, params, lambda: original(client, operation, params))
            return original(client, operation, params)
        finally:
            seconds = time.perf_counter() - started
            requests.add(Request(service, operation, params, threading.get_ident(), seconds))

    botocore.client.BaseClient._make_api_call = make_api_call
    try:
        yield requests
    finally:
        botocore.client.BaseClient._make_api_call = original
