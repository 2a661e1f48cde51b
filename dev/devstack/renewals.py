"""The renewal schedule locally: the dispatcher invoked as EventBridge Scheduler invokes it, at
the template's rate and on demand, and its queue's worker polled as Lambda's SQS event source
polls it. Runs and polls take turns, so a run on demand counts exactly its own messages."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from devstack.api_gateway import LocalLambdaContext, import_handler
from devstack.clock import Clock
from devstack.event_sources import ScheduleEventSource, SqsPoller
from devstack.metrics import MetricStore, total

logger = logging.getLogger(__name__)

IDLE_SECONDS = 1.0
"""How long the worker's poller waits after finding the queue empty. moto server answers one
request at a time, so the poller cannot long-poll: that would hold every other request."""
_MAX_ROUNDS = 100_000
STOPPING_SECONDS = 2.0
"""How long a failed poll waits to learn whether the stack is stopping before it is reported."""


@dataclass(frozen=True)
class RunSummary:
    """One run, from the metrics its worker published (as an operator would read them)."""

    processed: int
    succeeded: int
    failed: int


class LocalRenewals:
    def __init__(
        self,
        schedule: ScheduleEventSource,
        poller: SqsPoller,
        metrics: MetricStore,
        *,
        clock: Clock,
        region: str,
    ) -> None:
        self.schedule = schedule
        self._dispatcher = import_handler(schedule.handler)
        self._poller = poller
        self._concurrency = poller.source.maximum_concurrency or 1
        self._metrics = metrics
        self._clock = clock
        self._region = region
        self._turn = threading.Lock()

    def run(self) -> RunSummary:
        """One scheduled run at the clock's time, then the queue drained of what is visible."""
        with self._turn:
            mark = self._metrics.mark()
            report = self._dispatcher(
                self.schedule.event(self._clock(), self._region),
                LocalLambdaContext.for_function(self.schedule.function),
            )
            drained = self._poller.drain(concurrency=self._concurrency, max_rounds=_MAX_ROUNDS)
            published = self._metrics.since(mark)
        summary = RunSummary(
            processed=total(published, "RenewalMessages"),
            succeeded=total(published, "RenewalsSucceeded"),
            failed=total(published, "RenewalsFailed"),
        )
        logger.info("renewal run: queued %s, drained %s: %s", report, drained.received, summary)
        return summary

    def poll(self) -> int:
        """One round of the worker's pollers; the messages received."""
        with self._turn:
            return self._poller.drain(concurrency=self._concurrency, max_rounds=1).received

    def serve(self, stopping: threading.Event) -> None:
        """Until `stopping` is set: a run every interval of the schedule (in wall time, as
        EventBridge Scheduler counts it), and the queue polled in between."""
        interval = self.schedule.interval.total_seconds()
        next_run = time.monotonic() + interval
        while not stopping.is_set():
            try:
                if time.monotonic() >= next_run:
                    next_run += interval
                    self.run()
                    continue
                if self.poll():
                    continue
            except Exception:
                # Ctrl-C reaches moto server with the whole process group, while this thread
                # still polls: a failure then is the stack stopping, not worth a traceback.
                if stopping.wait(STOPPING_SECONDS):
                    break
                # In AWS a failed run goes to the schedule's dead-letter queue and the next run
                # finds the same work; the stack logs it and goes on.
                logger.exception("the renewal schedule failed; it goes on")
            stopping.wait(IDLE_SECONDS)
