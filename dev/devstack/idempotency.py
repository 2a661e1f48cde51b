"""Idempotent POSTs as Stripe and PayPal document them: a request repeated with the same key
gets the first answer and does nothing again; the same key with other parameters is refused."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from devstack.faults import Handler


@dataclass
class IdempotentRequests:
    header: str
    refusal: Callable[[int, str], web.Response]
    """The provider's error response for a status and a message."""
    answers: dict[str, tuple[str, int, bytes, str]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.headers.get(self.header)
        if request.method != "POST" or not key:
            return await handler(request)
        key = f"{request.path} {key}"
        fingerprint = hashlib.sha256(await request.read()).hexdigest()
        if key in self.running:
            return self.refusal(409, "A request with this key is still in progress.")
        if key in self.answers:
            seen, status, body, content_type = self.answers[key]
            if seen != fingerprint:
                return self.refusal(400, "This key was used with other parameters.")
            return web.Response(status=status, body=body, content_type=content_type)
        self.running.add(key)
        try:
            response = await handler(request)
        finally:
            self.running.discard(key)
        if isinstance(response, web.Response) and response.status < 500 and response.body:
            body = response.body if isinstance(response.body, bytes) else bytes(response.body)  # type: ignore[arg-type]
            self.answers[key] = (fingerprint, response.status, body, response.content_type)
        return response
