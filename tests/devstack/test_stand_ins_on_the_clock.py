"""The PayPal stand-in on the local stack's clock: orders stamped with the stack's instant, and
a `PayPal-Request-Id` remembered for PayPal's six hours of it, not of the wall clock."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from devstack.clock import StackClock, shared_clock
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET, PayPal
from tests.unit.devstack.test_clock import START

ORDER = {
    "intent": "CAPTURE",
    "purchase_units": [{"amount": {"currency_code": "EUR", "value": "49.00"}}],
}


async def _orders_around_moves(stand_in: PayPal, clock: StackClock) -> list[dict[str, Any]]:
    """The same order created with one request id now, 5h59m later and 6h later."""
    async with TestClient(TestServer(stand_in.application())) as client:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        token = await client.post(
            "/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        )
        headers = {
            "Authorization": f"Bearer {(await token.json())['access_token']}",
            "PayPal-Request-Id": "sub_1.renewal.1",
        }
        orders = []
        for move in (timedelta(0), timedelta(hours=5, minutes=59), timedelta(minutes=1)):
            clock.advance(move)
            created = await client.post("/v2/checkout/orders", json=ORDER, headers=headers)
            orders.append(await created.json())
        return orders


def test_orders_and_request_ids_follow_the_stack_clock(tmp_path: Path) -> None:
    clock = StackClock(START, file=tmp_path / "clock")
    stand_in = PayPal(CLIENT_ID, CLIENT_SECRET, clock=shared_clock(tmp_path / "clock"))

    first, repeated, after_six_hours = asyncio.run(_orders_around_moves(stand_in, clock))

    assert (first["create_time"], first["update_time"]) == ("2026-01-31T09:30:00Z",) * 2
    assert repeated == first, "within six hours the request id gets the first answer"
    assert after_six_hours["id"] != first["id"], "forgotten after six hours of the stack's clock"
    assert after_six_hours["create_time"] == "2026-01-31T15:30:00Z"
