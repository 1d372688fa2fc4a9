"""Catch a learner up to a stage: ``python -m harness.catchup part2`` (``nox -s catchup``).

A learner stuck in a chapter carries on from the reference stage. Their folder (the one the
chapters use for that stage) is put aside, renamed with the time and never deleted; the
reference is copied in its place; their database comes along, migrated forward, when the
stage's migrations fit it (else it stays with the attempt); a virtual environment made
inside the folder moves back into it, where its scripts expect it; and the stage's quick
checks run against the folder. Nothing is moved until the database has been looked at, so
a problem found there leaves every folder as it was.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .databases import SqliteFile
from .learner_folders import FolderError, chapter_folder, copy_stage, files_of, main_folder
from .processes import StageError, StageProcesses
from .stages import REPO_ROOT, STAGES, Stage

STAGE_NAMES = ", ".join(STAGES)
USAGE = f"Say which stage to catch up to ({STAGE_NAMES}), as in: nox -s catchup -- part2"
DATABASE = "db.sqlite3"
"""Where every stage keeps its database, in its project folder."""
ENVIRONMENTS = (".venv", "venv")
"""The names a virtual environment made inside a project folder usually has."""
NO_DATABASE_YET = (
    "the stage makes one the first time it runs (nox -s serve --stage-dir, or python "
    "manage.py migrate in the folder)."
)
DIFF_EXCLUDES = (DATABASE, "__pycache__", *ENVIRONMENTS)
"""What differs between two project folders by nature, left out of the comparison."""
QUICK_CHECKS_TIMEOUT = 900.0
"""Seconds the quick checks may take in all; they take well under one minute."""
CHECK_PINS = """\
import re, sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    name, _, wanted = line.split("#")[0].strip().partition("==")
    name = re.sub(r"\\[.*\\]", "", name).strip()
    try:
        found = version(name)
    except PackageNotFoundError:
        found = None
    if wanted and found != wanted.strip():
        print(f"{name}=={wanted.strip()}")
"""
"""Run by a learner's own Python: prints each pinned requirement it does not have."""


@dataclass(frozen=True)
class Database:
    """The database to put in the caught-up folder, and what to tell the learner about it."""

    path: Path | None
    """The file to put there; None when there is none to keep (the stage makes one when it
    first runs, as in the chapters)."""
    story: str
    kept: bool
    """True when it is the learner's own, migrated forward; False for a new one, or none."""

    def put_into(self, folder: Path) -> None:
        if self.path is not None:
            shutil.move(self.path, folder / DATABASE)


@dataclass(frozen=True)
class CaughtUp:
    """What catching up did to the learner's folders."""

    stage: Stage
    folder: Path
    attempt: Path | None
    """Where the learner's folder went, or None when nothing was moved."""
    database: Database
    already: bool
    """True when the folder held the reference stage already, and stayed as it was."""


# -- the learner's folders --------------------------------------------------------------------


def attempt_folder(folder: Path, now: datetime) -> Path:
    """A name beside ``folder`` for the attempt put aside, with the time in it; never one
    that is taken (a second attempt in the same minute gets ``-2``)."""
    stamped = folder.with_name(f"{folder.name}-attempt-{now:%Y-%m-%d-%H%M}")
    candidate, number = stamped, 1
    while candidate.exists():
        number += 1
        candidate = stamped.with_name(f"{stamped.name}-{number}")
    return candidate


def earlier_attempts(folder: Path) -> list[Path]:
    """The attempts put aside from ``folder`` before, oldest first."""
    return sorted(folder.parent.glob(f"{folder.name}-attempt-*"))


def holds_something(folder: Path) -> bool:
    """Whether ``folder`` holds anything to put aside (a file in its place is refused)."""
    if folder.exists() and not folder.is_dir():
        raise FolderError(f"{folder} is a file, not a folder: move it away, then run this again.")
    return folder.is_dir() and any(folder.iterdir())


def is_reference(folder: Path, stage: Stage) -> bool:
    """Whether ``folder`` holds exactly the stage's files (what running it made aside)."""
    return files_of(folder) == files_of(stage.path)


def move_environments(attempt: Path, folder: Path) -> list[Path]:
    """Move each virtual environment of the attempt back into ``folder``: the paths in its
    scripts name ``folder``, so there it works, and in the attempt it would not."""
    moved = []
    for name in ENVIRONMENTS:
        if (attempt / name).is_dir():
            (attempt / name).rename(folder / name)
            moved.append(folder / name)
    return moved


def what_environment_lacks(environment: Path, requirements: Path) -> list[str] | None:
    """The pinned requirements ``environment``'s Python lacks; None if it does not run."""
    python = environment / "bin" / "python"
    try:
        found = subprocess.run(
            [str(python), "-c", CHECK_PINS, str(requirements)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found.stdout.split() if found.returncode == 0 else None


def environment_story(environment: Path, folder: Path) -> str:
    """What the learner needs to do with a virtual environment moved into ``folder``."""
    install = f"{environment}/bin/python -m pip install -r {folder / 'requirements.txt'}"
    lacks = what_environment_lacks(environment, folder / "requirements.txt")
    if lacks is None:
        return f"its Python does not run: make a new one, python3 -m venv {environment}"
    if lacks:
        return f"it lacks {', '.join(lacks)}: {install}"
    return "it has everything the stage's requirements.txt lists"


# -- the database -------------------------------------------------------------------------------


def copy_database(source: Path, target: Path) -> None:
    """Copy an sqlite database through sqlite itself, opened read-only: a consistent copy,
    and the learner's file is left exactly as it was."""
    with (
        closing(sqlite3.connect(f"file:{source}?mode=ro", uri=True)) as reading,
        closing(sqlite3.connect(target)) as writing,
    ):
        reading.backup(writing)


def migrate(stage: Stage, database: Path, workdir: Path) -> list[str]:
    """Migrate ``database`` with the reference stage's code; the migrations it applied.
    Raises StageError, with what Django printed, if it fails."""
    own = SqliteFile(database, workdir / "empty.sqlite3")  # a learner's file: sqlite, always
    site = StageProcesses(stage, stage.path, workdir, database=own)
    printed = site.manage("migrate", "--noinput").stdout
    return re.findall(r"Applying (\S+)\.\.\.", printed)


def schema(database: Path) -> dict[str, set[tuple[str, str, int, int]]]:
    """Each table of ``database``: its columns' names, types, NOT NULLs and primary keys."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        columns = 'SELECT name, lower(type), "notnull", pk FROM pragma_table_info(?)'
        return {
            name: set(db.execute(columns, (name,)))
            for (name,) in tables
            if not name.startswith("sqlite_")
        }


def schema_differences(yours: Path, new: Path, stage: Stage) -> list[str]:
    """How the tables of ``yours`` differ from those a new database of ``stage`` has."""
    have, want = schema(yours), schema(new)
    found = [f"it has no table {table}" for table in sorted(want.keys() - have.keys())]
    found += [
        f"it has a table {table}, which {stage.name} has not"
        for table in sorted(have.keys() - want.keys())
    ]
    for table in sorted(have.keys() & want.keys()):
        columns_have = {column[0]: column for column in have[table]}
        columns_want = {column[0]: column for column in want[table]}
        for column in sorted(columns_have.keys() | columns_want.keys()):
            if column not in columns_have:
                found.append(f"it has no column {table}.{column}")
            elif column not in columns_want:
                found.append(f"it has a column {table}.{column}, which {stage.name} has not")
            elif columns_have[column] != columns_want[column]:
                found.append(f"its column {table}.{column} is declared differently")
    return found


def new_database(stage: Stage, workdir: Path) -> Path:
    """A new database, migrated by the stage's own migrations."""
    database = workdir / "new.sqlite3"
    try:
        migrate(stage, database, workdir)
    except StageError as problem:
        raise StageError(
            f"Could not make a new database for {stage.name} with {sys.executable}; run this "
            f"as nox -s catchup -- {stage.name}, which installs what the stage needs. "
            f"{str(problem).splitlines()[-1]}"
        ) from None
    return database


def carry_database(stage: Stage, yours: Path, aside: Path, workdir: Path) -> Database:
    """The learner's database ``yours`` migrated forward, if the stage's migrations fit it;
    otherwise a new one, and why (``aside`` is where theirs will stay, with the attempt).

    They fit when migrating leaves the tables and columns a new database of the stage has:
    a migration of the learner's own (a column the stage does not have, a table of a later
    stage) makes it unfit, even where Django would migrate it without a word.
    """
    if not yours.is_file():
        return Database(None, f"There was no database; {NO_DATABASE_YET}", kept=False)
    fresh = new_database(stage, workdir)
    candidate = workdir / "yours.sqlite3"
    try:
        copy_database(yours, candidate)
        applied = migrate(stage, candidate, workdir)
        differences = schema_differences(candidate, fresh, stage)
    except sqlite3.Error as problem:
        differences = [f"sqlite cannot read it: {problem}"]
    except StageError as problem:
        differences = [f"migrating it failed: {str(problem).splitlines()[-1]}"]
    if differences:
        return Database(
            fresh,
            f"Your database stays with your attempt, in {aside}: {stage.name}'s migrations do "
            f"not fit it ({'; '.join(differences[:3])}). A new one is in place.",
            kept=False,
        )
    if applied:
        story = f"Your database came along, migrated forward: applied {', '.join(applied)}."
    else:
        story = f"Your database came along; {stage.name}'s migrations had all been applied to it."
    return Database(candidate, story, kept=True)


# -- catching up --------------------------------------------------------------------------------


def catch_up(stage: Stage, main: Path, now: datetime, workdir: Path) -> CaughtUp:
    """Put the learner's folder for ``stage`` aside and the reference in its place, saying
    each step; the database is looked at before anything moves."""
    folder = chapter_folder(stage, main)
    attempt = attempt_folder(folder, now)
    if not holds_something(folder):
        database = carry_database(stage, folder / DATABASE, attempt / DATABASE, workdir)
        copy_stage(stage.path, folder)
        database.put_into(folder)
        print(f"There was no project in {folder} yet: copied {stage.folder}/ into it.")
        print(database.story)
        return CaughtUp(stage, folder, None, database, already=False)

    database = carry_database(stage, folder / DATABASE, attempt / DATABASE, workdir)
    if is_reference(folder, stage) and (database.kept or not (folder / DATABASE).exists()):
        database.put_into(folder)
        print(f"{folder} holds the reference {stage.folder}/ already: nothing to put aside.")
        print(database.story)
        return CaughtUp(stage, folder, None, database, already=True)

    folder.rename(attempt)
    print(f"Put your attempt aside: {folder} is now {attempt}.")
    copy_stage(stage.path, folder)
    database.put_into(folder)
    print(f"Copied {stage.folder}/ into {folder}.")
    print(database.story)
    for environment in move_environments(attempt, folder):
        print(
            f"Moved {environment.name} from your attempt back into {folder}, the folder it was "
            f"made in (a virtual environment works only there); "
            f"{environment_story(environment, folder)}."
        )
    return CaughtUp(stage, folder, attempt, database, already=False)


def run_quick_checks(stage: Stage, folder: Path) -> bool:
    """The stage's quick checks against ``folder``, printing as they run; True if they pass."""
    print(f"\nRunning {stage.name}'s quick checks against {folder}:", flush=True)
    command = [
        sys.executable, "-m", "pytest", "tests/stage_checks", "--stage", stage.name,
        "--stage-dir", str(folder), "--quick", "-q", "--tb=short",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        checked = subprocess.run(command, cwd=REPO_ROOT, env=env, timeout=QUICK_CHECKS_TIMEOUT)
    except subprocess.TimeoutExpired:
        print(f"The quick checks were still running after {QUICK_CHECKS_TIMEOUT:g} s.")
        return False
    return checked.returncode == 0


def summary(caught: CaughtUp, checked: bool) -> list[str]:
    """Three lines: what was done, where the attempt is, how to compare."""
    stage, folder = caught.stage, caught.folder
    if caught.database.kept:
        database = "with your database"
    else:
        database = "with a new database" if caught.database.path else "with no database yet"
    checks = "its quick checks pass" if checked else "its quick checks FAILED (see above)"
    if caught.already:
        done = f"{folder} held the reference {stage.name} already, {database}; {checks}."
    else:
        done = f"Caught up: {folder} holds the reference {stage.name}, {database}; {checks}."
    diff = "diff -ru " + " ".join(f"-x {name}" for name in DIFF_EXCLUDES)
    earlier = earlier_attempts(folder)
    if caught.attempt is not None:
        where = (
            f"Your attempt is in {caught.attempt}, as you left it. A terminal or notebook that "
            f"was in {folder} is in the attempt now: cd {folder} again (in a notebook, run the "
            "chapter's first cell again)."
        )
        compare = f"Compare: {diff} {caught.attempt} {folder}"
    elif earlier:
        where = f"Nothing of yours was moved this time; your last attempt is in {earlier[-1]}."
        compare = f"Compare: {diff} {earlier[-1]} {folder}"
    else:
        where = "Nothing of yours was moved: there was no attempt to put aside."
        compare = f"Your changes from here on: {diff} {stage.path} {folder}"
    return [done, where, compare]


def wrong_arguments(argv: list[str]) -> str | None:
    """What is wrong with the command's arguments, in one line; None if nothing is."""
    if len(argv) != 1:
        return USAGE
    if argv[0] not in STAGES:
        return f"There is no stage called {argv[0]!r}. {USAGE}"
    return None


def main(argv: list[str]) -> int:
    problem = wrong_arguments(argv)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    stage = STAGES[argv[0]]
    with tempfile.TemporaryDirectory(prefix="chat-catchup-") as workdir:
        try:
            caught = catch_up(stage, main_folder(), datetime.now(), Path(workdir))
        except (FolderError, StageError) as problem:
            print(f"Nothing was moved. {problem}", file=sys.stderr)
            return 1
    checked = run_quick_checks(stage, caught.folder)
    print("\n" + "\n".join(summary(caught, checked)))
    return 0 if checked else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
