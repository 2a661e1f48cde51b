"""Every function of template.yaml imported as Lambda imports it: a fresh interpreter with only its
own code and its layers on the path. Functions that never charge load no payment SDK, and each
handler module's router declares exactly the routes the template sends to it."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack.template import globals_for
from tests.support.aws import TEMPLATE, resources_of_type, template
from tests.support.lambda_imports import ImportedFunction, import_handler_module

ROOT = TEMPLATE.parent

CHARGES: Mapping[str, bool] = {
    "SubscriptionsFunction": True,
    "RetryNowFunction": True,
    "CancelFunction": False,
    "UpdateBillingFunction": True,
    "AdminFunction": False,
    "RenewalDispatcherFunction": False,
    "RenewalWorkerFunction": True,
}
"""Whether each function of the template may charge or save a payment method. A new function
must be added here, so that someone decides whether it may load a payment SDK."""

PAYMENT_MODULES = (
    "stripe",
    "billing.providers.stripe_gateway",
    "billing.providers.paypal_gateway",
)
"""What a function that never charges must not load: the Stripe SDK and both provider adapters
(the PayPal one is our urllib3 client of PayPal's REST API)."""


def _functions() -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in resources_of_type("AWS::Serverless::Function").items()
        if "Handler" in resource["Properties"]
    }


FUNCTIONS = sorted(_functions())


def _code_dir(logical_id: str) -> Path:
    code_uri: str = _functions()[logical_id]["CodeUri"]
    return (ROOT / code_uri).resolve()


def _layer_dirs(logical_id: str) -> list[Path]:
    """The ContentUri of each layer the function has (its own Layers, else the Globals')."""
    properties = _functions()[logical_id]
    layers = properties.get("Layers", globals_for(template(), "Function").get("Layers", []))
    dirs = []
    for layer in layers:
        assert isinstance(layer, Mapping), f"{logical_id}: layer {layer!r} is not a !Ref"
        assert "Ref" in layer, f"{logical_id}: layer {layer!r} is not a !Ref"
        resource = template()["Resources"][layer["Ref"]]
        assert resource["Type"] == "AWS::Serverless::LayerVersion", layer
        dirs.append((ROOT / resource["Properties"]["ContentUri"]).resolve())
    return dirs


def _pytest_pythonpath() -> list[Path]:
    options = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    entries: list[str] = options["tool"]["pytest"]["ini_options"].get("pythonpath", [])
    return [(ROOT / entry).resolve() for entry in entries]


def _lambda_path(logical_id: str) -> list[Path]:
    """The function's own code and its layers, plus whatever pytest adds that is no function's
    code: never another function's package, which Lambda would not have either."""
    code_dirs = {_code_dir(other) for other in FUNCTIONS}
    extra = [entry for entry in _pytest_pythonpath() if entry not in code_dirs]
    return [_code_dir(logical_id), *_layer_dirs(logical_id), *extra]


def _import_in_fresh_interpreter(logical_id: str, cwd: Path) -> ImportedFunction:
    handler: str = _functions()[logical_id]["Handler"]
    return import_handler_module(handler, _lambda_path(logical_id), cwd=cwd)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ImportedFunction]:
    """Each function's handler module, imported once per function in its own interpreter."""
    cwd = tmp_path_factory.mktemp("elsewhere")
    with ThreadPoolExecutor(max_workers=len(FUNCTIONS)) as pool:
        found = pool.map(lambda name: _import_in_fresh_interpreter(name, cwd), FUNCTIONS)
        return dict(zip(FUNCTIONS, found, strict=True))


def _template_routes(logical_id: str) -> set[tuple[str, str]]:
    """The function's Api events as Powertools rules: ``{x}`` written ``<x>``."""
    events = _functions()[logical_id].get("Events") or {}
    return {
        (
            event["Properties"]["Method"].upper(),
            re.sub(r"\{(\w+)\}", r"<\1>", event["Properties"]["Path"]),
        )
        for event in events.values()
        if event["Type"] == "Api"
    }


def test_every_function_of_the_template_is_classified_as_charging_or_not() -> None:
    assert FUNCTIONS, "template.yaml has no function with a Handler"
    assert set(CHARGES) == set(FUNCTIONS)


def test_pytest_imports_each_function_from_its_code_uri_as_lambda_does() -> None:
    pythonpath = _pytest_pythonpath()

    missing = [name for name in FUNCTIONS if _code_dir(name) not in pythonpath]

    assert not missing, f"pyproject.toml's pytest pythonpath lacks the CodeUri of {missing}"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_handler_module_exposes_the_lambda_handler_the_template_names(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    function = imported[logical_id]

    assert function.handler_is_callable, _functions()[logical_id]["Handler"]
    assert function.file.is_relative_to(_code_dir(logical_id)), function.file


@pytest.mark.parametrize("logical_id", [name for name in FUNCTIONS if not CHARGES.get(name)])
def test_function_that_never_charges_loads_no_payment_sdk(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    function = imported[logical_id]

    assert "billing" in function.modules, "the probe saw none of the layer's modules"
    assert not function.modules.intersection(PAYMENT_MODULES)


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_router_declares_exactly_the_routes_the_template_sends_to_the_function(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    function = imported[logical_id]
    in_template = _template_routes(logical_id)

    assert function.has_router or not in_template, "the handler module exposes no `router`"
    assert sorted(in_template - function.routes) == [], "Api events the router does not declare"
    assert sorted(function.routes - in_template) == [], (
        "routes no Api event of the template reaches"
    )
