"""The chapters as the replay ran them, kept for the book: every output a run really printed.

Once a chapter has passed its replay (tests/chapters/test_replay.py), the notebook of its
first run is kept in ``book/_build/executed/`` (``CHAT_EXECUTED_DIR`` names another folder),
stamped with a digest of what that run read: the chapter, ``tutorial/workbook.py`` and the
stage folders it starts from and must equal. The book shows a kept notebook only while its
stamp matches those files as they are now; any other is out of date and is replayed again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import nbformat

from .learner_folders import files_of
from .stages import REPO_ROOT, STAGES, TUTORIAL_DIR

EXECUTED_DIR_ENV = "CHAT_EXECUTED_DIR"
DEFAULT_EXECUTED_DIR = REPO_ROOT / "book" / "_build" / "executed"
STAMP = "workbook_replay"
"""The notebook metadata key that holds the digest of what the run read."""
WORKBOOK = TUTORIAL_DIR / "workbook.py"


def executed_dir() -> Path:
    """Where the replay keeps executed chapters and the book reads them."""
    chosen = os.environ.get(EXECUTED_DIR_ENV)
    return Path(chosen).expanduser().resolve() if chosen else DEFAULT_EXECUTED_DIR


def kept_path(chapter: Path) -> Path:
    return executed_dir() / f"{chapter.stem}.ipynb"


def sources_digest(chapter: Path) -> str:
    """A digest of every file a replay of ``chapter`` reads or compares with."""
    digest = hashlib.sha256()

    def add(name: str, content: bytes) -> None:
        for part in (name.encode(), b"\0", hashlib.sha256(content).digest()):
            digest.update(part)

    add(chapter.name, chapter.read_bytes())
    add("workbook.py", WORKBOOK.read_bytes())
    for stage in STAGES.values():
        if stage.chapter != chapter.name:
            continue
        folders = [stage.folder] + ([STAGES[stage.parent].folder] if stage.parent else [])
        for folder in folders:
            for name, content in files_of(REPO_ROOT / folder).items():
                add(f"{folder}/{name}", content)
    return digest.hexdigest()


def keep(notebook: nbformat.NotebookNode, chapter: Path) -> Path:
    """Keep ``notebook``, a run of ``chapter`` that passed, stamped with what it read."""
    notebook.metadata[STAMP] = {"chapter": chapter.name, "sources": sources_digest(chapter)}
    target = kept_path(chapter)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".ipynb.partial")
    nbformat.write(notebook, partial)
    partial.replace(target)  # never a half-written notebook where the book looks
    return target


def up_to_date(chapter: Path) -> nbformat.NotebookNode | None:
    """The kept run of ``chapter`` if there is one and it was made from the files as they
    are now; None otherwise."""
    target = kept_path(chapter)
    if not target.is_file():
        return None
    notebook = nbformat.read(target, as_version=4)
    stamp = notebook.metadata.get(STAMP, {})
    if stamp.get("sources") != sources_digest(chapter):
        return None
    return notebook
