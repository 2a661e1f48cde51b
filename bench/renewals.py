"""What a renewal costs (requests, capacity units, provider calls) and how fast one worker
renews, against moto server and a provider stand-in, beside the floor of the same server's raw
DynamoDB request rate."""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config

from bench.capacity import CapacityMeter
from bench.recording import Request, recording
from bench.stack import TEMPLATE, BenchStack, cpu_seconds
from billing import composition
from billing.renewals import BATCH
from devstack.api_gateway import Handler, import_handler
from devstack.template import resources_of_type
from tests.support.population import seed
from tests.support.stand_ins import StandIn
from tests.support.subscriptions import FIRST_END

STREAM_READS = frozenset({"DescribeStream", "GetShardIterator", "GetRecords", "ListStreams"})
"""Lambda's reads of the outbox's stream (signed as DynamoDB): the mapping's, not the function's,
and not billed by the request."""

CARDS = {"successful": "pm_card_visa", "failed": "pm_card_chargeCustomerFail"}
"""The saved card of each kind of renewal: charged, or declined (the subscription goes past
due)."""


@dataclass(frozen=True)
class RenewalCosts:
    """What `renewals` renewals of one kind cost, in total."""

    outcome: str
    renewals: int
    dynamodb: Counter[str]
    """DynamoDB requests by operation, sent by the worker."""
    read_units: float
    write_units: float
    sqs: Counter[str]
    """SQS requests by operation: the dispatcher's sends and the event source's receives and
    deletes (Lambda's poller makes those, and they are billed to the account)."""
    notifications: Counter[str]
    """SES and SNS requests by operation, sent by NotifyFunction from the outbox."""
    delivery: Counter[str]
    """DynamoDB requests by operation, sent by NotifyFunction to send the renewals' messages."""
    delivery_read_units: float
    delivery_write_units: float
    provider_calls: int
    run_queries: int
    """The dispatcher's index queries: one run's, whatever the number of renewals it finds."""
    run_read_units: float
    head_reads: int = 0
    """Reads of the invoice sequence's head, left out of `dynamodb`: a process reads it once,
    when it first issues an invoice, then knows it from its own writes (docs/invoices.md)."""

    def per_renewal(self, count: float) -> float:
        return count / self.renewals


def renewal_costs(stack: BenchStack, outcome: str, renewals: int = BATCH) -> RenewalCosts:
    """Renew `renewals` subscriptions due now, whose card gives `outcome`, in one run, and count
    everything they sent."""
    seed(composition.root().repository, stack.localstripe, renewals, CARDS[outcome])
    stack.clock.now = FIRST_END
    stack.localstripe.reset()
    schedule = stack.schedule()
    meter = CapacityMeter(stack.moto.url)
    with recording(meter) as dispatched:
        assert schedule.dispatch()["due"] == renewals
    run_read_units = meter.units.read
    meter.units.read = meter.units.write = 0.0
    with recording(meter) as worked:
        drained = schedule.drain()
    worker_units = (meter.units.read, meter.units.write)
    meter.units.read = meter.units.write = 0.0
    with recording(meter) as sent:
        stack.notify_stream().drain()
    sqs = Counter(r.operation for r in dispatched.of("sqs") + worked.of("sqs"))
    sqs["ReceiveMessage"] = drained.batches  # the receives that found messages
    documents = stack.table("DocumentsTable")
    requests = worked.of("dynamodb")
    head_reads = Counter(
        r.operation
        for r in requests
        if r.operation == "GetItem" and r.params["TableName"] == documents
    )
    return RenewalCosts(
        outcome=outcome,
        renewals=renewals,
        dynamodb=Counter(r.operation for r in requests) - head_reads,
        read_units=worker_units[0],
        write_units=worker_units[1],
        sqs=Counter({op: n for op, n in sqs.items() if op != "GetQueueAttributes"}),
        notifications=Counter(
            f"{r.service}:{r.operation}" for r in sent.sent if r.service in ("ses", "sns")
        ),
        delivery=Counter(
            r.operation for r in sent.of("dynamodb") if r.operation not in STREAM_READS
        ),
        delivery_read_units=meter.units.read,
        delivery_write_units=meter.units.write,
        provider_calls=stack.provider_calls(),
        run_queries=len(dispatched.of("dynamodb")),
        run_read_units=run_read_units,
        head_reads=head_reads.total(),
    )


@dataclass(frozen=True)
class Throughput:
    provider: str
    latency_ms: int
    renewals: int
    seconds: float
    lambda_seconds: float
    """Time spent inside the worker's handler: what Lambda bills."""
    worker_cpu_seconds: float
    """CPU time of the worker's process while its handler ran."""
    moto_cpu_seconds: float
    provider_cpu_seconds: float
    dynamodb_requests: int

    @property
    def per_second(self) -> float:
        return self.renewals / self.seconds

    @property
    def per_lambda_second(self) -> float:
        return self.renewals / self.lambda_seconds

    @property
    def requests_per_renewal(self) -> float:
        return self.dynamodb_requests / self.renewals

    def ms_per_renewal(self, seconds: float) -> float:
        return seconds * 1000 / self.renewals


@dataclass(frozen=True)
class Floor:
    requests: int
    seconds: float
    threads: int
    moto_cpu_seconds: float
    refused: int = 0
    """Requests whose condition held in the run but not in the replay (see `replay`)."""

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds


class _TimedHandler:
    """The worker's handler, adding up the time it runs and the CPU time its process used
    meanwhile (the poller waits while it runs: one batch at a time)."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.seconds = 0.0
        self.cpu_seconds = 0.0

    def __call__(self, event: Any, context: Any) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self._handler(event, context)
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu


@contextmanager
def _bench_objects_frozen() -> Iterator[None]:
    """The worker runs in this process, beside ten times the objects a worker's process holds
    (every function's handler, the population, the recordings): Python's collector going through
    them is the benchmark's cost, not the worker's. Frozen (`gc.freeze`), they are left out of
    every collection, and the collector goes through the worker's own objects, as in Lambda."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextmanager
def _provider_latency(stack: BenchStack, latency_ms: int, charges: int) -> Iterator[None]:
    if latency_ms:
        stack.localstripe.inject(
            "POST", "/v1/payment_intents", delay=latency_ms / 1000, times=charges
        )
    try:
        yield
    finally:
        stack.localstripe.reset()


def queue_renewals(stack: BenchStack, renewals: int) -> None:
    """`renewals` subscriptions due now, queued for the worker by a renewal run."""
    seed(composition.root().repository, stack.localstripe, renewals)
    stack.clock.now = FIRST_END
    assert stack.schedule().dispatch()["due"] == renewals


def throughput(
    stack: BenchStack, renewals: int, latency_ms: int, provider: StandIn | None = None
) -> tuple[Throughput, list[Request]]:
    """One worker (one Lambda instance: batches one after the other, each batch's messages at
    once) renewing the `renewals` queued renewals, charging `provider` (localstripe unless
    given), localstripe answering after `latency_ms`; with the DynamoDB requests it sent, in
    order."""
    timed: list[_TimedHandler] = []

    def load(name: str) -> Handler:
        timed.append(_TimedHandler(import_handler(name)))
        return timed[-1]

    charged = provider or stack.localstripe
    with (
        stack.charging(charged),
        _provider_latency(stack, latency_ms, renewals),
        recording() as sent,
        _bench_objects_frozen(),
    ):
        poller = stack.poller(load_handler=load)
        moto, answering = cpu_seconds(stack.moto.url), cpu_seconds(charged.url)
        started = time.perf_counter()
        drained = poller.drain(concurrency=1, max_rounds=renewals)
        seconds = time.perf_counter() - started
        moto, answering = cpu_seconds(stack.moto.url) - moto, cpu_seconds(charged.url) - answering
    assert drained.drained, drained
    assert drained.deleted == renewals, drained
    requests = sent.of("dynamodb")
    [handler] = timed
    measured = Throughput(
        provider="localstripe" if provider is None else "answering only",
        latency_ms=latency_ms,
        renewals=renewals,
        seconds=seconds,
        lambda_seconds=handler.seconds,
        worker_cpu_seconds=handler.cpu_seconds,
        moto_cpu_seconds=moto,
        provider_cpu_seconds=answering,
        dynamodb_requests=len(requests),
    )
    return measured, requests


def _table_names() -> list[str]:
    return sorted(resources_of_type(TEMPLATE, "AWS::DynamoDB::Table"))


def _client(stack: BenchStack, threads: int = 1) -> Any:
    config = botocore.config.Config(max_pool_connections=max(10, threads))
    return boto3.session.Session().client("dynamodb", endpoint_url=stack.moto.url, config=config)


Snapshot = Mapping[str, list[dict[str, Any]]]


def snapshot(stack: BenchStack) -> Snapshot:
    """Every item of every table (a Scan: the benchmark's own bookkeeping)."""
    client = _client(stack)
    items: dict[str, list[dict[str, Any]]] = {}
    for logical_id in _table_names():
        pages = client.get_paginator("scan").paginate(TableName=stack.table(logical_id))
        items[logical_id] = [item for page in pages for item in page["Items"]]
    return items


def restore(stack: BenchStack, saved: Snapshot) -> None:
    """Every table back to `saved`: what was added since is deleted, the rest written back.
    A batch names each item once (DynamoDB refuses a batch that deletes and puts the same key),
    so the deletes and the puts are sent apart."""
    client = _client(stack)
    for logical_id, items in saved.items():
        table = stack.table(logical_id)
        schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
        names = [k["AttributeName"] for k in schema]
        kept = {_key(item, names) for item in items}
        pages = client.get_paginator("scan").paginate(TableName=table)
        added = [item for page in pages for item in page["Items"] if _key(item, names) not in kept]
        for requests in (
            [{"DeleteRequest": {"Key": {name: item[name] for name in names}}} for item in added],
            [{"PutRequest": {"Item": item}} for item in items],
        ):
            for start in range(0, len(requests), 25):
                client.batch_write_item(RequestItems={table: requests[start : start + 25]})


def _key(item: Mapping[str, Any], names: Sequence[str]) -> str:
    """The item's key attributes (`names`), as text that compares equal for equal keys."""
    return json.dumps({name: item[name] for name in names}, sort_keys=True)


def replay(stack: BenchStack, requests: Sequence[Request]) -> Floor:
    """Send `requests` again with a bare boto3 client, each thread's in its order, from as many
    threads as sent them: the server's raw rate for exactly this work. The transactions that
    issue invoices take their turns in the order they were written: each moves the seller's
    sequence on from where the one before left it (its condition), so in another order they
    would be refused, which is less work than the run's."""
    by_thread: dict[int, list[Request]] = defaultdict(list)
    for request in requests:
        by_thread[request.thread].append(request)
    client = _client(stack, len(by_thread))
    documents = stack.table("DocumentsTable")
    turns = {
        id(request): turn
        for turn, request in enumerate(r for r in requests if _issues(r, documents))
    }
    turn = _Turns()
    refused = (
        client.exceptions.TransactionCanceledException,
        client.exceptions.ConditionalCheckFailedException,
    )

    def send(sequence: list[Request]) -> int:
        refusals = 0
        for request in sequence:
            mine = turns.get(id(request))
            with turn.taken(mine):
                try:
                    client._make_api_call(request.operation, request.params)
                except refused:
                    # A condition that held in the run may not in the replay (the threads
                    # interleave differently): the server checked it all the same.
                    refusals += 1
        return refusals

    with _bench_objects_frozen(), ThreadPoolExecutor(max_workers=len(by_thread)) as pool:
        moto = cpu_seconds(stack.moto.url)
        started = time.perf_counter()
        refusals = sum(pool.map(send, by_thread.values()))
        seconds = time.perf_counter() - started
        moto = cpu_seconds(stack.moto.url) - moto
    return Floor(len(requests), seconds, len(by_thread), moto, refusals)


def _issues(request: Request, documents_table: str) -> bool:
    """Whether `request` is a transaction that writes to the documents table (issues invoices)."""
    return request.operation == "TransactWriteItems" and any(
        documents_table == action.get("TableName")
        for item in request.params["TransactItems"]
        for action in item.values()
    )


class _Turns:
    """Requests sent one after another in the order of their turns, from any thread."""

    def __init__(self) -> None:
        self._next = 0
        self._changed = threading.Condition()

    @contextmanager
    def taken(self, turn: int | None) -> Iterator[None]:
        """Wait for `turn` (None: no turn, go at once), and give the next its turn after."""
        if turn is None:
            yield
            return
        with self._changed:
            self._changed.wait_for(lambda: self._next == turn)
        try:
            yield
        finally:
            with self._changed:
                self._next += 1
                self._changed.notify_all()


def throughput_with_floor(
    stack: BenchStack, renewals: int, provider: StandIn | None = None
) -> tuple[Throughput, Floor]:
    """Throughput with the provider answering at once (localstripe, or `provider`), then the
    same DynamoDB requests replayed on the state they were first sent to (the tables are put
    back as they were before the run)."""
    queue_renewals(stack, renewals)
    seed_state = snapshot(stack)
    measured, requests = throughput(stack, renewals, latency_ms=0, provider=provider)
    after = snapshot(stack)
    restore(stack, seed_state)
    floor = replay(stack, requests)
    restore(stack, after)
    return measured, floor
