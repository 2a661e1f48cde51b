"""The renewal run under duplication, against moto server and localstripe: a few hundred due
subscriptions across every shard, two overlapping dispatcher runs, workers that crash after doing
their work (so SQS delivers the batch again), several workers at once; every subscription is
charged exactly once. Also the index queries one run costs. How many renewals a second the run
takes at volume is `make bench`'s figure (bench/renewals.py), not a test's."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import botocore.handlers
import pytest

from billing import composition
from billing.domain.subscription import Status
from billing.persistence.dynamodb import (
    index_shard,
)
from devstack.event_sources import SqsPoller
from tests.support.api import Clock
from tests.support.aws import DynamoDBRequests
from tests.support.population import seed
from tests.support.renewals import RenewalSchedule
from tests.support.stand_ins import StandIn, stripe_charges
from tests.support.subscriptions import FIRST_END

POPULATION = 200
"""Every shard holds about a dozen, and each subscription is queued twice: the races between
the overlapping runs, the redelivered batches and the two workers are those of any volume."""


@contextmanager
def _after_sqs_call(operation: str, action: Callable[[], object]) -> Iterator[None]:
    """Run `action` after every SQS `operation` answer of the clients created meanwhile."""
    entry = (f"after-call.sqs.{operation}", lambda **_: action())
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)


def _crashing_after_work(poller: SqsPoller, crashes: int) -> SqsPoller:
    """A poller whose first `crashes` batches do all their work and then fail (a timeout after
    the last charge): SQS delivers those messages again."""
    left = [crashes]
    lock = threading.Lock()
    real = poller._handler

    def handler(event: dict[str, Any], context: Any) -> Any:
        response = real(event, context)
        with lock:
            crash, left[0] = left[0] > 0, left[0] - 1
        if crash:
            raise TimeoutError("Task timed out after 90.00 seconds")
        return response

    return SqsPoller(poller._sqs, poller._queue_url, handler, poller.source, retry_delay=0)


@pytest.mark.usefixtures("api")  # the API's sender is the one renewal emails come from
def test_overlapping_runs_redelivery_and_concurrent_workers_charge_each_subscription_once(
    schedule: RenewalSchedule, clock: Clock, localstripe: StandIn
) -> None:
    repository = composition.root().repository
    subscriptions = seed(repository, localstripe, POPULATION)
    shards = {index_shard(sub_id, len(repository.shards())) for sub_id in subscriptions}
    assert len(shards) == len(repository.shards()), "the population spans every shard"
    clock.now = FIRST_END

    # Both runs read the queue's backlog (empty) before either queues anything: they overlap.
    both_looked = threading.Barrier(2, timeout=30)
    with (
        _after_sqs_call("GetQueueAttributes", both_looked.wait),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        runs = list(pool.map(lambda _: schedule.dispatch(), range(2)))
    assert [run["due"] for run in runs] == [POPULATION, POPULATION]

    workers = schedule.poller
    schedule.poller = _crashing_after_work(workers, crashes=5)
    drained = schedule.poller.drain(concurrency=schedule.concurrency, max_rounds=1000)
    schedule.poller = workers

    assert drained.drained
    assert len(drained.handler_errors) == 5
    assert drained.received == 2 * POPULATION + 5 * 10, "each crashed batch came back once"
    # A charge whose answer came too late for its caller stays pending until the in-flight
    # window has passed; the next run but one looks it up.
    clock.now = FIRST_END + timedelta(minutes=6)
    schedule.run()
    charged = Counter(key.split(".")[0] for key in stripe_charges(localstripe))
    assert {sub_id: charged[sub_id] for sub_id in subscriptions} == dict.fromkeys(
        subscriptions, 1
    ), "every subscription charged exactly once"
    with ThreadPoolExecutor(max_workers=8) as pool:
        renewed = list(pool.map(repository.get_subscription, subscriptions))
    assert {(s.status, s.cycle, s.charge_attempts) for s in renewed} == {(Status.ACTIVE, 1, 0)}
    assert schedule.dispatch()["due"] == 0, "nothing left due"


def test_a_run_queries_each_shard_of_both_indexes_once(
    schedule: RenewalSchedule, clock: Clock, dynamodb_requests: DynamoDBRequests
) -> None:
    shards = len(composition.root().repository.shards())
    clock.now = FIRST_END
    dynamodb_requests.clear()
    schedule.dispatch()
    assert dynamodb_requests.operations == ["Query"] * (2 * shards)
