"""A webhook endpoint on a loopback port that records what the stand-ins deliver, and the
stand-ins' webhook registrations, removed when a test ends (the stand-ins live for the session
and would otherwise keep sending to a closed port)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

from devstack.api_gateway import GatewayResponse
from tests.support.api import Api
from tests.support.notifications import in_process_client, table_stream
from tests.support.paypal import paypal_api
from tests.support.stand_ins import StandIn

WAIT_SECONDS = 5.0
"""How long a delivery may take to arrive before a test fails."""


@dataclass(frozen=True)
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def provider_headers(self) -> dict[str, str]:
        """The headers the provider sent that matter to the receiver (its signature's, the
        content type), to send the delivery on as the provider did."""
        return {
            name: value
            for name, value in self.headers.items()
            if name.lower().startswith(("stripe-", "paypal-", "content-type"))
        }


@dataclass
class Receiver:
    """What was POSTed to `url`, oldest first."""

    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def wait_for(
        self, matches: Callable[[Delivery], bool], count: int = 1, what: str = "a delivery"
    ) -> list[Delivery]:
        """The first `count` deliveries `matches` accepts, once they have arrived (polled; a
        stand-in delivers a few milliseconds after its answer)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            with self._lock:
                found = [d for d in self.deliveries if matches(d)]
            if len(found) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert len(found) >= count, f"{what}: {len(found)} of {count} arrived"
        return found[:count]


class _Recording(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.receiver.record(Delivery(dict(self.headers.items()), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Silent."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver


@contextmanager
def receiving() -> Iterator[Receiver]:
    server = _Server(("127.0.0.1", 0), _Recording)
    server.receiver = Receiver(f"http://127.0.0.1:{server.server_port}/webhooks")
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@contextmanager
def stripe_endpoint(localstripe: StandIn, receiver: Receiver, secret: str) -> Iterator[str]:
    """`receiver` registered at localstripe for every event, signed with `secret`; its id."""
    endpoint = f"we_{uuid4().hex[:12]}"
    localstripe.post(f"/_config/webhooks/{endpoint}", {"url": receiver.url, "secret": secret})
    try:
        yield endpoint
    finally:
        localstripe.delete(f"/_config/webhooks/{endpoint}")


@contextmanager
def paypal_webhook(paypal: StandIn, receiver: Receiver) -> Iterator[str]:
    """`receiver` registered at the PayPal stand-in for every event; the webhook id PayPal
    gave it."""
    webhook = paypal_api(
        paypal,
        "POST",
        "/v1/notifications/webhooks",
        {"url": receiver.url, "event_types": [{"name": "*"}]},
    )
    try:
        yield str(webhook["id"])
    finally:
        paypal_api(paypal, "DELETE", f"/v1/notifications/webhooks/{webhook['id']}")


def of_type(kind: str, **resource: str) -> Callable[[Delivery], bool]:
    """Deliveries of Stripe or PayPal event type `kind` whose object (or resource) has these
    fields."""

    def matches(delivery: Delivery) -> bool:
        event = delivery.event
        obj = event["data"]["object"] if "data" in event else event.get("resource", {})
        return event.get("type", event.get("event_type")) == kind and all(
            obj.get(name) == value for name, value in resource.items()
        )

    return matches


EVENTS_FUNCTION = "WebhookEventsFunction"
EVENTS_SOURCE = ("WebhookEventsTable", "WEBHOOK_EVENTS_TABLE", "WebhookFailureQueue")


@dataclass
class Webhooks:
    """The stand-ins' deliveries, caught at a loopback endpoint, sent on through the API's
    webhook routes; the events recorded are then acted on as WebhookEventsFunction does, from
    the table's stream."""

    api: Api
    receiver: Receiver
    localstripe: StandIn
    paypal: StandIn

    def __post_init__(self) -> None:
        self._stream = table_stream(EVENTS_FUNCTION, EVENTS_SOURCE, in_process_client)

    def send(self, provider: str, body: bytes, headers: dict[str, str]) -> GatewayResponse:
        """`body` POSTed to the API's webhook route with `headers` (as the provider sends
        them), then the events recorded acted on."""
        answer = self.api.anonymous.request(
            "POST", f"/webhooks/{provider}", raw=body.decode(), headers=headers
        )
        self._stream.drain()
        return answer

    def deliver(self, provider: str, delivery: Delivery) -> GatewayResponse:
        return self.send(provider, delivery.body, delivery.provider_headers)

    def event(self, kind: str, **fields: str) -> Delivery:
        """The one delivery of an event of type `kind` about the resource `fields` describe."""
        [delivery] = self.receiver.wait_for(of_type(kind, **fields), what=kind)
        return delivery
