"""What CloudWatch Logs does with a function's output, locally: the lines go to a log, and the
metrics of embedded-metric-format (EMF) lines are extracted and kept, so that the local stack
reads the same figures an operator charts."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

_EMF_PREFIX = '{"_aws"'


@dataclass(frozen=True)
class Datum:
    """One metric of one EMF line: what CloudWatch stores it under, and its values."""

    namespace: str
    name: str
    unit: str
    dimensions: dict[str, str]
    values: tuple[float, ...]


def extracted(lines: Iterable[str]) -> Iterator[Datum]:
    """The metrics of every EMF line among `lines`, as CloudWatch would extract them."""
    for line in lines:
        if not line.startswith(_EMF_PREFIX):
            continue
        document: dict[str, Any] = json.loads(line)
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_names in directive["Dimensions"]:
                for metric in directive["Metrics"]:
                    value = document[metric["Name"]]
                    yield Datum(
                        namespace=directive["Namespace"],
                        name=metric["Name"],
                        unit=metric.get("Unit", "None"),
                        dimensions={name: document[name] for name in dimension_names},
                        values=tuple(value if isinstance(value, list) else [value]),
                    )


def total(data: Iterable[Datum], name: str) -> int:
    """The sum of every value of metric `name`, whatever its dimensions."""
    return int(sum(sum(datum.values) for datum in data if datum.name == name))


class MetricStore:
    """Every datum extracted so far, in order; `since` reads what came after a `mark`."""

    def __init__(self) -> None:
        self._data: list[Datum] = []
        self._lock = threading.Lock()

    def add(self, line: str) -> None:
        found = list(extracted([line]))
        with self._lock:
            self._data.extend(found)

    def mark(self) -> int:
        with self._lock:
            return len(self._data)

    def since(self, mark: int) -> list[Datum]:
        with self._lock:
            return self._data[mark:]


class WholeLines(io.TextIOBase):
    """Stands in for ``sys.stdout`` of functions: whole lines go to `take`. Each thread's partial
    line is kept apart until it ends, so that concurrent handlers (``print`` writes the text and
    the newline separately) never interleave within a line."""

    def __init__(self, take: Callable[[list[str]], None]) -> None:
        super().__init__()
        self._take = take
        self._partial = threading.local()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        pending: str = getattr(self._partial, "text", "") + text
        *lines, self._partial.text = pending.split("\n")
        if lines:
            self._take(lines)
        return len(text)


class FunctionOutput(WholeLines):
    """The functions' output as CloudWatch Logs takes it: lines to `log`, and the metrics of
    EMF lines to `metrics` too. `add` takes the lines of functions in other processes."""

    def __init__(self, log: TextIO, metrics: MetricStore) -> None:
        super().__init__(self.add)
        self._log = log
        self._metrics = metrics
        self._writing = threading.Lock()

    def add(self, lines: Iterable[str]) -> None:
        lines = list(lines)
        with self._writing:
            for line in lines:
                self._log.write(line + "\n")
            self._log.flush()
        for line in lines:
            self._metrics.add(line)

    def flush(self) -> None:
        with self._writing:
            self._log.flush()
