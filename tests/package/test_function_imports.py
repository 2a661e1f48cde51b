"""Every function of template.yaml imported as Lambda imports it: a fresh interpreter with only its
own code, its layers and their dependencies on the path, where no other function's code can be
found. Functions the template gives no payment provider's secret load no payment SDK, and each
handler module's router declares exactly the routes the template sends to it."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devstack.template import globals_for
from tests.support.aws import TEMPLATE, resources_of_type, template
from tests.support.lambda_imports import (
    ImportedFunction,
    findable_packages,
    import_handler_module,
    installed_packages,
)

ROOT = TEMPLATE.parent

PROVIDER_SECRETS = ("STRIPE_SECRET_NAME", "PAYPAL_SECRET_NAME")
"""The variables that name a payment provider's secret (its API credentials): a function needs
one to charge or save a payment method."""

PAYMENT_MODULES = (
    "stripe",
    "billing.providers.stripe_gateway",
    "billing.providers.paypal_gateway",
    "billing.providers.gateway",
    "billing.charging",
)
"""What a function that never charges must not load: the Stripe SDK, both provider adapters
(the PayPal one is our urllib3 client of PayPal's REST API), the interface they are used
through and the charge operation; the composition root imports them only for the functions that
charge."""


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


def _lambda_path(logical_id: str) -> list[Path]:
    """The function's own code, its layers, and the layers' dependencies as development installed
    them: never another function's package, which Lambda would not have either."""
    return [_code_dir(logical_id), *_layer_dirs(logical_id), *installed_packages()]


def _package(logical_id: str) -> str:
    """The top-level package of the function's Handler (``renew`` for ``renew.worker.…``)."""
    handler: str = _functions()[logical_id]["Handler"]
    return handler.partition(".")[0]


def _import_in_fresh_interpreter(logical_id: str, cwd: Path) -> ImportedFunction:
    handler: str = _functions()[logical_id]["Handler"]
    return import_handler_module(handler, _lambda_path(logical_id), cwd=cwd, isolated=True)


def _mentions(tree: Any, values: list[Any]) -> bool:
    """Whether any part of `tree` (a template's nested mappings and lists) is one of `values`."""
    if tree in values:
        return True
    if isinstance(tree, Mapping):
        return any(_mentions(branch, values) for branch in tree.values())
    if isinstance(tree, list):
        return any(_mentions(branch, values) for branch in tree)
    return False


def _variables(properties: Mapping[str, Any]) -> dict[str, Any]:
    """A function's environment variables: the Globals', then its own."""
    return {
        **globals_for(template(), "Function").get("Environment", {}).get("Variables", {}),
        **properties.get("Environment", {}).get("Variables", {}),
    }


def _provider_secrets() -> list[Any]:
    """What the template's provider secret variables refer to (``{"Ref": "StripeSecret"}`` …)."""
    return [
        variables[name]
        for variables in map(_variables, _functions().values())
        for name in PROVIDER_SECRETS
        if name in variables
    ]


def _may_charge(logical_id: str) -> bool:
    """Whether the template gives the function a payment provider's secret: by name in its
    environment, or by a policy on a secret such a name refers to."""
    properties = _functions()[logical_id]
    named = any(name in _variables(properties) for name in PROVIDER_SECRETS)
    return named or _mentions(properties.get("Policies", []), _provider_secrets())


NEVER_CHARGE = [name for name in FUNCTIONS if not _may_charge(name)]
"""The functions that must not load a payment SDK: decided by template.yaml, not by a list here."""
CHARGE = [name for name in FUNCTIONS if _may_charge(name)]


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


def test_some_functions_are_given_no_payment_providers_secret() -> None:
    assert FUNCTIONS, "template.yaml has no function with a Handler"
    assert NEVER_CHARGE, "every function may charge: the payment SDK check below checks none"


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_development_imports_each_function_from_its_code_uri_as_lambda_does(
    logical_id: str,
) -> None:
    found = importlib.util.find_spec(_package(logical_id))

    assert found is not None, (
        "not installed: `make install` puts every functions/<name>/ on the path"
    )
    assert found.origin is not None
    assert Path(found.origin).resolve().is_relative_to(_code_dir(logical_id))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_fresh_interpreter_finds_no_other_functions_code(logical_id: str, tmp_path: Path) -> None:
    packages = sorted({_package(name) for name in FUNCTIONS})

    found = findable_packages(packages, _lambda_path(logical_id), cwd=tmp_path)

    assert found == {_package(logical_id)}


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_handler_module_exposes_the_lambda_handler_the_template_names(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    function = imported[logical_id]

    assert function.handler_is_callable, _functions()[logical_id]["Handler"]
    assert function.file.is_relative_to(_code_dir(logical_id)), function.file


@pytest.mark.parametrize("logical_id", NEVER_CHARGE)
def test_function_given_no_payment_providers_secret_loads_no_payment_sdk(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    function = imported[logical_id]

    assert "billing" in function.modules, "the probe saw none of the layer's modules"
    assert not function.modules.intersection(PAYMENT_MODULES)


@pytest.mark.parametrize("logical_id", CHARGE)
def test_function_given_a_payment_providers_secret_loads_the_payment_code_when_it_starts(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    """In Lambda's init phase, not in its first request: the handler starts the composition
    root with `charges=True`."""
    function = imported[logical_id]

    assert function.modules.issuperset(PAYMENT_MODULES)


def test_the_renewal_dispatcher_loads_the_renewal_indexes_without_the_domain(
    imported: dict[str, ImportedFunction],
) -> None:
    """It reads the due and pending indexes, when it starts as in its runs: neither the state
    machine nor the adapter that turns items into the domain's values."""
    function = imported["RenewalDispatcherFunction"]

    assert "billing.persistence.renewal_indexes" in function.modules
    assert "billing.persistence.dynamodb" not in function.modules
    assert "billing.domain.state_machine" not in function.modules


STREAM_READERS = [
    name
    for name in FUNCTIONS
    if any(e["Type"] == "DynamoDB" for e in (_functions()[name].get("Events") or {}).values())
]
"""The functions a table's stream invokes: they loop over the records themselves."""


@pytest.mark.parametrize("logical_id", STREAM_READERS)
def test_stream_reader_does_not_load_powertools_batch_processing(
    imported: dict[str, ImportedFunction], logical_id: str
) -> None:
    """Its package loads asyncio (a few milliseconds of every cold start) for a type the
    handler names only for the type checker."""
    function = imported[logical_id]

    assert "billing" in function.modules, "the probe saw none of the layer's modules"
    assert "aws_lambda_powertools.utilities.batch" not in function.modules


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
