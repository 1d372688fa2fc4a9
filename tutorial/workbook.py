"""Cell magics for the chapters: ``%load_ext workbook`` in a chapter's first cell.

``%%change PATH`` changes part of an existing file. Its body is written like a diff
without line numbers: lines starting with a space are context that shows where the change
goes, ``-`` lines are taken out, ``+`` lines are put in, and a line starting with ``@@``
begins another place in the same file (anything after the ``@@`` is a hint for the reader,
such as ``@@ INSTALLED_APPS``)::

    %%change chat/views.py
     from django.shortcuts import get_object_or_404, render
    +from django.conf import settings

Reading a chapter on GitHub? Make the same edit by hand: find the context lines, take out
the ``-`` lines and add the ``+`` lines.

A cell is safe to run twice: when the file already has the change, it says so and leaves
the file alone. When the file has neither the old lines nor the new ones (you changed it
your own way), it changes nothing and says what it looked for.

``%project_files`` lists the project's files, leaving out what running and installing
things leaves behind (virtual environments, caches, the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import register_cell_magic, register_line_magic

NOT_THE_PROJECT = {".venv", "venv", "__pycache__", ".ipynb_checkpoints", "test-artefacts"}
NOT_THE_PROJECT_FILES = {"db.sqlite3", "twistd.pid", "twistd.log"}


class ChangeError(Exception):
    """The file is not as the chapter expects; the message says what to do."""


@dataclass(frozen=True)
class Hunk:
    """One place in a file: the lines there now, and the lines that replace them."""

    hint: str
    before: str
    after: str


def parse_change(body: str) -> list[Hunk]:
    """The hunks of a ``%%change`` cell's body."""
    hunks: list[Hunk] = []
    hint, before, after = "", [], []

    def close() -> None:
        if before or after:
            hunks.append(Hunk(hint, "".join(before), "".join(after)))

    for line in body.splitlines(keepends=True):
        if not line.endswith("\n"):
            line += "\n"
        if line.startswith("@@"):
            close()
            hint, before, after = line[2:].strip(), [], []
        elif line.startswith("-"):
            before.append(line[1:])
        elif line.startswith("+"):
            after.append(line[1:])
        elif line.startswith(" ") or line == "\n":
            before.append(line[1:] if line != "\n" else line)
            after.append(line[1:] if line != "\n" else line)
        else:
            raise ChangeError(
                f"This line of the cell starts with neither a space, '-', '+' nor '@@': {line!r}"
            )
    close()
    return hunks


def apply_change(text: str, hunks: list[Hunk], path: str) -> tuple[str, int]:
    """``text`` with every hunk applied, and how many were applied (the rest were there
    already). Raises ChangeError, changing nothing, if a hunk fits nowhere."""
    applied = 0
    for hunk in hunks:
        where = f" (at {hunk.hint})" if hunk.hint else ""
        if text.count(hunk.after) == 1:
            continue  # made already (asked first, since new lines may hold the old ones)
        if text.count(hunk.before) == 1:
            text = text.replace(hunk.before, hunk.after)
            applied += 1
        else:
            raise ChangeError(
                f"{path} is not as this chapter expects{where}, so nothing was changed. "
                f"It should have these lines, once:\n\n{hunk.before}\n"
                "If you changed them your own way, make this change by hand. Or compare the "
                "file with the reference stage's copy, or copy the reference stage, as "
                'chapter 00\'s "When you are stuck" explains.'
            )
    return text, applied


def change_file(path: str, body: str) -> str:
    """Apply a ``%%change`` cell to ``path``; what to tell the reader."""
    target = Path(path)
    if not target.is_file():
        raise ChangeError(f"There is no file {path} here to change. Is this your project folder?")
    hunks = parse_change(body)
    text, applied = apply_change(target.read_text(), hunks, path)
    if not applied:
        return f"{path} has this change already; nothing to do."
    target.write_text(text)
    places = "1 place" if len(hunks) == 1 else f"{applied} of {len(hunks)} places"
    return f"Changed {path} ({places})."


def project_files(folder: Path) -> list[str]:
    """The project's files below ``folder``, sorted, as paths relative to it."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if NOT_THE_PROJECT & set(relative.parts) or path.name in NOT_THE_PROJECT_FILES:
            continue
        if path.is_file() and path.suffix != ".pyc":
            found.append(relative.as_posix())
    return found


def load_ipython_extension(ipython: object) -> None:
    """Called by ``%load_ext workbook``: makes ``%%change`` and ``%project_files``."""

    @register_cell_magic("change")
    def change(line: str, cell: str) -> None:
        try:
            print(change_file(line.strip(), cell))
        except ChangeError as problem:
            raise UsageError(str(problem)) from None  # the message alone, no traceback

    @register_line_magic("project_files")
    def list_project_files(line: str) -> None:
        print("\n".join(project_files(Path(line.strip() or "."))))
