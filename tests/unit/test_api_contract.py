"""docs/openapi.json is the document the code describes: a route, a body or an answer changed
without `make openapi` fails here."""

from __future__ import annotations

import difflib
from itertools import islice

import pytest

from devstack.openapi import COMMITTED, document_text
from tests.support.aws import TEMPLATE, template

DIFF_LINES = 60
"""How much of the difference the failure shows: enough to see which route changed."""


def test_the_committed_openapi_document_is_the_one_the_code_generates() -> None:
    committed_file = TEMPLATE.parent / COMMITTED
    committed = committed_file.read_text(encoding="utf-8") if committed_file.exists() else ""
    generated = document_text(template())
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(),
            generated.splitlines(),
            f"{COMMITTED} (committed)",
            f"{COMMITTED} (generated)",
            lineterm="",
        )
        pytest.fail(
            f"{COMMITTED} differs from what the code generates: run `make openapi` and commit "
            "it.\n" + "\n".join(islice(diff, DIFF_LINES)),
            pytrace=False,
        )
