"""Idempotent POSTs as Stripe and PayPal document them: a request repeated with the same key
gets the first answer and does nothing again; the same key with other parameters is refused;
a key is forgotten once it is older than the provider keeps keys, by the stand-in's clock (the
stack's, when it runs in the local stack), so a repeat after that is a new request there too."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aiohttp import web

from devstack.clock import Clock, wall_clock
from devstack.faults import Handler


@dataclass(frozen=True)
class _Answer:
    at: datetime
    fingerprint: str
    status: int
    body: bytes
    content_type: str


@dataclass
class IdempotencyKeyMemory:
    """A stand-in's memory of the idempotency keys it was sent, with each key's first answer:
    an aiohttp middleware (`middleware`) in front of the stand-in's routes."""

    header: str
    refusal: Callable[[int, str], web.Response]
    """The provider's error response for a status and a message."""
    retention: timedelta
    """How long the provider keeps a key."""
    clock: Clock = wall_clock
    answers: dict[str, _Answer] = field(default_factory=dict)
    """Oldest first: the clock never moves back."""
    running: set[str] = field(default_factory=set)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get(self.header)
        if request.method != "POST" or not key:
            return await handler(request)
        key = f"{request.path} {key}"
        fingerprint = hashlib.sha256(await request.read()).hexdigest()
        now = self.clock()
        self._forget_older_than(now - self.retention)
        if key in self.running:
            return self.refusal(409, "A request with this key is still in progress.")
        if key in self.answers:
            answer = self.answers[key]
            if answer.fingerprint != fingerprint:
                return self.refusal(400, "This key was used with other parameters.")
            return web.Response(
                status=answer.status, body=answer.body, content_type=answer.content_type
            )
        self.running.add(key)
        try:
            response = await handler(request)
        finally:
            self.running.discard(key)
        if isinstance(response, web.Response) and response.status < 500 and response.body:
            body = response.body if isinstance(response.body, bytes) else bytes(response.body)  # type: ignore[arg-type]
            self.answers[key] = _Answer(
                now, fingerprint, response.status, body, response.content_type
            )
        return response

    def _forget_older_than(self, instant: datetime) -> None:
        while self.answers:
            key, oldest = next(iter(self.answers.items()))
            if oldest.at > instant:
                return
            del self.answers[key]
