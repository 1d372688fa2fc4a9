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

``%install_requirements`` installs what ``requirements.txt`` (or the file named) lists into
the notebook's own environment, the one ``!python`` runs: with its pip, with uv where it has
no pip (as in ``nox -s lab``), or with pip put in first by ensurepip. When everything is
installed already it says so and installs nothing, so it is safe to run twice and needs no
network then.

``keep_copy`` and ``start_branch`` keep a learner's folders apart: the main line is built in
one folder, and a branch chapter in a folder of its own beside it (chapter 00 says how).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import register_cell_magic, register_line_magic
from packaging.requirements import InvalidRequirement, Requirement

WORKBOOK = Path(__file__).resolve().parent.parent
"""The workbook's top folder, which holds the reference stages."""

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


class InstallError(Exception):
    """Installing failed, or cannot start; the message says what to do."""


def unmet(requirement: Requirement, seen: frozenset[str] = frozenset()) -> str | None:
    """Why this environment does not satisfy ``requirement`` (with its extras), or None."""
    try:
        found = importlib.metadata.distribution(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement.name} is not installed"
    if not requirement.specifier.contains(found.version, prereleases=True):
        return f"{requirement.name} {found.version} is installed, not {requirement.specifier}"
    for extra in sorted(requirement.extras):
        for line in found.requires or []:
            needed = Requirement(line)
            marker = needed.marker
            by_extra = marker is not None and marker.evaluate({"extra": extra})
            if not by_extra or marker.evaluate({"extra": ""}) or needed.name.lower() in seen:
                continue  # not brought by this extra, or looked at already
            why = unmet(needed, seen | {requirement.name.lower()})
            if why:
                return f"{why} (for {requirement.name}[{extra}])"
    return None


def missing_requirements(path: Path) -> list[str]:
    """What the requirements file at ``path`` asks for that this environment lacks."""
    if not path.is_file():
        raise InstallError(f"There is no file {path} here. Is this your project folder?")
    missing = []
    for line in path.read_text().splitlines():
        line = line.split(" #")[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            why = unmet(Requirement(line))
        except InvalidRequirement:
            why = f"{line!r} is not a requirement this cell can check, so pip must"
        if why:
            missing.append(why)
    return missing


def install_commands(path: Path) -> list[list[str]]:
    """The commands that install ``path`` into the environment of the Python running this:
    its pip; or uv, where it has no pip; or else pip, put in first by Python's ensurepip."""
    pip = [sys.executable, "-m", "pip", "install", "-r", str(path)]
    if importlib.util.find_spec("pip") is not None:
        return [pip]
    uv = shutil.which("uv")
    if uv is not None:
        return [[uv, "pip", "install", "--python", sys.executable, "-r", str(path)]]
    if importlib.util.find_spec("ensurepip") is not None:
        return [[sys.executable, "-m", "ensurepip"], pip]
    raise InstallError(
        f"This notebook's Python ({sys.executable}) has no pip, and there is no uv on the "
        "PATH to install with. Install pip for it (on Debian: apt install python3-pip "
        "python3-venv), then run this cell again."
    )


def install_requirements(path: Path) -> str:
    """Install what ``path`` lists unless it is installed already; what to tell the reader."""
    missing = missing_requirements(path)
    if not missing:
        return f"Everything {path} lists is installed already; nothing to do."
    for why in missing:
        print(f"{why}.")
    for command in install_commands(path):
        print("$", " ".join(command), flush=True)
        if subprocess.run(command, check=False).returncode != 0:
            raise InstallError(
                f"Installing {path} failed; the lines above say why (often: no network, or "
                "a package name mistyped). Mend that, then run this cell again."
            )
    still = missing_requirements(path)
    if still:
        raise InstallError(f"After installing, this is still missing: {'; '.join(still)}.")
    return f"Installed what {path} lists into this notebook's environment."


def folder_of_chapter(main: Path, chapter: str) -> Path:
    """The folder beside ``main`` that holds what chapter ``chapter`` built: a branch's
    project (``~/django-twisted-chat-07``), or a copy kept of a main-line stage
    (``~/django-twisted-chat-03``, Part 3 as it was before chapter 04 changed it)."""
    return main.with_name(f"{main.name}-{chapter}")


LEFT_BEHIND = shutil.ignore_patterns(*NOT_THE_PROJECT, "*.pyc", "twistd.pid", "twistd.log")


class FolderError(UsageError):
    """A folder is not as the chapter expects; shown as the message alone, no traceback."""


def keep_copy(project: Path, kept: Path) -> None:
    """Copy ``project`` to ``kept``, unless ``kept`` is there already; never overwrites."""
    if kept.exists():
        print(f"{kept} is there already, and is left as it is.")
    elif not (project / "manage.py").is_file():
        print(f"{project} holds no project yet, so there is nothing to keep.")
    else:
        shutil.copytree(project, kept, ignore=LEFT_BEHIND)
        print(f"Kept a copy of {project} in {kept}.")


def start_branch(project: Path, own: Path, reference: str) -> None:
    """Make ``project`` a copy of the learner's own ``own`` folder if it holds a project, or
    of the workbook's ``reference`` stage otherwise; a ``project`` that exists already is the
    learner's work on the branch, and is left as it is."""
    if project.exists() and any(project.iterdir()):
        print(f"{project} is there already: carrying on in it.")
        return
    source = own if (own / "manage.py").is_file() else WORKBOOK / reference
    if not (source / "manage.py").is_file():
        raise FolderError(f"There is no project in {source} to start this chapter from.")
    shutil.copytree(source, project, ignore=LEFT_BEHIND, dirs_exist_ok=True)
    print(f"Started {project} as a copy of {source}.")


def load_ipython_extension(ipython: object) -> None:
    """Called by ``%load_ext workbook``: makes ``%%change``, ``%project_files`` and
    ``%install_requirements``."""

    @register_cell_magic("change")
    def change(line: str, cell: str) -> None:
        try:
            print(change_file(line.strip(), cell))
        except ChangeError as problem:
            raise UsageError(str(problem)) from None  # the message alone, no traceback

    @register_line_magic("project_files")
    def list_project_files(line: str) -> None:
        print("\n".join(project_files(Path(line.strip() or "."))))

    @register_line_magic("install_requirements")
    def install(line: str) -> None:
        try:
            print(install_requirements(Path(line.strip() or "requirements.txt")))
        except InstallError as problem:
            raise UsageError(str(problem)) from None
