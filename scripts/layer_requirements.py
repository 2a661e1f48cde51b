"""Write the layer's requirements.txt, what `sam build` installs into the layer, from the one list
of its dependencies: the `dependencies` of layers/common/pyproject.toml. Needs only Python 3.12:

    python3.12 scripts/layer_requirements.py      # or: make layer-requirements

tests/unit/test_layer_requirements.py fails while the file and the list disagree."""

from __future__ import annotations

import tomllib
from pathlib import Path

LAYER = Path(__file__).resolve().parents[1] / "layers" / "common"
PYPROJECT = LAYER / "pyproject.toml"
REQUIREMENTS = LAYER / "requirements.txt"

HEADER = """\
# Generated from the dependencies of pyproject.toml by scripts/layer_requirements.py
# (make layer-requirements): edit those, not this file.
# What `sam build` installs into the layer next to the `billing` package (BuildMethod
# python3.12), at the exact versions development and CI test with (constraints.txt), so that a
# deployment runs what the tests ran.
-c ../../constraints.txt
"""
"""The constraints path is relative to this file, as pip reads it: the layer's folder."""


def requirements(pyproject: str) -> str:
    """The text of requirements.txt for the project `pyproject` (the text of its pyproject.toml)."""
    dependencies: list[str] = tomllib.loads(pyproject)["project"]["dependencies"]
    return HEADER + "".join(f"{dependency}\n" for dependency in dependencies)


if __name__ == "__main__":
    REQUIREMENTS.write_text(requirements(PYPROJECT.read_text(encoding="utf-8")), encoding="utf-8")
