"""API latency: API Gateway proxy events handed in-process to the functions' handlers, against
the floor of a bare Powertools resolver answering the same event with one GetItem. Beside each
route's figures, what of it is spent waiting (on AWS, and on the provider), what is left for the
code in the process, and its slowest request sent again by a bare boto3 client."""

from __future__ import annotations

import copy
import json
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import stripe
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from bench.recording import Request, recording
from bench.renewals import CARDS
from bench.stack import ROOT, TEMPLATE, BenchStack
from billing import composition
from devstack.api_gateway import Handler, LocalLambdaContext, import_handler, routes_from_template
from tests.support.api import START
from tests.support.population import seed
from tests.support.subscriptions import FIRST_END

SAMPLE_EVENT: dict[str, Any] = json.loads((ROOT / "events/cancel/cancel.json").read_text())
WARM_UP = 10
"""Invocations left out first: the process's first requests make its clients and connections."""
UNKEYED = " without an Idempotency-Key"
READS = frozenset({"GetItem", "Query", "TransactGetItems", "BatchGetItem", "Scan"})
"""The requests sent again by a bare client: reading changes nothing."""


@dataclass(frozen=True)
class Latency:
    route: str
    p50_ms: float
    p99_ms: float
    samples: int
    dynamodb_requests: float
    """Per invocation."""
    other_requests: float
    """AWS requests other than DynamoDB (SES, SNS) per invocation."""
    provider_calls: float
    aws_ms: float = 0.0
    """Time spent waiting on AWS requests, per invocation (mean)."""
    provider_ms: float = 0.0
    """Time spent waiting on the payment provider (Stripe's HTTP client), per invocation
    (mean)."""
    own_p50_ms: float = 0.0
    """Median of each invocation's time less what it spent waiting on AWS and the provider:
    the code in the process (the handler, the layer, Powertools, botocore's and Stripe's
    clients building and reading their requests)."""
    slowest: str = ""
    """The request that takes longest on average, with its mean time (and, for a read, the
    same requests' mean time sent again by a bare boto3 client)."""


def _event(
    method: str, resource: str, subscription_id: str, account_id: str, *, keyed: bool = True
) -> dict[str, Any]:
    """The request as API Gateway hands it in; `keyed`, with an Idempotency-Key (the portal
    sends one with every change)."""
    event = copy.deepcopy(SAMPLE_EVENT)
    event["httpMethod"] = method
    event["resource"] = resource
    event["path"] = resource.replace("{subscription_id}", subscription_id)
    event["pathParameters"] = {"subscription_id": subscription_id}
    event["body"] = None
    if keyed:
        event["headers"]["Idempotency-Key"] = str(uuid.uuid4())
    else:
        del event["headers"]["Idempotency-Key"]
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["requestContext"]["authorizer"]["claims"]["custom:account_id"] = account_id
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["resourcePath"] = resource
    return event


def _handler(method: str, resource: str) -> tuple[str, Handler]:
    [route] = [
        r
        for r in routes_from_template(TEMPLATE)
        if r.method == method and r.path_template == resource
    ]
    return route.function, import_handler(route.handler)


@contextmanager
def _provider_waits() -> Iterator[list[float]]:
    """The seconds of every request Stripe's HTTP client sends until the block ends."""
    waits: list[float] = []
    original = stripe.RequestsClient.request

    def timed(client: stripe.RequestsClient, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(client, *args, **kwargs)
        finally:
            waits.append(time.perf_counter() - started)

    stripe.RequestsClient.request = timed  # type: ignore[method-assign,assignment]
    try:
        yield waits
    finally:
        stripe.RequestsClient.request = original  # type: ignore[method-assign]


def _bare_ms(stack: BenchStack, requests: Sequence[Request]) -> float:
    """The mean time of `requests` (reads) sent again, one after another, by a bare boto3
    client of the same moto server."""
    client = boto3.client("dynamodb", endpoint_url=stack.moto.url)
    seconds = []
    for request in requests:
        started = time.perf_counter()
        getattr(client, _snake(request.operation))(**request.params)
        seconds.append(time.perf_counter() - started)
    return statistics.mean(seconds) * 1000


def _snake(operation: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")


def _percentiles(durations: Sequence[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(durations, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


def _measure(
    stack: BenchStack,
    name: str,
    *,
    function: str,
    handler: Handler,
    events: Sequence[dict[str, Any]],
    expected: int,
) -> Latency:
    context = LocalLambdaContext.for_function(function)
    for event in events[:WARM_UP]:
        handler(event, context)
    measured = events[WARM_UP:]
    stack.localstripe.reset()
    durations, own = [], []
    with recording() as sent, _provider_waits() as provider:
        for event in measured:
            before = len(sent.sent), len(provider)
            started = time.perf_counter()
            response = handler(event, context)
            took = time.perf_counter() - started
            durations.append(took)
            waited = sum(r.seconds for r in sent.sent[before[0] :]) + sum(provider[before[1] :])
            own.append(took - waited)
            if response["statusCode"] != expected:
                raise AssertionError(f"{name}: {response['statusCode']} {response['body']}")
    dynamodb = len(sent.of("dynamodb"))
    p50, p99 = _percentiles(durations)
    by_operation: dict[str, list[Request]] = {}
    for request in sent.sent:
        by_operation.setdefault(request.operation, []).append(request)
    slowest, requests = max(
        by_operation.items(), key=lambda item: statistics.mean(r.seconds for r in item[1])
    )
    slowest_text = f"{slowest} {statistics.mean(r.seconds for r in requests) * 1000:.1f}"
    if slowest in READS and sent.of("dynamodb"):
        slowest_text += f" (a bare client: {_bare_ms(stack, requests):.1f}"
        if slowest == "Query":
            # moto server answers a Query by going through every item of the table
            table = requests[0].params["TableName"]
            items = boto3.client("dynamodb", endpoint_url=stack.moto.url).describe_table(
                TableName=table
            )["Table"]["ItemCount"]
            slowest_text += f"; its table holds {items} items"
        slowest_text += ")"
    return Latency(
        route=name,
        p50_ms=p50,
        p99_ms=p99,
        samples=len(measured),
        dynamodb_requests=dynamodb / len(measured),
        other_requests=(len(sent.sent) - dynamodb) / len(measured),
        provider_calls=stack.provider_calls() / len(measured),
        aws_ms=sum(r.seconds for r in sent.sent) * 1000 / len(measured),
        provider_ms=sum(provider) * 1000 / len(measured),
        own_p50_ms=statistics.median(own) * 1000,
        slowest=slowest_text,
    )


def _subscriptions(stack: BenchStack, count: int, token: str) -> list[tuple[str, str]]:
    """`count` (subscription, account) pairs bought at START."""
    stack.clock.now = START
    repository = composition.root().repository
    return [
        (s, repository.get_subscription(s).account_id)
        for s in seed(repository, stack.localstripe, count, token)
    ]


def _floor(stack: BenchStack) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """A bare resolver with one route: one GetItem, the item returned as JSON."""
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.moto.url)
    table = stack.table("SubscriptionsTable")
    app = APIGatewayRestResolver()

    @app.get("/subscriptions/<subscription_id>")
    def get_subscription(subscription_id: str) -> dict[str, Any]:
        item: dict[str, Any] = dynamodb.get_item(
            TableName=table, Key={"id": {"S": subscription_id}}
        )["Item"]
        return item

    return app.resolve


def _route(
    stack: BenchStack,
    method: str,
    resource: str,
    events: list[dict[str, Any]],
    *,
    note: str = "",
) -> Latency:
    function, handler = _handler(method, resource)
    return _measure(
        stack,
        f"{method} {resource}{note}",
        function=function,
        handler=handler,
        events=events,
        expected=200,
    )


def api_latency(stack: BenchStack, samples: int) -> list[Latency]:
    count = WARM_UP + samples
    read = "/subscriptions/{subscription_id}"
    results = []

    active = _subscriptions(stack, count, CARDS["successful"])
    events = [_event("GET", read, s, a) for s, a in active]
    results.append(
        _measure(
            stack,
            "floor: bare resolver, one GetItem",
            function="Floor",
            handler=_floor(stack),
            events=events,
            expected=200,
        )
    )
    results.append(_route(stack, "GET", read, events))

    cancel = f"{read}/cancel"
    events = [_event("POST", cancel, s, a) for s, a in active]
    results.append(_route(stack, "POST", cancel, events))
    # The same change without the Idempotency-Key's record (Powertools' two requests around it):
    # what is left is the change's own read and conditional write.
    unkeyed = _subscriptions(stack, count, CARDS["successful"])
    events = [_event("POST", cancel, s, a, keyed=False) for s, a in unkeyed]
    results.append(_route(stack, "POST", cancel, events, note=UNKEYED))

    declined = _subscriptions(stack, count, CARDS["failed"])
    stack.clock.now = FIRST_END
    stack.schedule().run()
    retry = f"{read}/retry"
    events = [_event("POST", retry, s, a) for s, a in declined]
    results.append(_route(stack, "POST", retry, events))
    return results
