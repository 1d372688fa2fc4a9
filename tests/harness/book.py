"""Build the chapters into a static website: ``nox -s book``.

The site shows each chapter as the replay ran it (harness/executed.py), so every output in it
is one a run really printed. A chapter whose kept run is missing or out of date is replayed
first, through the replay check itself; one that does not pass is never shown.

The pages are made by Sphinx with MyST-NB and the Sphinx Book Theme (Jupyter Book 1's engine),
from a copy of the executed notebooks in ``book/_build/source/`` in which each ``%%change``
cell is shown as the change it makes (a ``diff`` block captioned with the cell's first line),
and each ``%%writefile`` cell as the file it writes, highlighted as what it is; each followed
by what running it printed. ``book/conf.py`` is the configuration, ``book/index.md`` the
front page and the table of contents; the instructors' notes (``tutorial/instructors.md``)
are a page of it too. The site goes to ``book/_build/html/``.

``nox -s book`` builds it and checks it (tests/book/). To build it without the checks, in an
environment with the tutorial's requirements: ``PYTHONPATH=tests python -m harness.book``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import nbformat

from .executed import EXECUTED_DIR_ENV, executed_dir, up_to_date
from .replay import CHAPTERS
from .stages import REPO_ROOT, TUTORIAL_DIR

BOOK_DIR = REPO_ROOT / "book"
BUILD_DIR = BOOK_DIR / "_build"
SOURCE_DIR = BUILD_DIR / "source"
SITE_DIR = BUILD_DIR / "html"
FRONT_PAGE = BOOK_DIR / "index.md"
PAGES = [FRONT_PAGE, TUTORIAL_DIR / "instructors.md"]
"""The pages that are not chapters: the front page, and the notes for instructors."""
SPHINX_TIMEOUT = 600
"""Seconds the site build may take (half a minute on two idle cores, two when they are busy)."""
FILE_MAGIC = re.compile(
    r"\A%%(?P<magic>change|writefile)[ \t]+(?P<path>\S+)[ \t]*\n(?P<body>.*)\Z", re.DOTALL
)
"""A cell that changes a file or writes one: its magic's first line, then the change or file."""
LANGUAGES = {
    ".py": "python", ".tac": "python", ".html": "html+django", ".js": "javascript",
    ".css": "css", ".json": "json", ".md": "markdown", ".toml": "toml", ".cfg": "ini",
    ".ini": "ini", ".yml": "yaml", ".yaml": "yaml", ".sh": "bash",
}  # fmt: skip
"""How a written file's contents are highlighted, by its suffix (plain text otherwise)."""


class BookError(Exception):
    """The book cannot be built; the message says why and what to do."""


def replay_test(chapter: Path) -> str:
    """The replay check of ``chapter``, as a pytest node id."""
    return f"tests/chapters/test_replay.py::test_chapter_replays_to_its_stage[{chapter.stem}]"


def replay(chapters: list[Path]) -> None:
    """Replay ``chapters`` through their check, which keeps each run that passes."""
    command = [sys.executable, "-m", "pytest", "--tb=short", *map(replay_test, chapters)]
    print(f"Replaying {', '.join(c.stem for c in chapters)} (no up-to-date run kept):")
    done = subprocess.run(command, cwd=REPO_ROOT, check=False)
    if done.returncode != 0:
        raise BookError(
            "A chapter did not replay (see above), so the book cannot show what running it "
            "prints. Fix the chapter or its stage first: `nox -s tutorial -- -k NAME`."
        )


def fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in ``text``."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)


def literally(text: str) -> str:
    """``text`` as Markdown that shows exactly it: every punctuation mark escaped (a caption
    is Markdown, in which ``%%`` would start a comment and ``_`` may mean emphasis)."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", text)


def shown_as_file(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """A ``%%change`` or ``%%writefile`` cell as a reader should see it: its first line as
    the caption of the change (a diff) or of the file (highlighted as what it is), then what
    running it printed. Any other cell as it is."""
    found = FILE_MAGIC.match(cell.source) if cell.cell_type == "code" else None
    if found is None:
        return [cell]
    body = found["body"].rstrip("\n")
    if found["magic"] == "change":
        language = "diff"
    else:
        language = LANGUAGES.get(Path(found["path"]).suffix, "text")
    marks = fence(body)
    caption = literally(f"%%{found['magic']} {found['path']}")
    shown = nbformat.v4.new_markdown_cell(
        f"{marks}{{code-block}} {language}\n:caption: {caption}\n\n{body}\n{marks}"
    )
    if not cell.get("outputs"):
        return [shown]
    ran = nbformat.NotebookNode({**cell, "id": f"{cell.get('id', shown.id)}-ran"})
    ran.metadata = nbformat.NotebookNode({**cell.metadata, "tags": ["remove-input"]})
    return [shown, ran]


def for_the_book(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [shown for cell in notebook.cells for shown in shown_as_file(cell)]
    return nbformat.NotebookNode({**notebook, "cells": cells})


def write_source(notebooks: dict[Path, nbformat.NotebookNode]) -> None:
    """The folder Sphinx reads: the pages that are not chapters, and each chapter's executed
    notebook."""
    shutil.rmtree(SOURCE_DIR, ignore_errors=True)
    SOURCE_DIR.mkdir(parents=True)
    for page in PAGES:
        shutil.copy(page, SOURCE_DIR / page.name)
    for chapter, notebook in notebooks.items():
        nbformat.write(for_the_book(notebook), SOURCE_DIR / f"{chapter.stem}.ipynb")


def build_site() -> None:
    """Sphinx, with every warning an error: a broken reference, a page outside the table of
    contents or a table of contents entry without a page stops the build."""
    missing = [name for name in ("sphinx", "myst_nb", "sphinx_book_theme") if not find_spec(name)]
    if missing:
        raise BookError(
            f"the book needs {', '.join(missing)}, not installed here; `nox -s book` "
            "installs them from tutorial/requirements.txt."
        )
    shutil.rmtree(SITE_DIR, ignore_errors=True)
    command = [
        sys.executable, "-m", "sphinx", "-b", "html", "-E", "-W", "--keep-going", "-q",
        "-c", str(BOOK_DIR), "-d", str(BUILD_DIR / "doctrees"), str(SOURCE_DIR), str(SITE_DIR),
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, cwd=REPO_ROOT, check=False, timeout=SPHINX_TIMEOUT,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise BookError(f"Sphinx did not finish within {SPHINX_TIMEOUT} s.") from None
    if done.returncode != 0:
        said = [line for line in done.stdout.splitlines() if "WARNING" in line or "ERROR" in line]
        raise BookError(
            "Sphinx could not build it. What it said, each line naming the file (a chapter is "
            "book/_build/source/NAME.ipynb, made from tutorial/NAME.md):\n"
            + "\n".join(said or done.stdout.splitlines()[-20:])
            + "\nbook/index.md is the table of contents (a chapter left out of its toctree "
            "is not in any toctree), book/conf.py the configuration."
        )


def build() -> Path:
    """Build the book; the folder of the site."""
    stale = [chapter for chapter in CHAPTERS if up_to_date(chapter) is None]
    if stale:
        replay(stale)
    notebooks = {}
    for chapter in CHAPTERS:
        notebook = up_to_date(chapter)
        if notebook is None:
            raise BookError(
                f"The replay passed but kept no up-to-date run of {chapter.name} in "
                f"{executed_dir()}; was {EXECUTED_DIR_ENV} changed meanwhile?"
            )
        notebooks[chapter] = notebook
    write_source(notebooks)
    build_site()
    return SITE_DIR


def main() -> int:
    try:
        site = build()
    except BookError as problem:
        print(f"The book was not built: {problem}", file=sys.stderr)
        return 1
    print(f"The book is in {site}: open {site / 'index.html'} in a browser.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
