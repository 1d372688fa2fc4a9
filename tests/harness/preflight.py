"""Before any check runs: can the stage be prepared at all? Say so once, first.

A project that cannot be prepared (a requirement missing, a file Python cannot read, a module
not written yet, a system check error, a model change with no migration, a migration that
fails) makes every later check fail for the same
reason, each blaming its own file. So the harness asks these questions once per run, before
the first check, and the first check that depends on the answer reports the problem in plain
words; the others are not run. The questions about Django itself are asked by
prepare_project.py, in the stage's own Python.

What a successful preparation leaves is a database (migrated, with the admin account and
rooms for the checks), which every server the checks start gets a copy of.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import InvalidRequirement, Requirement

from . import admin, people
from .importable import import_problem, syntax_problem
from .processes import PreparedDatabase, StageError, StageProcesses
from .stages import chatserver_modules

ROOMS = 60
"""Rooms made with the database, enough for a whole run of any stage's checks."""


def unmet_requirements(requirements_file: Path) -> list[str]:
    """The lines of ``requirements_file`` that the running Python does not satisfy."""
    if not requirements_file.is_file():
        return []
    unmet = []
    for line in requirements_file.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue  # a comment, or a pip option such as -r other.txt
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            unmet.append(f"{line} (not a requirement pip understands)")
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            unmet.append(f"{line} (not installed)")
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(f"{line} (installed: {installed})")
    return unmet


def check_requirements(stage_dir: Path) -> None:
    unmet = unmet_requirements(stage_dir / "requirements.txt")
    if unmet:
        listing = "\n".join(f"  {line}" for line in unmet)
        raise StageError(
            f"{stage_dir / 'requirements.txt'} asks for what this Python does not have:\n"
            f"{listing}\nInstall them (`python -m pip install -r requirements.txt` in your "
            "virtual environment; `nox -s STAGE -- --stage-dir DIR` installs your folder's "
            "requirements.txt for you)."
        )


@dataclass(frozen=True)
class Preparation:
    """The outcome of preparing a stage: a database to copy, or what went wrong."""

    database: PreparedDatabase | None = None
    empty: PreparedDatabase | None = None
    """The same database before the rooms were made."""
    problem: str | None = None


def check_code(site: StageProcesses) -> None:
    """Every Python file of the stage reads, and the chat server's modules import."""
    modules = chatserver_modules(site.stage.features)
    problem = syntax_problem(site.stage_dir) or import_problem(site.stage_dir, modules)
    if problem is not None:
        raise StageError(f"Your project's code cannot be loaded, so no check was run. {problem}")


def prepare(site: StageProcesses) -> Preparation:
    """Check the stage can be prepared, then migrate a database with the admin account and
    ROOMS rooms in it."""
    try:
        check_requirements(site.stage_dir)
        check_code(site)
        logins = people.EVERYONE if "auth" in site.stage.features else ()
        site.prepare(admin=(admin.USERNAME, admin.PASSWORD), rooms=ROOMS, logins=logins)
    except StageError as problem:
        return Preparation(problem=f"The stage could not be prepared. {problem}")
    prepared = site.prepared()
    empty = PreparedDatabase(site.empty_database, sessions=prepared.sessions)
    return Preparation(database=prepared, empty=empty)


@dataclass
class RootCause:
    """The first reason the stage cannot be checked, said once; later checks are skipped."""

    problem: str | None = None
    told: bool = False

    def stop_here(self) -> None:
        """Fail the first check that meets the problem; skip every later one."""
        if self.problem is None:
            return
        if not self.told:
            self.told = True
            pytest.fail(self.problem, pytrace=False)
        pytest.skip("not run: the stage could not be prepared or started (see the first failure)")
