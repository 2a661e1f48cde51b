"""The local stack's own surface, over HTTP: the development routes refuse bad input in the
API's error shape, the server refuses what API Gateway refuses (and what it cannot parse) in that
shape too, the API's documentation is served offline, and a start that cannot happen says why
and leaves nothing running."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.devstack import ROOT, STACK, RunningStack


def _error(
    stack: RunningStack, method: str, path: str, body: object, status: int
) -> dict[str, Any]:
    answer = stack.call(method, path, body)
    assert answer.status == status, answer.body
    assert set(answer.body) == {"error"}
    assert set(answer.body["error"]) == {"code", "message", "details"}
    return dict(answer.body["error"])


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"now": "2026-01-01T00:00:00Z"}, "now", "invalid_move"),
        ({"days": -1}, "days", "greater_than_equal"),
        ({"hours": 1e12}, "hours", "less_than_equal"),
        ({"now": "31/01/2026"}, "now", "value_error"),
        ({"now": "2026-02-01T00:00:00Z", "days": 1}, "body", "value_error"),
        ({"weeks": 1}, "weeks", "extra_forbidden"),
    ],
)
def test_the_clock_refuses_bad_moves_and_stays_put(
    stack: RunningStack, body: dict[str, object], field: str, code: str
) -> None:
    before = stack.now()

    error = _error(stack, "POST", "/_dev/clock", body, 422)

    assert error["code"] == "invalid_fields"
    assert [(d["field"], d["code"]) for d in error["details"]] == [(field, code)]
    assert stack.now() == before, "nothing moved"


def test_tokens_are_for_the_user_pool_groups_only(stack: RunningStack) -> None:
    error = _error(stack, "POST", "/_dev/token", {"account_id": "a", "groups": ["root"]}, 422)
    assert error["details"][0]["code"] == "unknown_group"
    assert "admin, partner, sales" in error["details"][0]["message"]
    _error(stack, "POST", "/_dev/token", {"account_id": "../etc"}, 422)


def test_development_tokens_are_accepted_by_the_api(stack: RunningStack) -> None:
    admin = stack.call("POST", "/_dev/token", {"account_id": "edge-admin", "groups": ["admin"]})
    assert admin.body["groups"] == ["admin"]
    opened = stack.call(
        "PUT",
        "/admin/accounts/edge-reader",
        {"email": "reader@example.com", "locale": "fr", "domain_zone": "fr"},
        token=admin.body["token"],
    )
    assert opened.status == 201, opened.body
    issued = stack.call("POST", "/_dev/token", {"account_id": "edge-reader"})
    assert issued.status == 200, issued.body
    assert issued.body["account_id"] == "edge-reader"

    listed = stack.call("GET", "/subscriptions", token=issued.body["token"])

    assert (listed.status, listed.body) == (200, {"items": []})
    refused = stack.call("GET", "/subscriptions", token=issued.body["token"] + "x")
    assert (refused.status, refused.body["error"]["code"]) == (401, "unauthorized")


def test_an_unknown_route_is_not_found_in_the_api_shape(stack: RunningStack) -> None:
    assert _error(stack, "GET", "/_dev/nothing", None, 404)["code"] == "not_found"


@dataclass(frozen=True)
class _Raw:
    status: int
    content_type: str | None
    body: str


def _raw(stack: RunningStack, method: str, path: str, headers: dict[str, str]) -> _Raw:
    """A request as sent, whatever it is: no client-side check of the method or headers."""
    connection = http.client.HTTPConnection(stack.url.removeprefix("http://"), timeout=30)
    try:
        connection.putrequest(method, path)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return _Raw(response.status, response.getheader("Content-Type"), response.read().decode())
    finally:
        connection.close()


def test_what_api_gateway_refuses_never_reaches_a_function(stack: RunningStack) -> None:
    before = stack.now()
    too_large = {"Content-Length": str(11 * 1024 * 1024), "Content-Type": "application/json"}
    assert _raw(stack, "POST", "/_dev/clock", too_large).status == 413
    chunked = {"Transfer-Encoding": "chunked", "Content-Type": "application/json"}
    assert _raw(stack, "POST", "/_dev/clock", chunked).status == 411
    assert _raw(stack, "POST", "/_dev/clock", {"Content-Length": "many"}).status == 400
    assert stack.now() == before


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("TRACE", "/plans", {}, 501),
        ("QUERY", "/plans", {}, 501),
        ("BREW", "/_dev/clock", {}, 501),
        ("GET", "/plans?q=" + "x" * 70_000, {}, 414),
        ("GET", "/plans", {"X-Long": "x" * 70_000}, 431),
        ("GET", "/plans", {f"X-Header-{n}": "x" for n in range(101)}, 431),
    ],
)
def test_what_the_server_refuses_itself_is_in_the_api_shape(
    stack: RunningStack, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    refused = _raw(stack, method, path, headers)

    assert (refused.status, refused.content_type) == (status, "application/json")
    error = json.loads(refused.body)["error"]
    assert (error["code"], error["details"]) == ("bad_request", None)
    assert error["message"]
    assert stack.call("GET", "/plans").status == 200, "the server goes on"


def test_the_documentation_is_served_without_the_internet(stack: RunningStack) -> None:
    page = _raw(stack, "GET", "/docs", {})
    assert page.status == 200
    assert "/docs/swagger-ui-bundle.min.js" in page.body
    assert "https://" not in page.body.split("<script>")[0], "no asset from a CDN"
    script = _raw(stack, "GET", "/docs/swagger-ui-bundle.min.js", {})
    assert (script.status, "SwaggerUIBundle" in script.body) == (200, True)
    document = stack.call("GET", "/docs?format=json").body
    assert document == stack.call("GET", "/openapi.json").body
    assert document["servers"] == [{"url": stack.url}]


def _start_alone(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        STACK,
        cwd=ROOT,
        env={**os.environ, "DEV_WORK_DIR": str(tmp_path), **variables},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_port_is_named_with_the_variable_that_moves_it(
    stack: RunningStack, tmp_path: Path
) -> None:
    taken = stack.ports["DEV_API_PORT"]

    started = _start_alone(tmp_path, DEV_API_PORT=str(taken))

    assert started.returncode == 1
    assert f"port {taken} on 127.0.0.1 (the HTTP API) is already in use" in started.stderr
    assert "DEV_API_PORT=<port>" in started.stderr
    assert "Traceback" not in started.stderr
    assert not (tmp_path / "env").exists(), "nothing was started"


@pytest.mark.parametrize("value", ["abc", "0", "70000"])
def test_a_port_that_is_not_a_port_is_refused(tmp_path: Path, value: str) -> None:
    started = _start_alone(tmp_path, DEV_MOTO_PORT=value)

    assert started.returncode == 1
    assert f"DEV_MOTO_PORT={value!r} is not a port number (1-65535)" in started.stderr
