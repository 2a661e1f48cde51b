"""The local API's HTTP server: a client that drops its connection is nobody's error."""

from __future__ import annotations

import socket
import struct
import threading
import time

import pytest

from devstack.api_gateway import LocalApiGateway
from devstack.http_server import LocalApiServer


def _no_tokens(token: str) -> dict[str, str]:
    raise AssertionError("no route here needs a token")


def test_a_client_resetting_its_connection_prints_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """Webhook senders (localstripe's aiohttp client) close keep-alive connections at will; a
    reset while the server waits for the next request must not print a traceback into the
    stack's output."""
    gateway = LocalApiGateway([], verifier=_no_tokens)
    server = LocalApiServer(0, gateway, dict, access_log=lambda line: None)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = socket.create_connection(("127.0.0.1", server.server_port))
        client.sendall(b"GET /x HTTP/1.1\r\nHost: local")  # a request line, then nothing more
        time.sleep(0.1)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()  # a reset, not an orderly close
        time.sleep(0.2)
    finally:
        server.shutdown()
        server.server_close()
    assert "Traceback" not in capfd.readouterr().err
