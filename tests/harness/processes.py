"""Run a stage's servers as subprocesses, on free ports, with a database of their own.

The same launcher serves the tests (a fresh sqlite file in a temp folder, stopped after the
checks) and ``nox -s serve`` (a database kept outside the snapshot, stopped on Ctrl-C).
Nothing it does writes into the stage folder: the database's place comes from DJANGO_DB_PATH
(or DATABASE_URL, see harness/databases.py) and Python is told not to write bytecode caches.

A stage whose registry entry lists services gets them: a database on a PostgreSQL server
(shared by every site of a test run: see conftest.py) and a redis-server of its own, so that
two sites never hear each other's messages and a check may restart it.
"""

from __future__ import annotations

import enum
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from . import people
from .children import READY_TIMEOUT, STOP_TIMEOUT, end_process, free_port, tail
from .databases import Database, PostgresDatabase, SqliteFile
from .services import PostgresServer, RedisServer, Server, ServiceError
from .stages import Process, Stage

PORT_IN_USE = ("Address already in use", "CannotListenError", "That port is already in use")
"""What twistd and Django's runserver print when their port is taken."""
PREPARE_PROJECT = Path(__file__).with_name("prepare_project.py")
EVERY_INTERFACE = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""Where to reach a server listening on every interface from this machine: its loopback,
a name every stage allows (a request to 0.0.0.0 would name a host no stage allows)."""


@dataclass(frozen=True)
class PreparedDatabase:
    """A migrated database that servers start from a copy of, and the rooms in it."""

    source: str
    """An sqlite file's path, or a database's name on the run's PostgreSQL server."""
    rooms: tuple[int, ...] = ()
    sessions: Mapping[str, str] = field(default_factory=dict)
    """Logged-in sessions in it: username -> session key (see harness/people.py)."""


class Answer(enum.Enum):
    """How a starting process responded when the harness asked whether it is ready."""

    NOT_LISTENING = "nothing listens on its port yet"
    SILENT = "it takes connections but answers nothing"
    ANSWERED = "it answered"


class StageError(Exception):
    """Something about the stage itself is wrong; the message says what to check."""


def let_children_hear_ctrl_c() -> None:
    """Give SIGINT its usual meaning again in this process, and so in every process it starts.

    A shell starts a background job (``nox -s part2 &``) with SIGINT ignored, and an ignored
    signal stays ignored across ``exec``: every server the harness started would ignore it
    too. Twisted then never installs its handler (it only does when Python's default one is
    in place), so ``twistd`` would go on running after Ctrl-C's signal. Call this once, in the
    main thread, before starting any server.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def reachable(host: str) -> str:
    """The address to reach a server listening on ``host`` from this machine."""
    return EVERY_INTERFACE.get(host, host)


class StageProcesses:
    """A stage's processes, running for as long as the ``with`` block lasts.

    >>> with StageProcesses(stage, stage_dir, workdir) as site:
    ...     site.url("django", "/chats/")
    """

    def __init__(
        self,
        stage: Stage,
        stage_dir: Path,
        workdir: Path,
        *,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        env: Mapping[str, str] | None = None,
        database: Database | None = None,
        postgres: PostgresServer | None = None,
        deployed: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        """``deployed``: run as deployed, with DEBUG off and each process's deployed_args.
        ``log_dir``: where the processes' logs go (``workdir`` by default).
        ``database``: the one to use, instead of a new one in ``workdir`` (sqlite) or on
        ``postgres`` (a stage that needs PostgreSQL; without ``postgres``, a server of its own
        is started in ``log_dir`` and stopped with the stage). Sites that start from copies
        of one another's databases (``prepared``) must be given the same ``postgres``."""
        self.stage = stage
        self.stage_dir = stage_dir
        self.workdir = workdir
        self.log_dir = log_dir or workdir
        self.deployed = deployed
        self.host = host
        self.ports = {p.name: (ports or {}).get(p.name) or free_port(host) for p in stage.processes}
        self.database = database or self._new_database(postgres)
        """The database every command of the stage uses: a new one unless ``database`` names
        another (a learner's own, which ``nox -s serve`` may run)."""
        self.redis = RedisServer(self.log_dir) if "redis" in stage.services else None
        """The stage's own redis-server, if it needs one (a check may restart it)."""
        self._extra_env = dict(env or {})
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self.free_rooms: list[int] = []
        """Rooms in the database that no check has used yet."""
        self.sessions: dict[str, str] = {}
        """Logged-in sessions in the database, by username (stages with logins)."""
        self._logs: dict[str, IO[bytes]] = {}
        self.had_to_kill: list[str] = []
        """For each process that did not end when asked and was killed: what to check."""

    # -- environment and commands -------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """The environment every command of the stage runs with."""
        env = dict(os.environ)
        env.update(
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(self.stage_dir),
        )
        env.update(self.database.env())
        if self.redis is not None:
            env["CHAT_REDIS_URL"] = self.redis.url
        if self.deployed:
            env["DJANGO_DEBUG"] = "0"
        for process in self.stage.processes:
            env[process.port_env] = str(self.ports[process.name])
        env.update(self._extra_env)
        return env

    def _argv(self, template: tuple[str, ...], port: int | None = None) -> list[str]:
        values = {
            "python": sys.executable,
            "bin": str(Path(sys.executable).parent),
            "host": self.host,
            "port": "" if port is None else str(port),
        }
        return [part.format(**values) for part in template]

    def log_path(self, role: str) -> Path:
        return self.log_dir / f"{self.process(role).name}.log"

    def run(
        self, *argv: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a one-off command (``{python}`` etc. allowed) in the stage folder."""
        result = subprocess.run(
            self._argv(argv),
            cwd=self.stage_dir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise StageError(
                f"`{' '.join(argv).replace('{python}', 'python')}` failed in {self.stage_dir} "
                f"with exit code {result.returncode}. What it printed:\n"
                f"{tail(result.stdout + result.stderr)}"
            )
        return result

    def manage(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``python manage.py ARGS`` against this run's database."""
        return self.run("{python}", "manage.py", *args, check=check, env=env)

    def django_shell(self, code: str, **values: str) -> str:
        """Run Python in ``manage.py shell``; ``values`` arrive as environment variables."""
        return self.manage("shell", "--verbosity", "0", "--command", code, env=values).stdout

    # -- life cycle ----------------------------------------------------------------------

    def __enter__(self) -> StageProcesses:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self, *, database: PreparedDatabase | None = None) -> None:
        """Prepare the database, start every process and wait until each answers.

        ``database``: a copy of this already prepared database is used instead of preparing
        one again, which saves seconds per start.
        """
        self.launch(database=database)
        self.wait_until_ready()

    def launch(self, *, database: PreparedDatabase | None = None) -> None:
        """Prepare the database (or copy ``database``) and start every process, not waiting
        for them to answer: the caller may do something else meanwhile."""
        if not (self.stage_dir / "manage.py").is_file():
            raise StageError(
                f"{self.stage_dir} has no manage.py. Point --stage-dir at the folder that "
                "holds manage.py (the one you ran `django-admin startproject ... .` in)."
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._start_services(redis=True)
        if database is None:
            self.prepare()
        else:
            self.database.copy_from(database.source)
            self.free_rooms = list(database.rooms)
            self.sessions = dict(database.sessions)
        for process in self.stage.processes:
            self._launch(process)

    def _new_database(self, postgres: PostgresServer | None) -> Database:
        if "postgresql" not in self.stage.services:
            return SqliteFile(self.workdir / "db.sqlite3", self.workdir / "empty.sqlite3")
        server = postgres or PostgresServer(self.log_dir)
        return PostgresDatabase(server, f"site_{uuid.uuid4().hex[:12]}")

    def _start_services(self, *, redis: bool = False) -> None:
        """Start the database's server (if it has one not yet running) and, with ``redis``,
        the stage's redis-server; StageError with the server's last lines if one does not.
        Preparing alone needs no redis-server."""
        try:
            self.database.start()
            if redis and self.redis is not None and not self.redis.running:
                self.redis.start()
        except ServiceError as problem:
            raise StageError(f"A server the stage needs did not start. {problem}") from None

    def wait_until_ready(self) -> None:
        """Wait until every process answers; StageError if one stops or stays silent."""
        for process in self.stage.processes:
            self._wait_until_ready(process)

    def prepare(
        self, admin: tuple[str, str] | None = None, rooms: int = 0, logins: tuple[str, ...] = ()
    ) -> None:
        """Set up this run's database: Django's checks, migrate, an optional admin account
        (``admin``: username and password), an account and a logged-in session for each of
        ``logins`` (see ``credentials``), and ``rooms`` rooms for ``new_room`` to hand out
        (a copy without them is kept at ``empty_database``), then any further setup commands
        of the stage.

        Raises StageError saying in plain words what stops the project being prepared.
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._start_services()
        self.database.create()
        options = [*(("--admin", *admin) if admin else ()), "--rooms", str(rooms)]
        for username in logins:
            options += ["--person", username, people.PASSWORD]
        if rooms:
            options += ["--empty-copy", self.empty_database]
        prepared = self.run("{python}", str(PREPARE_PROJECT), *options, check=False)
        if prepared.returncode != 0:
            raise StageError(tail(prepared.stdout + prepared.stderr, 40))
        for line in prepared.stdout.splitlines():
            if line.startswith("sessions "):
                self.sessions = dict(pair.split("=", 1) for pair in line.split()[1:])
        if rooms:
            self.free_rooms = [int(n) for n in prepared.stdout.splitlines()[-1].split()]
        for command in self.stage.setup:
            self.run(*command)

    def process(self, role: str) -> Process:
        """The process called ``role``, or playing it ("django", "chatserver")."""
        return self.stage.process(role)

    def port(self, role: str) -> int:
        return self.ports[self.process(role).name]

    def argv(self, process: Process, port: int | None = None) -> list[str]:
        """The command that starts ``process``, listening on ``port``."""
        deployed_args = process.deployed_args if self.deployed else ()
        return self._argv(process.argv + deployed_args, port)

    def env_for(self, process: Process, port: int) -> dict[str, str]:
        """The environment ``process`` runs with, listening on ``port``."""
        values = {"host": self.host, "port": str(port)}
        own = {name: value.format(**values) for name, value in process.env}
        return {**self.env, **own, **self._extra_env}

    def _launch(self, process: Process, env: Mapping[str, str] | None = None) -> None:
        log = self.log_path(process.name).open("ab")
        self._logs[process.name] = log
        port = self.ports[process.name]
        self._running[process.name] = subprocess.Popen(
            self.argv(process, port),
            cwd=self.stage_dir,
            env={**self.env_for(process, port), **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def _wait_until_ready(self, process: Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        popen = self._running[process.name]
        while True:
            if popen.poll() is not None:
                log = self.log_text(process.name)
                raise StageError(
                    f"The {process.name} process stopped (exit code {popen.returncode}) before it "
                    f"was ready.{self._port_in_use_hint(process, log)} Its last lines:\n"
                    f"{tail(log)}"
                )
            answer = self._answer(process)
            if answer is Answer.ANSWERED:
                return
            elsewhere = self._listens_elsewhere(process, popen.pid)
            if time.monotonic() > deadline or elsewhere:
                raise StageError(self._not_ready(process, answer, elsewhere))
            time.sleep(0.1)

    def _listens_elsewhere(self, process: Process, pid: int) -> list[int]:
        """The ports ``pid`` listens on, if none of them is the one it was given."""
        try:
            import psutil  # in the checks' requirements; `nox -s serve` may run without it
        except ImportError:
            return []
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            return []
        ports = sorted({c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN})
        return [] if self.ports[process.name] in ports else ports

    def _not_ready(self, process: Process, answer: Answer, elsewhere: list[int]) -> str:
        port = self.ports[process.name]
        last_lines = f" Its last lines:\n{tail(self.log_text(process.name))}"
        if elsewhere:
            listed = " and ".join(map(str, elsewhere))
            return (
                f"The {process.name} process listens on port {listed}, not on port {port}, "
                f"the one {process.port_env} gives it. Read the port from {process.port_env} "
                f"instead of a fixed one.{last_lines}"
            )
        if answer is Answer.SILENT:
            return (
                f"The {process.name} process listens on port {port} but did not answer "
                f"GET {process.ready_path} within {READY_TIMEOUT:g} s: it took the connection "
                "and then said nothing. Something keeps it from answering: a call that blocks "
                "the reactor's thread (Django's ORM outside deferToThread, a sleep), or a page "
                f"view that never returns.{last_lines}"
            )
        return (
            f"The {process.name} process did not listen on port {port} within "
            f"{READY_TIMEOUT:g} s. Does it take its port from {process.port_env}?{last_lines}"
        )

    def _port_in_use_hint(self, process: Process, log: str) -> str:
        if not any(sign in log for sign in PORT_IN_USE):
            return ""
        return (
            f" Its port was already in use: another program (perhaps a server you started "
            f"earlier) is listening there. Stop it, and check that {process.name} listens on "
            f"the port {process.port_env} gives it ({self.ports[process.name]} here) rather "
            "than a fixed one."
        )

    def _answer(self, process: Process) -> Answer:
        """Whether ``process`` answers its ready path yet, or listens without answering."""
        port = self.ports[process.name]
        try:
            connection = socket.create_connection((reachable(self.host), port), timeout=1)
        except OSError:
            return Answer.NOT_LISTENING
        connection.close()
        if process.ready_path is None:
            return Answer.ANSWERED
        try:
            with urllib.request.urlopen(self.url(process.name, process.ready_path), timeout=2):
                return Answer.ANSWERED
        except urllib.error.HTTPError:
            return Answer.ANSWERED  # it answered; whether the answer is right is for the checks
        except OSError:
            return Answer.SILENT

    def stop_process(self, role: str, signum: int = signal.SIGTERM) -> int | None:
        """Stop one process with ``signum`` (SIGTERM by default), leaving the others running.

        Returns its exit code: -9 (SIGKILL) if it had to be killed, STOP_TIMEOUT after
        ``signum`` (``had_to_kill`` then says so in words); None if it was not running.
        """
        return self._stop_one(self.process(role).name, signum=signum)

    def start_process(self, role: str, env: Mapping[str, str] | None = None) -> None:
        """Start one stopped process again on the same port, with ``env`` added to its
        environment (an ``ssl:`` endpoint, say), and wait until it answers over plain HTTP.
        """
        process = self.process(role)
        self.launch_process(role, env)
        self._wait_until_ready(process)

    def launch_process(self, role: str, env: Mapping[str, str] | None = None) -> None:
        """Start one stopped process again on the same port, not waiting for it to answer:
        for a process the caller knows better how to ask (over https, say)."""
        self._launch(self.process(role), env)

    def pid(self, role: str) -> int | None:
        """The process id of the running process ``role`` (to measure it), or None."""
        popen = self._running.get(self.process(role).name)
        return None if popen is None or popen.poll() is not None else popen.pid

    def all_running(self) -> bool:
        return all(popen.poll() is None for popen in self._running.values())

    def stop(self) -> None:
        """Stop every process: all are asked at once (SIGTERM), then each is waited for,
        STOP_TIMEOUT at most, and killed if it has not ended by then."""
        for popen in self._running.values():
            if popen.poll() is None:
                popen.send_signal(signal.SIGTERM)
        for name in list(self._running):
            self._stop_one(name, asked=True)
        if self.redis is not None:
            self.redis.stop()
        self.database.stop()

    def _stop_one(
        self, name: str, *, asked: bool = False, signum: int = signal.SIGTERM
    ) -> int | None:
        popen = self._running.pop(name, None)
        if popen is not None:
            killed = end_process(popen, None if asked else signum, STOP_TIMEOUT)
            if killed and signum != signal.SIGKILL:
                self.had_to_kill.append(
                    f"The {name} process was still running {STOP_TIMEOUT:g} s after "
                    f"{signal.Signals(signum).name} and had to be killed. A server must end "
                    "when asked: check that every service's stopService in chatserver.tac "
                    "finishes (a Deferred that never fires, or a thread nobody stops, keeps "
                    f"twistd running). Its last lines:\n{tail(self.log_text(name))}"
                )
        log = self._logs.pop(name, None)
        if log is not None:
            log.close()
        return None if popen is None else popen.returncode

    # -- what the checks need ------------------------------------------------------------

    def url(self, role: str, path: str = "/", scheme: str = "http") -> str:
        return f"{scheme}://{reachable(self.host)}:{self.port(role)}{path}"

    def log_text(self, role: str) -> str:
        path = self.log_path(role)
        return path.read_text(errors="replace") if path.exists() else ""

    def new_room(self) -> int:
        """A room no check has used yet: one made when the database was prepared, or else
        a batch made now."""
        if not self.free_rooms:
            self.free_rooms = self.create_rooms([f"Room {uuid.uuid4().hex[:8]}" for _ in range(20)])
        return self.free_rooms.pop(0)

    def prepared(self) -> PreparedDatabase:
        """This database as it is now, for other sites to start from a copy of."""
        return PreparedDatabase(self.database.source, tuple(self.free_rooms), dict(self.sessions))

    def new_login(self, username: str) -> str:
        """A new account, logged in: its session key (for checks that log it out or ban it)."""
        code = (
            "import os; from django.contrib.auth import get_user_model; "
            "from django.test import Client; "
            "user = get_user_model().objects.create_user(os.environ['NEW_USER']); "
            "client = Client(); client.force_login(user); "
            "print(client.cookies['sessionid'].value)"
        )
        return self.django_shell(code, NEW_USER=username).split()[-1]

    def database_locked(self) -> AbstractContextManager[None]:
        """Lock this run's database while the ``with`` block lasts: every query waits (see
        harness/databases.py for how long)."""
        return self.database.locked()

    def credentials(self, username: str = people.VISITOR) -> dict[str, str]:
        """Headers that make a request come from a page of ``username``, logged in: its
        session cookie and CSRF token. None are needed (an empty dict) on a stage without
        logins."""
        if not self.sessions:
            return {}
        return people.credentials(self.sessions[username])

    @property
    def empty_database(self) -> str:
        """Where ``prepare`` keeps a copy of the database from before it made rooms."""
        return self.database.empty_copy

    def create_room(self, name: str) -> int:
        """Create a ChatRoom straight in the database and return its id."""
        return self.create_rooms([name])[0]

    def create_rooms(self, names: list[str]) -> list[int]:
        """Create several ChatRooms with one ``manage.py shell`` and return their ids."""
        code = (
            "import os; from chat.models import ChatRoom; "
            "print(*[ChatRoom.objects.create(name=name).pk "
            "for name in os.environ['ROOM_NAMES'].split(chr(10))])"
        )
        printed = self.django_shell(code, ROOM_NAMES="\n".join(names)).split()
        return [int(room_id) for room_id in printed[-len(names) :]]

    def create_superuser(self, username: str, password: str) -> None:
        """Create (or reset) an admin account that can log in to /admin/."""
        code = (
            "import os; from django.contrib.auth import get_user_model; "
            "user, _ = get_user_model().objects.get_or_create(username=os.environ['ADMIN_USER']); "
            "user.is_staff = user.is_superuser = True; "
            "user.set_password(os.environ['ADMIN_PASSWORD']); user.save()"
        )
        self.django_shell(code, ADMIN_USER=username, ADMIN_PASSWORD=password)

    def save_artefacts(self, folder: Path) -> list[Path]:
        """Copy every process log, and the logs of the servers it needs, into ``folder``
        (called when a check fails)."""
        saved = []
        for process in self.stage.processes:
            target = folder / f"server-{process.name}.log"
            target.write_text(self.log_text(process.name))
            saved.append(target)
        for server in self.servers():
            if server.log_path.is_file():
                saved.append(Path(shutil.copyfile(server.log_path, folder / server.log_path.name)))
        return saved

    def servers(self) -> list[Server]:
        """The servers the stage needs beside its own processes (PostgreSQL, Redis)."""
        return [*self.database.servers(), *([self.redis] if self.redis is not None else [])]


SiteWith = Callable[[Path, Mapping[str, str]], AbstractContextManager[StageProcesses]]
"""The ``site_with`` fixture: another copy of a stage's servers, with some settings changed."""
