"""Cold start: each function's handler module imported in a fresh interpreter, as Lambda's init
phase imports it, against the floor of importing only the third-party packages it needs.

As shipped: from `make build`'s output alone (the function's folder and the layer's, with the
bytecode they ship), in an interpreter that reads nothing else but the standard library and
writes nothing, as on Lambda's read-only file system. The floor is imported the same way from the
same artefact. Beside them, the handler imported from the development environment, and from the
artefact without its bytecode (what `sam build` alone ships)."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.template import globals_for, resources_of_type
from tests.support.artefact import built_template, function_dir, host_loadable_copy, layer_dir

LOGGING = ("aws_lambda_powertools.logging", "aws_lambda_powertools.metrics")
"""Every function logs with correlation ids and publishes metrics."""
STATE = ("pydantic.main", "pydantic.fields", "pynamodb.models", "boto3")
"""Every function reads typed settings and DynamoDB, and calls SES, SNS or SQS. Typed settings
are a pydantic model, and making any model imports `pydantic.fields` (with `pydantic.types` and
`annotated_types`), which importing `pydantic.main` alone does not."""
API = ("aws_lambda_powertools.event_handler",)
"""An API function: the REST resolver."""
VALIDATED = ("aws_lambda_powertools.event_handler.middlewares.openapi_validation",)
"""Request validation against the route's models."""
IDEMPOTENT = ("aws_lambda_powertools.utilities.idempotency",)
"""Idempotency-Key."""
CHARGES = ("stripe", "urllib3", "aws_lambda_powertools.utilities.parameters")
"""A function that charges or saves a payment method: Stripe's SDK, the HTTP client of our
PayPal adapter, and the provider credentials from Secrets Manager."""
STREAM = ("aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event",)
"""A function on a DynamoDB stream."""

NEEDS: Mapping[str, tuple[str, ...]] = {
    "SubscriptionsFunction": (*LOGGING, *STATE, *API, *VALIDATED, *IDEMPOTENT, *CHARGES),
    "RetryNowFunction": (*LOGGING, *STATE, *API, *VALIDATED, *IDEMPOTENT, *CHARGES),
    "CancelFunction": (*LOGGING, *STATE, *API, *VALIDATED, *IDEMPOTENT),
    "UpdateBillingFunction": (*LOGGING, *STATE, *API, *VALIDATED, *IDEMPOTENT, *CHARGES),
    "AdminFunction": (*LOGGING, *STATE, *API, *VALIDATED, *IDEMPOTENT),
    "RenewalDispatcherFunction": (*LOGGING, *STATE),
    "RenewalWorkerFunction": (*LOGGING, *STATE, *CHARGES, "aws_lambda_powertools.utilities.batch"),
    "NotifyFunction": (
        *LOGGING,
        *STATE,
        *STREAM,
        "aws_lambda_powertools.utilities.data_classes.sns_event",
    ),
    "WebhooksFunction": (*LOGGING, *STATE, *API, *VALIDATED, *CHARGES),
    "WebhookEventsFunction": (*LOGGING, *STATE, *STREAM, *CHARGES),
    "InvoicesFunction": (*LOGGING, *STATE, *STREAM, "pydyf"),
}
"""The third-party modules each function genuinely needs: its floor. A new function must be
given one here."""

PAYMENT_SDKS = ("stripe",)

_PROBE = """
import gc, importlib, json, os, sys, time
front, *names = sys.argv[1:]
sys.path[:0] = front.split(os.pathsep)
collector = []
gc.callbacks.append(lambda phase, info: collector.append(time.perf_counter()))
started = time.perf_counter()
for name in names:
    importlib.import_module(name)
elapsed = time.perf_counter() - started
collecting = sum(stop - start for start, stop in zip(collector[::2], collector[1::2]))
print(json.dumps({
    "ms": elapsed * 1000, "collector_ms": collecting * 1000, "modules": sorted(sys.modules)
}))
"""
"""Runs in the fresh interpreter: puts the given folders first on the path and imports the given
modules; reports how long they took, how much of it Python's cyclic collector took (each pass
calls back at its start and its stop), and every module loaded."""
_DATACLASSES = """
import dataclasses, importlib, json, os, sys, time
front, owners, name = sys.argv[1:]
sys.path[:0] = front.split(os.pathsep)
spent = []
make = dataclasses._process_class
def timed(cls, *args, **kwargs):
    started = time.perf_counter()
    made = make(cls, *args, **kwargs)
    if cls.__module__.partition(".")[0] in owners.split(","):
        spent.append(time.perf_counter() - started)
    return made
dataclasses._process_class = timed
importlib.import_module(name)
print(json.dumps({"ms": sum(spent) * 1000, "classes": len(spent)}))
"""
"""Runs in the fresh interpreter: imports the given module, timing the making of every dataclass
of the given top-level packages (``dataclasses._process_class`` writes, compiles and runs the
source of each one's methods)."""
_IMPORT_TIME = re.compile(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)")
_ALONE = ("-I", "-S", "-B")
"""Nothing but the given folders and the standard library, and nothing written (the artefact
stays as built, as on Lambda's read-only file system)."""


@dataclass(frozen=True)
class Function:
    logical_id: str
    handler_module: str
    source_dir: Path
    built_dir: Path
    variables: dict[str, str]
    """The environment variables the template gives the function as plain text (its Globals'
    and its own), which Lambda sets before the init phase; references to resources are left
    out: nothing they name exists here, and no handler reads them at start."""


@dataclass(frozen=True)
class Interpreter:
    """How a sample's fresh interpreter starts: its flags, the folders put first on its path, and
    its environment."""

    flags: tuple[str, ...]
    front: tuple[Path, ...]
    env: Mapping[str, str]

    def run(
        self, probe: str, arguments: Sequence[str], cwd: Path, *flags: str
    ) -> subprocess.CompletedProcess[str]:
        front = os.pathsep.join(map(str, self.front))
        return subprocess.run(
            [sys.executable, *self.flags, *flags, "-c", probe, front, *arguments],
            env=dict(self.env),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )

    def sample(self, modules: Sequence[str], cwd: Path) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.run(_PROBE, modules, cwd).stdout)
        return result


@dataclass(frozen=True)
class Places:
    """Where the interpreters find the code: the built layer (with this machine's extension
    modules, `host_loadable_copy`), the same without bytecode beside the functions' folders
    without it, and the development environment's bytecode cache."""

    layer: Path
    bare: Path
    """A copy of the artefact without its bytecode: ``python`` (the layer) and each function's
    folder by its logical id."""
    pycache: Path
    cwd: Path
    """Where the interpreters start: a folder of nothing, so that the working directory adds no
    module."""

    def shipped(self, function: Function) -> Interpreter:
        return Interpreter(
            _ALONE, (function.built_dir, self.layer), os.environ | function.variables
        )

    def without_bytecode(self, function: Function) -> Interpreter:
        return Interpreter(
            _ALONE,
            (self.bare / function.logical_id, self.bare / "python"),
            os.environ | function.variables,
        )

    def venv(self, function: Function) -> Interpreter:
        """The development environment, every module's bytecode cached in a folder of its own
        (whatever the installation left behind)."""
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {**function.variables, "PYTHONPYCACHEPREFIX": str(self.pycache)}
        return Interpreter((), (function.source_dir,), env)


@dataclass(frozen=True)
class Share:
    module: str
    ms: float


@dataclass(frozen=True)
class ColdStart:
    function: str
    handler_ms: float
    """As shipped: from the artefact alone, with its bytecode."""
    floor_ms: float
    """The floor's modules, imported the same way from the same artefact."""
    venv_ms: float
    """From the development environment, bytecode cached."""
    without_bytecode_ms: float
    """From the artefact without its bytecode: every module compiled at every cold start."""
    samples: int
    collector_ms: float
    """Of `handler_ms`, the time Python's cyclic collector took."""
    floor_collector_ms: float
    own_ms: float
    """Self time of the project's own modules (`-X importtime`)."""
    dataclasses_ms: float
    """Of `own_ms`, making the project's dataclasses."""
    dataclasses: int
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
    """The template's functions, each with its source folder and its folder in the build."""
    built = built_template()
    common = globals_for(template, "Function").get("Environment", {}).get("Variables", {})
    found = []
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource["Properties"]
        module = properties["Handler"].rpartition(".")[0]
        own = properties.get("Environment", {}).get("Variables", {})
        found.append(
            Function(
                logical_id,
                module,
                (root / properties["CodeUri"]).resolve(),
                function_dir(built, logical_id).resolve(),
                {name: value for name, value in (common | own).items() if isinstance(value, str)},
            )
        )
    unknown = {f.logical_id for f in found} ^ set(NEEDS)
    if unknown:
        raise ValueError(f"give NEEDS a floor for exactly the template's functions: {unknown}")
    return found


@contextmanager
def places(measured: Sequence[Function]) -> Iterator[Places]:
    """The copies the measurements import from, for as long as the block lasts."""
    without_bytecode = shutil.ignore_patterns("__pycache__")
    with tempfile.TemporaryDirectory(prefix="bench-cold-start-") as scratch:
        root = Path(scratch)
        layer = host_loadable_copy(layer_dir(built_template()), root / "opt")
        shutil.copytree(layer, root / "bare" / "python", ignore=without_bytecode)
        for function in measured:
            shutil.copytree(
                function.built_dir, root / "bare" / function.logical_id, ignore=without_bytecode
            )
        (root / "cwd").mkdir()
        yield Places(layer, root / "bare", root / "pycache", root / "cwd")


ANATOMY_RUNS = 3


def anatomy(
    interpreter: Interpreter, module: str, owners: Sequence[str], cwd: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Milliseconds each module took to import, its own code only (``python -X importtime``),
    and what making the dataclasses of `owners` (top-level packages) took, in the same runs: the
    least of `ANATOMY_RUNS` runs, as the machine only ever adds to them (a collector's pass lands
    in whichever module is importing when it comes)."""
    times: dict[str, float] = {}
    dataclasses: dict[str, float] = {}
    for _ in range(ANATOMY_RUNS):
        made = interpreter.run(_DATACLASSES, [",".join(owners), module], cwd, "-X", "importtime")
        for match in filter(None, map(_IMPORT_TIME.match, made.stderr.splitlines())):
            times[match[2]] = min(times.get(match[2], math.inf), int(match[1]) / 1000)
        for name, value in json.loads(made.stdout).items():
            dataclasses[name] = min(dataclasses.get(name, math.inf), value)
    return times, dataclasses


def measure(function: Function, where: Places, samples: int, bare_samples: int) -> ColdStart:
    """Median import times of the handler as shipped, of its floor and of the handler from the
    development environment, sampled in turn so that the machine's moods fall on all alike (the
    first of each only warms the caches); then the handler without bytecode."""
    floor = NEEDS[function.logical_id]
    handler = [function.handler_module]
    shipped, venv = where.shipped(function), where.venv(function)
    floor_modules = set(shipped.sample(floor, where.cwd)["modules"])
    loaded = set(shipped.sample(handler, where.cwd)["modules"])
    venv.sample(handler, where.cwd)
    handlers, floors, venv_ms = [], [], []
    for _ in range(samples):
        handlers.append(shipped.sample(handler, where.cwd))
        floors.append(shipped.sample(floor, where.cwd))
        venv_ms.append(venv.sample(handler, where.cwd)["ms"])
    bare = where.without_bytecode(function)
    bare_ms = [bare.sample(handler, where.cwd)["ms"] for _ in range(bare_samples)]
    own = ("billing", function.handler_module.partition(".")[0])
    shares: dict[str, float] = {"own": 0.0, "floor": 0.0, "beyond": 0.0}
    times, dataclasses = anatomy(shipped, function.handler_module, own, where.cwd)
    for module, ms in times.items():
        top = module.partition(".")[0]
        if top in own:
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
        handler_ms=statistics.median(sample["ms"] for sample in handlers),
        floor_ms=statistics.median(sample["ms"] for sample in floors),
        venv_ms=statistics.median(venv_ms),
        without_bytecode_ms=statistics.median(bare_ms),
        samples=samples,
        collector_ms=statistics.median(sample["collector_ms"] for sample in handlers),
        floor_collector_ms=statistics.median(sample["collector_ms"] for sample in floors),
        own_ms=shares["own"],
        dataclasses_ms=dataclasses["ms"],
        dataclasses=int(dataclasses["classes"]),
        beyond_floor_ms=shares["beyond"],
        floor_share_ms=shares["floor"],
        heaviest=tuple(beyond[:5]),
        payment_sdk=any(sdk in loaded for sdk in PAYMENT_SDKS),
    )
