"""The thread that serves the stack's streams, SNS subscriptions and other schedules: it
settles the streams on demand, goes on after a failure, and stops quietly when the stack
stops under it."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

import pytest

from devstack import pollers
from devstack.event_sources import StreamBatchOutcome, StreamDrainReport
from devstack.pollers import EventPollers


class Stream:
    def __init__(self, polls: list[Any]) -> None:
        self.polls = polls
        """What each poll answers (an exception is raised), then nothing."""
        self.drained = 0

    def poll(self) -> list[StreamBatchOutcome]:
        if not self.polls:
            return []
        answer = self.polls.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    def drain(self, *, max_rounds: int) -> StreamDrainReport:
        self.drained += 1
        return StreamDrainReport(rounds=1, drained=True)


def _serving(stream: Stream) -> EventPollers:
    return EventPollers(
        [stream],  # type: ignore[list-item]
        [],
        [],
        clock=lambda: datetime(2026, 1, 31, tzinfo=UTC),
        region="us-east-1",
    )


def test_settling_drains_every_stream() -> None:
    streams = [Stream([]), Stream([])]
    served = EventPollers(streams, [], [], clock=datetime.now, region="us-east-1")  # type: ignore[arg-type]

    reports = served.settle()

    assert [stream.drained for stream in streams] == [1, 1]
    assert all(report.drained for report in reports)


def test_a_failed_poll_is_logged_and_polling_goes_on(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pollers, "STOPPING_SECONDS", 0.01)
    stopping = threading.Event()
    done = StreamBatchOutcome("shard", invoked=1, done=1)
    stream = Stream([RuntimeError("moto is busy"), [done]])
    served = _serving(stream)
    serving = threading.Thread(target=served.serve, args=(stopping,))

    with caplog.at_level(logging.ERROR, logger="devstack.pollers"):
        serving.start()
        while stream.polls:
            stopping.wait(0.01)
        stopping.set()
        serving.join(10)

    assert not serving.is_alive()
    [failure] = caplog.records
    assert failure.getMessage() == "an event source failed; it goes on"
    assert failure.exc_info is not None


def test_a_poll_failing_as_the_stack_stops_is_not_reported(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopping = threading.Event()

    class Stopping(Stream):
        def poll(self) -> list[StreamBatchOutcome]:
            stopping.set()  # the stack stops while moto server is already gone
            raise ConnectionError("moto server is gone")

    with caplog.at_level(logging.ERROR, logger="devstack.pollers"):
        _serving(Stopping([])).serve(stopping)

    assert caplog.records == []
