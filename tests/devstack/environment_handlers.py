"""Handlers the execution environment tests invoke, imported by the environments by name."""

from __future__ import annotations

import os
import socket
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from billing import composition
from billing.domain.billing_calendar import format_instant

logger = Logger(service="environment-tests")
metrics = Metrics(namespace="Tests")


def report(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Where and when it ran, after logging `event["say"]` and publishing a metric, as the
    functions do (Powertools)."""
    logger.info(event["say"])
    metrics.add_metric(name="Reported", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    return {
        "pid": os.getpid(),
        "now": format_instant(composition.now()),
        "function": context.function_name,
    }


def meet(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Tell the test its pid over a connection to `event["port"]`, then wait to be let go."""
    with socket.create_connection(("127.0.0.1", event["port"]), timeout=60) as connection:
        connection.sendall(str(os.getpid()).encode())
        connection.recv(1)
    return {"pid": os.getpid()}


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("no such plan")


def die(event: dict[str, Any], context: Any) -> None:
    os._exit(3)
