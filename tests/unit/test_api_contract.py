"""The API's contract as the repository states it: docs/openapi.json is the document the code
generates (a route, a body or an answer changed without `make openapi` fails here), and
docs/api.md describes every route of template.yaml and every error code."""

from __future__ import annotations

import difflib
from itertools import islice

import pytest

from billing.domain.errors import ErrorCode
from devstack.api_gateway import routes_from_template
from devstack.openapi import COMMITTED, api_document, document_text
from tests.support.aws import TEMPLATE, template

DIFF_LINES = 60
"""How much of the difference the failure shows: enough to see which route changed."""

API_PAGE = TEMPLATE.parent / "docs" / "api.md"


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


def test_the_api_page_describes_every_route_and_every_error_code() -> None:
    page = API_PAGE.read_text(encoding="utf-8")
    routes = {
        f"`{route.method} {route.path_template}`" for route in routes_from_template(template())
    }
    codes = {f"`{code.value}`" for code in ErrorCode}

    assert sorted(name for name in routes | codes if name not in page) == []


PROVIDER_DELIVERIES = {"/webhooks/stripe", "/webhooks/paypal"}
"""POSTs that take no Idempotency-Key: the provider's own event id makes each act once."""


def test_every_route_that_changes_something_documents_the_idempotency_key_refusals() -> None:
    """Every POST and PUT runs once per Idempotency-Key (`once_per_key`), so a client must
    expect a reused key (422) and a request still running (409); save the providers'
    deliveries, recorded once by their event id."""
    paths = api_document(template())["paths"]
    undocumented = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method in {"post", "put"}
        and path not in PROVIDER_DELIVERIES
        and not {
            ErrorCode.IDEMPOTENCY_KEY_REUSED.value,
            ErrorCode.REQUEST_IN_PROGRESS.value,
        }
        <= _documented_codes(operation)
    ]

    assert undocumented == []


def _documented_codes(operation: dict[str, object]) -> set[str]:
    responses = operation["responses"]
    assert isinstance(responses, dict)
    return {
        code.strip()
        for response in responses.values()
        for code in str(response.get("description", "")).split(",")
    }
