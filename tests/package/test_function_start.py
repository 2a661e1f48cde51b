"""A function that cannot work does not start: its handler module, imported in a fresh
interpreter as Lambda's init phase does, fails on a dunning schedule that cannot work, rather
than a customer's renewal failing later."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.aws import TEMPLATE

ROOT = TEMPLATE.parent


@pytest.mark.parametrize(
    ("code_uri", "module"),
    [("functions/cancel", "cancel.handler"), ("functions/renew", "renew.worker")],
)
def test_a_function_with_an_unworkable_schedule_does_not_start(code_uri: str, module: str) -> None:
    environment = {
        **os.environ,
        "PYTHONPATH": str(ROOT / code_uri),
        "DUNNING_RETRY_DAYS": "14,7",
    }
    started = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=ROOT / code_uri,
        timeout=120,
        check=False,
    )
    assert started.returncode != 0
    assert "retry days must be positive and increasing, got (14, 7)" in started.stderr
