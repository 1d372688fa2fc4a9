"""The targets the bench loads: our stages' chat servers, the bare Autobahn server and the
alternatives (the Channels peer under Daphne, the python-socketio peer under uvicorn, the
Node peers), each started on a free loopback port with its limits raised for the load, and
stopped afterwards."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import people
from harness.cluster import BALANCER, Cluster
from harness.processes import StageError, StageProcesses, free_port
from harness.services import PostgresServer, RedisServer, install_line, missing_programs
from harness.stages import REPO_ROOT, Stage

from . import packages
from .adapters import Adapter, BareAdapter, ChannelsAdapter, StageAdapter
from .cpuclock import CLOCK
from .options import BARE, CHANNELS, CHANNELS_REDIS, NODE, SOCKETIO_NODE, SOCKETIO_REDIS, Options
from .results import AUTOBAHN, AUTOBAHN_IN_TWISTED_WEB, TWISTED_WEBSOCKET
from .servers import server_process
from .socketio_adapter import SocketIOAdapter

HOST = "127.0.0.1"
PEER_DIR = Path(__file__).with_name("channels_peer")
SECRET_KEY = "DJANGO_SECRET_KEY"
POLL_TIMEOUT = "300"
"""Seconds a poll may wait, for our stages and the bare server alike. The pollers wait while
the WebSocket runs take their turns: a message, not the timeout, must be what answers them."""
CHAT_CPU = "chat"
"""The key of the chat processes' CPU seconds in Running.cpu_seconds."""
CHAT = "chatserver"
"""The name of a stage's chat server process in the registry. A stage that runs in one
process (Django and the chat together) has only that one, whatever its name."""


@dataclass
class Running:
    """A started target: where to reach it, how to talk to it, which process to measure."""

    port: int
    origin: str | None
    adapter: Adapter
    pid: int
    """The process whose memory is measured: the one that holds the WebSockets."""
    rooms: list[str]
    """Rooms nobody has joined yet: the warm-up's, the long-polls', one per join storm."""
    longpoll: bool = False
    host: str = HOST
    headers: Mapping[str, str] = field(default_factory=dict)
    """What a page of the target sends besides its Origin: a logged-in person's cookies and
    CSRF token, where the target needs a login."""
    chats: Mapping[str, int] = field(default_factory=dict)
    """The chat processes by name, where there are several behind a balancer (scale_out's),
    ``pid`` among them: their CPU and memory count together."""
    helpers: Mapping[str, int] = field(default_factory=dict)
    """Further processes of the target, by what they are (django, balancer, redis,
    postgresql): their CPU is the target's too, not another program's, and is shown apart
    from the chat processes'. A helper's CPU includes its children's (PostgreSQL's
    backends)."""
    poll_port: int | None = None
    """Where the long-poll API listens, when not on ``port`` (the bare server's)."""
    websockets: str = AUTOBAHN_IN_TWISTED_WEB
    """How the WebSockets on ``port`` are served (see results.AUTOBAHN and its siblings)."""
    web_port: int | None = None
    """The bare server's: where it serves the same broadcast in a twisted.web Site."""
    twisted_port: int | None = None
    """The bare server's: where it serves the same broadcast on twisted.web.websocket."""

    def on(self, served: str) -> Running:
        """The bare server, as the yardstick of a target whose WebSockets are served as
        ``served`` says: its broadcast served that way, where it serves one."""
        ports = {AUTOBAHN_IN_TWISTED_WEB: self.web_port, TWISTED_WEBSOCKET: self.twisted_port}
        port = ports.get(served)
        return self if port is None else replace(self, port=port, websockets=served)

    def ws_url(self, room: str) -> str:
        return f"ws://{self.host}:{self.port}{self.adapter.path(room)}"

    @property
    def chat_pids(self) -> tuple[int, ...]:
        """The processes that hold the WebSockets."""
        return tuple(self.chats.values()) or (self.pid,)

    @property
    def pids(self) -> tuple[int, ...]:
        """Every process of the target, whose CPU time is the target's."""
        return (*self.chat_pids, *self.helpers.values())

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds spent so far: the chat processes' together (under CHAT_CPU), and each
        helper's with its children."""
        spent = {CHAT_CPU: CLOCK.seconds(self.chat_pids)}
        for role, pid in self.helpers.items():
            spent[role] = CLOCK.family_seconds([pid])
        return spent


class Target(ABC):
    """Something to load: its name, its label in the table, the settings it runs with."""

    kind: str
    """"stage" (ours), "bare", "channels", "socketio" (python-socketio) or "node"."""
    websockets = AUTOBAHN_IN_TWISTED_WEB
    """How its WebSockets are served: our stages mount Autobahn's WebSocketResource in a
    twisted.web Site, and Daphne hands Autobahn the connections its twisted.web HTTP
    server has upgraded. (The python-socketio and Node peers, served otherwise, keep this:
    it names the bare broadcast they take turns with, the one our stages and Channels take
    turns with too, so that all of them meet through it.)"""

    alone: str | None = None
    """A target of several chat processes: the target that runs them as one process."""

    programs: tuple[str, ...] = ()
    """The programs from the system's packages it needs (redis-server, node, ...)."""

    def __init__(self, name: str, label: str, settings: dict[str, str]) -> None:
        self.name = name
        self.label = label
        self.settings = settings

    def available(self) -> str | None:
        """Why this target cannot run on this machine, or None."""
        missing = missing_programs(self.programs)
        return install_line(missing, self.name) if missing else None

    def shown_settings(self) -> dict[str, str]:
        """The settings as printed and saved: a key made for the run is not shown."""
        return {
            name: "(made for this run)" if name == SECRET_KEY else value
            for name, value in self.settings.items()
        }

    @abstractmethod
    def running(self, workdir: Path) -> AbstractContextManager[Running]:
        """Start the target, files in ``workdir``; it stops when the block ends."""


def stage_settings(stage: Stage, options: Options) -> dict[str, str]:
    """Our stages as deployed (Django's debug mode records every query), with the chat
    servers' limits raised so that the load is measured, not refused."""
    settings = {
        "DJANGO_DEBUG": "0",
        SECRET_KEY: secrets.token_urlsafe(),  # DEBUG off: not the public development key
        "CHAT_RATE": "1000000",  # one sender sends every message of the flows
        "CHAT_BURST": "1000000",
        "CHAT_MAX_BUFFER": str(64 * 2**20),  # a slow client reader is the bench, not a fault
    }
    if "longpoll" in stage.features:
        settings["CHAT_MAX_PARKED"] = str(max(100, 2 * options.clients))
        settings["CHAT_HISTORY"] = str(max(100, 4 * options.fanout_messages))
        settings["CHAT_POLL_TIMEOUT"] = POLL_TIMEOUT
    return settings


class StageTarget(Target):
    kind = "stage"

    def __init__(self, stage: Stage, options: Options) -> None:
        super().__init__(stage.name, stage.name, stage_settings(stage, options))
        self.stage = stage
        self.programs = stage.programs
        if "twisted_websocket" in stage.features:
            self.websockets = TWISTED_WEBSOCKET
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        stage = self.stage
        # Prepared with the settings it runs with: the sessions are signed with its key.
        preparing = StageProcesses(
            stage, stage.path, workdir / "prepared", host=HOST, env=self.settings
        )
        logins = (people.VISITOR,) if "auth" in stage.features else ()
        preparing.prepare(rooms=self.rooms, logins=logins)
        site = StageProcesses(stage, stage.path, workdir / "run", host=HOST, env=self.settings)
        chat = chat_process(stage)
        try:
            site.start(database=preparing.prepared())
            pid = site.pid(chat)
            assert pid is not None, f"{stage.name}'s {chat} process is not running"
            pages = "django" if "django" in site.ports else chat
            others = {p.name: site.pid(p.name) for p in stage.processes if p.name != chat}
            yield Running(
                port=site.ports[chat],
                origin=site.url(pages, ""),  # the pages the chat server lets in
                adapter=StageAdapter(),
                pid=pid,
                rooms=[str(room) for room in preparing.free_rooms],
                longpoll="longpoll" in stage.features,
                headers=site.credentials(),
                helpers={name: other for name, other in others.items() if other is not None},
            )
        finally:
            site.stop()


class ClusterTarget(Target):
    """A stage of several chat processes (scale_out's): COPIES of its one process behind
    HAProxy, from the stage's own haproxy.cfg (harness/cluster.py), sharing a PostgreSQL
    and a Redis of their own. Its clients all go through the balancer."""

    kind = "stage"
    COPIES = 2

    def __init__(self, stage: Stage, options: Options) -> None:
        label = f"{stage.name} ({self.COPIES} processes)"
        super().__init__(stage.name, label, stage_settings(stage, options))
        self.stage = stage
        self.programs = stage.programs
        self.alone = stage.parent
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        stage = self.stage
        with ExitStack() as stack:
            postgres = stack.enter_context(PostgresServer(workdir / "postgresql"))
            preparing = StageProcesses(
                stage, stage.path, workdir / "prepared", host=HOST, env=self.settings,
                postgres=postgres,
            )  # fmt: skip
            preparing.prepare(rooms=self.rooms, logins=(people.VISITOR,))
            cluster = Cluster(
                stage, stage.path, workdir / "run", count=self.COPIES, host=HOST,
                env=self.settings, postgres=postgres,
            )  # fmt: skip
            stack.callback(cluster.stop)
            cluster.start(database=preparing.prepared())
            if cluster.redis is None:
                raise StageError(f"{stage.name}'s registry entry does not list redis")
            helpers = {
                "balancer": cluster.pid(BALANCER),
                "redis": cluster.redis.pid,
                "postgresql": postgres.pid,
            }
            chats = {name: cluster.pid(name) for name in cluster.names}
            running = {name: pid for name, pid in {**chats, **helpers}.items() if pid is not None}
            stopped = [name for name in {**chats, **helpers} if name not in running]
            if stopped:
                raise StageError(f"{', '.join(stopped)} stopped as soon as it started")
            yield Running(
                port=cluster.port("chatserver"),  # the balancer
                origin=cluster.url("django", ""),
                adapter=StageAdapter(),
                pid=running[cluster.names[0]],
                rooms=[str(room) for room in preparing.free_rooms],
                longpoll=True,
                headers=cluster.credentials(),
                chats={name: running[name] for name in chats},
                helpers={role: running[role] for role in helpers},
            )


def chat_process(stage: Stage) -> str:
    """The name of the stage's process that serves the WebSockets."""
    names = [process.name for process in stage.processes]
    if CHAT in names:
        return CHAT
    if len(names) == 1:
        return names[0]
    raise ValueError(
        f"{stage.name} has no process called {CHAT!r} and more than one process "
        f"({', '.join(names)}): the bench cannot tell which one serves the WebSockets"
    )


class BareTarget(Target):
    kind = "bare"
    websockets = AUTOBAHN

    def __init__(self, options: Options) -> None:
        super().__init__(BARE, "bare Autobahn", {"limits": "none"})
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        port, poll_port, web_port, twisted_port = free_ports(4)
        argv = [sys.executable, "-m", "bench.bare_server", "--host", HOST, "--port", str(port)]
        argv += ["--poll-port", str(poll_port), "--poll-timeout", POLL_TIMEOUT]
        argv += ["--web-port", str(web_port), "--twisted-port", str(twisted_port)]
        self.settings["long-poll"] = (
            f"twisted.web on {HOST}:{poll_port}, polls wait {POLL_TIMEOUT} s at most"
        )
        self.settings[AUTOBAHN_IN_TWISTED_WEB] = f"the same broadcast on {HOST}:{web_port}"
        self.settings[TWISTED_WEBSOCKET] = f"the same broadcast on {HOST}:{twisted_port}"
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(REPO_ROOT)}
        log = workdir / "bare.log"
        with server_process(argv, host=HOST, port=port, log=log, cwd=REPO_ROOT, env=env) as popen:
            origin = f"http://{HOST}:{port}"
            rooms = room_names(self.rooms)
            yield Running(
                port, origin, BareAdapter(), popen.pid, rooms, poll_port=poll_port,
                websockets=AUTOBAHN, web_port=web_port, twisted_port=twisted_port,
            )  # fmt: skip


def free_ports(count: int) -> list[int]:
    """``count`` different free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port(HOST)
        if port not in ports:
            ports.append(port)
    return ports


class ChannelsTarget(Target):
    """The Channels peer under Daphne, with the in-memory or the Redis channel layer."""

    kind = "channels"

    def __init__(self, name: str, options: Options) -> None:
        redis = name == CHANNELS_REDIS
        label = "Channels + Redis" if redis else "Channels (memory)"
        layer = "channels_redis RedisChannelLayer" if redis else "InMemoryChannelLayer"
        # A channel holds 100 messages by default and drops the rest: raised like our limits.
        capacity = str(max(100, 2 * options.burst_messages, 2 * options.fanout_messages))
        settings = {"layer": layer, "capacity": capacity}
        if redis:
            # redis-py's pool holds 100 connections by default and refuses the 101st ("Too
            # many connections"): a crowd leaving at once removes itself from its group
            # all together. Raised like our limits, for the crowd and the warm-up.
            settings["redis connections"] = str(max(100, 2 * options.clients))
        super().__init__(name, label, settings)
        self.redis = redis
        self.programs = ("redis-server",) if redis else ()
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        port = free_port(HOST)
        env = {
            **os.environ,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPATH": str(PEER_DIR),
            "PEER_DB_PATH": str(workdir / "peer.sqlite3"),
            "PEER_CAPACITY": self.settings["capacity"],
        }
        helpers: dict[str, int] = {}
        with ExitStack() as stack:
            if self.redis:
                redis = stack.enter_context(RedisServer(workdir / "redis"))
                helpers = {"redis": redis.pid} if redis.pid is not None else {}
                env.update(PEER_CHANNEL_LAYER="redis", PEER_REDIS_PORT=str(redis.port))
                env["PEER_REDIS_CONNECTIONS"] = self.settings["redis connections"]
                self.settings["redis"] = f"redis-server on {redis.host}:{redis.port}"
            argv = [sys.executable, "-m", "daphne", "-b", HOST, "-p", str(port)]
            argv.append("channels_chat.asgi:application")
            daphne: subprocess.Popen[bytes] = stack.enter_context(
                server_process(
                    argv, host=HOST, port=port, log=workdir / "daphne.log", cwd=PEER_DIR, env=env
                )
            )
            origin = f"http://{HOST}:{port}"
            rooms = room_names(self.rooms)
            yield Running(port, origin, ChannelsAdapter(), daphne.pid, rooms, helpers=helpers)


class SocketIOTarget(Target):
    """The python-socketio peer under uvicorn, its rooms in memory or on Redis
    (AsyncRedisManager, which every emit goes through)."""

    kind = "socketio"

    def __init__(self, name: str, options: Options) -> None:
        redis = name == SOCKETIO_REDIS
        label = "python-socketio + Redis" if redis else "python-socketio"
        manager = "AsyncRedisManager" if redis else "AsyncManager (in memory)"
        settings = {"manager": manager, "server": "uvicorn, uvloop, httptools, websockets"}
        super().__init__(name, label, settings)
        self.redis = redis
        self.programs = ("redis-server",) if redis else ()
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        port = free_port(HOST)
        packages.SOCKETIO.install(workdir / "pip.log")
        folder = packages.SOCKETIO.folder
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(folder)}
        helpers: dict[str, int] = {}
        with ExitStack() as stack:
            if self.redis:
                redis = stack.enter_context(RedisServer(workdir / "redis"))
                helpers = {"redis": redis.pid} if redis.pid is not None else {}
                env["PEER_REDIS_URL"] = f"redis://{redis.host}:{redis.port}"
                self.settings["redis"] = f"redis-server on {redis.host}:{redis.port}"
            # uvicorn as deployed ("uvicorn[standard]"): uvloop and httptools, no access log,
            # in the environment of its own that bench/packages.py makes.
            argv = [str(packages.SOCKETIO.python), "-m", "uvicorn", "chat:app", "--host", HOST]
            argv += ["--port", str(port), "--loop", "uvloop", "--http", "httptools"]
            argv += ["--ws", "websockets", "--log-level", "warning", "--no-access-log"]
            log = workdir / "uvicorn.log"
            uvicorn: subprocess.Popen[bytes] = stack.enter_context(
                server_process(argv, host=HOST, port=port, log=log, cwd=folder, env=env)
            )
            origin = f"http://{HOST}:{port}"
            rooms = room_names(self.rooms)
            yield Running(port, origin, SocketIOAdapter(), uvicorn.pid, rooms, helpers=helpers)


class NodeTarget(Target):
    """A peer on Node.js (bench/node/): the Socket.IO chat, or the bare broadcast on ``ws``
    (Node's yardstick, as the bare server is ours). Its packages are installed from the
    lockfile on first use (bench/packages.py)."""

    kind = "node"

    def __init__(self, name: str, options: Options) -> None:
        socketio = name == SOCKETIO_NODE
        label = "Socket.IO on Node" if socketio else "ws on Node"
        package = "socket.io" if socketio else "ws"
        super().__init__(name, label, {"server": f"{package} {packages.NODE.pinned(package)}"})
        self.script = "socketio.js" if socketio else "ws.js"
        self.programs = ("node", "npm")
        self.adapter: Adapter = SocketIOAdapter() if socketio else BareAdapter()
        self.rooms = options.rooms

    @contextmanager
    def running(self, workdir: Path) -> Iterator[Running]:
        packages.NODE.install(workdir / "npm.log")
        port = free_port(HOST)
        argv = ["node", self.script, HOST, str(port)]
        log = workdir / "node.log"
        folder = packages.NODE.folder
        with server_process(argv, host=HOST, port=port, log=log, cwd=folder) as node:
            origin = f"http://{HOST}:{port}"
            rooms = room_names(self.rooms)
            yield Running(port, origin, self.adapter, node.pid, rooms)


def room_names(count: int) -> list[str]:
    return ["warmup", "polls", *(f"crowd{n}" for n in range(1, count - 1))]


def all_targets(names: tuple[str, ...], stages: dict[str, Stage], options: Options) -> list[Target]:
    """The Target for each name, in the order given."""
    made: list[Target] = []
    for name in names:
        if name == BARE:
            made.append(BareTarget(options))
        elif name in stages and "scale_out" in stages[name].features:
            made.append(ClusterTarget(stages[name], options))
        elif name in stages:
            made.append(StageTarget(stages[name], options))
        elif name in CHANNELS:
            made.append(ChannelsTarget(name, options))
        elif name in NODE:
            made.append(NodeTarget(name, options))
        else:
            made.append(SocketIOTarget(name, options))
    return made
