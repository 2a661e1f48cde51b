"""The development install's path file: every function folder (functions/<name>/ holding the
package <name>) on sys.path, as Lambda puts a function's CodeUri on it."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

PATH_FILE = "_billing_functions.pth"


def function_folders(root: Path) -> list[Path]:
    """The folders under `root` that hold a package of their own name (functions/renew/renew/)."""
    return sorted(
        init.parent.parent.resolve()
        for init in root.glob("*/*/__init__.py")
        if init.parent.name == init.parent.parent.name
    )


class FunctionFolders(BuildHookInterface):
    """Writes the path file into the editable wheel; refuses a regular wheel, which would
    install nothing: the functions reach Lambda through `sam build`, not as a package."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "editable":
            raise RuntimeError(
                "billing-functions installs for development only (pip install -e functions); "
                "sam build packages each function from its CodeUri"
            )
        self._scratch = Path(tempfile.mkdtemp(prefix="billing-functions-"))
        path_file = self._scratch / PATH_FILE
        folders = function_folders(Path(self.root))
        path_file.write_text("".join(f"{folder}\n" for folder in folders), encoding="utf-8")
        build_data["force_include_editable"][str(path_file)] = PATH_FILE

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)
