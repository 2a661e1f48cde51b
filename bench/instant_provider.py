"""A Stripe that only answers: every PaymentIntent created succeeds at once, and nothing is
stored or checked. The renewal benchmark charges it to tell the worker's own cost from
localstripe's (which does a good deal of work per PaymentIntent, on the same two cores).

``python -m bench.instant_provider --host 127.0.0.1 --port 8080``
"""

from __future__ import annotations

import argparse
import itertools
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

_INTENTS = itertools.count(1)


class _Stripe(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Stripe's API answers

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        if self.path != "/v1/payment_intents":
            self._answer(404, {"error": {"type": "invalid_request_error", "message": self.path}})
            return
        self._answer(
            200,
            {
                "id": f"pi_instant_{next(_INTENTS)}",
                "object": "payment_intent",
                "status": "succeeded",
                "amount": int(form["amount"][0]),
                "currency": form["currency"][0],
            },
        )

    def _answer(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's name
        """Quiet: nobody reads it."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instant_provider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args(argv)
    ThreadingHTTPServer((options.host, options.port), _Stripe).serve_forever()


if __name__ == "__main__":
    main()
