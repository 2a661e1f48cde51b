"""localstripe, served on loopback, with the parts of Stripe's documented API our adapter uses
that it lacks: idempotency keys, listing PaymentIntents by customer and creation time, and the
`pm_card_authenticationRequired` test method. Run: ``python -m devstack.localstripe_server``.

Its time is a clock file's when given (``--clock-file``, the local stack's shared clock): every
timestamp localstripe writes (``created``, periods, status transitions) and the age of an
idempotency key are then the stack's, so they agree with what the functions wrote at that
instant, however far the stack's clock was moved.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from localstripe import resources, server

from devstack.clock import Clock, shared_clock, wall_clock
from devstack.faults import FaultInjector
from devstack.idempotency import IdempotencyKeyMemory

KEY_RETENTION = timedelta(hours=24)
"""Stripe removes idempotency keys once they are at least 24 hours old."""


def _error(status: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"type": "idempotency_error", "message": message}}, status=status
    )


class _AuthenticationRequiredCard(resources.PaymentMethod):  # type: ignore[misc]
    """Stripe's `pm_card_authenticationRequired`: the issuer asks for 3-D Secure on every charge."""

    def _requires_authentication(self) -> bool:
        return True


_canonical_test_article = resources.PaymentMethod._try_get_canonical_test_article


def _test_article(cls: type, id: str) -> Any:  # noqa: A002 - localstripe's parameter name
    if id == "pm_card_authenticationRequired":
        method = _canonical_test_article("pm_card_visa")
        method.__class__ = _AuthenticationRequiredCard
        return method
    return _canonical_test_article(id)


def _list_payment_intents(
    cls: type,
    url: str,
    *,
    customer: str | None = None,
    limit: int | None = None,
    starting_after: str | None = None,
) -> Any:
    """`GET /v1/payment_intents?customer=…`, paged by `starting_after`, newest first as Stripe
    lists: of two created in the same second (`created` counts seconds), the later first."""
    listing = resources.List(url, limit=limit, starting_after=starting_after)
    newest_first = [
        intent
        for key, intent in reversed(resources.store.items())
        if key.startswith("payment_intent:") and (customer is None or intent.customer == customer)
    ]
    # A stable sort: within one second the store's order of creation, reversed, stays.
    listing._list = sorted(newest_first, key=lambda intent: intent.created, reverse=True)
    return listing


def _keep_in_memory(store: resources.Store) -> None:
    """Replaces `Store.dump_to_disk`: the store lives as long as the process."""


class _ClockTime:
    """Stands in for the `time` module inside localstripe's resources, whose only use of it is
    ``time.time()`` for the timestamps it writes."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock().timestamp()


def application(clock: Clock = wall_clock) -> web.Application:
    resources.time = _ClockTime(clock)
    resources.PaymentMethod._try_get_canonical_test_article = classmethod(_test_article)
    resources.PaymentIntent._api_list_all = classmethod(_list_payment_intents)
    app: web.Application = server.app
    # Our tests run many servers at once: keep each one's data in memory, not in a shared file.
    # localstripe also pickles its whole store on every write, which makes each request slower
    # than the last: thousands of renewals in one run would spend their time writing that file.
    app.middlewares[:] = [m for m in app.middlewares if m is not server.save_store_middleware]
    resources.Store.dump_to_disk = _keep_in_memory
    idempotency = IdempotencyKeyMemory("Idempotency-Key", _error, KEY_RETENTION, clock)
    app.middlewares.insert(0, idempotency.middleware)
    FaultInjector(
        control_prefix="/_config",
        error_body=lambda status: {
            "error": {"type": "api_error", "message": f"Injected fault {status}."}
        },
        idempotency_header="Idempotency-Key",
    ).install(app)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420)
    parser.add_argument("--clock-file", type=Path, help="the local stack's clock (default: wall)")
    args = parser.parse_args()
    app = application(shared_clock(args.clock_file))
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
