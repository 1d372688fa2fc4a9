"""Several copies of a stage's one process behind HAProxy: the scale_out stage as deployed.

Each copy is the stage's one twistd process on a port of its own; they share one database
and one Redis, because StageProcesses gives every process of a site the same environment.
HAProxy runs from the stage's own haproxy.cfg, with its ``server`` lines replaced by one per
copy, so the configuration a learner wrote is the one the checks go through.

A ``Cluster`` is a StageProcesses whose processes are the copies ("chat1", "chat2", ...) and
the balancer. The balancer plays "django" and "chatserver": every client written for a
one-process site (harness/wsclient.py, resuming.py, chat_page.py) goes through it when it is
handed the cluster, and straight to one copy when it is handed ``cluster.door(i)``.
"""

from __future__ import annotations

import csv
import signal
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import people
from .children import READY_TIMEOUT, free_port, tail
from .databases import PostgresDatabase
from .processes import PreparedDatabase, StageError, StageProcesses, reachable
from .services import MissingProgram, PostgresServer, find_program
from .stages import Process, Stage

CONFIG = "haproxy.cfg"
"""The balancer's configuration, in the stage folder (and, rewritten, in the workdir)."""
BACKEND = "chat_processes"
"""The backend whose ``server`` lines the harness replaces (see the stage's haproxy.cfg)."""
BALANCER = "balancer"
STAND_IN = "stand_in"
"""The server Cluster.diverted_to adds to the backend for a while, in place of the processes."""
STATS_TIMEOUT = 2.0
"""Seconds one question to HAProxy's stats socket may take: it answers at once."""


def copy_name(number: int) -> str:
    """The name of chat process ``number`` (from 1), as HAProxy and the logs know it."""
    return f"chat{number}"


def balancer_config(stage_config: str, servers: Mapping[str, str], stats_socket: Path) -> str:
    """The stage's haproxy.cfg with backend chat_processes' ``server`` lines replaced by one
    per entry of ``servers`` (name -> host:port), and a stats socket to ask HAProxy which
    servers it sees up.

    The first ``server`` line of the stage is the pattern: its options (``check``, ``inter``,
    ...) are kept for every new one; only its name and address change.
    """
    section = ""
    pattern = ""
    kept: list[str] = []
    at = -1
    for line in stage_config.splitlines():
        words = line.split()
        if words and not line[0].isspace():
            section = " ".join(words[:2])
        if section == f"backend {BACKEND}" and words[:1] == ["server"]:
            if not pattern:
                pattern, at = line, len(kept)
            continue
        kept.append(line)
    if len(pattern.split()) < 3:
        raise StageError(
            f"The stage's {CONFIG} has no `server` line in `backend {BACKEND}`: write one per "
            'chat process, e.g. `server chat1 "${CHAT_SERVER_1}" check`.'
        )
    indent = pattern[: len(pattern) - len(pattern.lstrip())]
    options = " ".join(pattern.split()[3:])
    kept[at:at] = [
        f"{indent}server {name} {address} {options}".rstrip() for name, address in servers.items()
    ]
    stats = f"    stats socket {stats_socket} mode 600 level admin"
    if not any(line.split()[:1] == ["global"] for line in kept):
        kept[:0] = ["global", stats, ""]
    else:
        start = next(n for n, line in enumerate(kept) if line.split()[:1] == ["global"])
        kept.insert(start + 1, stats)
    return "\n".join(kept) + "\n"


def cluster_stage(stage: Stage, ports: Mapping[str, int], config: Path, host: str) -> Stage:
    """``stage`` with its one process copied once per chat port of ``ports`` and the balancer
    (on ``ports[BALANCER]``, from ``config``) in front, playing "django" and "chatserver".

    The balancer finds chat process N at CHAT_SERVER_N (``host``:its port), the variables
    the stage's haproxy.cfg reads."""
    one = stage.process("chatserver")
    copies = tuple(
        replace(one, name=name, port_env=f"CHAT_{name.upper()}_PORT", roles=())
        for name in ports
        if name != BALANCER
    )
    servers = tuple(
        (f"CHAT_SERVER_{n}", f"{reachable(host)}:{ports[c.name]}")
        for n, c in enumerate(copies, start=1)
    )
    balancer = Process(
        name=BALANCER,
        argv=("haproxy", "-db", "-f", str(config)),
        port_env="CHAT_BALANCER_PORT",
        ready_path=one.ready_path,
        env=(("CHAT_BALANCER_LISTEN", "{host}:{port}"), *servers),
        roles=("django", "chatserver"),
    )
    # The balancer comes last: started after the chat processes, asked after they answer.
    return replace(stage, processes=(*copies, balancer))


@dataclass(frozen=True)
class Door:
    """One chat process of a cluster, reached straight rather than through the balancer.

    It offers what the clients read from a site (its URLs, a person's credentials, the
    sessions, its log), so ``joined(cluster.door(2), room)`` talks to chat2 alone.
    """

    cluster: Cluster
    name: str

    def url(self, role: str = "django", path: str = "/", scheme: str = "http") -> str:
        return self.cluster.url(self.name, path, scheme)

    def credentials(self, username: str = people.VISITOR) -> dict[str, str]:
        return self.cluster.credentials(username)

    @property
    def sessions(self) -> dict[str, str]:
        return self.cluster.sessions

    def log_text(self, role: str = "") -> str:
        return self.cluster.log_text(self.name)


class Cluster(StageProcesses):
    """``count`` copies of a stage's one process behind HAProxy, for a ``with`` block.

    >>> with Cluster(stage, stage_dir, workdir, count=2) as cluster:
    ...     cluster.url("django", "/chats/")      # through the balancer
    ...     cluster.door(2).url("django", "/")    # chat2 itself
    """

    def __init__(
        self,
        stage: Stage,
        stage_dir: Path,
        workdir: Path,
        *,
        count: int,
        host: str = "127.0.0.1",
        balancer_port: int | None = None,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> None:
        """``balancer_port``: where people reach the site (a free port by default); the
        chat processes take free ports. ``options`` are StageProcesses' (database, ...)."""
        if count < 1:
            raise StageError(f"A cluster needs at least one chat process, not {count}.")
        ports = {copy_name(n): free_port(host) for n in range(1, count + 1)}
        ports[BALANCER] = balancer_port or free_port(host)
        self.count = count
        self.config = workdir / CONFIG
        self.stats_socket = workdir / "haproxy.sock"
        names = ("localhost", reachable(host))
        origins = {f"http://{name}:{port}" for name in names for port in ports.values()}
        # A page may come from the balancer or from any one process: each lets all in.
        settings = {"CHAT_ALLOWED_ORIGINS": ",".join(sorted(origins)), **(env or {})}
        stage = cluster_stage(stage, ports, self.config, host)
        super().__init__(stage, stage_dir, workdir, host=host, ports=ports, env=settings, **options)

    @property
    def names(self) -> list[str]:
        """The chat processes' names, chat1 first."""
        return [copy_name(n) for n in range(1, self.count + 1)]

    @property
    def postgres(self) -> PostgresServer:
        """The PostgreSQL server the chat processes share, for a check to stop and start.
        (Its Redis is ``redis``, as for any site of a stage that needs one.)"""
        if not isinstance(self.database, PostgresDatabase):
            raise StageError(f"Stage {self.stage.name} keeps its data in {self.database}.")
        return self.database.server

    def door(self, number: int) -> Door:
        """Chat process ``number`` (from 1), to reach it without the balancer."""
        return Door(self, copy_name(number))

    def launch(self, *, database: PreparedDatabase | None = None) -> None:
        """Write the balancer's configuration from the stage's, then start every process."""
        try:
            find_program("haproxy")
        except MissingProgram as missing:
            raise StageError(str(missing)) from None
        source = self.stage_dir / CONFIG
        if not source.is_file():
            raise StageError(
                f"{self.stage_dir} has no {CONFIG}: the load balancer's configuration, with a "
                f"`frontend chat` and a `backend {BACKEND}` (see the chapter)."
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        servers = {name: f'"${{CHAT_SERVER_{n}}}"' for n, name in enumerate(self.names, 1)}
        self.config.write_text(balancer_config(source.read_text(), servers, self.stats_socket))
        super().launch(database=database)

    def wait_until_ready(self) -> None:
        """Wait until every chat process answers, then until HAProxy sees them all up."""
        super().wait_until_ready()
        self.wait_until_balanced(self.names)

    # -- one chat process at a time -------------------------------------------------------

    def kill(self, number: int, signum: int = signal.SIGKILL) -> int | None:
        """Stop chat process ``number`` with ``signum`` (SIGKILL: it dies at once); its exit
        code (see ``stop_process``)."""
        return self.stop_process(copy_name(number), signum)

    def restart(self, number: int) -> None:
        """Start stopped chat process ``number`` again on its port, and wait until it answers
        and HAProxy sends people to it again."""
        self.start_process(copy_name(number))
        self.wait_until_balanced([copy_name(number)])

    # -- what HAProxy sees ----------------------------------------------------------------

    def ask_balancer(self, command: str) -> str:
        """HAProxy's answer to one command on its runtime API (its stats socket)."""
        with socket.socket(socket.AF_UNIX) as stats:
            stats.settimeout(STATS_TIMEOUT)
            stats.connect(str(self.stats_socket))
            stats.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := stats.recv(65536):
                answer += chunk
        return answer.decode()

    def server_states(self) -> dict[str, str]:
        """Each chat process's state as HAProxy sees it: "UP", "DOWN", "UP 1/3", ..."""
        answer = self.ask_balancer("show stat")
        rows = csv.DictReader(answer.removeprefix("# ").splitlines())
        mine = [row for row in rows if row["pxname"] == BACKEND and row["svname"] in self.names]
        return {row["svname"]: row["status"] for row in mine}

    @contextmanager
    def diverted_to(self, address: str) -> Iterator[None]:
        """For the block, HAProxy sends every new request to ``address`` (host:port) instead
        of to the chat processes, which it keeps in maintenance meanwhile: a check can make
        the balancer meet a process that misbehaves (harness/hang_up.py). Connections open
        before stay where they are. After the block, the chat processes are up again."""
        stand_in = f"{BACKEND}/{STAND_IN}"
        self.expect_answer(f"add server {stand_in} {address}", "New server registered.")
        try:
            self.expect_answer(f"enable server {stand_in}", "")
            for name in self.names:
                self.expect_answer(f"set server {BACKEND}/{name} state maint", "")
            yield
        finally:
            for name in self.names:
                self.expect_answer(f"set server {BACKEND}/{name} state ready", "")
            self.expect_answer(f"set server {stand_in} state maint", "")
            self.expect_answer(f"shutdown sessions server {stand_in}", "")
            self.expect_answer(f"del server {stand_in}", "Server deleted.")
        self.wait_until_balanced(self.names)

    def expect_answer(self, command: str, expected: str) -> None:
        """Give HAProxy ``command``; StageError unless it answers ``expected``."""
        answer = self.ask_balancer(command).strip()
        if answer != expected:
            raise StageError(f"HAProxy answered {command!r} with {answer!r}, not {expected!r}.")

    def wait_until_balanced(self, names: list[str], timeout: float = READY_TIMEOUT) -> None:
        """Wait until HAProxy sees every chat process of ``names`` up; StageError if not."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while True:
            try:
                states = self.server_states()
            except OSError:
                states = {}  # HAProxy is not listening on its socket yet
            if all(states.get(name) == "UP" for name in names):
                return
            if self.pid(BALANCER) is None or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        seen = ", ".join(f"{name} {state}" for name, state in states.items()) or "nothing"
        raise StageError(
            f"HAProxy did not see {', '.join(names)} up within {timeout:g} s (it sees {seen}). "
            f"Check `option httpchk` in the stage's {CONFIG}: its path must answer 200 "
            f"without a login. HAProxy's last lines:\n{tail(self.log_text(BALANCER))}"
        )


ClusterWith = Callable[[Path, int, Mapping[str, str]], AbstractContextManager[Cluster]]
"""The ``cluster_with`` fixture: ``count`` copies of a stage's process behind its balancer,
with some settings changed, for one ``with`` block."""
