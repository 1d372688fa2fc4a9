"""Copies of stages for the self-tests, and the stage checks run against a copy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from harness.stages import REPO_ROOT, get_stage


def copy_stage(name: str, into: Path) -> Path:
    target = into / name
    shutil.copytree(
        get_stage(name).path, target, ignore=shutil.ignore_patterns("__pycache__", "*.sqlite3")
    )
    return target


def edit(folder: Path, file: str, old: str, new: str) -> None:
    """Replace ``old`` with ``new`` in one file of a copy; ``old`` must be there."""
    source = folder / file
    text = source.read_text()
    assert old in text, f"{file} changed; update this self-test's edit"
    source.write_text(text.replace(old, new))


def run_checks(
    stage: str, folder: Path, artefacts: Path, *extra: str, in_the_background: bool = False
) -> subprocess.CompletedProcess[str]:
    """The stage's checks against ``folder``, as ``nox -s STAGE -- --stage-dir`` runs them.

    ``in_the_background``: started as a shell starts ``nox -s STAGE &``, with SIGINT ignored,
    which every process started from there inherits.
    """
    command = [
        sys.executable, "-m", "pytest", "tests/stage_checks", "-q",
        "--stage", stage, "--stage-dir", str(folder), "--artefacts", str(artefacts), *extra,
    ]  # fmt: skip
    if in_the_background:
        command = ["bash", "-c", '"$@" & wait $!', "bash", *command]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def files_in(folder: Path) -> list[Path]:
    return sorted(path.relative_to(folder) for path in folder.rglob("*"))
