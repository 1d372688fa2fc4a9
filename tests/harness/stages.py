"""The registry of stages: where each lives, what it is built from, what it can do, how it runs.

This is the one place that knows the stages. The pytest suite, the chapter replay and the
noxfile all read it, so adding a stage means adding an entry here and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TUTORIAL_DIR = REPO_ROOT / "tutorial"


@dataclass(frozen=True)
class Process:
    """One long-running process of a stage, such as Django's development server.

    ``argv`` may use the placeholders ``{python}`` (the running interpreter), ``{bin}`` (the
    folder of its scripts, where ``twistd`` lives), ``{host}`` and ``{port}``. The port is also
    handed to every process of the stage in the environment variable ``port_env``, so that, for
    example, the chat server knows which Django origin to trust.
    """

    name: str
    argv: tuple[str, ...]
    port_env: str
    ready_path: str | None = "/"
    """An HTTP path that answers once the process is up; None means "the port accepts"."""
    env: tuple[tuple[str, str], ...] = ()
    """Variables for this process alone, whose values may use ``{host}`` and ``{port}``."""
    roles: tuple[str, ...] = ()
    """Other names the checks may know it by: a process that serves both Django's pages and
    the chat is both "django" and "chatserver"."""
    deployed_args: tuple[str, ...] = ()
    """Further arguments when the stage runs as deployed, DEBUG off (``nox -s serve`` for a
    room): Django's runserver then serves the static files only when told to."""

    def plays(self, role: str) -> bool:
        return role == self.name or role in self.roles


FEATURES = {
    "rooms": "a Django site: rooms in the admin, a room list, a page per room",
    "websocket": "a WebSocket chat server, one conversation per room",
    "autobahn": "the WebSockets on Autobahn, whose own options some checks read",
    "twisted_websocket": "the WebSockets on Twisted's own twisted.web.websocket",
    "longpoll": "the same chat over HTTP long-polling",
    "two_origins": "pages and chat server in two processes on two ports: a status page, CORS",
    "single_process": "Django, its static files and the chat in one Twisted process",
    "anonymous": "anyone may chat without logging in; HTTP senders are limited by address",
    "auth": "logins on every page; the chat server knows who is speaking from the session",
    "memory_only": "messages live in the chat server's memory alone: a room keeps its latest "
    "CHAT_HISTORY, and after a restart ids start again at 1",
    "unacknowledged": "a message is sent once and never acknowledged: the page gives a refused "
    "or unsent message back in the input box",
    "history": "every message stored before anyone sees it; ids that survive restarts; clients "
    "that resume from the last id they saw; acknowledged sends with refs; retention",
    "sqlite": "the data in one sqlite file (DJANGO_DB_PATH), inside each process",
    "scale_out": "several identical chat processes behind a load balancer, sharing PostgreSQL "
    "(DATABASE_URL) and Redis pub/sub (CHAT_REDIS_URL)",
}
"""What a stage can do, in a word each; checks say which they need with @pytest.mark.needs."""


@dataclass(frozen=True)
class Stage:
    """A runnable snapshot of the project, and the chapter that builds it from its parent."""

    name: str
    folder: str
    parent: str | None
    chapter: str
    title: str
    features: frozenset[str]
    processes: tuple[Process, ...]
    setup: tuple[tuple[str, ...], ...] = ()
    """Commands to run once the database is migrated (every stage is a Django project, so
    the harness always checks and migrates it first; see harness/prepare_project.py)."""
    branch: bool = False
    """True for a stage beside the main line: its parent plus an alternative, which no
    later stage builds on."""
    services: tuple[str, ...] = ()
    """Servers the stage needs beside its own processes ("postgresql", "redis"): the harness
    starts them (harness/services.py) and tells the stage where they are."""
    programs: tuple[str, ...] = ()
    """Programs of the system its checks run, beyond Python's packages: its nox session says
    how to install any that is missing, and does nothing else."""

    @property
    def path(self) -> Path:
        return REPO_ROOT / self.folder

    def process(self, role: str) -> Process:
        """The process called ``role``, or playing it ("django", "chatserver")."""
        for process in self.processes:
            if process.plays(role):
                return process
        raise KeyError(f"stage {self.name} has no process that plays {role!r}")

    @property
    def chapter_path(self) -> Path:
        return TUTORIAL_DIR / self.chapter


DJANGO = Process(
    name="django",
    argv=("{python}", "manage.py", "runserver", "--noreload", "{host}:{port}"),
    port_env="DJANGO_PORT",
    ready_path="/chats/",
    deployed_args=("--insecure",),
)

CHATSERVER = Process(
    name="chatserver",
    argv=("{bin}/twistd", "--nodaemon", "--pidfile=", "--python", "chatserver.tac"),
    port_env="CHAT_PORT",
    ready_path="/",
)

ONE_PROCESS = Process(
    name="site",
    argv=("{bin}/twistd", "--nodaemon", "--pidfile=", "--python", "chatserver.tac"),
    port_env="DJANGO_PORT",  # not read by the stage: how `nox -s serve` is given a port
    ready_path="/chats/",
    env=(("CHAT_LISTEN", "tcp:{port}:interface={host}"),),
    roles=("django", "chatserver"),
)

IN_MEMORY_CHAT = frozenset({"memory_only", "unacknowledged"})
"""What every chat stage has until history replaces it: messages kept in memory, sent once."""
SQLITE = frozenset({"sqlite"})
"""Where every stage keeps its data until scale_out moves it to PostgreSQL."""
HISTORY = frozenset(
    {"rooms", "websocket", "autobahn", "longpoll", "single_process", "auth", "history"}
)

STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in [
        Stage(
            name="part1",
            folder="part1_django",
            parent=None,
            chapter="01_django.md",
            title="the Django site: rooms, admin, pages",
            features=frozenset({"rooms"}) | SQLITE,
            processes=(DJANGO,),
        ),
        Stage(
            name="part2",
            folder="part2_websocket",
            parent="part1",
            chapter="02_websocket.md",
            title="per-room WebSocket chat on Twisted and Autobahn",
            features=frozenset(
                {"rooms", "websocket", "autobahn", "two_origins", "anonymous"}
                | IN_MEMORY_CHAT
                | SQLITE
            ),
            processes=(DJANGO, CHATSERVER),
        ),
        Stage(
            name="part3",
            folder="part3_longpoll",
            parent="part2",
            chapter="03_longpoll.md",
            title="HTTP long-polling beside the WebSockets, on the same Twisted server",
            features=frozenset(
                {"rooms", "websocket", "autobahn", "longpoll", "two_origins", "anonymous"}
                | IN_MEMORY_CHAT
                | SQLITE
            ),
            processes=(DJANGO, CHATSERVER),
        ),
        Stage(
            name="twisted_websocket",
            folder="addendums/twisted_websocket",
            parent="part3",
            chapter="07_twisted_websocket.md",
            title="Part 3 with its WebSockets on Twisted's own twisted.web.websocket",
            features=frozenset(
                {"rooms", "websocket", "twisted_websocket", "longpoll", "two_origins", "anonymous"}
                | IN_MEMORY_CHAT
                | SQLITE
            ),
            processes=(DJANGO, CHATSERVER),
            branch=True,
        ),
        Stage(
            name="single_process",
            folder="addendums/single_process",
            parent="part3",
            chapter="04_single_process.md",
            title="one Twisted process serving Django, its static files and the chat on one port",
            features=frozenset(
                {"rooms", "websocket", "autobahn", "longpoll", "single_process", "anonymous"}
                | IN_MEMORY_CHAT
                | SQLITE
            ),
            processes=(ONE_PROCESS,),
        ),
        Stage(
            name="auth",
            folder="addendums/auth",
            parent="single_process",
            chapter="05_auth.md",
            title="logins on every page, and a chat server that knows who is speaking",
            features=frozenset(
                {"rooms", "websocket", "autobahn", "longpoll", "single_process", "auth"}
                | IN_MEMORY_CHAT
                | SQLITE
            ),
            processes=(ONE_PROCESS,),
        ),
        Stage(
            name="history",
            folder="addendums/history",
            parent="auth",
            chapter="06_history.md",
            title="every message stored before it is shown; clients that resume where they were",
            features=HISTORY | SQLITE,
            processes=(ONE_PROCESS,),
        ),
        Stage(
            name="scale_out",
            folder="addendums/scale_out",
            parent="history",
            chapter="09_scale_out.md",
            title="several chat processes behind a load balancer, joined by PostgreSQL and Redis",
            features=HISTORY | {"scale_out"},
            processes=(ONE_PROCESS,),
            services=("postgresql", "redis"),
            programs=("postgres", "redis-server", "haproxy"),
        ),
    ]
}


NEWEST = [stage for stage in STAGES.values() if not stage.branch and not stage.services][-1]
"""The newest stage of the main line that runs on Python alone, with every check of the
stages before it: what a workshop serves and ``nox -s under_load`` checks. A stage that needs
PostgreSQL and Redis (scale_out) is for a chapter of its own, not every laptop."""


def chatserver_modules(features: frozenset[str]) -> list[str]:
    """The modules of a stage's chatserver package that the checks import, by its features."""
    if "websocket" not in features:
        return []
    names = ["config", "factory", "messages", "protocol", "resource"]
    if "longpoll" in features:
        names += ["longpoll", "web"]
    if "auth" in features:
        names.append("people")
    if "history" in features:
        names.append("store")
    return [f"chatserver.{name}" for name in names]


@dataclass(frozen=True)
class Reading:
    """A chapter that builds no stage: the replay runs it, once, in an empty folder, and it
    must run without error, but there is no snapshot to compare what it leaves with."""

    chapter: str
    title: str

    @property
    def chapter_path(self) -> Path:
        return TUTORIAL_DIR / self.chapter


READINGS: dict[str, Reading] = {
    reading.chapter: reading
    for reading in [
        Reading("00_start_here.md", "how the workbook works; checks your Python"),
        Reading("08_whyfore.md", "the 2013 aside revisited, with this machine's bench figures"),
    ]
}
"""The chapters without a stage, by file name. Every chapter is a stage's or one of these."""


def get_stage(name: str) -> Stage:
    """The stage called ``name``, or an error that lists the ones there are."""
    try:
        return STAGES[name]
    except KeyError:
        known = ", ".join(STAGES)
        raise KeyError(f"there is no stage called {name!r}; the stages are: {known}") from None
