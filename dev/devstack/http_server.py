"""The local API on a loopback port: every request handed to the local API Gateway as it came,
plus the API's OpenAPI document, a Swagger UI page to try it, and the customer billing page
(``/portal/``, `devstack.portal`).

Requests are served concurrently, a thread each, as API Gateway does: the gateway's handlers
keep each request apart (the functions run in execution environments that answer one request
at a time, `devstack.environments`)."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aws_lambda_powertools.event_handler.openapi import swagger_ui
from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

from billing.domain.errors import ErrorCode
from devstack.api_gateway import GatewayResponse, LocalApiGateway, gateway_error
from devstack.portal import LocalPage

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit (10 MB): a larger request never reaches a function."""
DOCS = "/docs"
OPENAPI = "/openapi.json"
_ASSETS = Path(swagger_ui.__file__).parent
"""Powertools ships Swagger UI's script and style sheet: the page works offline."""
_BASE_REFUSALS = {
    HTTPStatus.NOT_IMPLEMENTED: (
        "API Gateway serves GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS, not {method}."
    ),
    HTTPStatus.REQUEST_URI_TOO_LONG: "The request line is too long.",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "The request headers are too long or too many.",
    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED: "Send HTTP/1.1 (or 1.0) requests.",
}
"""What the API says for each refusal BaseHTTPRequestHandler makes itself (`send_error`)."""
_SWAGGER_FILES = {
    f"{DOCS}/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "text/javascript"),
    f"{DOCS}/swagger-ui.min.css": ("swagger-ui.min.css", "text/css"),
}


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        port: int,
        gateway: LocalApiGateway,
        document: Callable[[], Mapping[str, Any]],
        *,
        access_log: Callable[[str], None],
        page: LocalPage | None = None,
    ) -> None:
        self.gateway = gateway
        self.document = document
        self.access_log = access_log
        self.page = page
        super().__init__(("127.0.0.1", port), _RequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that closed its connection (a webhook sender done with its keep-alive
        connection while the server waited for its next request) is not an error of the API's;
        anything else is printed as the base class prints it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"
    server_version = "devstack"

    def _answer(self) -> None:
        started = time.monotonic()
        response = self._response()
        self._send(response)
        elapsed = (time.monotonic() - started) * 1000
        self.server.access_log(f"{self.command} {self.path} → {response.status} ({elapsed:.0f} ms)")

    # Every method goes to the gateway, which answers 404 for a route the template lacks.
    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _answer  # noqa: N815

    def _response(self) -> GatewayResponse:
        url = urlsplit(self.path)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True  # the unread body would be taken for a request
            return _refusal(411, "Send the body with a Content-Length, not chunked.")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return _refusal(400, "The Content-Length header is not a number.")
        if length > MAX_BODY_BYTES or length < 0:
            self.close_connection = True
            return _refusal(413, "The request body is larger than API Gateway's 10 MB limit.")
        body = self.rfile.read(length) if length else None
        if self.command == "GET" and url.path in (OPENAPI, DOCS, *_SWAGGER_FILES):
            return self._documentation(url.path, url.query)
        if self.command in ("GET", "HEAD") and self.server.page is not None:
            page = self.server.page.answer(url.path)
            if page is not None:
                return page
        return self.server.gateway.invoke(
            self.command,
            url.path,
            headers=list(self.headers.items()),
            query=parse_qsl(url.query, keep_blank_values=True),
            body=body,
        )

    def _documentation(self, path: str, query: str) -> GatewayResponse:
        if path == OPENAPI or (path == DOCS and "format=json" in query):
            return GatewayResponse(
                200, {"Content-Type": "application/json"}, json.dumps(self.server.document())
            )
        if path == DOCS:
            page = generate_swagger_html(
                spec=json.dumps(self.server.document()),
                swagger_js=f"{DOCS}/swagger-ui-bundle.min.js",
                swagger_css=f"{DOCS}/swagger-ui.min.css",
                swagger_base_url=DOCS,
                oauth2_config=None,
                persist_authorization=True,
            )
            return GatewayResponse(200, {"Content-Type": "text/html; charset=utf-8"}, page)
        name, content_type = _SWAGGER_FILES[path]
        asset = (_ASSETS / name).read_text(encoding="utf-8")
        return GatewayResponse(200, {"Content-Type": content_type}, asset)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """BaseHTTPRequestHandler's own refusals (a method it has no ``do_`` for, a request line
        or headers too long, a malformed request) in the API's error shape, as API Gateway
        answers its own refusals, not as the base class's HTML page. The connection closes, as
        the base class closes it: the rest of the request may not have been read."""
        self.close_connection = True
        status = HTTPStatus(code)
        refusal = _BASE_REFUSALS.get(status, "The request is malformed ({message}).")
        self._send(_refusal(code, refusal.format(method=self.command, message=message)))
        self._discard_unread()
        path = getattr(self, "path", "")[:200]
        self.server.access_log(f"{self.command or '-'} {path or '-'} → {code}")

    def _discard_unread(self) -> None:
        """Read what has arrived of the refused request: closing a socket with unread bytes
        resets the connection, which can destroy the answer before the client reads it."""
        self.connection.setblocking(False)
        # BlockingIOError once nothing more has arrived; another OSError if the client is gone.
        with contextlib.suppress(OSError):
            while self.connection.recv(65536):
                pass

    def _send(self, response: GatewayResponse) -> None:
        payload = response.body.encode("utf-8")
        self.send_response(response.status)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Silenced: `_answer` writes one access line per request instead."""


def _refusal(status: int, message: str) -> GatewayResponse:
    return gateway_error(status, ErrorCode.BAD_REQUEST, message)
