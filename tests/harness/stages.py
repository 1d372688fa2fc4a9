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

    @property
    def path(self) -> Path:
        return REPO_ROOT / self.folder

    @property
    def chapter_path(self) -> Path:
        return TUTORIAL_DIR / self.chapter


DJANGO = Process(
    name="django",
    argv=("{python}", "manage.py", "runserver", "--noreload", "{host}:{port}"),
    port_env="DJANGO_PORT",
    ready_path="/chats/",
)

CHATSERVER = Process(
    name="chatserver",
    argv=("{bin}/twistd", "--nodaemon", "--pidfile=", "--python", "chatserver.tac"),
    port_env="CHAT_PORT",
    ready_path="/",
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
            features=frozenset({"rooms"}),
            processes=(DJANGO,),
        ),
        Stage(
            name="part2",
            folder="part2_websocket",
            parent="part1",
            chapter="02_websocket.md",
            title="per-room WebSocket chat on Twisted and Autobahn",
            features=frozenset({"rooms", "websocket"}),
            processes=(DJANGO, CHATSERVER),
        ),
        Stage(
            name="part3",
            folder="part3_longpoll",
            parent="part2",
            chapter="03_longpoll.md",
            title="HTTP long-polling beside the WebSockets, on the same Twisted server",
            features=frozenset({"rooms", "websocket", "longpoll"}),
            processes=(DJANGO, CHATSERVER),
        ),
    ]
}


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


NEWEST = list(STAGES.values())[-1]
"""The newest stage of the main line, which has every check; branches are listed before it."""


def get_stage(name: str) -> Stage:
    """The stage called ``name``, or an error that lists the ones there are."""
    try:
        return STAGES[name]
    except KeyError:
        known = ", ".join(STAGES)
        raise KeyError(f"there is no stage called {name!r}; the stages are: {known}") from None
