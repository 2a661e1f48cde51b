"""The sample events in events/: REST proxy events of routes template.yaml declares, with the
claims where the Cognito authorizer puts them; those that need no AWS are answered by the real
handler in the SPEC §4 shape."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from billing.api.http import STATUS
from billing.domain.errors import ErrorCode
from devstack.api_gateway import LocalLambdaContext, Route, import_handler, routes_from_template
from tests.support.aws import TEMPLATE, resources_of_type, template

EVENTS = TEMPLATE.parent / "events"
EVENT_FILES = sorted(path.relative_to(EVENTS).as_posix() for path in EVENTS.rglob("*.json"))

ANSWERED_WITHOUT_AWS: Mapping[str, int] = {
    "subscriptions/plans.json": 200,
    "subscriptions/purchase_invalid_cycle.json": 422,
    "admin/put_account_as_customer.json": 403,
}
"""Events the handler answers before reaching DynamoDB or a provider, and the status it gives:
the public catalogue, a body that fails validation, a customer's token on an admin route."""

_PROXY_EVENT_KEYS = {
    "resource",
    "path",
    "httpMethod",
    "headers",
    "multiValueHeaders",
    "queryStringParameters",
    "multiValueQueryStringParameters",
    "pathParameters",
    "stageVariables",
    "requestContext",
    "body",
    "isBase64Encoded",
}
_GROUPS_CLAIM = re.compile(r"^[A-Za-z0-9_-]+(,[A-Za-z0-9_-]+)*$")
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def _load(name: str) -> dict[str, Any]:
    event = json.loads((EVENTS / name).read_text(encoding="utf-8"))
    assert isinstance(event, dict), f"{name} is not a JSON object"
    return event


def _routes() -> dict[tuple[str, str], Route]:
    return {
        (route.method, route.path_template): route for route in routes_from_template(template())
    }


def _function_folder(logical_id: str) -> str:
    """A function's folder under events/: the last part of its CodeUri."""
    code_uri: str = resources_of_type("AWS::Serverless::Function")[logical_id]["Properties"][
        "CodeUri"
    ]
    return Path(code_uri).name


def _route_of(name: str, event: Mapping[str, Any]) -> Route:
    route = _routes().get((event["httpMethod"], event["resource"]))
    assert route is not None, f"{name}: no Api event for {event['httpMethod']} {event['resource']}"
    return route


def _response_headers(answer: Mapping[str, Any]) -> dict[str, str]:
    """A proxy response's headers as API Gateway merges them, names in lower case."""
    multi = {
        name: ", ".join(values) for name, values in (answer.get("multiValueHeaders") or {}).items()
    }
    merged = {**(answer.get("headers") or {}), **multi}
    return {name.lower(): value for name, value in merged.items()}


def test_every_api_function_has_a_sample_event() -> None:
    folders = {name.split("/", maxsplit=1)[0] for name in EVENT_FILES}

    missing = {_function_folder(route.function) for route in _routes().values()} - folders

    assert not missing, f"no sample event under events/ for {sorted(missing)}"


def test_events_answered_without_aws_are_sample_events() -> None:
    assert set(ANSWERED_WITHOUT_AWS) <= set(EVENT_FILES)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_is_a_rest_proxy_event_of_a_route_in_the_template(name: str) -> None:
    event = _load(name)
    assert set(event) == _PROXY_EVENT_KEYS, "only API Gateway REST proxy events so far"

    route = _route_of(name, event)

    assert name.split("/", maxsplit=1)[0] == _function_folder(route.function), (
        "in another function's folder"
    )
    context = event["requestContext"]
    assert (context["resourcePath"], context["httpMethod"]) == (route.path_template, route.method)
    parameters = event["pathParameters"] or {}
    assert event["path"] == re.sub(
        r"\{(\w+)\}", lambda part: parameters[part.group(1)], route.path_template
    )
    assert context["path"] == f"/{context['stage']}{event['path']}"
    assert context["requestId"]
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_headers_are_the_last_of_their_repeated_values(name: str) -> None:
    event = _load(name)

    multi: dict[str, list[str]] = event["multiValueHeaders"] or {}

    assert (event["headers"] or {}) == {header: values[-1] for header, values in multi.items()}


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_body_is_json_text_when_it_says_so(name: str) -> None:
    event = _load(name)
    headers = {header.lower(): value for header, value in (event["headers"] or {}).items()}

    if event["body"] is None:
        assert "content-type" not in headers
    else:
        assert headers["content-type"] == "application/json"
        assert isinstance(event["body"], str)
        json.loads(event["body"])


@pytest.mark.parametrize("name", EVENT_FILES)
def test_sample_claims_are_where_the_cognito_authorizer_puts_them(name: str) -> None:
    event = _load(name)
    route = _route_of(name, event)
    context = event["requestContext"]

    if not route.authorized:
        assert "authorizer" not in context, "a route without an authorizer gets no claims"
        return
    claims = context["authorizer"]["claims"]
    assert isinstance(claims, dict)
    # A REST API's Cognito authorizer hands every claim over as a string.
    assert all(isinstance(value, str) for value in claims.values()), claims
    assert claims["custom:account_id"]
    assert claims["token_use"] == "id"
    if "cognito:groups" in claims:
        assert _GROUPS_CLAIM.fullmatch(claims["cognito:groups"]), claims["cognito:groups"]
    assert event["headers"]["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(("name", "status"), sorted(ANSWERED_WITHOUT_AWS.items()))
def test_real_handler_answers_the_sample_in_the_spec_shape(name: str, status: int) -> None:
    event = _load(name)
    route = _route_of(name, event)
    handler = import_handler(route.handler)

    answer = handler(event, LocalLambdaContext.for_function(route.function))

    assert answer["statusCode"] == status, answer["body"]
    assert _response_headers(answer)["content-type"] == "application/json"
    body = json.loads(answer["body"])
    if status < 400:
        assert body["items"], "the catalogue lists its plans under items"
        return
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert _ERROR_CODE.fullmatch(error["code"]), error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    assert STATUS[ErrorCode(error["code"])] == status
