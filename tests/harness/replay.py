"""Replay a chapter: run its notebook in a copy of the parent stage and compare with the snapshot.

Like the book tester of "Test-Driven Development with Python": if following a chapter
cell by cell does not produce exactly the stage's files, the chapter or the stage is wrong.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import jupytext
import nbclient
import nbformat
from jupyter_client.manager import KernelManager
from nbclient.exceptions import CellExecutionError

from .learner_folders import WORKBOOK_DIR_ENV, files_of
from .services import PostgresServer, RedisServer, ServiceError
from .stages import STAGES, TUTORIAL_DIR

CELL_TIMEOUT = 300
CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
"""Every chapter, in reading order."""
CHAPTER_DATABASE = "django_twisted_chat"
"""The database a chapter's cells use on the replay's PostgreSQL: the one they would use on
a learner's machine, where PGDATABASE is unset."""


class ReplayError(Exception):
    """A chapter's cell failed, or its result differs from the snapshot."""


def execute_chapter(
    chapter: Path, workdir: Path, servers: Mapping[str, str] | None = None
) -> nbformat.NotebookNode:
    """Run every cell of ``chapter``, with the chapters' working folder set to ``workdir``
    and ``servers`` (chapter_servers) in its environment; the notebook with every cell's
    outputs."""
    notebook = jupytext.read(chapter)
    # The kernel talks to us over Unix sockets in a folder of its own, not over TCP ports:
    # a port picked as free can be taken by another program before the kernel binds it,
    # and several replays run at once.
    sockets = Path(tempfile.mkdtemp(prefix="kernel-"))
    kernel = KernelManager(kernel_name="python3", transport="ipc", ip=str(sockets / "k"))
    client = nbclient.NotebookClient(
        notebook,
        km=kernel,
        timeout=CELL_TIMEOUT,
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
        **(servers or {}),
        WORKBOOK_DIR_ENV: str(workdir),
        "PATH": path,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    try:
        return client.execute(env=env)
    except CellExecutionError as error:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # the kernel's colours
        raise ReplayError(f"{chapter.name}: a cell failed when replayed:\n{plain}") from None
    finally:
        shutil.rmtree(sockets, ignore_errors=True)


def services_of(chapters: list[Path]) -> set[str]:
    """The servers the stages of ``chapters`` need beside their own processes."""
    names = {chapter.name for chapter in chapters}
    return {service for s in STAGES.values() if s.chapter in names for service in s.services}


@contextmanager
def chapter_servers(chapters: list[Path], workdir: Path) -> Iterator[dict[str, str]]:
    """Throw-away PostgreSQL and Redis servers for chapters whose stage needs them (chapter
    09's cells migrate, store and publish), stopped when the block ends; the variables that
    tell the chapters' kernel where they are. Nothing for the other chapters. ReplayError,
    in plain words, when a server is not installed or does not start."""
    needed = services_of(chapters)
    found: dict[str, str] = {}
    with ExitStack() as running:
        try:
            if "postgresql" in needed:
                postgres = running.enter_context(PostgresServer(workdir))
                postgres.create_database(CHAPTER_DATABASE)
                found["DATABASE_URL"] = postgres.url(CHAPTER_DATABASE)
            if "redis" in needed:
                found["CHAT_REDIS_URL"] = running.enter_context(RedisServer(workdir)).url
        except ServiceError as problem:
            names = ", ".join(chapter.name for chapter in chapters)
            raise ReplayError(
                f"{names} needs servers that could not be started: {problem}"
            ) from None
        yield found


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
