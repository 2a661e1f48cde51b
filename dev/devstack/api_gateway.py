"""An in-process stand-in for the template's API Gateway REST API: routes read from the template,
the Cognito authorizer, REST proxy events as API Gateway builds them, and proxy responses."""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import unquote

from billing.domain.errors import DEFAULT_MESSAGES, ErrorCode
from devstack.clock import Clock, wall_clock
from devstack.resources import LOCAL_ACCOUNT_ID
from devstack.template import TemplateError, function_events, globals_for
from devstack.tokens import InvalidToken

logger = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
"""A Lambda handler: ``(event, context) -> proxy response``."""
Verifier = Callable[[str], Mapping[str, Any]]
"""Checks a bearer token and returns its claims, or raises `InvalidToken`."""
Pairs = Mapping[str, str | Sequence[str]] | Iterable[tuple[str, str]]
"""Headers or query parameters: a mapping (a list value repeats the name) or (name, value) pairs."""

LOCAL_REGION = "us-east-1"
LOCAL_API_ID = "local"
INTEGRATION_TIMEOUT = timedelta(seconds=29)
"""API Gateway waits at most this long for a Lambda integration, so no handler gets longer."""

_JSON = {"Content-Type": "application/json"}
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_LITERAL, _PARAMETER, _GREEDY = 0, 1, 2


@dataclass(frozen=True)
class Route:
    method: str
    """Upper case; ``ANY`` answers every method the resource has no route of its own for."""
    path_template: str
    function: str
    """The function's logical id in the template."""
    handler: str
    """The function's ``Handler``: ``package.module.function``."""
    authorized: bool
    """Whether the Cognito authorizer guards the route."""


@dataclass(frozen=True)
class GatewayResponse:
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class LocalLambdaContext:
    """The attributes of the Lambda Python runtime's context object that handlers and
    Powertools read."""

    function_name: str
    invoked_function_arn: str
    log_group_name: str
    log_stream_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 128
    deadline: float = field(
        default_factory=lambda: time.monotonic() + INTEGRATION_TIMEOUT.total_seconds()
    )
    """On the `time.monotonic` clock: remaining time is wall time, whatever the stack's clock."""

    @classmethod
    def for_function(cls, function_name: str) -> LocalLambdaContext:
        return cls(
            function_name=function_name,
            invoked_function_arn=(
                f"arn:aws:lambda:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:function:{function_name}"
            ),
            log_group_name=f"/aws/lambda/{function_name}",
            log_stream_name=f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}",
        )

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


class MalformedProxyResponse(ValueError):
    """A handler's answer API Gateway could not turn into an HTTP response."""


def routes_from_template(template: Mapping[str, Any]) -> list[Route]:
    """Every ``Type: Api`` event of every ``AWS::Serverless::Function``, as a route; two routes
    for the same method and resource are a `TemplateError`."""
    routes = [
        Route(
            method=event["Method"].upper(),
            path_template=event["Path"],
            function=logical_id,
            handler=handler,
            authorized=_is_authorized(template, event),
        )
        for logical_id, handler, event in function_events(template, "Api")
    ]
    _resources(routes)
    return routes


def _is_authorized(template: Mapping[str, Any], event_properties: Mapping[str, Any]) -> bool:
    api_auth = {
        **(globals_for(template, "Api").get("Auth") or {}),
        **(_api_properties(template, event_properties).get("Auth") or {}),
    }
    event_auth = event_properties.get("Auth") or {}
    authorizer = event_auth.get("Authorizer", api_auth.get("DefaultAuthorizer"))
    if authorizer in (None, "NONE"):
        return False
    definition = (api_auth.get("Authorizers") or {}).get(authorizer) or {}
    if "UserPoolArn" not in definition:
        # A Lambda or IAM authorizer would need a stand-in of its own.
        raise TemplateError(f"{authorizer} is not a Cognito user-pool authorizer of the API")
    return True


def _api_properties(
    template: Mapping[str, Any], event_properties: Mapping[str, Any]
) -> Mapping[str, Any]:
    """The explicit API's properties; an event without ``RestApiId`` is on SAM's implicit API,
    which has only the ``Globals``."""
    api = event_properties.get("RestApiId")
    if api is None:
        return {}
    logical_id = api["Ref"] if isinstance(api, Mapping) else api
    resource = template["Resources"].get(logical_id)
    if resource is None or resource.get("Type") != "AWS::Serverless::Api":
        raise TemplateError(f"RestApiId {logical_id} is not an AWS::Serverless::Api")
    properties: Mapping[str, Any] = resource.get("Properties") or {}
    return properties


@dataclass
class _Resource:
    """An API Gateway resource: one path, its routes by method."""

    path_template: str
    segments: tuple[str, ...]
    methods: dict[str, Route] = field(default_factory=dict)

    @property
    def rank(self) -> tuple[int, ...]:
        """Lower ranks first: at each segment a literal beats a parameter beats a greedy one."""
        return tuple(_segment_kind(segment) for segment in self.segments)

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The path parameters, if the (decoded) request segments fall on this resource."""
        parameters = {}
        for index, part in enumerate(self.segments):
            kind = _segment_kind(part)
            if kind == _GREEDY:
                rest = segments[index:]
                parameters[part[1:-2]] = "/".join(rest)
                return parameters if rest else None
            if index >= len(segments) or (kind == _LITERAL and part != segments[index]):
                return None
            if kind == _PARAMETER:
                parameters[part[1:-1]] = segments[index]
        return parameters if len(segments) == len(self.segments) else None


def _segment_kind(segment: str) -> int:
    if segment.startswith("{") and segment.endswith("+}"):
        return _GREEDY
    return _PARAMETER if segment.startswith("{") else _LITERAL


def _resources(routes: Iterable[Route]) -> list[_Resource]:
    """Routes grouped by resource, refusing what API Gateway refuses to deploy: two routes for
    one method of a resource, or one resource spelt with two parameter names."""
    resources: dict[tuple[str, ...], _Resource] = {}
    for route in routes:
        segments = tuple(part for part in route.path_template.split("/") if part)
        shape = tuple(("{}" if _segment_kind(part) else part) for part in segments)
        resource = resources.setdefault(shape, _Resource(route.path_template, segments))
        if resource.segments != segments:
            raise TemplateError(
                f"{resource.path_template} and {route.path_template} name one resource's "
                "parameters differently"
            )
        other = resource.methods.setdefault(route.method, route)
        if other is not route:
            raise TemplateError(
                f"two routes for {route.method} {route.path_template}: "
                f"{other.function} and {route.function}"
            )
    return list(resources.values())


def import_handler(handler: str) -> Handler:
    """The function a ``Handler`` string names, imported as Lambda's Python runtime does."""
    module_name, _, function_name = handler.rpartition(".")
    function = getattr(importlib.import_module(module_name), function_name)
    if not callable(function):
        raise TypeError(f"{handler} is not a function")
    return cast(Handler, function)


class LocalApiGateway:
    """Answers requests as the deployed REST API would, calling the handlers `load_handler`
    gives (imported into this process by default; the local stack's run in execution
    environments). Concurrent requests are answered concurrently.

    `verifier` raises `InvalidToken` for a token the authorizer refuses (a 401); anything else
    it raises is a fault of the stack and propagates. `clock` dates the requests, so that the
    local stack can pass the clock it moves."""

    def __init__(
        self,
        routes: Iterable[Route],
        *,
        verifier: Verifier,
        load_handler: Callable[[str], Handler] = import_handler,
        stage: str = "local",
        clock: Clock = wall_clock,
    ) -> None:
        # Most specific first, so the first resource that matches is the one API Gateway picks.
        self._resources = sorted(_resources(routes), key=lambda resource: resource.rank)
        self._verifier = verifier
        self._load_handler = load_handler
        self._handlers: dict[str, Handler] = {}
        self._stage = stage
        self._clock = clock

    def invoke(
        self,
        method: str,
        path: str,
        *,
        headers: Pairs | None = None,
        query: Pairs | None = None,
        body: str | bytes | None = None,
    ) -> GatewayResponse:
        """One request: `path` as sent (still percent-encoded), `query` already decoded."""
        method = method.upper()
        found = self._route(method, path)
        if found is None:
            return gateway_error(404, ErrorCode.NOT_FOUND, f"No route for {method} {path}.")
        route, path_parameters = found
        header_pairs = _pairs(headers)
        claims = None
        if route.authorized:
            try:
                claims = _claims_as_cognito_renders_them(self._authorize(header_pairs))
            except InvalidToken as refusal:
                logger.info("401 for %s %s: %s", method, path, refusal)
                default = DEFAULT_MESSAGES[ErrorCode.UNAUTHORIZED].removesuffix(".")
                message = f"{default} ({refusal})."
                return gateway_error(401, ErrorCode.UNAUTHORIZED, message)
        event = {
            "resource": route.path_template,
            "path": path,
            "httpMethod": method,
            **_single_and_multi_value("headers", "Headers", header_pairs),
            **_single_and_multi_value(
                "queryStringParameters", "QueryStringParameters", _pairs(query)
            ),
            "pathParameters": path_parameters or None,
            "stageVariables": None,
            "requestContext": self._request_context(route, method, path, header_pairs, claims),
            "body": _text(body),
            "isBase64Encoded": False,
        }
        return self._call(route, event)

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        # Split before decoding, so an encoded `/` (%2F) stays inside its segment.
        segments = [unquote(part) for part in path.split("/") if part]
        for resource in self._resources:
            parameters = resource.match(segments)
            if parameters is not None:
                # API Gateway picks the resource first; a method it lacks is not found there,
                # even when a less specific resource has that method.
                route = resource.methods.get(method) or resource.methods.get("ANY")
                return None if route is None else (route, parameters)
        return None

    def _authorize(self, headers: Sequence[tuple[str, str]]) -> Mapping[str, Any]:
        values = [value.strip() for name, value in headers if name.lower() == "authorization"]
        if not values or not values[-1]:
            raise InvalidToken("the request has no Authorization header")
        scheme, _, token = values[-1].partition(" ")
        # The Cognito authorizer takes the bare token as well as a `Bearer` one.
        return self._verifier(token.strip() if scheme.lower() == "bearer" else values[-1])

    def _request_context(
        self,
        route: Route,
        method: str,
        path: str,
        headers: Sequence[tuple[str, str]],
        claims: dict[str, str] | None,
    ) -> dict[str, Any]:
        now = self._clock().astimezone(UTC)
        user_agents = [value for name, value in headers if name.lower() == "user-agent"]
        context: dict[str, Any] = {
            "resourceId": hashlib.sha256(route.path_template.encode()).hexdigest()[:6],
            "resourcePath": route.path_template,
            "httpMethod": method,
            "extendedRequestId": uuid.uuid4().hex[:16],
            "requestTime": f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000",
            "path": f"/{self._stage}{path}",
            "accountId": LOCAL_ACCOUNT_ID,
            "protocol": "HTTP/1.1",
            "stage": self._stage,
            "domainPrefix": LOCAL_API_ID,
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "requestId": str(uuid.uuid4()),
            "identity": {
                **dict.fromkeys(
                    (
                        "cognitoIdentityPoolId",
                        "accountId",
                        "cognitoIdentityId",
                        "caller",
                        "principalOrgId",
                        "accessKey",
                        "cognitoAuthenticationType",
                        "cognitoAuthenticationProvider",
                        "userArn",
                        "user",
                    )
                ),
                "sourceIp": "127.0.0.1",
                "userAgent": user_agents[-1] if user_agents else None,
            },
            "domainName": f"{LOCAL_API_ID}.execute-api.localhost",
            "deploymentId": LOCAL_API_ID,
            "apiId": LOCAL_API_ID,
        }
        if claims is not None:
            # A route without an authorizer has no `authorizer` key at all.
            context["authorizer"] = {"claims": claims}
        return context

    def _call(self, route: Route, event: dict[str, Any]) -> GatewayResponse:
        try:
            if route.handler not in self._handlers:
                self._handlers[route.handler] = self._load_handler(route.handler)
            answer = self._handlers[route.handler](
                event, LocalLambdaContext.for_function(route.function)
            )
            return _from_proxy_response(answer)
        except Exception:
            # API Gateway answers 502 to a function error or a malformed proxy response.
            logger.exception(
                "%s (%s) failed on %s %s",
                route.function,
                route.handler,
                event["httpMethod"],
                event["path"],
            )
            return gateway_error(
                502, ErrorCode.INTERNAL_ERROR, DEFAULT_MESSAGES[ErrorCode.INTERNAL_ERROR]
            )


def _pairs(given: Pairs | None) -> list[tuple[str, str]]:
    if given is None:
        return []
    if isinstance(given, Mapping):
        return [
            (name, value)
            for name, values in given.items()
            for value in ([values] if isinstance(values, str) else values)
        ]
    return list(given)


def _single_and_multi_value(
    single: str, multi_suffix: str, pairs: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """API Gateway's two views of repeatable fields: the last value of each name, and all of
    them in order; both null when there are none."""
    if not pairs:
        return {single: None, f"multiValue{multi_suffix}": None}
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    return {
        single: {name: values[-1] for name, values in multi.items()},
        f"multiValue{multi_suffix}": multi,
    }


def _text(body: str | bytes | None) -> str | None:
    if isinstance(body, bytes):
        # Without binary media types on the API, the body reaches the function as text.
        body = body.decode("utf-8", errors="replace")
    return body or None


def _claims_as_cognito_renders_them(claims: Mapping[str, Any]) -> dict[str, str]:
    """The token's claims as a REST API's Cognito user-pool authorizer hands them to Lambda:
    every value a string. `exp` and `iat` become Java ``Date.toString()`` text in UTC
    ("Mon Jun 15 05:56:21 UTC 2026"), other numbers and booleans their JSON text ("1781499381",
    "true"), and a list, ``cognito:groups`` above all, its items joined by a comma with no
    space ("admin,sales"), not a JSON array.

    Sources: captured REST API events with a Cognito authorizer, e.g. the re:Post question
    https://repost.aws/questions/QUFJRBaEJRSmmqarNrvCWoQA ("cognito:groups" arrives as a plain
    string, exp/iat as dates, auth_time as a string); the comma-joined groups in
    https://openillumi.com/en/en-api-gateway-cognito-jwt-claim-conversion-zero-trust and in
    Chalice's advice for Cognito groups (https://github.com/aws/chalice/issues/783, which splits
    the claim on ","). An HTTP API's JWT authorizer renders lists differently ("[admin sales]"),
    and the newer REST API JWT authorizer keeps JSON types; the template uses neither.
    """
    rendered = {}
    for name, value in claims.items():
        if name in ("exp", "iat") and isinstance(value, int):
            rendered[name] = _java_date(value)
        elif isinstance(value, list):
            rendered[name] = ",".join(_claim_text(item) for item in value)
        else:
            rendered[name] = _claim_text(value)
    return rendered


def _claim_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _java_date(epoch_seconds: int) -> str:
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return (
        f"{_DAYS[moment.weekday()]} {_MONTHS[moment.month - 1]} "
        f"{moment:%d %H:%M:%S} UTC {moment:%Y}"
    )


def _from_proxy_response(answer: object) -> GatewayResponse:
    if not isinstance(answer, Mapping):
        raise MalformedProxyResponse(f"the handler returned {type(answer).__name__}, not a dict")
    status = answer.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise MalformedProxyResponse(f"statusCode {status!r} is not an HTTP status")
    body = answer.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise MalformedProxyResponse(f"body is a {type(body).__name__}, not a string")
    if answer.get("isBase64Encoded"):
        body = base64.b64decode(body, validate=True).decode("utf-8")
    return GatewayResponse(status, _response_headers(answer), body)


def _response_headers(answer: Mapping[str, Any]) -> dict[str, str]:
    """``headers`` and ``multiValueHeaders`` merged as API Gateway merges them: for a name in
    both, the multi-value list wins; a list becomes one comma-separated value."""
    single = answer.get("headers") or {}
    multi = answer.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedProxyResponse("headers and multiValueHeaders must be objects")
    if not all(isinstance(values, list) for values in multi.values()):
        raise MalformedProxyResponse("multiValueHeaders values must be lists")
    merged = {**single, **{name: ", ".join(values) for name, values in multi.items()}}
    if not all(isinstance(value, str) for value in merged.values()):
        raise MalformedProxyResponse("header values must be strings")
    return merged


def gateway_error(status: int, code: ErrorCode, message: str) -> GatewayResponse:
    """An answer of API Gateway's own, in the API's error shape."""
    body = {"error": {"code": code.value, "message": message, "details": None}}
    return GatewayResponse(status, dict(_JSON), json.dumps(body))
