"""The PayPal stand-in's API called as another client of the merchant's account (its dashboard,
a test) calls it: with an access token of its own, not the adapter's."""

from __future__ import annotations

import base64
import json
import urllib.request
from typing import Any
from urllib.error import HTTPError

from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from tests.support.stand_ins import StandIn


class PayPalAnswered(Exception):
    """An error status from the stand-in's API, with PayPal's error body."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def paypal_api(paypal: StandIn, method: str, path: str, body: Any = None) -> Any:
    """A call of the stand-in's PayPal API with a fresh access token, as another client of the
    same merchant account (the dashboard, a test) makes it."""
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    token_request = urllib.request.Request(
        paypal.url + "/v1/oauth2/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}"},
        method="POST",
    )
    with urllib.request.urlopen(token_request, timeout=5) as answer:
        token = json.loads(answer.read())["access_token"]
    request = urllib.request.Request(
        paypal.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            payload = answer.read()
    except HTTPError as error:
        with error:
            raise PayPalAnswered(error.code, json.loads(error.read() or b"null")) from None
    return json.loads(payload) if payload else None
