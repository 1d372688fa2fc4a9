"""Prepare a stage's database:
``python prepare_project.py [--admin USER PASSWORD] [--person USER PASSWORD ...] [--rooms N]``.

The harness (``StageProcesses.prepare``) runs this with a stage folder as the working folder
and DJANGO_DB_PATH (or DATABASE_URL) set. It does what ``manage.py check``, ``manage.py
makemigrations --check``, ``manage.py migrate`` and an admin account would, in that order, but
starts Django once instead of four times. At the first step that fails it prints, in plain
words, what is wrong and what to do, and exits with status 1.

Each ``--person`` gets an account and a logged-in session, whose keys it prints on a line
``sessions USER=KEY ...``, for the checks to chat as on a stage where that needs a login.

With ``--rooms N`` it also makes N chat rooms and prints their ids on its last line, so that
the checks have rooms of their own without starting Django again for each; ``--empty-copy
PATH`` first keeps a copy of the database as it was before those rooms (on PostgreSQL, PATH
is the name of a new database on the same server).
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout

CANNOT_START = (
    "Django could not start with this project's settings, so no server can start and no "
    "check was run. Fix this first:"
)
CHECK_FAILED = (
    "`python manage.py check` found problems in your project, so no server can start and no "
    "check was run. Fix what it says first:"
)
MIGRATION_MISSING = (
    "Your models have changes that no migration records yet, so the database cannot be set "
    "up and no check was run. Run `python manage.py makemigrations chat` and keep the file "
    "it writes in chat/migrations/. What it found:"
)
MIGRATE_FAILED = (
    "`python manage.py migrate` failed on a new, empty database, so no check was run. Look "
    "at the migration it names in chat/migrations/:"
)


def run(step: Callable[[], object]) -> str | None:
    """Run one step quietly; what it printed if it failed, else None."""
    printed = io.StringIO()
    try:
        with redirect_stdout(printed), redirect_stderr(printed):
            step()
    except SystemExit as stop:  # makemigrations --check exits 1 when a migration is due
        return printed.getvalue() if stop.code else None
    except Exception as error:  # whatever it is, its message is what the learner needs
        return f"{printed.getvalue()}{type(error).__name__}: {error}"
    return None


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--admin", nargs=2, metavar=("USER", "PASSWORD"))
    parser.add_argument("--person", nargs=2, action="append", metavar=("USER", "PASSWORD"))
    parser.add_argument("--rooms", type=int, default=0)
    parser.add_argument("--empty-copy")
    args = parser.parse_args(argv)

    # Python put this file's folder first on the path; the harness's own modules (http.py)
    # must not hide the standard library's from Django, so the stage folder takes its place.
    sys.path[0] = os.getcwd()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_twisted_chat.settings")
    problem = run(lambda: __import__("django").setup())
    if problem is not None:
        print(f"{CANNOT_START}\n{problem}")
        return 1

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    steps = [
        (CHECK_FAILED, lambda: call_command("check")),
        (MIGRATION_MISSING, lambda: call_command("makemigrations", check=True, dry_run=True)),
        (MIGRATE_FAILED, lambda: call_command("migrate", interactive=False)),
    ]
    for explanation, step in steps:
        problem = run(step)
        if problem is not None:
            print(f"{explanation}\n{problem.strip()}")
            return 1

    if args.admin:
        username, password = args.admin
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
    if args.person:
        print(
            "sessions", *(f"{name}={session_key(name, password)}" for name, password in args.person)
        )
    if args.empty_copy:
        keep_empty_copy(args.empty_copy)
    if args.rooms:
        from chat.models import ChatRoom

        rooms = [ChatRoom.objects.create(name=f"Room {n}") for n in range(1, args.rooms + 1)]
        print(*(room.pk for room in rooms))
    return 0


def keep_empty_copy(target: str) -> None:
    """Copy the database as it is now: an sqlite file to the path ``target``; a PostgreSQL
    database to a new database called ``target`` on the same server."""
    from django.db import connection

    connection.close()  # everything is written before it is copied; nobody is connected
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        shutil.copyfile(settings["NAME"], target)
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
        password=settings["PASSWORD"], dbname="postgres", autocommit=True,
    ) as server:  # fmt: skip
        server.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                sql.Identifier(target), sql.Identifier(settings["NAME"])
            )
        )


def session_key(username: str, password: str) -> str:
    """Make the account and log it in, as the login page would; the session's key."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user, _ = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.save()
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
