"""How the self-tests run nox as people do."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest


def nox_command() -> list[str]:
    """How to run the nox that runs these self-tests, found among this process's ancestors
    (``nox`` from pipx, ``python -m nox``, ``uvx nox``), or else the ``nox`` on PATH."""
    for ancestor in psutil.Process().parents():
        try:
            argv, cwd = ancestor.cmdline(), ancestor.cwd()
        except psutil.Error:
            continue
        if len(argv) >= 3 and argv[1:3] == ["-m", "nox"]:
            found = argv[:3]
        elif len(argv) >= 2 and Path(argv[1]).name == "nox":
            found = argv[:2]
        else:
            continue
        return [str(Path(cwd, part)) if os.sep in part else part for part in found]
    on_path = shutil.which("nox")
    if on_path is None:
        pytest.fail(
            "These self-tests run nox as people do, but cannot find nox: run them "
            "with `nox -s harness`, or put nox on PATH."
        )
    return [on_path]
