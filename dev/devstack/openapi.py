"""The OpenAPI document of the whole API: every function's routes, as template.yaml wires
them, gathered into one Powertools resolver only to describe them. `python -m devstack.openapi`
(`make openapi`) writes it to docs/openapi.json, the contract committed with the code."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server
from aws_lambda_powertools.event_handler.router import APIGatewayRouter

from devstack.api_gateway import routes_from_template
from devstack.template import load_template

TITLE = "Subscription billing API"
COMMITTED = Path("docs/openapi.json")
"""Where the document is committed, from the repository's root."""


def api_document(
    template: Mapping[str, Any],
    version: str = "1",
    *,
    extra: Sequence[APIGatewayRouter] = (),
    server: str | None = None,
) -> dict[str, Any]:
    """OpenAPI 3.1 for every route of `template`, from the routers of the handler modules it
    names (each function module exposes its `router`), and the routes of `extra` routers;
    `server` is the base URL to try the routes against."""
    app = APIGatewayRestResolver(enable_validation=True)
    modules = sorted({route.handler.rsplit(".", 1)[0] for route in routes_from_template(template)})
    for router in [*(importlib.import_module(name).router for name in modules), *extra]:
        app.include_router(router)
    document: dict[str, Any] = json.loads(
        app.get_openapi_json_schema(
            title=TITLE,
            version=version,
            description="Plans bought for 1, 3 or 12 months and renewed automatically. "
            "Send the Cognito ID token as a bearer token; mutating routes take an "
            "Idempotency-Key header.",
            security_schemes={"cognito": HTTPBearer(bearerFormat="JWT")},
            security=[{"cognito": []}],
            servers=None if server is None else [Server(url=server)],
        )
    )
    return document


def document_text(template: Mapping[str, Any]) -> str:
    """The document as it is committed: keys sorted and indented, so that a changed route is a
    small diff, and a final newline."""
    return json.dumps(api_document(template), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the OpenAPI document of every route.")
    parser.add_argument("--template", default="template.yaml", type=Path)
    parser.add_argument("--output", default=COMMITTED, type=Path)
    args = parser.parse_args()
    args.output.write_text(document_text(load_template(args.template)), encoding="utf-8")


if __name__ == "__main__":
    main()
