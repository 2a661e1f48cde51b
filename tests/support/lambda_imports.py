"""A function's handler module imported as Lambda imports it: in a fresh interpreter, with only
the paths Lambda would put first (the function's code, then its layers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_PROBE = """
import importlib, json, sys
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
}))
"""
"""Runs in the fresh interpreter: puts the given paths first, imports the Handler's module and
reports what it found. Powertools' Router keeps its routes keyed by ``(rule, methods, …)``."""


@dataclass(frozen=True)
class ImportedFunction:
    """What a fresh interpreter saw after importing one function's handler module."""

    file: Path
    handler_is_callable: bool
    has_router: bool
    """Whether the module exposes a Powertools `router`."""
    routes: frozenset[tuple[str, str]]
    modules: frozenset[str]


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
    flags = ["-I", "-S", "-B"] if isolated else []
    completed = subprocess.run(
        [sys.executable, *flags, "-c", _PROBE, handler, *map(str, front)],
        capture_output=True,
        text=True,
        env=dict(os.environ) if environment is None else environment,
        # Not the repository root: `-c` puts the working directory on sys.path.
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, f"{handler} does not import:\n{completed.stderr}"
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    return ImportedFunction(
        file=Path(seen["file"]).resolve(),
        handler_is_callable=seen["handler_is_callable"],
        has_router=seen["has_router"],
        routes=frozenset((method, rule) for method, rule in seen["routes"]),
        modules=frozenset(seen["modules"]),
    )
