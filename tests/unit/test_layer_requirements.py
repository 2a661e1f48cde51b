"""The layer's dependencies are written once: requirements.txt, what `sam build` installs into the
layer, is what scripts/layer_requirements.py generates from pyproject.toml's `dependencies`, and
constraints.txt pins each of them to a version the range allows."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
GENERATOR = ROOT / "scripts" / "layer_requirements.py"


def _generated() -> str:
    """What the generator makes of the layer's pyproject.toml (loaded by path: scripts/ is no
    package)."""
    spec = importlib.util.spec_from_file_location("layer_requirements", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    text: str = generator.requirements((LAYER / "pyproject.toml").read_text(encoding="utf-8"))
    return text


def _dependencies() -> list[Requirement]:
    project = tomllib.loads((LAYER / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(dependency) for dependency in project["dependencies"]]


def _pins() -> dict[str, str]:
    """constraints.txt's ``name==version`` lines, by canonical name."""
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_requirements_txt_is_generated_from_the_layers_dependencies() -> None:
    written = (LAYER / "requirements.txt").read_text(encoding="utf-8")

    assert written == _generated(), (
        "layers/common/requirements.txt differs from the dependencies of its pyproject.toml: "
        "run `make layer-requirements` (edit pyproject.toml, never requirements.txt)"
    )


def test_requirements_txt_installs_the_versions_of_constraints_txt() -> None:
    assert "-c ../../constraints.txt" in _generated().splitlines()
    assert (LAYER / "../../constraints.txt").resolve() == ROOT / "constraints.txt"


@pytest.mark.parametrize("dependency", _dependencies(), ids=str)
def test_constraints_pin_each_layer_dependency_within_its_range(dependency: Requirement) -> None:
    pinned = _pins().get(canonicalize_name(dependency.name))

    assert pinned is not None, f"constraints.txt pins no version of {dependency.name}"
    assert dependency.specifier.contains(pinned), f"{dependency.name}=={pinned} is outside it"
