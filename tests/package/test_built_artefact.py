"""What `sam build` made for Lambda (``.aws-sam/build``; `make test` runs `make build` first):
every function and the layer as built from the current sources, with the bytecode of every
module, each handler imported from the artefact alone and from that bytecode, its extension
modules built for the template's architecture, and the whole within Lambda's package limits."""

from __future__ import annotations

import filecmp
import importlib.util
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from devstack.template import globals_for
from tests.support.artefact import (
    LAYER,
    NotBuilt,
    built_template,
    elf_machine,
    function_dir,
    host_loadable_copy,
    layer_dir,
)
from tests.support.aws import TEMPLATE, resources_of_type, template
from tests.support.lambda_imports import import_handler_module

UNZIPPED_LIMIT = 262_144_000
"""Lambda: a function's code and all its layers, unzipped, at most 250 MB (in bytes)."""
ZIPPED_LIMIT = 52_428_800
"""Lambda: 50 MB for a .zip uploaded directly (sam deploy goes through S3, but staying under it
keeps every upload path open)."""

ELF_MACHINES = {"arm64": 183, "x86_64": 62}
"""The ELF ``e_machine`` of each Lambda architecture: EM_AARCH64, EM_X86_64."""

FUNCTIONS = sorted(
    logical_id
    for logical_id, resource in resources_of_type("AWS::Serverless::Function").items()
    if "Handler" in resource["Properties"]
)


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    """The template `sam build` wrote next to the artefacts."""
    try:
        return built_template()
    except NotBuilt as missing:
        pytest.fail(str(missing))


def _source_dir(logical_id: str) -> Path:
    properties = template()["Resources"][logical_id]["Properties"]
    return TEMPLATE.parent / str(properties.get("CodeUri", properties.get("ContentUri")))


def _files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def _architecture() -> str:
    [architecture] = globals_for(template(), "Function")["Architectures"]
    assert isinstance(architecture, str)
    return architecture


def test_build_has_every_function_and_the_layer_of_the_template(built: dict[str, Any]) -> None:
    functions = {
        logical_id
        for logical_id, resource in built["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }

    assert functions == set(FUNCTIONS), "the build is of another template: run `make build`"
    assert layer_dir(built).is_dir()
    for logical_id in FUNCTIONS:
        handler = built["Resources"][logical_id]["Properties"]["Handler"]
        assert handler == template()["Resources"][logical_id]["Properties"]["Handler"]


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, LAYER])
def test_built_code_is_the_current_source(built: dict[str, Any], logical_id: str) -> None:
    if logical_id == LAYER:
        source, artefact = _source_dir(LAYER) / "billing", layer_dir(built) / "billing"
    else:
        source, artefact = _source_dir(logical_id), function_dir(built, logical_id)
    files = [
        str(path.relative_to(source))
        for path in _files(source)
        if "__pycache__" not in path.parts and path.name != "requirements.txt"
    ]

    _, changed, missing = filecmp.cmpfiles(source, artefact, files, shallow=False)

    assert files
    assert (changed, missing) == ([], []), "the build is older than the source: run `make build`"


@pytest.fixture(scope="module")
def layer_here(built: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return host_loadable_copy(layer_dir(built), tmp_path_factory.mktemp("opt"))


def test_interpreter_is_lambdas_python() -> None:
    runtime = globals_for(template(), "Function")["Runtime"]

    assert runtime == f"python{sys.version_info.major}.{sys.version_info.minor}", (
        "the import checks below need the runtime's Python: `make install` finds python3.12"
    )


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_handler_imports_from_the_built_artefact_alone(
    built: dict[str, Any], layer_here: Path, logical_id: str, tmp_path: Path
) -> None:
    code = function_dir(built, logical_id)
    handler = built["Resources"][logical_id]["Properties"]["Handler"]

    imported = import_handler_module(handler, [code, layer_here], cwd=tmp_path, isolated=True)
    compiled = sorted(
        str(path)
        for path in imported.compiled
        if path.is_relative_to(code.resolve()) or path.is_relative_to(layer_here.resolve())
    )

    assert imported.handler_is_callable
    assert imported.file.is_relative_to(code.resolve())
    assert {"billing", "aws_lambda_powertools", "boto3", "pynamodb"} <= imported.modules
    assert compiled == [], "compiled at import, as Lambda would at every cold start: `make build`"


def _loads_as_shipped(source: Path) -> bool:
    """Whether `source` has bytecode beside it that Lambda's Python loads without compiling:
    of this Python version, of this very source, and hash-based without checking the source
    (``unchecked-hash``). Timestamp-based bytecode would never be used: `sam deploy` zips every
    file dated 1980, so no source's time matches the one the bytecode recorded."""
    cached = Path(importlib.util.cache_from_source(str(source)))
    if not cached.is_file():
        return False
    header = cached.read_bytes()[:16]
    unchecked_hash = 0b01  # PEP 552: bit 0 hash-based, bit 1 check the source
    return (
        header[:4] == importlib.util.MAGIC_NUMBER
        and int.from_bytes(header[4:8], "little") == unchecked_hash
        and header[8:] == importlib.util.source_hash(source.read_bytes())
    )


@pytest.mark.parametrize("logical_id", [*FUNCTIONS, LAYER])
def test_every_module_ships_the_bytecode_of_its_source(
    built: dict[str, Any], logical_id: str
) -> None:
    root = layer_dir(built) if logical_id == LAYER else function_dir(built, logical_id)
    sources = [path for path in _files(root) if path.suffix == ".py"]

    without = [str(path.relative_to(root)) for path in sources if not _loads_as_shipped(path)]

    assert sources
    assert without == [], "no bytecode, or not of this source: run `make build`"


def test_extension_modules_are_built_for_the_templates_architecture(
    built: dict[str, Any],
) -> None:
    expected = ELF_MACHINES[_architecture()]
    extensions = sorted(layer_dir(built).rglob("*.so"))

    assert extensions, "pydantic-core at least ships an extension module"
    assert {path.name: elf_machine(path) for path in extensions} == {
        path.name: expected for path in extensions
    }


def _unzipped_size(root: Path) -> int:
    return sum(path.stat().st_size for path in _files(root))


def _zipped_size(root: Path, into: Path) -> int:
    archive = into / f"{root.name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in _files(root):
            zipped.write(path, path.relative_to(root.parent))
    return archive.stat().st_size


@pytest.fixture(scope="module")
def layer_unzipped(built: dict[str, Any]) -> int:
    return _unzipped_size(layer_dir(built))


@pytest.mark.parametrize("logical_id", FUNCTIONS)
def test_function_and_its_layer_fit_lambdas_package_limits(
    built: dict[str, Any], layer_unzipped: int, logical_id: str, tmp_path: Path
) -> None:
    code = function_dir(built, logical_id)

    unzipped = _unzipped_size(code) + layer_unzipped

    assert unzipped <= UNZIPPED_LIMIT
    assert _zipped_size(code, tmp_path) <= ZIPPED_LIMIT


def test_layer_zipped_fits_a_direct_upload(built: dict[str, Any], tmp_path: Path) -> None:
    assert _zipped_size(layer_dir(built), tmp_path) <= ZIPPED_LIMIT
