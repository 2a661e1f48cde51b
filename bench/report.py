"""docs/performance.md, written from one run's figures: each beside its floor and its target,
with the machine, the date and the command that produced them."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import metadata

from bench.api_latency import UNKEYED, Latency
from bench.cold_start import ColdStart
from bench.renewals import Floor, RenewalCosts, Throughput
from billing.renewals import BATCH

COLD_START_TARGET = 1.2
THROUGHPUT_TARGET = 0.7
API_TARGET = 1.5
CANCEL_TARGET = 3.0
"""A cancel answers once its change is written: its emails are sent afterwards, from the
outbox (docs/notifications.md)."""
RENEWAL_REQUESTS_TARGET = 3
LATENCY_S = 0.3
WORKER_MEMORY_GB = 0.5
"""The template's MemorySize (Globals) for the worker."""
MEMORY_GB = WORKER_MEMORY_GB
"""The template's MemorySize (Globals): every function's."""
SECONDS_A_MONTH = 30 * 24 * 3600

PRICES: Mapping[str, float] = {
    "DynamoDB write unit (on-demand)": 0.625e-6,
    "DynamoDB read unit (on-demand)": 0.125e-6,
    "SQS request (standard)": 0.40e-6,
    "SES email": 0.10e-3,
    "SNS publish": 0.50e-6,
    "Lambda GB-second (arm64)": 0.0000133334,
    "Lambda invocation": 0.20e-6,
}
"""US East (N. Virginia) list prices in USD, as AWS publishes them (DynamoDB's on-demand prices
since November 2024), before free tiers. Not measured: check the pricing pages before use."""

SNAPSTART_PRICES: Mapping[str, float] = {
    "SnapStart cache, GB-second": 0.0000015046,
    "SnapStart restore, GB": 0.0001397998,
}
"""Lambda SnapStart for Python, US East list prices in USD (AWS's Lambda pricing page): the
snapshot of each published version is cached for as long as the version is active (3 hours at
least), and each restore is charged by the function's memory."""


@dataclass(frozen=True)
class Sizes:
    cold_start_samples: int = 11
    without_bytecode_samples: int = 3
    cost_renewals: int = 100
    renewals: int = 1000
    slow_renewals: int = 300
    api_samples: int = 300

    @classmethod
    def quick(cls) -> Sizes:
        return cls(3, 1, 10, 50, 30, 30)


@dataclass(frozen=True)
class Results:
    started: datetime
    finished: datetime
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    """The machine's load averages (1, 5 and 15 minutes) when the run started and ended: how
    idle it was (other work shares its cores with the figures)."""
    command: str
    sizes: Sizes
    cold_starts: Sequence[ColdStart]
    costs: Sequence[RenewalCosts]
    localstripe: Throughput
    """The provider localstripe, answering at once."""
    localstripe_floor: Floor
    answering: Throughput
    """A Stripe that only answers (`bench.instant_provider`)."""
    answering_floor: Floor
    slow: Throughput
    latencies: Sequence[Latency]

    @property
    def zero_latency(self) -> list[tuple[Throughput, Floor]]:
        return [(self.localstripe, self.localstripe_floor), (self.answering, self.answering_floor)]

    @property
    def throughput_ratio(self) -> float:
        """With a provider that answers at once and does nothing else: the target's figure."""
        return _ratio(self.answering, self.answering_floor)

    @property
    def floor_per_lambda_second(self) -> float:
        """A batch waits at least one provider answer, plus its DynamoDB work at the raw rate."""
        raw = _floor_renewals_per_second(self.answering, self.answering_floor)
        return BATCH / (LATENCY_S + BATCH / raw)


def _floor_renewals_per_second(run: Throughput, floor: Floor) -> float:
    return floor.requests_per_second / run.requests_per_renewal


def _ratio(run: Throughput, floor: Floor) -> float:
    return run.per_second / _floor_renewals_per_second(run, floor)


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _machine() -> list[str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in info if line.startswith("model name")),
                cpu,
            )
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("moto", "localstripe", "boto3", "pynamodb", "aws-lambda-powertools", "stripe")
    )
    return [
        f"- Machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        f"- Python {platform.python_version()} ({sys.implementation.name}); {versions}",
    ]


def cold_start_section(cold_starts: Sequence[ColdStart], sizes: Sizes) -> list[str]:
    lines = [
        "## Cold start",
        "",
        "Each function's handler module imported in a fresh interpreter, as Lambda's init phase "
        "imports it (the module's top level makes the router and the Powertools utilities), "
        "beside its floor: importing only the third-party modules the function needs "
        "(`bench/cold_start.py`, `NEEDS`). **As shipped** is what AWS runs: the function's "
        "folder and the layer's from `make build`'s output alone, with the bytecode they ship, "
        "in an interpreter that reads nothing else but the standard library and writes nothing "
        "(`python -I -S -B`: Lambda's file system is read-only), with the environment variables "
        "the template gives the function as plain text. The build is arm64 and this "
        "machine is not, so the layer's one distribution with extension modules (pydantic-core) "
        "gets this machine's build of the same version beside its own; every other file is "
        "imported as built. The floor is imported the same way from the same artefact. Medians "
        f"of {sizes.cold_start_samples} samples taken in turn (as shipped, floor, from "
        "the development environment with bytecode cached); without bytecode is the artefact "
        "with its bytecode removed, what `sam build` alone ships (median of "
        f"{sizes.without_bytecode_samples}). Own modules and the dataclasses they make "
        "come from three more runs as shipped (`-X importtime`; the least of the three); the "
        "collector's share is the time Python's cyclic garbage collector took during the "
        "samples' imports (medians).",
        "",
        "| function | as shipped ms | floor ms | ratio | target ≤ 1.2 | from the venv ms "
        "| without bytecode ms | own modules ms | of which making dataclasses "
        "| other modules beyond the floor ms | collector ms, as shipped / floor "
        "| payment SDK |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|---:|---|---|",
    ]
    for start in cold_starts:
        lines.append(
            f"| {start.function} | {start.handler_ms:.0f} | {start.floor_ms:.0f} "
            f"| {start.ratio:.2f} | {_met(start.ratio <= COLD_START_TARGET)} "
            f"| {start.venv_ms:.0f} | {start.without_bytecode_ms:.0f} "
            f"| {start.own_ms:.0f} | {start.dataclasses_ms:.0f} ({start.dataclasses} classes) "
            f"| {start.beyond_floor_ms:.0f} "
            f"| {start.collector_ms:.0f} / {start.floor_collector_ms:.0f} "
            f"| {'yes' if start.payment_sdk else 'no'} |"
        )
    lines += [
        "",
        "Where the time beyond the floor goes (`python -X importtime` as shipped, self time of "
        "the heaviest modules the floor does not load; `importtime` slows every import a "
        "little):",
        "",
    ]
    for start in cold_starts:
        heaviest = ", ".join(f"`{s.module}` {s.ms:.1f}" for s in start.heaviest)
        lines.append(f"- {start.function}: {heaviest}")
    return lines


def _cpu(run: Throughput) -> str:
    per = run.ms_per_renewal
    return (
        f"{per(run.worker_cpu_seconds):.1f} / {per(run.moto_cpu_seconds):.1f} "
        f"/ {per(run.provider_cpu_seconds):.1f}"
    )


def _snapstart(results: Results) -> list[str]:
    shipped = sorted(start.handler_ms for start in results.cold_starts)
    cached = MEMORY_GB * SECONDS_A_MONTH * SNAPSTART_PRICES["SnapStart cache, GB-second"]
    restores = MEMORY_GB * 1000 * SNAPSTART_PRICES["SnapStart restore, GB"]
    return [
        "## Lambda SnapStart: evaluated, not adopted",
        "",
        "SnapStart runs a published version's init phase once, when the version is published, "
        "and starts each new execution environment of that version from a snapshot of the "
        "initialised microVM instead of running the init phase again. It takes Python 3.12 on "
        "either architecture, only on published versions (every API route, queue, stream and "
        "schedule would invoke an alias: `AutoPublishAlias`), and not with provisioned "
        "concurrency, EFS or more than 512 MB of ephemeral storage. The decision rule: adopt it "
        "for a function where the restore, measured or documented, beats the import it replaces.",
        "",
        f"- **What it would replace**: the init phase, {shipped[0]:.0f} to {shipped[-1]:.0f} ms "
        f"as shipped in this run (median {statistics.median(shipped):.0f} ms), now that the "
        "artefact ships its bytecode.",
        "- **What it would cost in time**: the restore, which AWS reports for each cold start "
        "(`Restore Duration` in the REPORT line, with the after-restore hooks) but documents no "
        'figure for beyond "as low as sub-second", and which cannot be measured off AWS (it is '
        "a Firecracker snapshot restored). Neither beats the import above, so no function "
        "qualifies; measuring it in AWS is the way to revisit (see below).",
        "- **What it would cost in money**: unlike Java's, Python's SnapStart is billed. At "
        f"{MEMORY_GB * 1024:.0f} MB, caching a version's snapshot costs {cached:.2f} USD a month "
        f"per function (per published version still active), and restores {restores:.2f} USD "
        "per thousand cold starts ("
        + ", ".join(f"{name} {price:.10g}" for name, price in SNAPSTART_PRICES.items())
        + "; list prices, not measured). Every deployment publishes a new version of each "
        "function it changes, and takes a snapshot of each before the alias moves.",
        "- **What it would ask of the code**: nothing made at init may be shared between "
        "restored environments. Random seeds: Python's `random` is seeded at import, so every "
        "environment restored from one snapshot draws the same numbers (botocore's retry "
        "jitter among them) until an after-restore hook reseeds it "
        "(`snapshot_restore_py.register_after_restore`, which the runtime provides). "
        "Connections and cached credentials: none exist at init here (the composition root "
        "makes clients and reads the providers' secrets on first use, and the package tests "
        "import every handler with no network), and SnapStart functions get AWS credentials "
        "from the runtime's container credentials endpoint, which botocore refreshes.",
        "- **The renewal worker**: its cold starts are on no one's path: a renewal run starts at "
        "most `RenewalWorkerConcurrency` instances, each for many batches; SnapStart would only "
        "add its cost.",
        "- **To revisit**: give one API function `SnapStart: {ApplyOn: PublishedVersions}` and "
        "`AutoPublishAlias` on the dev stage, and compare its `Restore Duration` plus its first "
        "invocation (which pays for the memory pages it touches after the restore) with the "
        "`Init Duration` of the same function without it; adopt it where the first is smaller.",
    ]


def _throughput(results: Results) -> list[str]:
    slow, floor = results.slow, results.answering_floor
    slow_ratio = slow.per_lambda_second / results.floor_per_lambda_second
    lines = [
        "## Renewal throughput",
        "",
        "One worker (one Lambda instance): the template's SQS event source polled as Lambda "
        f"polls it, batches of {BATCH} one after another, the messages of a batch carried out "
        "at once; moto server holds the tables and the queue. The charges go to localstripe "
        "(its answer delayed by the latency shown), or to a Stripe that only answers "
        "(`bench/instant_provider.py`: every PaymentIntent succeeds at once, nothing is stored "
        "or checked). The floor of each run at 0 ms is the same moto server's raw rate for "
        "exactly the DynamoDB requests the worker sent: they are replayed by a bare boto3 "
        f"client from as many threads ({floor.threads}), on the tables put back as they were, "
        "and divided by the requests per renewal (a request whose condition no longer holds "
        "in the replay, as the invoice sequence's head moves in another order, is refused "
        "and counted). The CPU column is each process's CPU time "
        "per renewal during the run: the worker's (its process while its handler ran), moto "
        "server's and the provider's. The worker runs in the benchmark's process, which holds "
        "ten times the objects a worker's process does (every function's handler, the "
        "population, the recordings); during each run and its floor they are left out of "
        "Python's collector (`gc.freeze`), whose passes over them are the benchmark's cost, "
        "not the worker's.",
        "",
        "| provider | latency | renewals | renewals/s per worker | renewals per Lambda-second "
        "| DynamoDB requests per renewal | floor | ratio | target ≥ 0.7 "
        "| CPU per renewal, ms: worker / moto server / provider |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for run, run_floor in results.zero_latency:
        ratio = _ratio(run, run_floor)
        target = _met(ratio >= THROUGHPUT_TARGET) if run is results.answering else ""
        lines.append(
            f"| {run.provider} | 0 ms | {run.renewals} | {run.per_second:.1f} "
            f"| {run.per_lambda_second:.1f} | {run.requests_per_renewal:.1f} "
            f"| {_floor_renewals_per_second(run, run_floor):.1f} renewals/s "
            f"({run_floor.requests_per_second:.0f} requests/s, {run_floor.refused} refused "
            "in the replay; moto server "
            f"{run.ms_per_renewal(run_floor.moto_cpu_seconds):.1f} ms CPU per renewal) "
            f"| {ratio:.2f} | {target} | {_cpu(run)} |"
        )
    lines += [
        f"| {slow.provider} | 300 ms | {slow.renewals} | {slow.per_second:.1f} "
        f"| {slow.per_lambda_second:.1f} | {slow.requests_per_renewal:.1f} "
        f"| {results.floor_per_lambda_second:.1f} renewals per Lambda-second | {slow_ratio:.2f} "
        f"| {_met(slow_ratio >= THROUGHPUT_TARGET)} | {_cpu(slow)} |",
        "",
        f"At 300 ms the floor is {BATCH} renewals (a batch) per 300 ms plus the batch's DynamoDB "
        "work at the raw rate: the provider's latency, not the CPU, bounds a worker, which is "
        f"why a batch's {BATCH} messages are carried out at once (`functions/renew/worker.py`). "
        f"In AWS, {slow.per_lambda_second:.0f} renewals per Lambda-second at "
        f"{WORKER_MEMORY_GB * 1024:.0f} MB is what the cost below is computed from.",
    ]
    return lines


def _per(costs: RenewalCosts, counts: Mapping[str, int]) -> str:
    return ", ".join(
        f"{name} {costs.per_renewal(count):.2f}" for name, count in sorted(counts.items())
    )


def _cost_per_million(costs: RenewalCosts, slow: Throughput) -> tuple[float, list[str]]:
    per = costs.per_renewal
    writes = costs.write_units + costs.delivery_write_units
    reads = costs.read_units + costs.delivery_read_units
    parts = {
        "DynamoDB writes": per(writes) * PRICES["DynamoDB write unit (on-demand)"],
        "DynamoDB reads": per(reads) * PRICES["DynamoDB read unit (on-demand)"],
        "SQS": per(sum(costs.sqs.values())) * PRICES["SQS request (standard)"],
        "SES": per(costs.notifications["ses:SendEmail"]) * PRICES["SES email"],
        "SNS": per(costs.notifications["sns:Publish"]) * PRICES["SNS publish"],
        "Lambda": WORKER_MEMORY_GB / slow.per_lambda_second * PRICES["Lambda GB-second (arm64)"]
        + PRICES["Lambda invocation"] / BATCH,
    }
    total = sum(parts.values()) * 1e6
    return total, [f"{name} {value * 1e6:.2f}" for name, value in parts.items()]


def _costs(results: Results) -> list[str]:
    lines = [
        "## Requests and cost per renewal",
        "",
        f"{results.costs[0].renewals} renewals of each kind in one run, every AWS request "
        "recorded as botocore sends it, and the provider's requests as localstripe received "
        "them. moto answers every request with a fixed `ConsumedCapacity`, so capacity units "
        "are computed by DynamoDB's published rules from the items each request read and wrote, "
        "before and after, and the index entries it changed (`bench/capacity.py`): a "
        "transaction's writes count twice, an index entry whose key changes counts once removed "
        "and once added. SQS receives are the ones that found messages; Lambda's poller also "
        "polls an empty queue, at a cost that does not grow with renewals.",
        "",
        "| renewal | DynamoDB requests | target ≤ 3 | read units | write units | SQS requests "
        "| provider calls | emails and notices | sending them: DynamoDB requests, read/write "
        "units | cost per million (USD) |",
        "|---|---|---|---:|---:|---|---:|---|---|---:|",
    ]
    for costs in results.costs:
        requests = costs.per_renewal(sum(costs.dynamodb.values()))
        total, _ = _cost_per_million(costs, results.slow)
        lines.append(
            f"| {costs.outcome} | {_per(costs, costs.dynamodb)} | "
            f"{_met(requests <= RENEWAL_REQUESTS_TARGET)} "
            f"| {costs.per_renewal(costs.read_units):.1f} "
            f"| {costs.per_renewal(costs.write_units):.1f} | {_per(costs, costs.sqs)} "
            f"| {costs.per_renewal(costs.provider_calls):.2f} "
            f"| {_per(costs, costs.notifications) or 'none'} "
            f"| {_per(costs, costs.delivery) or 'none'}; "
            f"{costs.per_renewal(costs.delivery_read_units):.1f}/"
            f"{costs.per_renewal(costs.delivery_write_units):.1f} | {total:.2f} |"
        )
    run = results.costs[0]
    lines += [
        "",
        f"A renewal run also queries every shard of both sparse indexes once: {run.run_queries} "
        f"queries ({run.run_read_units:.1f} read units when nothing else is due), whatever the "
        "number of renewals it finds; spread over the renewals of a run, this is the amortised "
        "index query. A worker's process also reads the invoice sequence's head once, when it "
        "first issues an invoice, and knows it from its own writes after that "
        f"({sum(c.head_reads for c in results.costs)} such reads in the runs above, left out "
        "of the renewals' requests).",
        "",
        "Cost per million renewals, by part: "
        + "; ".join(
            f"{costs.outcome}: " + ", ".join(_cost_per_million(costs, results.slow)[1])
            for costs in results.costs
        )
        + ". The renewal's own requests are the worker's, which writes the email it owes into the "
        "outbox in its transaction; NotifyFunction sends it from the outbox's stream (its "
        "DynamoDB units are in the DynamoDB parts; its Lambda time, a few milliseconds per "
        "email, is not). Lambda is the worker's billed time at the 300 ms figure above, plus one "
        f"invocation per batch of {BATCH}. Provider fees, CloudWatch Logs and X-Ray are not "
        "included.",
        "",
        "Prices (USD, US East, on-demand, before free tiers; AWS's published list prices, "
        "not measured here): "
        + ", ".join(f"{name} {price:.10g}" for name, price in PRICES.items())
        + ".",
    ]
    return lines


def _latency(results: Results) -> list[str]:
    floor, *routes = results.latencies
    lines = [
        "## API latency",
        "",
        "API Gateway proxy events handed in-process to each function's handler, "
        f"{floor.samples} invocations per route after warming up, DynamoDB in moto server. "
        "The floor is a bare `APIGatewayRestResolver` answering the same GET with one "
        "`GetItem`. Each route runs once per subscription (a cancel or a retry is not "
        "repeated); the retry charges a card that localstripe declines. Waiting is the time "
        "each invocation spent in its AWS requests (botocore's client, from the call to the "
        "answer) and in the provider's (Stripe's HTTP client); what is left of an invocation "
        "is the code in the process, whose median is the own column. The slowest request is "
        "the one with the longest mean; a read is also sent again, the same requests one after "
        "another, by a bare boto3 client of the same moto server.",
        "",
        "| route | p50 ms | p99 ms | p50 / floor | target ≤ 1.5 | DynamoDB requests "
        "| other AWS requests | provider calls | p50 / (floor x requests) "
        "| waiting on AWS, ms (mean) | waiting on the provider, ms (mean) | own, ms (p50) "
        "| slowest request, ms (mean) |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {floor.route} | {floor.p50_ms:.1f} | {floor.p99_ms:.1f} | 1.00 | | "
        f"{floor.dynamodb_requests:.0f} | 0 | 0 | | {floor.aws_ms:.1f} | 0.0 "
        f"| {floor.own_p50_ms:.1f} | {floor.slowest} |",
    ]
    for route in routes:
        ratio = route.p50_ms / floor.p50_ms
        requests = route.dynamodb_requests + route.other_requests + route.provider_calls
        lines.append(
            f"| {route.route} | {route.p50_ms:.1f} | {route.p99_ms:.1f} | {ratio:.2f} "
            f"| {_met(ratio <= API_TARGET)} | {route.dynamodb_requests:.1f} "
            f"| {route.other_requests:.1f} | {route.provider_calls:.1f} "
            f"| {route.p50_ms / (floor.p50_ms * requests):.2f} "
            f"| {route.aws_ms:.1f} | {route.provider_ms:.1f} | {route.own_p50_ms:.1f} "
            f"| {route.slowest} |"
        )
    return lines


def _summary(results: Results) -> list[str]:
    cold = max(results.cold_starts, key=lambda start: start.ratio)
    missed_cold = [s.function for s in results.cold_starts if s.ratio > COLD_START_TARGET]
    floor, *routes = results.latencies
    missed_api = [r.route for r in routes if r.p50_ms / floor.p50_ms > API_TARGET]
    [cancel] = [r for r in routes if r.route.endswith("/cancel")]
    [unkeyed] = [r for r in routes if r.route.endswith("/cancel" + UNKEYED)]
    success = results.costs[0]
    requests = success.per_renewal(sum(success.dynamodb.values()))
    return [
        "## Targets",
        "",
        "| figure | target | this run | |",
        "|---|---|---|---|",
        f"| handler cold start as shipped / floor | ≤ 1.2 | worst {cold.ratio:.2f} "
        f"({cold.function}); {len(results.cold_starts) - len(missed_cold)} of "
        f"{len(results.cold_starts)} functions within | {_met(not missed_cold)} |",
        "| renewal throughput / floor, the provider answering at once | ≥ 0.7 "
        f"| {results.throughput_ratio:.2f} (localstripe at 0 ms: "
        f"{_ratio(results.localstripe, results.localstripe_floor):.2f}) "
        f"| {_met(results.throughput_ratio >= THROUGHPUT_TARGET)} |",
        "| API p50 / floor | ≤ 1.5 | "
        + ", ".join(
            f"{r.route.split(maxsplit=1)[-1]} {r.p50_ms / floor.p50_ms:.2f}" for r in routes
        )
        + f" | {_met(not missed_api)} |",
        f"| cancel p50 / floor, nothing sent on its path | ≤ {CANCEL_TARGET:.0f} | "
        f"{cancel.p50_ms / floor.p50_ms:.2f} ({UNKEYED.strip()}: "
        f"{unkeyed.p50_ms / floor.p50_ms:.2f}, {unkeyed.dynamodb_requests:.0f} DynamoDB requests "
        f"to {cancel.dynamodb_requests:.0f}), {cancel.other_requests:.0f} SES or SNS requests "
        f"| {_met(cancel.p50_ms / floor.p50_ms <= CANCEL_TARGET and not cancel.other_requests)} |",
        "| DynamoDB requests per successful renewal | ≤ 3 + the amortised index query "
        "(and a process's one read of the invoice sequence) "
        f"| {requests:.1f} + {success.run_queries} queries per run "
        f"| {_met(requests <= RENEWAL_REQUESTS_TARGET)} |",
    ]


def render(results: Results, explanations: str) -> str:
    took = (results.finished - results.started).total_seconds()
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`bench/`; the closing notes are `bench/why.md`): edit those, "
        "not this file. Every figure is measured in the same run as its floor, on the same "
        "machine.",
        "",
        f"- Command: `{results.command}`",
        f"- Run: {results.started:%Y-%m-%d %H:%M} UTC, {took / 60:.1f} minutes",
        *_machine(),
        "- Load average (1, 5, 15 minutes) at the start "
        + " and at the end ".join(", ".join(f"{value:.2f}" for value in at) for at in results.load),
        "",
        *_summary(results),
        "",
        *cold_start_section(results.cold_starts, results.sizes),
        "",
        *_snapstart(results),
        "",
        *_throughput(results),
        "",
        *_costs(results),
        "",
        *_latency(results),
        "",
        explanations.strip(),
        "",
    ]
    return "\n".join(lines)
