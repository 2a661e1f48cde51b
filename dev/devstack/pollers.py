"""The template's asynchronous event sources other than the renewal run, in the local stack: every
DynamoDB stream mapping (`StreamPoller`), every SNS subscription (`SnsPoller`) and every other
``ScheduleV2`` event, served by one thread beside the renewal schedule. The stream is polled as
Lambda polls a shard, four times a second when it is idle; a schedule runs at its rate in wall
time, as EventBridge Scheduler counts it."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

from devstack.api_gateway import LocalLambdaContext, import_handler
from devstack.clock import Clock
from devstack.event_sources import (
    ScheduleEventSource,
    SnsPoller,
    StreamDrainReport,
    StreamPoller,
)

logger = logging.getLogger(__name__)

IDLE_SECONDS = 0.25
"""How long the pollers wait after a round that found nothing: Lambda polls a shard four times
a second."""
STOPPING_SECONDS = 2.0
"""How long a failed poll waits to learn whether the stack is stopping before it is reported."""
SETTLE_ROUNDS = 1000
"""The most rounds `EventPollers.settle` drains each stream for (a batch failing for ever is
given up on long before, after its retries)."""


class _Schedule:
    def __init__(self, source: ScheduleEventSource) -> None:
        self.source = source
        self.handler = import_handler(source.handler)
        self.interval = source.interval.total_seconds()
        self.next_run = time.monotonic() + self.interval


class EventPollers:
    def __init__(
        self,
        streams: Sequence[StreamPoller],
        subscriptions: Sequence[SnsPoller],
        schedules: Sequence[ScheduleEventSource],
        *,
        clock: Clock,
        region: str,
    ) -> None:
        self.streams = list(streams)
        self.subscriptions = list(subscriptions)
        self._schedules = [_Schedule(source) for source in schedules]
        self._clock = clock
        self._region = region

    def poll(self) -> int:
        """One round of every stream and subscription, and the schedules that are due; how
        much was done (records and notifications delivered or given up on, runs)."""
        done = 0
        for stream in self.streams:
            for outcome in stream.poll():
                done += outcome.invoked + outcome.discarded
        for subscription in self.subscriptions:
            delivered = subscription.poll()
            done += delivered.delivered + delivered.failed
        for schedule in self._schedules:
            if time.monotonic() >= schedule.next_run:
                schedule.next_run += schedule.interval
                self.run(schedule.source)
                done += 1
        return done

    def run(self, source: ScheduleEventSource) -> None:
        """`source`'s function invoked now, as EventBridge Scheduler invokes it."""
        [schedule] = [s for s in self._schedules if s.source == source]
        schedule.handler(
            source.event(self._clock(), self._region),
            LocalLambdaContext.for_function(source.function),
        )

    def settle(self) -> list[StreamDrainReport]:
        """Every stream drained: what its records owe is done (or given up on) now, at the
        clock's instant. The stack settles before the clock moves: a record written just before
        a move would otherwise be read after it, as if it had waited that long."""
        return [stream.drain(max_rounds=SETTLE_ROUNDS) for stream in self.streams]

    def serve(self, stopping: threading.Event) -> None:
        """Until `stopping` is set: poll, and wait `IDLE_SECONDS` after a round with nothing."""
        while not stopping.is_set():
            try:
                if self.poll():
                    continue
            except Exception:
                # Ctrl-C reaches moto server with the whole process group, while this thread
                # still polls: a failure then is the stack stopping, not worth a traceback.
                if stopping.wait(STOPPING_SECONDS):
                    break
                # In AWS the mapping goes on after its function or a schedule failed.
                logger.exception("an event source failed; it goes on")
            stopping.wait(IDLE_SECONDS)
