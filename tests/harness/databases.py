"""Where a run's data lives: an sqlite file, or a database on a PostgreSQL server.

Every stage up to history keeps its data in one sqlite file, named by DJANGO_DB_PATH;
chapter 09's scale_out keeps it in PostgreSQL, named by DATABASE_URL, because several
processes share it. The harness does only a few things to a database itself (tells the
stage where it is, copies a prepared one, locks it, keeps an empty copy); each is a method
here, so that StageProcesses never asks which kind it has, and the sqlite stages go on
exactly as before.
"""

from __future__ import annotations

import shutil
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from .services import PostgresServer, Server


class Database(ABC):
    """A run's database, as the harness sees it."""

    @abstractmethod
    def env(self) -> dict[str, str]:
        """The variables that tell the stage where its database is."""

    @property
    @abstractmethod
    def source(self) -> str:
        """What another run copies to start from this database as it is now: a file's path,
        or a database's name on the same server (PreparedDatabase.source)."""

    @property
    @abstractmethod
    def empty_copy(self) -> str:
        """Where prepare_project.py --empty-copy keeps the database from before its rooms."""

    @abstractmethod
    def start(self) -> None:
        """Start the server it lives on, if it has one and nobody started it yet."""

    @abstractmethod
    def stop(self) -> None:
        """Stop that server again, if ``start`` started it."""

    @abstractmethod
    def servers(self) -> list[Server]:
        """The server it lives on, if any: to say where its log is, and to save it."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether it has been made (by ``create`` or ``copy_from``) yet."""

    @abstractmethod
    def create(self) -> None:
        """Make sure the database exists, empty if it is new, for Django to migrate."""

    @abstractmethod
    def copy_from(self, source: str) -> None:
        """Replace this database with a copy of ``source`` (see ``source``)."""

    @abstractmethod
    @contextmanager
    def locked(self) -> Iterator[None]:
        """Lock every table while the ``with`` block lasts: whatever the stage asks of the
        database waits, as on a disk that has stopped answering."""

    @abstractmethod
    def __str__(self) -> str:
        """Where it is, for a person: a path or an address."""


class SqliteFile(Database):
    """One sqlite file, named by DJANGO_DB_PATH; the empty copy is a file beside it."""

    def __init__(self, path: Path, empty_copy: Path) -> None:
        self.path = path
        self._empty_copy = empty_copy

    def env(self) -> dict[str, str]:
        return {"DJANGO_DB_PATH": str(self.path)}

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def empty_copy(self) -> str:
        return str(self._empty_copy)

    def start(self) -> None:
        """Nothing to start: sqlite is a library inside each process."""

    def stop(self) -> None:
        """Nothing to stop."""

    def servers(self) -> list[Server]:
        return []

    def exists(self) -> bool:
        return self.path.is_file()

    def create(self) -> None:
        """Nothing to do: sqlite makes the file when Django first connects."""

    def copy_from(self, source: str) -> None:
        shutil.copyfile(source, self.path)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """sqlite's exclusive lock: every query waits, up to sqlite's timeout (5 s unless the
        stage sets another)."""
        with closing(sqlite3.connect(self.path, isolation_level=None)) as lock:
            lock.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                lock.execute("ROLLBACK")

    def __str__(self) -> str:
        return str(self.path)


class PostgresDatabase(Database):
    """A database of its own on a PostgreSQL server, named by DATABASE_URL.

    Copies are PostgreSQL's own: CREATE DATABASE ... TEMPLATE, which copies the files and
    takes a fraction of the time migrating again would.
    """

    def __init__(self, server: PostgresServer, name: str) -> None:
        self.server = server
        self.name = name
        self._started = False

    def start(self) -> None:
        """The checks share one server, started before any stage's database is made; a
        stage run on its own (``nox -s serve``) starts and stops its server itself."""
        if not self.server.running:
            self.server.start()
            self._started = True

    def stop(self) -> None:
        if self._started:
            self.server.close()
            self._started = False

    def servers(self) -> list[Server]:
        return [self.server]

    def env(self) -> dict[str, str]:
        return {"DATABASE_URL": self.server.url(self.name)}

    @property
    def source(self) -> str:
        return self.name

    @property
    def empty_copy(self) -> str:
        return f"{self.name}_empty"

    def exists(self) -> bool:
        return self.server.has_database(self.name)

    def create(self) -> None:
        if not self.exists():
            self.server.create_database(self.name)

    def copy_from(self, source: str) -> None:
        self.server.drop_database(self.name)
        self.server.create_database(self.name, template=source)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """A transaction holding ACCESS EXCLUSIVE locks on every table (the chat's, the
        sessions', the users'): every query waits until it ends, however long."""
        from psycopg import sql

        with closing(self.server.connect(self.name)) as connection:
            tables = connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
            names = sql.SQL(", ").join(sql.Identifier(table) for (table,) in tables)
            connection.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(names))
            try:
                yield
            finally:
                connection.rollback()

    def __str__(self) -> str:
        return self.server.url(self.name)
