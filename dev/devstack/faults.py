"""Faults a test asks a stand-in to inject, and the requests the stand-in saw.

`POST <control>/faults` queues a fault for requests matching a method, a path prefix and
optionally a text in the body: an error status (with `Retry-After` and a chosen body), or a slow
answer given before or after the request is processed, so a client can time out on a charge
that happened, or a request held until the test releases it (`POST <control>/release`), so a
test sees requests in flight together whatever the timing. `GET <control>/faults` lists the
faults with the times each has left to fire; `DELETE <control>/faults` clears them and releases
what is held. `GET <control>/requests` lists what came in, with the idempotency header, so tests
can check the key reached the provider.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorBody = Callable[[int], dict[str, object]]


@dataclass
class Fault:
    method: str
    path: str
    """A path prefix."""
    status: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    process_first: bool = False
    """Delay after the request was processed: the client times out on work that was done."""
    times: int = 1
    body: dict[str, object] | None = None
    """The error body to answer with instead of the stand-in's generic one (e.g. a card error)."""
    body_contains: str | None = None
    """Only requests whose body holds this text, e.g. one subscription's id in the metadata."""
    hold: bool = False
    """Held until released; then the rest of the fault (delay, status) applies."""

    def matches(self, request: web.Request, text: str) -> bool:
        return (
            self.times > 0
            and request.method == self.method
            and request.path.startswith(self.path)
            and (self.body_contains is None or self.body_contains in text)
        )


@dataclass
class FaultInjector:
    control_prefix: str
    """Where the control routes live, e.g. ``/_config`` (localstripe skips auth there)."""
    error_body: ErrorBody
    idempotency_header: str
    faults: list[Fault] = field(default_factory=list)
    seen: list[dict[str, str | None]] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to let the requests held so far go on; a new one holds the next."""

    def install(self, app: web.Application) -> None:
        app.middlewares.insert(0, self.middleware)
        app.router.add_post(f"{self.control_prefix}/faults", self._add_fault)
        app.router.add_get(f"{self.control_prefix}/faults", self._faults)
        app.router.add_delete(f"{self.control_prefix}/faults", self._clear)
        app.router.add_post(f"{self.control_prefix}/release", self._release)
        app.router.add_get(f"{self.control_prefix}/requests", self._requests)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(self.control_prefix):
            return await handler(request)
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "idempotency_key": request.headers.get(self.idempotency_header),
            }
        )
        # aiohttp keeps the body it read, so the handler can still read it.
        text = await request.text() if request.can_read_body else ""
        fault = next((f for f in self.faults if f.matches(request, text)), None)
        if fault is None:
            return await handler(request)
        fault.times -= 1
        if fault.hold:
            await self.released.wait()
        if fault.process_first:
            response = await handler(request)
            await asyncio.sleep(fault.delay)
            return response
        await asyncio.sleep(fault.delay)
        if fault.status is None:
            return await handler(request)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        body = fault.body if fault.body is not None else self.error_body(fault.status)
        return web.json_response(body, status=fault.status, headers=headers)

    async def _add_fault(self, request: web.Request) -> web.Response:
        spec = await request.json()
        self.faults.append(Fault(**spec))
        return web.Response(status=204)

    async def _faults(self, request: web.Request) -> web.Response:
        return web.json_response([asdict(fault) for fault in self.faults])

    async def _clear(self, request: web.Request) -> web.Response:
        self.faults.clear()
        self.seen.clear()
        return await self._release(request)

    async def _release(self, request: web.Request) -> web.Response:
        self.released.set()
        self.released = asyncio.Event()
        return web.Response(status=204)

    async def _requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.seen, dumps=json.dumps)
