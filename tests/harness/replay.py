"""Replay a chapter: run its notebook in a copy of the parent stage and compare with the snapshot.

Like the book tester of "Test-Driven Development with Python": if following a chapter
cell by cell does not produce exactly the stage's files, the chapter or the stage is wrong.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from pathlib import Path

import jupytext
import nbclient
import nbformat
from nbclient.exceptions import CellExecutionError

from .learner_folders import WORKBOOK_DIR_ENV, files_of
from .stages import TUTORIAL_DIR

CELL_TIMEOUT = 300
CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
"""Every chapter, in reading order."""


class ReplayError(Exception):
    """A chapter's cell failed, or its result differs from the snapshot."""


def execute_chapter(chapter: Path, workdir: Path) -> nbformat.NotebookNode:
    """Run every cell of ``chapter``, with the chapters' working folder set to ``workdir``;
    the notebook with every cell's outputs."""
    notebook = jupytext.read(chapter)
    client = nbclient.NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        # The kernel starts in tutorial/, as in `nox -s lab`, so that `%load_ext workbook`
        # finds workbook.py; each chapter then moves into CHAT_WORKBOOK_DIR itself.
        resources={"metadata": {"path": str(TUTORIAL_DIR)}},
        # A failing `!command` must stop the replay at that cell, not carry on quietly.
        extra_arguments=["--InteractiveShell.system_raise_on_error=True"],
    )
    # `!python` and `!django-admin` must be this environment's, as in `nox -s lab`.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {
        **os.environ,
        WORKBOOK_DIR_ENV: str(workdir),
        "PATH": path,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        return client.execute(env=env)
    except CellExecutionError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the kernel's colours
        raise ReplayError(f"{chapter.name}: a cell failed when replayed:\n{plain}") from None


def differences(expected: Path, actual: Path) -> str:
    """A unified diff of two folders, empty when they hold the same files."""
    want, got = files_of(expected), files_of(actual)
    report = []
    for name in sorted(want.keys() | got.keys()):
        if name not in got:
            report.append(f"missing: {name} (the snapshot has it; the chapter never writes it)")
        elif name not in want:
            report.append(f"extra: {name} (the chapter writes it; the snapshot has no such file)")
        elif want[name] != got[name]:
            report.extend(
                difflib.unified_diff(
                    want[name].decode(errors="replace").splitlines(),
                    got[name].decode(errors="replace").splitlines(),
                    f"snapshot/{name}",
                    f"chapter/{name}",
                    lineterm="",
                )
            )
    return "\n".join(report)
