"""The payment providers' stand-ins (and other local servers), each started as its own process on
a free loopback port, with helpers to inject faults into them and read back what they received."""

from __future__ import annotations

import json
import sys
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from billing.providers.webhooks import UNREGISTERED
from devstack.processes import free_port, start, stop
from devstack.resources import provider_variables


@dataclass(frozen=True)
class StandIn:
    """A running stand-in: its base URL and its control routes (`<control>/faults`, …)."""

    url: str
    control: str

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def inject(self, method: str, path: str, **fault: Any) -> None:
        """Queue a fault: `status` (with `retry_after` and an error `body`), `delay`,
        `process_first`, `hold` (until `release`), `times`, and `body_contains` to match one
        subscription's requests."""
        self._call("POST", f"{self.control}/faults", {"method": method, "path": path, **fault})

    def faults(self) -> list[dict[str, Any]]:
        """The faults queued, each with the `times` it has left to fire."""
        queued: list[dict[str, Any]] = self._call("GET", f"{self.control}/faults")
        return queued

    def release(self) -> None:
        """Let every request held so far go on."""
        self._call("POST", f"{self.control}/release")

    def reset(self) -> None:
        """Clear the faults and what was received; release what is held."""
        self._call("DELETE", f"{self.control}/faults")

    def requests(self, method: str, path: str) -> list[dict[str, Any]]:
        """The requests received to `method path` (a prefix), oldest first."""
        seen: list[dict[str, Any]] = self._call("GET", f"{self.control}/requests")
        return [r for r in seen if r["method"] == method and r["path"].startswith(path)]

    def delete(self, path: str) -> None:
        self._call("DELETE", path)

    def post(self, path: str, body: Any) -> Any:
        return self._call("POST", path, body)

    def get(self, path: str) -> Any:
        return self._call("GET", path)


@contextmanager
def listening(command: Callable[[int], Sequence[str]]) -> Iterator[int]:
    """Run `command(port)` on a free loopback port until the block ends; yields the port once
    something listens on it."""
    port = free_port()
    process = start(command(port), port)
    try:
        yield port
    finally:
        stop(process)


@contextmanager
def running(module: str, control: str) -> Iterator[StandIn]:
    with listening(
        lambda port: [sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)]
    ) as port:
        yield StandIn(f"http://127.0.0.1:{port}", control)


STRIPE_WEBHOOK_SECRET = "whsec_tests_only_not_a_secret"
STRIPE_PUBLISHABLE_KEY = "pk_test_local"
"""What the product's settings default to off AWS: localstripe takes any test key."""
"""The signing secret tests register their Stripe webhook endpoints with."""


def provider_environment(localstripe: StandIn, paypal: StandIn) -> dict[str, str]:
    """The payment-provider settings of a function pointed at the stand-ins, set directly as the
    local stack sets them (never through Secrets Manager), with the webhooks' (a test that
    receives PayPal's events sets the webhook id it registered)."""
    return {
        **provider_variables(localstripe.url, paypal.url),
        "PROVIDER_TIMEOUT_SECONDS": "2",
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
        "PAYPAL_WEBHOOK_ID": UNREGISTERED,  # until a test registers an endpoint
    }


def stripe_charges(localstripe: StandIn, subscription_id: str | None = None) -> list[str]:
    """The idempotency keys of the charges (`POST /v1/payment_intents`) localstripe received,
    oldest first; only one subscription's when given (each key starts with its id)."""
    keys = [seen["idempotency_key"] for seen in localstripe.requests("POST", "/v1/payment_intents")]
    prefix = "" if subscription_id is None else f"{subscription_id}."
    return [key for key in keys if key is not None and key.startswith(prefix)]
