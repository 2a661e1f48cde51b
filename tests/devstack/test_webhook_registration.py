"""The local stack registers the API's webhook routes with the stand-ins as an operator
registers them with the providers: localstripe (the real one) then signs the events it was
registered for with the stack's ``whsec_`` secret and delivers them to the route; the PayPal
stand-in (a small fake here, speaking PayPal's webhooks API) gives the id the functions verify
deliveries with."""

from __future__ import annotations

import base64
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.resources import LOCAL_STRIPE_KEY
from devstack.stack import (
    PAYPAL_WEBHOOK_EVENTS,
    STRIPE_WEBHOOK_EVENTS,
    StackError,
    generate_webhook_secret,
    register_webhooks,
)
from tests.support.aws import TEMPLATE
from tests.support.stand_ins import StandIn, running

DEPLOY_DOC = TEMPLATE.parent / "docs" / "deploy.md"
TOKEN = "A21AAstandintoken"


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeServer:
    url: str
    received: list[Received] = field(default_factory=list)

    def posted(self, path: str) -> list[Received]:
        return [r for r in self.received if r.method == "POST" and r.path == path]


Answer = tuple[int, dict[str, Any] | None]


@contextmanager
def serving(answer: Callable[[Received], Answer]) -> Iterator[FakeServer]:
    """A loopback HTTP server recording every request and answering it with `answer`."""
    server: ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = Received(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(length),
            )  # fmt: skip
            fake.received.append(request)
            status, body = answer(request)
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake = FakeServer(f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def paypal_webhooks_api(webhook_id: str = "4JH86294D6297924G") -> Callable[[Received], Answer]:
    """PayPal's OAuth token and ``POST /v1/notifications/webhooks`` (201 with the webhook)."""
    basic = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()

    def answer(request: Received) -> Answer:
        if request.path == "/v1/oauth2/token":
            if request.headers.get("authorization") != basic:
                return 401, {"error": "invalid_client"}
            return 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 32400}
        if request.path == "/v1/notifications/webhooks":
            if request.headers.get("authorization") != f"Bearer {TOKEN}":
                return 401, {"error": "invalid_token"}
            body = json.loads(request.body)
            return 201, {"id": webhook_id, **body, "links": []}
        return 404, {"name": "RESOURCE_NOT_FOUND"}

    return answer


def accept(request: Received) -> Answer:
    return 200, None


@pytest.fixture(scope="module")
def localstripe() -> Iterator[StandIn]:
    with running("devstack.localstripe_server", "/_config") as stand_in:
        yield stand_in


def _form(url: str, fields: dict[str, str]) -> dict[str, Any]:
    request = urllib.request.Request(
        url,
        data="&".join(f"{k}={v}" for k, v in fields.items()).encode(),
        headers={"Authorization": f"Bearer {LOCAL_STRIPE_KEY}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _eventually(condition: Callable[[], bool], seconds: float = 10) -> bool:
    done = threading.Event()
    for _ in range(int(seconds / 0.05)):
        if condition():
            return True
        done.wait(0.05)
    return condition()


def test_localstripe_signs_the_registered_events_with_the_stack_secret(
    localstripe: StandIn,
) -> None:
    secret = generate_webhook_secret()
    with serving(accept) as api, serving(paypal_webhooks_api()) as paypal:
        endpoints = register_webhooks(api.url, localstripe.url, paypal.url, secret=secret)
        customer = _form(f"{localstripe.url}/v1/customers", {"email": "a@example.com"})
        _form(
            f"{localstripe.url}/v1/payment_intents",
            {
                "amount": "4900",
                "currency": "eur",
                "customer": customer["id"],
                "payment_method": "pm_card_visa",
                "confirm": "true",
            },
        )

        assert _eventually(lambda: bool(api.posted("/webhooks/stripe")))
        deliveries = api.posted("/webhooks/stripe")

    assert endpoints.stripe_url == f"{api.url}/webhooks/stripe"
    assert endpoints.stripe_secret == secret
    assert secret.startswith("whsec_")
    events = [
        stripe.Webhook.construct_event(
            delivery.body.decode(), delivery.headers["stripe-signature"], secret
        )
        for delivery in deliveries
    ]
    assert "payment_intent.succeeded" in [event["type"] for event in events]
    assert all(event["type"] in STRIPE_WEBHOOK_EVENTS for event in events), (
        "customer.created was not registered for"
    )


def test_the_paypal_stand_in_gives_the_webhook_id_the_functions_verify_with(
    localstripe: StandIn,
) -> None:
    with serving(paypal_webhooks_api("4JH86294D6297924G")) as paypal:
        endpoints = register_webhooks(
            "http://127.0.0.1:3999", localstripe.url, paypal.url, secret=generate_webhook_secret()
        )
        [token] = paypal.posted("/v1/oauth2/token")
        [created] = paypal.posted("/v1/notifications/webhooks")

    assert token.body == b"grant_type=client_credentials"
    assert json.loads(created.body) == {
        "url": "http://127.0.0.1:3999/webhooks/paypal",
        "event_types": [{"name": "*"}],
    }
    assert created.headers["content-type"] == "application/json"
    assert endpoints.paypal_url == "http://127.0.0.1:3999/webhooks/paypal"
    assert endpoints.variables() == {
        "STRIPE_WEBHOOK_SECRET": endpoints.stripe_secret,
        "PAYPAL_WEBHOOK_ID": "4JH86294D6297924G",
    }


def test_a_stand_in_without_the_webhooks_api_stops_the_start_saying_so(
    localstripe: StandIn,
) -> None:
    with (
        serving(lambda request: (404, {"name": "RESOURCE_NOT_FOUND"})) as paypal,
        pytest.raises(StackError, match=r"the PayPal stand-in refused .* answered 404"),
    ):
        register_webhooks(
            "http://127.0.0.1:3999", localstripe.url, paypal.url, secret=generate_webhook_secret()
        )


def test_an_id_paypal_would_refuse_to_verify_with_stops_the_start(localstripe: StandIn) -> None:
    with (
        serving(paypal_webhooks_api("WH-not/an id")) as paypal,
        pytest.raises(StackError, match="letters and digits only"),
    ):
        register_webhooks(
            "http://127.0.0.1:3999", localstripe.url, paypal.url, secret=generate_webhook_secret()
        )


def test_localstripe_refusing_the_registration_stops_the_start() -> None:
    with (
        serving(lambda request: (400, {"error": {"message": "Bad request"}})) as stripe_server,
        serving(paypal_webhooks_api()) as paypal,
        pytest.raises(StackError, match="localstripe refused the webhook registration"),
    ):
        register_webhooks(
            "http://127.0.0.1:3999", stripe_server.url, paypal.url, secret=generate_webhook_secret()
        )


@pytest.mark.parametrize("event", STRIPE_WEBHOOK_EVENTS + PAYPAL_WEBHOOK_EVENTS)
def test_the_deployment_guide_registers_the_same_events(event: str) -> None:
    assert f"`{event}`" in DEPLOY_DOC.read_text(encoding="utf-8")
