"""moto server for integration tests: its own process on a free loopback port, boto3 clients
that reach it, and its reset."""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from tests.support.stand_ins import listening

REGION = "us-east-1"


@dataclass(frozen=True)
class MotoServer:
    url: str
    """The endpoint URL of every service it serves, e.g. ``http://127.0.0.1:54321``."""

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.url)

    def reset(self) -> None:
        """Forget every resource, message and sent email (moto's ``POST /moto-api/reset``)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", data=b"", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()


@contextmanager
def moto_server() -> Iterator[MotoServer]:
    """moto server (as `devstack.moto_server` runs it) on loopback until the block ends."""
    with listening(
        lambda port: [
            sys.executable,
            *("-m", "devstack.moto_server", "--host", "127.0.0.1", "--port", str(port)),
        ]
    ) as port:
        yield MotoServer(f"http://127.0.0.1:{port}")
