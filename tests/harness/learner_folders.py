"""Where a learner's projects live, and what in them is theirs rather than generated.

Chapter 00 sets out the layout: the main line is built in CHAT_WORKBOOK_DIR
(``~/django-twisted-chat`` by default); a branch chapter builds in a folder beside it named
after the chapter (``~/django-twisted-chat-07``), and chapter 04 keeps a copy of Part 3 in
another (``~/django-twisted-chat-03``). The chapters name these folders themselves, with
tutorial/workbook.py; the chapter replay checks that they build where this module says.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from .stages import Stage

WORKBOOK_DIR_ENV = "CHAT_WORKBOOK_DIR"
"""The chapters build the learner's project in this folder (default ~/django-twisted-chat)."""
DEFAULT_WORKBOOK_DIR = "~/django-twisted-chat"

GENERATED = (
    "__pycache__", "*.pyc", "*.sqlite3", "twistd.pid", "twistd.log", ".ipynb_checkpoints",
    ".venv", "venv", "test-artefacts",
)  # fmt: skip
"""What running and installing a project leaves behind; never part of a snapshot."""


class FolderError(Exception):
    """The learner's folder cannot be used as it is named; the message says what to do."""


def main_folder(environ: Mapping[str, str] = os.environ) -> Path:
    """The learner's main-line folder, as the chapters find it: CHAT_WORKBOOK_DIR or the
    default, with ``~`` expanded. A relative path would mean a different folder to each
    program that reads it, so it is refused."""
    named = environ.get(WORKBOOK_DIR_ENV) or DEFAULT_WORKBOOK_DIR
    folder = Path(named).expanduser()
    if not folder.is_absolute():
        raise FolderError(
            f"{WORKBOOK_DIR_ENV}={named} is a relative path, which means another folder "
            f"wherever a program runs: give the whole path, such as ~/{named}."
        )
    return folder


def folder_beside(main: Path, chapter: str) -> Path:
    """The folder beside ``main`` for ``chapter`` (07_twisted_websocket.md, or "07"): a
    branch's project, or a copy kept of a main-line stage."""
    return main.with_name(f"{main.name}-{chapter[:2]}")


def chapter_folder(stage: Stage, main: Path) -> Path:
    """Where ``stage``'s chapter builds when the main folder is ``main``: in it on the main
    line, in a folder of its own beside it for a branch."""
    return folder_beside(main, stage.chapter) if stage.branch else main


def copy_stage(source: Path, target: Path) -> None:
    """Copy a project, leaving out what running it generated."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(*GENERATED), dirs_exist_ok=True)


def files_of(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` by relative path, leaving out what running it generates."""
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not any(relative.match(p) or p in relative.parts for p in GENERATED):
            found[relative.as_posix()] = path.read_bytes()
    return found
