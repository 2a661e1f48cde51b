"""The `sam build` output as Lambda receives it (``.aws-sam/build``, written by `make build`):
each function's folder, the layer's ``python`` folder Lambda puts on the path, and a copy of
that layer this machine can import. The package tests check it; the cold-start benchmark
imports the handlers from it."""

from __future__ import annotations

import importlib.metadata
import shutil
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.template import load_template
from tests.support.aws import TEMPLATE

BUILD = TEMPLATE.parent / ".aws-sam" / "build"
LAYER = "CommonLayer"


class NotBuilt(RuntimeError):
    """There is no build output to read: `make build` writes it."""


def built_template() -> dict[str, Any]:
    """The template `sam build` wrote next to the artefacts."""
    path = BUILD / "template.yaml"
    if not path.is_file():
        raise NotBuilt(f"{path} is missing: run `make build` (`make test` runs it first)")
    return load_template(path)


def function_dir(built: Mapping[str, Any], logical_id: str) -> Path:
    """What Lambda extracts to /var/task for the function."""
    return BUILD / str(built["Resources"][logical_id]["Properties"]["CodeUri"])


def layer_dir(built: Mapping[str, Any]) -> Path:
    """What Lambda extracts to /opt: the layer's ``python`` folder goes on sys.path."""
    return BUILD / str(built["Resources"][LAYER]["Properties"]["ContentUri"]) / "python"


def elf_machine(path: Path) -> int:
    """The ELF ``e_machine`` of a binary: which processor it is built for."""
    header = path.read_bytes()[:20]
    assert header[:4] == b"\x7fELF", f"{path} is not an ELF file"
    order = "<" if header[5] == 1 else ">"
    machine: int = struct.unpack(f"{order}H", header[18:20])[0]
    return machine


def host_loadable_copy(layer: Path, into: Path) -> Path:
    """A copy of the built layer (its ``python`` folder, in `into`) in which each distribution
    whose extension modules cannot load on this machine also gets this machine's build of the
    same version (from the development environment). Python only loads extensions tagged for
    its own platform, so everything else is imported exactly as built, bytecode included."""
    copy = Path(shutil.copytree(layer, into / "python"))
    host = elf_machine(Path(sys.executable).resolve())
    for dist_info in sorted(copy.glob("*.dist-info")):
        built = importlib.metadata.PathDistribution(dist_info)
        extensions = [copy / file for file in built.files or [] if file.suffix == ".so"]
        if all(elf_machine(path) == host for path in extensions):
            continue
        name, version = built.metadata["Name"], built.version
        here = importlib.metadata.distribution(name)
        assert here.version == version, f"{name}: layer has {version}, this machine {here.version}"
        for file in here.files or []:
            if file.suffix == ".so":
                shutil.copy2(Path(str(file.locate())), copy / file)
    return copy
