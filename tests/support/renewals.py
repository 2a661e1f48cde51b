"""The renewal run as it happens in AWS, in this process against moto server: the dispatcher's
handler invoked as the schedule invokes it, then the renewal queue drained by Lambda's SQS
poller (the template's batch size, partial batch responses, redelivery, redrive)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.api_gateway import Handler, LocalLambdaContext, import_handler
from devstack.event_sources import DrainReport, SqsPoller
from tests.support.aws import resources_of_type

DISPATCHER = "RenewalDispatcherFunction"
WORKER = "RenewalWorkerFunction"
SCHEDULED_EVENT: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "events/renew/scheduled_run.json").read_text()
)
"""What EventBridge Scheduler sends when the schedule has no Input (events/renew/README.md);
the dispatcher reads only the clock."""


@dataclass(frozen=True)
class RenewalRun:
    queued: dict[str, int]
    """The dispatcher's report: due, pending, old_pending, backlog."""
    drained: DrainReport


@dataclass
class RenewalSchedule:
    poller: SqsPoller
    concurrency: int = 2
    """Workers draining the queue at once, as MaximumConcurrency allows in AWS."""
    load_handler: Callable[[str], Handler] = import_handler

    def dispatch(self) -> dict[str, int]:
        handler = resources_of_type("AWS::Serverless::Function")[DISPATCHER]["Properties"]
        report: dict[str, int] = self.load_handler(handler["Handler"])(
            SCHEDULED_EVENT, LocalLambdaContext.for_function(DISPATCHER)
        )
        return report

    def drain(self) -> DrainReport:
        drained = self.poller.drain(concurrency=self.concurrency)
        assert drained.drained, drained
        assert not drained.handler_errors, drained.handler_errors
        return drained

    def run(self) -> RenewalRun:
        """One scheduled run at the runtime clock's time, its queue drained."""
        return RenewalRun(self.dispatch(), self.drain())
