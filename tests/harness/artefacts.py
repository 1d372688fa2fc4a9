"""Keep evidence when a check fails: screenshots, page HTML, console and server logs.

Each run of the checks gets a folder of its own, named by the time it started, so a
screenshot from an earlier run is never mistaken for this one's; ``latest`` points at the
newest, and only the few newest runs are kept.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import time
from pathlib import Path
from typing import Protocol, runtime_checkable

RUNS_KEPT = 5


@runtime_checkable
class LeavesArtefacts(Protocol):
    """Anything a check uses that has something to show when the check fails."""

    def save_artefacts(self, folder: Path) -> list[Path]: ...


def run_name() -> str:
    """A name for this run's folder, e.g. 2026-11-24_09-30-05, sortable by time."""
    return time.strftime("%Y-%m-%d_%H-%M-%S")


def run_folder(root: Path, name: str, kept: int = RUNS_KEPT) -> Path:
    """The folder for this run's evidence: ``root/name``, with ``root/latest`` pointing to it.

    Only the ``kept`` newest runs are kept. The folder itself is made when something fails
    (or by the caller: ``nox -s serve`` keeps each run's server logs this way).
    """
    root.mkdir(parents=True, exist_ok=True)
    earlier = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    for old in earlier[: max(len(earlier) - (kept - 1), 0)]:
        if old.name != name:
            shutil.rmtree(old, ignore_errors=True)
    latest = root / "latest"
    with contextlib.suppress(OSError):  # e.g. a file system without symbolic links
        latest.unlink(missing_ok=True)
        latest.symlink_to(name, target_is_directory=True)
    return root / name


def folder_for(run: Path, test_id: str) -> Path:
    """A readable folder name for one check, e.g. test_chat.py-test_two_windows-part2."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_id.split("/")[-1]).strip("-")
    return run / name


def keep_evidence(things: list[object], root: Path, run: str, test_id: str) -> list[Path]:
    """Let each of ``things`` that has something to show save it, in this run's folder for
    the check ``test_id``. A check with nothing to show leaves no folder behind."""
    keepers = [thing for thing in things if isinstance(thing, LeavesArtefacts)]
    if not keepers:
        return []
    folder = folder_for(run_folder(root, run), test_id)
    folder.mkdir(parents=True, exist_ok=True)
    saved = [path for keeper in keepers for path in keeper.save_artefacts(folder)]
    if not saved:
        folder.rmdir()
    return saved
