"""Throw-away PostgreSQL and Redis servers, from the programs installed on this machine.

A stage that needs them (chapter 09's scale_out) gets real servers, as a person would run
them: each on a free port, its files in a temp folder, stopped when the run ends. The same
classes serve the checks and ``nox -s serve``, so nothing here depends on pytest.

Why not pytest-postgresql and pytest-redis (with mirakuru, which both build on)? Their
executors would do most of this, but:

- as root (CI, containers) PostgreSQL must run as the ``postgres`` user; their executors run
  ``initdb`` and ``pg_ctl`` as whoever runs the checks, with no way to change user;
- ``pg_ctl`` starts the server in the background and ``pg_ctl stop`` waits as long as it
  likes; here the server is the harness's own child, whose log goes where the stage's logs
  go and whose stop is bounded (SIGINT or SIGTERM, a bounded wait, then SIGKILL), like every
  other process the harness starts (harness/children.py);
- they are pytest fixtures first, and ``nox -s serve`` runs outside pytest;
- pytest-postgresql turns fsync off (``-F``); this stage is about what survives a crash.

What is left to write is small: ``initdb`` once, ``postgres`` as a child, a connection to
make and drop databases; ``redis-server`` with a few flags and a PING.

fsync stays on: a throw-away server still loses nothing a check relies on when a process
dies, and the cost is in the commits, not in starting (initdb runs with ``--no-sync``: a
server that crashes while being set up is set up again, anyway).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from .children import READY_TIMEOUT, STOP_TIMEOUT, end_process, free_port, tail

if TYPE_CHECKING:
    import psycopg

HOST = "127.0.0.1"
SUPERUSER = "postgres"
"""The database superuser initdb makes (-U), whoever runs it; trusted on this machine only."""
POSTGRES_FOLDERS = (
    "/usr/lib/postgresql/*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
)
"""Where PostgreSQL's server programs live off PATH, one folder per installed version:
Debian and Ubuntu (``/usr/lib/postgresql/15/bin``), and Homebrew's versioned formulas, which
it does not link onto PATH (Apple silicon, then Intel)."""
POSTGRES_PROGRAMS = ("initdb", "postgres")

PACKAGES: dict[str, tuple[str, str]] = {
    "postgres": ("postgresql", "postgresql@17"),
    "initdb": ("postgresql", "postgresql@17"),
    "redis-server": ("redis-server", "redis"),
    "haproxy": ("haproxy", "haproxy"),
    "node": ("nodejs", "node"),
    "npm": ("npm", "node"),
}
"""For each program: the Debian/Ubuntu package and the Homebrew formula that install it."""


class ServiceError(Exception):
    """A server did not start or did not do what it was asked; the message says why."""


class MissingProgram(ServiceError):
    """A program a stage needs is not installed; str() is one line saying how to install it."""

    def __init__(self, program: str) -> None:
        self.program = program
        self.debian, self.brew = PACKAGES[program]
        super().__init__(install_line([self]))


def install_line(missing: Iterable[MissingProgram], needed_by: str = "") -> str:
    """One line that names every missing program and the one command for each system:
    ``needed_by`` (a stage, say) needs them, if given."""
    missing = list(missing)
    names = [problem.program for problem in missing]
    programs = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    debian = " ".join(dict.fromkeys(problem.debian for problem in missing))
    brew = " ".join(dict.fromkeys(problem.brew for problem in missing))
    are = "is" if len(missing) == 1 else "are"
    what = f"{needed_by} needs {programs}, which {are}" if needed_by else f"{programs} {are}"
    return (
        f"{what} not installed: on Debian/Ubuntu `sudo apt-get install {debian}`, on macOS "
        f"`brew install {brew}`"
    )


def find_program(name: str) -> Path:
    """Where ``name`` is installed: for PostgreSQL's programs the newest version in
    POSTGRES_FOLDERS, then PATH. MissingProgram if it is nowhere."""
    if name in POSTGRES_PROGRAMS:
        found = [Path(p) / name for pattern in POSTGRES_FOLDERS for p in glob.glob(pattern)]
        installed = [program for program in found if program.is_file()]
        if installed:
            return max(installed, key=postgres_version)
    found = shutil.which(name)
    if found is None:
        raise MissingProgram(name)
    return Path(found)


def postgres_version(program: Path) -> int:
    """The major version in a program's folder name: 15 for /usr/lib/postgresql/15/bin/postgres,
    17 for /opt/homebrew/opt/postgresql@17/bin/postgres."""
    digits = re.search(r"(\d+)\D*$", program.parent.parent.name)
    return int(digits.group(1)) if digits else 0


def missing_programs(names: Iterable[str]) -> list[MissingProgram]:
    """For a preflight: what is missing of ``names`` (programs, such as ``postgres``)."""
    missing = []
    for name in names:
        try:
            find_program(name)
        except MissingProgram as problem:
            missing.append(problem)
    return missing


class Server:
    """What both servers share: a child process on a port, a log, a bounded start and stop.

    The server stays in the harness's process group, as the stage's own processes do: what
    stops the group (a Ctrl-C in the terminal, serve's guard after a ``kill -9``) stops it
    too, and both servers stop cleanly on SIGINT.
    """

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.host = HOST
        self.port = port or free_port(HOST)
        self.log_path = workdir / f"{self.name}.log"
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _answers(self) -> bool:
        raise NotImplementedError

    def _child_options(self) -> dict[str, Any]:
        """More of subprocess.Popen's options for the server's process."""
        return {}

    def start(self) -> None:
        """Start the server and wait until it answers; ServiceError with its log if not."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._popen = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            **self._child_options(),
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while not self._answers():
            if self._popen.poll() is not None:
                self._close_log()
                raise ServiceError(
                    f"{self.name} stopped (exit code {self._popen.returncode}) before it "
                    f"answered on port {self.port}. Its last lines:\n{tail(self.log_text())}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ServiceError(
                    f"{self.name} did not answer on port {self.port} within "
                    f"{READY_TIMEOUT:g} s. Its last lines:\n{tail(self.log_text())}"
                )
            time.sleep(0.1)

    def stop(self, signum: int | None = None) -> None:
        """Ask the server to stop (``signum``, or its usual stop signal), wait STOP_TIMEOUT
        at most, then kill it."""
        if self._popen is not None:
            end_process(self._popen, signum or self.stop_signal, STOP_TIMEOUT)
            self._popen = None
        self._close_log()

    def restart(self) -> None:
        """Stop and start again, on the same port, with the same data."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    @property
    def pid(self) -> int | None:
        """The server's own process (PostgreSQL's postmaster, redis-server), while it runs:
        whose CPU the bench counts as the server's."""
        return self._popen.pid if self.running and self._popen is not None else None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Server:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def hand_to_postgres(folder: Path) -> None:
    """Give ``folder`` to the postgres user, or say why that user could not use it."""
    for above in folder.resolve().parents:
        if not above.stat().st_mode & stat.S_IXOTH:
            raise ServiceError(
                f"PostgreSQL runs as the postgres user here (it refuses to run as root), "
                f"and that user cannot reach {folder}: {above} is open to root alone. "
                "Keep the data somewhere others may pass through (--data-dir /var/tmp/chat, "
                "say), or run as a user of your own."
            )
    shutil.chown(folder, "postgres", "postgres")


class PostgresServer(Server):
    """A PostgreSQL server of its own: ``initdb`` into a folder of its own on first start.

    That folder is a new temp folder rather than one in ``workdir``: as root, the server runs
    as the ``postgres`` user, who must own the folder and reach it, and a pytest temp folder
    is root's alone. ``close()`` (or leaving the ``with`` block) removes it; ``stop`` keeps
    it, for ``start`` or ``restart`` to carry on with the same data.

    It stops on SIGINT, PostgreSQL's "fast" shutdown: SIGTERM is its "smart" one, which waits
    for every client to disconnect first, for as long as a client likes.
    """

    name = "postgresql"
    stop_signal = signal.SIGINT

    def __init__(self, workdir: Path, port: int | None = None, keep_in: Path | None = None) -> None:
        """``keep_in``: a folder to keep the server's files in from run to run (``nox -s
        serve``'s), instead of a temp folder that ``close`` removes."""
        super().__init__(workdir, port)
        self.folder = keep_in
        self._kept = keep_in is not None
        self._as_postgres = os.geteuid() == 0

    @property
    def data(self) -> Path | None:
        """The data folder (PGDATA), once there is one."""
        return None if self.folder is None else self.folder / "data"

    def url(self, database: str) -> str:
        """Where a client finds ``database`` on this server (libpq's and DATABASE_URL's form)."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{database}"

    def _child_options(self) -> dict[str, Any]:
        """As root, run as ``postgres``: PostgreSQL refuses to run as root."""
        if not self._as_postgres:
            return {}
        assert self.folder is not None  # postgres's own, unlike root's home or a pytest folder
        return {"user": "postgres", "group": "postgres", "extra_groups": [], "cwd": self.folder}

    def _initdb(self) -> None:
        if self.folder is None:
            self.folder = Path(tempfile.mkdtemp(prefix="chat-postgresql-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._as_postgres:
            hand_to_postgres(self.folder)
        argv = [
            str(find_program("initdb")),
            "--pgdata", str(self.data), "--username", SUPERUSER, "--auth", "trust",
            "--encoding", "UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=READY_TIMEOUT, **self._child_options()
        )
        if done.returncode != 0:
            raise ServiceError(
                f"initdb could not set up a PostgreSQL data folder in {self.data}:\n"
                f"{tail(done.stdout + done.stderr)}"
            )

    def start(self) -> None:
        if self.data is None or not (self.data / "PG_VERSION").is_file():
            self._initdb()
        super().start()

    def _argv(self) -> list[str]:
        assert self.data is not None
        return [
            str(find_program("postgres")), "-D", str(self.data),
            "-c", f"listen_addresses={self.host}", "-c", f"port={self.port}",
            "-c", "unix_socket_directories=",  # TCP only: no socket file to own or clean up
            "-c", "max_connections=200",  # every chat process keeps a few threads' connections
        ]  # fmt: skip

    def _answers(self) -> bool:
        import psycopg  # the tests' requirements and the stage's have it

        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False  # not listening yet, or "the database system is starting up"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        """A new connection to ``database``, for the caller to close."""
        import psycopg

        return psycopg.connect(self.url(database), connect_timeout=10)

    def create_database(self, name: str, template: str | None = None) -> None:
        """A new database ``name``, empty or a copy of ``template`` (which nobody may be
        connected to while it is copied: PostgreSQL refuses then)."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._run_sql(statement)

    def has_database(self, name: str) -> bool:
        with self.connect() as connection:
            found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return found.fetchone() is not None

    def drop_database(self, name: str) -> None:
        """Drop ``name``, disconnecting whoever is still connected to it."""
        from psycopg import sql

        self._run_sql(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    def _run_sql(self, statement: object) -> None:
        import psycopg

        try:
            with self.connect() as connection:
                connection.autocommit = True  # CREATE and DROP DATABASE refuse a transaction
                connection.execute(statement)  # type: ignore[arg-type]
        except psycopg.Error as error:
            raise ServiceError(f"PostgreSQL on port {self.port} refused: {error}") from error

    def close(self) -> None:
        """Stop the server and remove its data folder, unless it was given one to keep.

        Data about to be removed is not worth the shutdown checkpoint, which writes and syncs
        every changed page and takes seconds on a busy disk: SIGQUIT, the "immediate"
        shutdown, ends the server without one.
        """
        if self._kept:
            self.stop()
            return
        self.stop(signal.SIGQUIT)
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RedisServer(Server):
    """A redis-server of its own, keeping nothing on disk (``--save "" --appendonly no``):
    what it carries is only ever "what happened just now"."""

    name = "redis"

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        super().__init__(workdir, port)
        self.log_path = workdir / f"redis-{self.port}.log"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def _argv(self) -> list[str]:
        return [
            str(find_program("redis-server")),
            "--bind", self.host, "--port", str(self.port),
            "--save", "", "--appendonly", "no",
            "--dir", str(self.workdir),  # where it would write, were it ever asked to
            "--daemonize", "no", "--logfile", "",  # to stdout: the log above
        ]  # fmt: skip

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False
