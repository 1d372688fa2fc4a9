"""Keep evidence when a check fails: screenshots, page HTML, console and server logs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Protocol, runtime_checkable


@runtime_checkable
class LeavesArtefacts(Protocol):
    """Anything a check uses that has something to show when the check fails."""

    def save_artefacts(self, folder: Path) -> list[Path]: ...


def folder_for(root: Path, test_id: str) -> Path:
    """A readable folder name for one check, e.g. test_chat.py-test_two_windows-part2."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_id.split("/")[-1]).strip("-")
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_all(things: list[object], folder: Path) -> list[Path]:
    saved: list[Path] = []
    for thing in things:
        if isinstance(thing, LeavesArtefacts):
            saved.extend(thing.save_artefacts(folder))
    return saved
