"""``make bench``: every benchmark in one run, each figure beside its floor, written to
docs/performance.md. ``python -m bench --quick`` takes fewer samples (a smoke run);
``python -m bench --cold-start-only [--function AdminFunction …]`` measures the cold start alone
(from the build: ``make build`` first) and prints its section instead of rewriting the document."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench import cold_start, report
from bench.api_latency import api_latency
from bench.renewals import CARDS, queue_renewals, renewal_costs, throughput, throughput_with_floor
from bench.stack import ROOT, TEMPLATE, answering_stripe, bench_stack

OUTPUT = ROOT / "docs" / "performance.md"


@contextmanager
def _stdout_discarded() -> Iterator[None]:
    """The handlers log as JSON on stdout, as in Lambda (the formatting is part of the cost);
    here nobody reads it. Discarded at the file descriptor: the loggers, made when their modules
    were imported, hold the stream they were made with."""
    sys.stdout.flush()
    kept = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(kept, 1)
        os.close(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--cold-start-only",
        action="store_true",
        help="measure the cold start alone and print its section (docs/performance.md unchanged)",
    )
    parser.add_argument(
        "--function",
        action="append",
        metavar="LOGICAL_ID",
        help="with --cold-start-only: this function only (repeatable)",
    )
    options = parser.parse_args(argv)
    if options.function and not options.cold_start_only:
        parser.error("--function measures part of the document: give --cold-start-only too")
    sizes = report.Sizes.quick() if options.quick else report.Sizes()
    progress = logging.getLogger("bench")
    progress.addHandler(logging.StreamHandler(sys.stderr))
    progress.setLevel(logging.INFO)
    say = progress.info
    started, load = datetime.now(UTC), os.getloadavg()

    say("cold start from the build: %d samples per function", sizes.cold_start_samples)
    measured = cold_start.functions(TEMPLATE, ROOT)
    if options.function:
        measured = [f for f in measured if f.logical_id in options.function]
    with cold_start.places(measured) as where:
        starts = [
            cold_start.measure(
                function, where, sizes.cold_start_samples, sizes.without_bytecode_samples
            )
            for function in measured
        ]
    if options.cold_start_only:
        sys.stdout.write("\n".join(report.cold_start_section(starts, sizes)) + "\n")
        return 0

    with (
        _stdout_discarded(),
        bench_stack() as stack,
        answering_stripe() as answering_only,
    ):
        say("requests and capacity per renewal: %d of each kind", sizes.cost_renewals)
        costs = [renewal_costs(stack, outcome, sizes.cost_renewals) for outcome in CARDS]
        say("renewal throughput, localstripe at 0 ms: %d renewals, then the floor", sizes.renewals)
        localstripe, localstripe_floor = throughput_with_floor(stack, sizes.renewals)
        say(
            "renewal throughput, a Stripe that only answers: %d renewals, then the floor",
            sizes.renewals,
        )
        answering, answering_floor = throughput_with_floor(stack, sizes.renewals, answering_only)
        say("renewal throughput at 300 ms: %d renewals", sizes.slow_renewals)
        queue_renewals(stack, sizes.slow_renewals)
        slow, _ = throughput(stack, sizes.slow_renewals, latency_ms=300)
        say("API latency: %d invocations per route", sizes.api_samples)
        latencies = api_latency(stack, sizes.api_samples)

    document = report.render(
        report.Results(
            started=started,
            finished=datetime.now(UTC),
            load=(load, os.getloadavg()),
            command="make bench" if not options.quick else "python -m bench --quick",
            sizes=sizes,
            cold_starts=starts,
            costs=costs,
            localstripe=localstripe,
            localstripe_floor=localstripe_floor,
            answering=answering,
            answering_floor=answering_floor,
            slow=slow,
            latencies=latencies,
        ),
        (ROOT / "bench" / "why.md").read_text(encoding="utf-8"),
    )
    options.output.write_text(document, encoding="utf-8")
    say("wrote %s", options.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
