"""Cold start: each function's handler module imported in a fresh interpreter, as Lambda's init
phase imports it, against the floor of importing only the third-party packages it needs."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import resources_of_type

LOGGING = ("aws_lambda_powertools.logging", "aws_lambda_powertools.metrics")
"""Every function logs with correlation ids and publishes metrics."""
STATE = ("pydantic.main", "pynamodb.models", "boto3")
"""Every function reads typed settings and DynamoDB, and calls SES, SNS or SQS."""
API = (
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.event_handler.middlewares.openapi_validation",
    "aws_lambda_powertools.utilities.idempotency",
)
"""An API function: the REST resolver with request validation, and Idempotency-Key."""
CHARGES = ("stripe", "urllib3", "aws_lambda_powertools.utilities.parameters")
"""A function that charges or saves a payment method: Stripe's SDK, the HTTP client of our
PayPal adapter, and the provider credentials from Secrets Manager."""

NEEDS: Mapping[str, tuple[str, ...]] = {
    "SubscriptionsFunction": (*LOGGING, *STATE, *API, *CHARGES),
    "RetryNowFunction": (*LOGGING, *STATE, *API, *CHARGES),
    "CancelFunction": (*LOGGING, *STATE, *API),
    "UpdateBillingFunction": (*LOGGING, *STATE, *API, *CHARGES),
    "AdminFunction": (*LOGGING, *STATE, *API),
    "RenewalDispatcherFunction": (*LOGGING, *STATE),
    "RenewalWorkerFunction": (*LOGGING, *STATE, *CHARGES, "aws_lambda_powertools.utilities.batch"),
    "NotifyFunction": (
        *LOGGING,
        *STATE,
        "aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event",
        "aws_lambda_powertools.utilities.data_classes.sns_event",
    ),
}
"""The third-party modules each function genuinely needs: its floor. A new function must be
given one here."""

PAYMENT_SDKS = ("stripe",)

_PROBE = """
import importlib, json, sys, time
started = time.perf_counter()
for name in sys.argv[1:]:
    importlib.import_module(name)
elapsed = time.perf_counter() - started
print(json.dumps({"ms": elapsed * 1000, "modules": sorted(sys.modules)}))
"""
_IMPORT_TIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler_module: str
    code_dir: Path


@dataclass(frozen=True)
class Share:
    module: str
    ms: float


@dataclass(frozen=True)
class ColdStart:
    function: str
    handler_ms: float
    floor_ms: float
    samples: int
    own_ms: float
    """Self time of the project's own modules (`-X importtime`)."""
    beyond_floor_ms: float
    """Self time of the other modules the handler loads and its floor does not."""
    floor_share_ms: float
    """Self time of the modules the floor loads too."""
    heaviest: tuple[Share, ...]
    """The modules beyond the floor (the project's or not) with the most self time."""
    payment_sdk: bool

    @property
    def ratio(self) -> float:
        return self.handler_ms / self.floor_ms


def functions(template: Mapping[str, Any], root: Path) -> list[Function]:
    found = []
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource["Properties"]
        module = properties["Handler"].rpartition(".")[0]
        found.append(Function(logical_id, module, (root / properties["CodeUri"]).resolve()))
    unknown = {f.logical_id for f in found} ^ set(NEEDS)
    if unknown:
        raise ValueError(f"give NEEDS a floor for exactly the template's functions: {unknown}")
    return found


@contextmanager
def bytecode_cache() -> Iterator[dict[str, str]]:
    """An environment whose interpreters cache bytecode in a directory of their own, so that
    every sample (the project's modules as much as the installed ones) loads compiled code,
    whatever the installation left behind."""
    with tempfile.TemporaryDirectory(prefix="bench-pyc-") as prefix:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE",)}
        yield env | {"PYTHONPYCACHEPREFIX": prefix}


def _run(
    modules: Sequence[str], code_dir: Path, env: Mapping[str, str], *flags: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, *modules],
        env={**env, "PYTHONPATH": str(code_dir)},
        capture_output=True,
        text=True,
        check=True,
    )


def _sample(modules: Sequence[str], code_dir: Path, env: Mapping[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(_run(modules, code_dir, env).stdout)
    return result


def self_times(module: str, code_dir: Path, env: Mapping[str, str]) -> dict[str, float]:
    """Milliseconds each module took to import, its own code only (``python -X importtime``)."""
    stderr = _run([module], code_dir, env, "-X", "importtime").stderr
    return {
        match[2]: int(match[1]) / 1000
        for match in map(_IMPORT_TIME.match, stderr.splitlines())
        if match is not None
    }


def measure(function: Function, env: Mapping[str, str], samples: int) -> ColdStart:
    """Median import times of the handler and of its floor, sampled alternately so that the
    machine's moods fall on both alike; the first of each only fills the bytecode cache."""
    floor = NEEDS[function.logical_id]
    handler = [function.handler_module]
    floor_modules = set(_sample(floor, function.code_dir, env)["modules"])
    loaded = set(_sample(handler, function.code_dir, env)["modules"])
    handler_ms, floor_ms = [], []
    for _ in range(samples):
        handler_ms.append(_sample(handler, function.code_dir, env)["ms"])
        floor_ms.append(_sample(floor, function.code_dir, env)["ms"])
    own_package = function.handler_module.partition(".")[0]
    shares: dict[str, float] = {"own": 0.0, "floor": 0.0, "beyond": 0.0}
    times = self_times(function.handler_module, function.code_dir, env)
    for module, ms in times.items():
        top = module.partition(".")[0]
        if top in ("billing", own_package):
            shares["own"] += ms
        elif module in floor_modules:
            shares["floor"] += ms
        else:
            shares["beyond"] += ms
    beyond = sorted(
        (Share(m, ms) for m, ms in times.items() if m not in floor_modules),
        key=lambda share: -share.ms,
    )
    return ColdStart(
        function=function.logical_id,
        handler_ms=statistics.median(handler_ms),
        floor_ms=statistics.median(floor_ms),
        samples=samples,
        own_ms=shares["own"],
        beyond_floor_ms=shares["beyond"],
        floor_share_ms=shares["floor"],
        heaviest=tuple(beyond[:5]),
        payment_sdk=any(sdk in loaded for sdk in PAYMENT_SDKS),
    )


def without_bytecode(function: Function, samples: int) -> float:
    """Median import time of the handler when every module is compiled from source, as Lambda
    does when the artefact holds no bytecode (its file system is read-only: nothing is cached
    from one cold start to the next)."""
    with tempfile.TemporaryDirectory(prefix="bench-no-pyc-") as empty:
        env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty}
        times = [
            _sample([function.handler_module], function.code_dir, env)["ms"] for _ in range(samples)
        ]
    median: float = statistics.median(times)
    return median
