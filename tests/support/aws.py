"""AWS resources for tests, created from ``template.yaml`` (the one definition of every table and
bucket) by ``devstack.resources``, and a recorder of the DynamoDB requests botocore sends."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import botocore.handlers

from devstack import resources
from devstack.template import load_template
from devstack.template import resources_of_type as of_type

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources_of_type(kind: str) -> dict[str, dict[str, Any]]:
    return of_type(template(), kind)


TABLE_SETTINGS: Mapping[str, str] = {
    logical_id: variable for variable, logical_id in resources.table_variables(template()).items()
}
"""Which environment variable carries each table's name to the code (``!Ref`` in template.yaml)."""


def create_tables(client: Any, prefix: str = "") -> dict[str, str]:
    """Create every table of the template with `client`; returns environment → table name."""
    tables = resources.create_tables(template(), client, prefix)
    return {variable: tables[logical_id].name for logical_id, variable in TABLE_SETTINGS.items()}


BUCKET_SETTINGS: Mapping[str, str] = {
    value["Ref"]: variable
    for function in resources_of_type("AWS::Serverless::Function").values()
    for variable, value in (
        (function["Properties"].get("Environment") or {}).get("Variables") or {}
    ).items()
    if isinstance(value, dict) and value.get("Ref") in resources_of_type("AWS::S3::Bucket")
}
"""Which environment variable carries each bucket's name to the code."""


def create_buckets(client: Any, prefix: str = "") -> dict[str, str]:
    """Create every bucket of the template with `client`; returns environment → bucket name."""
    buckets = resources.create_buckets(template(), client, prefix)
    return {variable: buckets[logical_id].name for logical_id, variable in BUCKET_SETTINGS.items()}


class DynamoDBRequests:
    """Operation names of the DynamoDB requests sent while recording, in order."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    def count(self, operation: str) -> int:
        return self.operations.count(operation)

    def clear(self) -> None:
        self.operations.clear()


class DynamoDBFaults:
    """Actions to run before requests of a given operation, given the request's JSON body, e.g.
    to raise (a crash) or to wait on a barrier (a race). Each action runs on every such request
    until removed."""

    def __init__(self) -> None:
        self.before: dict[str, Callable[[Mapping[str, Any]], object]] = {}

    def __call__(self, model: Any, params: Mapping[str, Any], **_: Any) -> None:
        action = self.before.get(model.name)
        if action is not None:
            action(json.loads(params["body"]))


def is_claim(request: Mapping[str, Any]) -> bool:
    """Whether a TransactWriteItems request claims a charge (its first write, a pending attempt)
    rather than committing a change."""
    first: Mapping[str, Any] = request["TransactItems"][0].get("Put") or {}
    return bool(first.get("Item", {}).get("status") == {"S": "pending"})


@contextmanager
def on_dynamodb_call(handler: Callable[..., None]) -> Iterator[None]:
    """Call `handler(model=<operation model>, ...)` before every DynamoDB request of every
    botocore session created meanwhile (PynamoDB makes one per thread), through botocore's own
    ``before-call`` event. A handler that raises makes the request fail before it is sent."""
    entry = ("before-call.dynamodb", handler)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


@contextmanager
def record_dynamodb_requests() -> Iterator[DynamoDBRequests]:
    """Record the operation name of every DynamoDB request sent meanwhile."""
    recorder = DynamoDBRequests()
    with on_dynamodb_call(recorder):
        yield recorder
