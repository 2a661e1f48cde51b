"""A function's handler module imported as Lambda imports it: in a fresh interpreter, with only
the paths Lambda would put first (the function's code, then its layers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PROBE = """
import importlib, json, sys
compiled = []
sys.addaudithook(lambda event, args: compiled.append(args[1]) if event == "compile" else None)
handler, *front = sys.argv[1:]
sys.path[:0] = front
module_name, _, attribute = handler.rpartition(".")
module = importlib.import_module(module_name)
router = getattr(module, "router", None)
from aws_lambda_powertools.event_handler.api_gateway import Router
routes = router._routes if isinstance(router, Router) else {}
print(json.dumps({
    "file": module.__file__,
    "handler_is_callable": callable(getattr(module, attribute, None)),
    "has_router": isinstance(router, Router),
    "routes": [[method.upper(), key[0]] for key in routes for method in key[1]],
    "modules": sorted(sys.modules),
    "compiled": sorted({str(name) for name in compiled if str(name).endswith(".py")}),
}))
"""
"""Runs in the fresh interpreter: puts the given paths first, imports the Handler's module and
reports what it found, and which source files it compiled (the ``compile`` audit event: a module
loaded from bytecode is not compiled). Powertools' Router keeps its routes keyed by
``(rule, methods, …)``."""

_FINDER = """
import importlib.util, json, sys
names, *front = sys.argv[1:]
sys.path[:0] = front
print(json.dumps([name for name in names.split(",") if importlib.util.find_spec(name)]))
"""
"""Runs in the fresh interpreter: puts the given paths first and reports which of the given
top-level packages it can find, without importing them."""


@dataclass(frozen=True)
class ImportedFunction:
    """What a fresh interpreter saw after importing one function's handler module."""

    file: Path
    handler_is_callable: bool
    has_router: bool
    """Whether the module exposes a Powertools `router`."""
    routes: frozenset[tuple[str, str]]
    modules: frozenset[str]
    compiled: frozenset[Path]
    """The source files compiled while importing: the modules that had no bytecode to load."""


def installed_packages() -> list[Path]:
    """This environment's site-packages, as plain folders: the layer's dependencies as development
    installed them, without what its path files (``.pth``) add, every function's folder and the
    layer's own code among them. Put after a function's code and its layers, they make an
    interpreter that finds no other function's code, as in Lambda."""
    paths = sysconfig.get_paths()
    return list(dict.fromkeys(Path(paths[scheme]) for scheme in ("purelib", "platlib")))


def import_handler_module(
    handler: str,
    front: Sequence[Path],
    *,
    cwd: Path,
    isolated: bool = False,
    environment: dict[str, str] | None = None,
) -> ImportedFunction:
    """Import `handler`'s module with `front` first on ``sys.path``. `isolated` leaves out the
    environment's ``PYTHONPATH`` and site-packages too, so that only `front` and the standard
    library can be imported, as from a deployed artefact; and it writes no bytecode, so that
    the artefact stays as built (``-I`` ignores ``PYTHONDONTWRITEBYTECODE``)."""
    output = _run(
        _PROBE, [handler, *map(str, front)], cwd=cwd, isolated=isolated, environment=environment
    )
    seen = json.loads(output)
    return ImportedFunction(
        file=Path(seen["file"]).resolve(),
        handler_is_callable=seen["handler_is_callable"],
        has_router=seen["has_router"],
        routes=frozenset((method, rule) for method, rule in seen["routes"]),
        modules=frozenset(seen["modules"]),
        compiled=frozenset(Path(name).resolve() for name in seen["compiled"]),
    )


def findable_packages(names: Sequence[str], front: Sequence[Path], *, cwd: Path) -> frozenset[str]:
    """Which of the top-level packages `names` an isolated interpreter (see
    `import_handler_module`) with `front` on ``sys.path`` finds."""
    output = _run(
        _FINDER, [",".join(names), *map(str, front)], cwd=cwd, isolated=True, environment=None
    )
    found: list[str] = json.loads(output)
    return frozenset(found)


def _run(
    probe: str,
    arguments: Sequence[str],
    *,
    cwd: Path,
    isolated: bool,
    environment: dict[str, str] | None,
) -> str:
    """The last line `probe` printed in a fresh interpreter given `arguments`."""
    flags = ["-I", "-S", "-B"] if isolated else []
    completed = subprocess.run(
        [sys.executable, *flags, "-c", probe, *arguments],
        capture_output=True,
        text=True,
        env=dict(os.environ) if environment is None else environment,
        # Not the repository root: `-c` puts the working directory on sys.path.
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"{arguments[0]}: the probe failed:\n{completed.stderr}"
    return completed.stdout.strip().splitlines()[-1]
