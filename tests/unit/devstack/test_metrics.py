"""The functions' output in the local stack: lines to the log whole, whatever the threads, and
the embedded-metric-format metrics extracted as CloudWatch would."""

from __future__ import annotations

import io
import json
import threading

from devstack.metrics import FunctionOutput, MetricStore, extracted, total


def _emf(name: str, value: float, **dimensions: str) -> str:
    return json.dumps(
        {
            "_aws": {
                "Timestamp": 0,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "SubscriptionBilling",
                        "Dimensions": [sorted(dimensions)],
                        "Metrics": [{"Name": name, "Unit": "Count"}],
                    }
                ],
            },
            name: value,
            **dimensions,
        }
    )


def test_emf_lines_give_their_metrics_and_other_lines_none() -> None:
    lines = ['{"level": "INFO", "message": "hello"}', _emf("RenewalsFailed", 2, reason="x")]

    [datum] = extracted(lines)

    assert (datum.namespace, datum.name, datum.unit) == (
        "SubscriptionBilling",
        "RenewalsFailed",
        "Count",
    )
    assert datum.dimensions == {"reason": "x"}
    assert datum.values == (2,)


def test_totals_add_every_value_of_a_metric_whatever_its_dimensions() -> None:
    data = list(
        extracted(
            [
                _emf("RenewalsFailed", 2, reason="a"),
                _emf("RenewalsFailed", 1, reason="b"),
                _emf("RenewalsSucceeded", 5),
            ]
        )
    )

    assert total(data, "RenewalsFailed") == 3
    assert total(data, "RenewalMessages") == 0


def test_output_goes_to_the_log_by_whole_lines_and_metrics_are_kept() -> None:
    log = io.StringIO()
    store = MetricStore()
    output = FunctionOutput(log, store)
    mark = store.mark()

    output.write("partial ")
    assert log.getvalue() == "", "nothing before the line ends"
    output.write("line\n" + _emf("RenewalsSucceeded", 1))
    output.write("\n")

    assert log.getvalue().splitlines() == ["partial line", _emf("RenewalsSucceeded", 1)]
    assert [datum.name for datum in store.since(mark)] == ["RenewalsSucceeded"]
    assert store.since(store.mark()) == []


def test_concurrent_writers_never_interleave_within_a_line() -> None:
    log = io.StringIO()
    output = FunctionOutput(log, MetricStore())
    barrier = threading.Barrier(4)

    def write(name: str) -> None:
        barrier.wait()
        for n in range(200):
            # As print() does: the text, then the newline, in two writes.
            output.write(f"{name}-{n}")
            output.write("\n")

    threads = [threading.Thread(target=write, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    lines = log.getvalue().splitlines()
    assert sorted(lines) == sorted(f"t{i}-{n}" for i in range(4) for n in range(200))
