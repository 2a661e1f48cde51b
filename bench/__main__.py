"""``make bench``: every benchmark in one run, each figure beside its floor, written to
docs/performance.md. ``python -m bench --quick`` takes fewer samples (a smoke run)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path

from bench import cold_start, report
from bench.api_latency import api_latency
from bench.renewals import CARDS, queue_renewals, renewal_costs, throughput, throughput_with_floor
from bench.stack import ROOT, TEMPLATE, bench_stack

OUTPUT = ROOT / "docs" / "performance.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples: a smoke run")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    options = parser.parse_args(argv)
    sizes = report.Sizes.quick() if options.quick else report.Sizes()
    progress = logging.getLogger("bench")
    progress.addHandler(logging.StreamHandler(sys.stderr))
    progress.setLevel(logging.INFO)
    say = progress.info
    started = datetime.now(UTC)

    say("cold start from the build: %d samples per function", sizes.cold_start_samples)
    measured = cold_start.functions(TEMPLATE, ROOT)
    with cold_start.places(measured) as where:
        starts = [
            cold_start.measure(
                function, where, sizes.cold_start_samples, sizes.without_bytecode_samples
            )
            for function in measured
        ]

    # The handlers log as JSON on stdout, as in Lambda (the formatting is part of the cost);
    # here nobody reads it.
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull), bench_stack() as stack:
        say("requests and capacity per renewal: %d of each kind", sizes.cost_renewals)
        costs = [renewal_costs(stack, outcome, sizes.cost_renewals) for outcome in CARDS]
        say("renewal throughput at 0 ms: %d renewals, then the floor", sizes.renewals)
        instant, floor = throughput_with_floor(stack, sizes.renewals)
        say("renewal throughput at 300 ms: %d renewals", sizes.slow_renewals)
        queue_renewals(stack, sizes.slow_renewals)
        slow, _ = throughput(stack, sizes.slow_renewals, latency_ms=300)
        say("API latency: %d invocations per route", sizes.api_samples)
        latencies = api_latency(stack, sizes.api_samples)

    document = report.render(
        report.Results(
            started=started,
            finished=datetime.now(UTC),
            command="make bench" if not options.quick else "python -m bench --quick",
            sizes=sizes,
            cold_starts=starts,
            costs=costs,
            instant=instant,
            floor=floor,
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
