"""`nox -s catchup -- STAGE`: a learner's attempt put aside, never deleted; the reference in its
place, with their database migrated forward when the stage's migrations fit it; and the chat
running again from their folder with `nox -s serve -- STAGE --stage-dir`."""

from __future__ import annotations

import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from harness import catchup, http
from harness.learner_folders import FolderError, copy_stage, files_of, main_folder
from harness.processes import StageProcesses
from harness.stages import REPO_ROOT, STAGES
from selftest.test_serve import READY, Output, serve_env, start, stop_serve

NOW = datetime(2026, 12, 6, 14, 12)
ATTEMPT = "django-twisted-chat-attempt-2026-12-06-1412"
LEARNERS_EDIT = "\n# my own attempt at this chapter\n"
ROOM = "Room 1"
"""The room prepare_project.py makes in the learner's database (--rooms 1)."""


@pytest.fixture(scope="module")
def learners_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A learner's database from Part 1 to the logins (they share one migration): a room
    and an account of their own in it."""
    workdir = tmp_path_factory.mktemp("learner")
    site = StageProcesses(STAGES["part1"], STAGES["part1"].path, workdir)
    site.prepare(admin=("ada", "ada's own password"), rooms=1)
    return Path(site.database.source)


def an_attempt(stage: str, folder: Path, database: Path | None) -> dict[str, bytes]:
    """A learner's folder: ``stage`` with an edit of theirs and ``database``; its files."""
    copy_stage(STAGES[stage].path, folder)
    with (folder / "chat" / "views.py").open("a") as views:
        views.write(LEARNERS_EDIT)
    if database is not None:
        (folder / catchup.DATABASE).write_bytes(database.read_bytes())
    return files_of(folder) | everything_generated(folder)


def everything_generated(folder: Path) -> dict[str, bytes]:
    """The files that files_of leaves out (the database, say), but an attempt must keep."""
    return {path.name: path.read_bytes() for path in folder.glob("*.sqlite3")}


def tables(database: Path) -> dict[str, list[str]]:
    """The tables of ``database``, and the room names when it has rooms."""
    with closing(sqlite3.connect(database)) as db:
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rooms = [row[0] for row in db.execute("SELECT name FROM chat_chatroom")]
    return {"tables": names, "rooms": rooms}


def catch_up(stage: str, main: Path, tmp_path: Path) -> catchup.CaughtUp:
    workdir = tmp_path / "work"
    workdir.mkdir(exist_ok=True)
    return catchup.catch_up(STAGES[stage], main, NOW, workdir)


# -- the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["part9"], [], ["part1", "part2"]], ids=["wrong", "none", "two"])
def test_a_wrong_stage_name_is_refused_in_one_line_that_lists_the_stages(
    argv: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(REPO_ROOT / "tests")}
    env.pop("CHAT_WORKBOOK_DIR", None)
    ran = subprocess.run(
        [sys.executable, "-m", "harness.catchup", *argv],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    said = ran.stdout + ran.stderr
    assert ran.returncode != 0, f"catchup {argv} succeeded:\n{said}"
    assert len(said.strip().splitlines()) == 1, f"catchup {argv} said more than one line:\n{said}"
    assert all(name in said for name in STAGES) and "nox -s catchup -- " in said, said
    assert not list(tmp_path.iterdir()), "a refused catchup made folders"


def test_the_learners_folder_is_where_the_chapters_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main_folder({}) == tmp_path / "django-twisted-chat"
    assert main_folder({"CHAT_WORKBOOK_DIR": "~/chat-second-try"}) == tmp_path / "chat-second-try"
    with pytest.raises(FolderError, match=r"relative path.*give the whole path"):
        main_folder({"CHAT_WORKBOOK_DIR": "chat-second-try"})


def test_an_attempt_never_takes_the_name_of_an_earlier_one(tmp_path: Path) -> None:
    folder = tmp_path / "django-twisted-chat"
    first = catchup.attempt_folder(folder, NOW)
    assert first == tmp_path / ATTEMPT
    first.mkdir()
    assert catchup.attempt_folder(folder, NOW) == tmp_path / f"{ATTEMPT}-2"


# -- what happens to the folders --------------------------------------------------------------


def test_the_attempt_is_put_aside_and_its_database_migrated_forward(
    learners_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Stuck in chapter 06: the attempt (logins, with a database) goes aside as it was, and
    the history stage's migration takes the database forward."""
    main = tmp_path / "django-twisted-chat"
    before = an_attempt("auth", main, learners_database)

    caught = catch_up("history", main, tmp_path)

    said = capsys.readouterr().out
    attempt = tmp_path / ATTEMPT
    assert caught.attempt == attempt, f"the attempt went to {caught.attempt}:\n{said}"
    assert files_of(attempt) | everything_generated(attempt) == before, (
        f"the attempt in {attempt} is not as the learner left it:\n{said}"
    )
    assert files_of(main) == files_of(STAGES["history"].path), "the reference is not in place"
    kept = tables(main / catchup.DATABASE)
    assert "chat_message" in kept["tables"], f"the database was not migrated forward:\n{said}"
    assert kept["rooms"] == [ROOM], f"the learner's rooms were not kept:\n{said}"
    assert "migrated forward: applied chat.0002_message" in said, said


def test_a_database_the_migrations_do_not_fit_stays_with_the_attempt(
    learners_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A migration of the learner's own (a column the stage has not) is not for the
    stage's migrations to take forward: the database stays aside, and a new one is made."""
    main = tmp_path / "django-twisted-chat"
    an_attempt("part3", main, learners_database)
    with closing(sqlite3.connect(main / catchup.DATABASE)) as db:
        db.execute("ALTER TABLE chat_chatroom ADD COLUMN topic varchar(80) NULL")
        db.commit()
    theirs = (main / catchup.DATABASE).read_bytes()

    catch_up("part3", main, tmp_path)

    said = capsys.readouterr().out
    assert (tmp_path / ATTEMPT / catchup.DATABASE).read_bytes() == theirs, "their db changed"
    assert tables(main / catchup.DATABASE)["rooms"] == [], "the unfit database was used"
    assert (
        f"Your database stays with your attempt, in {tmp_path / ATTEMPT / catchup.DATABASE}"
        in said
    ), said
    assert "a column chat_chatroom.topic, which part3 has not" in said, said


def test_a_branch_with_no_folder_yet_is_copied_beside_the_main_line(
    learners_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = tmp_path / "django-twisted-chat"
    main_line = an_attempt("history", main, learners_database)

    caught = catch_up("twisted_websocket", main, tmp_path)

    said = capsys.readouterr().out
    branch = tmp_path / "django-twisted-chat-07"
    assert caught.attempt is None and caught.folder == branch, said
    assert files_of(branch) == files_of(STAGES["twisted_websocket"].path), said
    assert files_of(main) | everything_generated(main) == main_line, "the main line was touched"
    assert f"There was no project in {branch} yet: copied" in said, said
    assert "There was no database; the stage makes one" in said, said


def test_twice_in_a_row_the_second_time_moves_nothing_and_keeps_the_database(
    learners_database: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main = tmp_path / "django-twisted-chat"
    catch_up("part1", main, tmp_path)
    (main / catchup.DATABASE).write_bytes(learners_database.read_bytes())  # they used it
    capsys.readouterr()

    again = catch_up("part1", main, tmp_path)

    said = capsys.readouterr().out
    assert again.already and again.attempt is None, said
    assert sorted(path.name for path in tmp_path.iterdir()) == ["django-twisted-chat", "work"]
    assert tables(main / catchup.DATABASE)["rooms"] == [ROOM], "the database was not kept"
    assert "holds the reference part1_django/ already: nothing to put aside" in said, said
    assert "Your database came along" in said, said
    summary = catchup.summary(again, checked=True)
    assert summary[0].endswith("held the reference part1 already, with your database; its "
                               "quick checks pass.")
    assert summary[1] == "Nothing of yours was moved: there was no attempt to put aside."


# -- the whole command, run from inside the learner's folder -----------------------------------


@dataclass(frozen=True)
class Run:
    """``python -m harness.catchup part1`` as a learner runs it, and what it left."""

    home: Path
    attempt_files: dict[str, bytes]
    returncode: int
    said: str

    @property
    def folder(self) -> Path:
        return self.home / "django-twisted-chat"


@pytest.fixture(scope="module")
def caught_up_from_inside(
    learners_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    """A learner's Part 1 with a virtual environment in it, caught up from a terminal whose
    working folder is that very folder."""
    home = tmp_path_factory.mktemp("home")
    folder = home / "django-twisted-chat"
    before = an_attempt("part1", folder, learners_database)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(folder / ".venv")],
        check=True, timeout=120,
    )  # fmt: skip
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(REPO_ROOT / "tests")}
    env.pop("CHAT_WORKBOOK_DIR", None)
    ran = subprocess.run(
        [sys.executable, "-m", "harness.catchup", "part1"],
        cwd=folder, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return Run(home, before, ran.returncode, ran.stdout + ran.stderr)


def test_run_from_inside_the_folder_it_says_in_three_lines_what_it_did(
    caught_up_from_inside: Run,
) -> None:
    run = caught_up_from_inside
    folder = run.folder
    assert run.returncode == 0, run.said
    attempts = list(run.home.glob("django-twisted-chat-attempt-*"))
    assert len(attempts) == 1, f"expected one attempt beside the folder:\n{run.said}"
    attempt = attempts[0]
    assert files_of(attempt) | everything_generated(attempt) == run.attempt_files, run.said
    assert files_of(folder) == files_of(STAGES["part1"].path), run.said
    assert re.search(r"\b\d+ passed\b", run.said), f"the quick checks did not run:\n{run.said}"

    done, where, compare = run.said.strip().splitlines()[-3:]
    assert done.startswith(f"Caught up: {folder} holds the reference part1, with your database")
    assert f"Your attempt is in {attempt}" in where and f"cd {folder} again" in where, where
    command = shlex.split(compare.removeprefix("Compare: "))
    diff = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    files = [line for line in diff.splitlines() if line.startswith(("diff ", "Only in"))]
    assert len(files) == 1 and files[0].endswith(f"{folder}/chat/views.py"), (
        f"`{compare}` shows more than the learner's edit:\n{diff}"
    )
    assert f"-{LEARNERS_EDIT.strip()}" in diff, diff


def test_a_virtual_environment_moves_back_into_the_folder_and_still_runs(
    caught_up_from_inside: Run,
) -> None:
    run = caught_up_from_inside
    python = run.folder / ".venv" / "bin" / "python"
    prefix = [str(python), "-c", "import sys; print(sys.prefix)"]
    ran = subprocess.run(prefix, capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == str(run.folder / ".venv"), run.said
    assert f"Moved .venv from your attempt back into {run.folder}" in run.said, run.said
    assert "it lacks Django==" in run.said, "the learner was not told what to install"


@pytest.fixture
def served(caught_up_from_inside: Run, tmp_path: Path) -> Iterator[tuple[str, Output]]:
    """``nox -s serve -- part1 --stage-dir`` on the caught-up folder: what it printed."""
    env, _ = serve_env("part1")
    command = [
        sys.executable, "-m", "harness.serve", "part1",
        "--data-dir", str(tmp_path), "--stage-dir", str(caught_up_from_inside.folder),
    ]  # fmt: skip
    serve = start(command, env)
    output = Output(serve)
    try:
        yield output.until(READY), output
    finally:
        stop_serve(serve, output, signal.SIGINT)


def test_serve_runs_the_caught_up_folder_with_the_learners_database(
    served: tuple[str, Output], caught_up_from_inside: Run, tmp_path: Path
) -> None:
    printed, _ = served
    rooms_url = re.search(r"Chat rooms:\s+(\S+)", printed)
    password = re.search(r"user admin, password (\S+)", printed)
    assert rooms_url and password, f"serve did not print the URL and login:\n{printed}"
    assert f"{caught_up_from_inside.folder}, as part1, is running" in printed, printed

    rooms = http.request(rooms_url.group(1))
    assert ROOM in rooms.text and "Lobby" not in rooms.text, (
        f"serve did not run on the learner's database (their room {ROOM!r} is not listed)"
    )
    admin = rooms_url.group(1).replace("/chats/", "/admin/")
    cookie = http.log_in(f"{admin}login/", "admin", password.group(1))
    assert http.request(admin, headers={"Cookie": cookie}).status == 200, "admin login failed"
    assert not (tmp_path / "db.sqlite3").exists(), "serve used a database of its own"
