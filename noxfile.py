"""Verify the workbook, one stage at a time or all at once, and run a stage for people.

nox                                   verify everything
nox -s part2                          verify one stage (the reference snapshot)
nox -s part2 -- --stage-dir ~/mine    verify your own folder as part2
nox -s serve -- part2                 run a stage's servers for people to chat on
nox -s doctor                         is this laptop ready? (offline, in seconds)
nox -s wheelhouse -- DIR              every pinned package in DIR, for a room without internet
CHAT_WHEELHOUSE=DIR nox -s part2      install from that wheelhouse alone (a folder or http://)
nox -s catchup -- part2               put your attempt aside and the reference in its place
nox -s workshop                       the room's server for a workshop, with a live board
nox -l                                list the sessions
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nox
from nox.command import CommandFailed

sys.path.insert(0, str(Path(__file__).parent / "tests"))
from harness.catchup import wrong_arguments as wrong_catchup_arguments
from harness.lab import planned as planned_lab
from harness.lab import settings_folder as lab_settings_folder
from harness.lab import write_settings as write_lab_settings
from harness.moved_envs import why_not_reusable
from harness.native_windows import refusal as native_windows_refusal
from harness.package_source import WheelhouseError, pins_in, wheelhouse_from_environment
from harness.services import install_line, missing_programs
from harness.stages import NEWEST, STAGES, Stage

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"

HARNESS_REQUIREMENTS = "tests/requirements.txt"
TUTORIAL_REQUIREMENTS = "tutorial/requirements.txt"
BENCH_REQUIREMENTS = "bench/requirements.txt"
"""The bench's client, the Channels peer and the chart: chapter 08 runs the bench, and the
self-tests check its figures and its chart."""
SOCKETIO_PEER_REQUIREMENTS = "bench/socketio_peer/requirements.txt"
"""The python-socketio peer's, which the bench installs in an environment of its own
(bench/packages.py); the wheelhouse holds them too."""
RUFF = "ruff==0.17.6"
WHEELHOUSE_TOOLS = ("pip==26.3", "uv==0.13.9")
"""What `nox -s wheelhouse` runs: pip downloads, uv resolves for other platforms."""
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}
ENVIRONMENTS = Path(__file__).parent / ".nox"


def workbook_session(*, name: str | None = None, **options: Any):
    """``nox.session``, except that an environment made in another folder or on another
    machine (a workbook copied to a USB stick) is made anew instead of reused."""

    def register(func):
        session_name = name or func.__name__
        moved = why_not_reusable(ENVIRONMENTS / session_name) is not None
        return nox.session(func, name=session_name, reuse_venv=False if moved else None, **options)

    return register


def install(session: nox.Session, *requirement_files: str, pins: tuple[str, ...] = ()) -> None:
    """Every install goes through here, so that CHAT_WHEELHOUSE holds for every session:
    set, the packages come from that wheelhouse alone (see harness/package_source.py)."""
    args = [*(f"-r{file}" for file in requirement_files), *pins]
    try:
        wheelhouse = wheelhouse_from_environment()
        if wheelhouse is None:
            session.install(*args)
            return
        wheelhouse.check(pins_in(requirement_files, pins))
    except WheelhouseError as error:
        session.error(str(error))
    try:
        session.install(*wheelhouse.install_options(), *args, env=wheelhouse.install_env())
    except CommandFailed:
        session.error(wheelhouse.install_failed())


def every_stage_requirements() -> list[str]:
    return [f"{stage.folder}/requirements.txt" for stage in STAGES.values()]


def install_stage(session: nox.Session, stage: Stage, *more: str) -> None:
    install(session, f"{stage.folder}/requirements.txt", *more)


def install_every_stage(session: nox.Session, *more: str) -> None:
    """Every stage's requirements at once (they pin the same Django and Twisted), for what
    runs more than one stage: the chapters, which build the branches too, and the self-tests."""
    install(session, *every_stage_requirements(), *more)


def requirements_of_folder_checked(posargs: list[str]) -> list[str]:
    """The requirements.txt of the folder given with --stage-dir, if it has one."""
    for at, arg in enumerate(posargs):
        folder = arg.partition("=")[2] if arg.startswith("--stage-dir=") else None
        if arg == "--stage-dir" and at + 1 < len(posargs):
            folder = posargs[at + 1]
        if folder is not None:
            requirements = Path(folder).expanduser() / "requirements.txt"
            return [str(requirements)] if requirements.is_file() else []
    return []


def refuse_missing_programs(session: nox.Session, stage: Stage) -> None:
    """Before anything is installed: one line naming the programs the stage needs that this
    machine lacks (PostgreSQL, Redis, HAProxy for scale_out), and how to install them."""
    missing = missing_programs(stage.programs)
    if missing:
        session.error(install_line(missing, needed_by=f"nox -s {stage.name}"))


def stage_session(stage: Stage):
    def verify(session: nox.Session) -> None:
        refuse_missing_programs(session, stage)
        install_stage(
            session, stage, HARNESS_REQUIREMENTS, *requirements_of_folder_checked(session.posargs)
        )
        session.run(
            "pytest", "tests/stage_checks", "--stage", stage.name, "--tb=short", *session.posargs,
            env=NO_BYTECODE,
        )  # fmt: skip

    verify.__doc__ = f"Check {stage.folder}, {stage.title} (-- --stage-dir DIR: your folder)"
    return verify


for _stage in STAGES.values():
    workbook_session(name=_stage.name)(stage_session(_stage))


@workbook_session()
def under_load(session: nox.Session) -> None:
    """Check the newest stage with every core kept busy: the checks' answer must not change."""
    install_stage(session, NEWEST, HARNESS_REQUIREMENTS)
    session.run(
        "pytest", "tests/stage_checks", "--stage", NEWEST.name, "--under-load", "--tb=short",
        *session.posargs, env=NO_BYTECODE,
    )  # fmt: skip


THREE_AT_A_TIME = "--numprocesses=3"
"""The self-tests and the chapter replays spend most of their time waiting on servers,
browsers and installs of their own, so three at a time keep two cores busy (pytest-xdist;
-- --numprocesses=0 runs them one at a time)."""
MODULE_BY_MODULE = "--dist=loadfile"
"""Each self-test module runs whole on one worker, in its own order: a module's shared
server (the workshop, a room, a chapter's site) starts once, a module's checks may build on
each other (the workshop's reset comes last), and the runs of `nox -s serve`, which make
.nox/serve on first use, never make it twice at once. (Finer xdist_group marks would need
--dist=loadgroup, which pytest-xdist 3.8.0 ignores under pytest 9.2.) Chapter replays share
nothing, and are spread one by one."""


@workbook_session()
def harness(session: nox.Session) -> None:
    """Check the checks: copies of a stage with a mistake in them must fail in plain words."""
    install_every_stage(session, HARNESS_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run(
        "pytest", "tests/selftest", THREE_AT_A_TIME, MODULE_BY_MODULE, "--tb=short",
        *session.posargs, env=NO_BYTECODE,
    )  # fmt: skip


@workbook_session()
def tutorial(session: nox.Session) -> None:
    """Replay every chapter onto its parent stage and compare with its snapshot."""
    install_every_stage(session, HARNESS_REQUIREMENTS, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run(
        "pytest", "tests/chapters", THREE_AT_A_TIME, "--tb=short", *session.posargs,
        env=NO_BYTECODE,
    )  # fmt: skip


@workbook_session()
def book(session: nox.Session) -> None:
    """Build the chapters, with what their replay printed, into a website, and check it."""
    install_every_stage(session, HARNESS_REQUIREMENTS, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run("pytest", "tests/book", "--tb=short", *session.posargs, env=NO_BYTECODE)
    session.log("The book is in book/_build/html/: open index.html there, or publish the folder.")


@workbook_session()
def lint(session: nox.Session) -> None:
    """Run ruff over the stages, the harness and this file."""
    install(session, pins=(RUFF,))
    session.run("ruff", "check", ".")


def refuse_native_windows(session: nox.Session) -> None:
    """serve, lab and doctor need Linux or macOS: on native Windows, say so, plainly."""
    problem = native_windows_refusal(f"nox -s {session.name}")
    if problem is not None:
        session.error(problem)


@workbook_session(default=False)
def lab(session: nox.Session) -> None:
    """Open the chapters as notebooks in JupyterLab (a double-click opens one)."""
    refuse_native_windows(session)
    install_every_stage(session, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    # The default viewer is set in this environment's own settings folder, never the user's.
    settings = lab_settings_folder(Path(session.virtualenv.location))
    session.log(f"Chapters open as notebooks: {write_lab_settings(settings)}")
    command, address = planned_lab(session.posargs, settings)
    session.log(f"Open {address} in your browser (JUPYTER_PORT chooses the port).")
    session.run(*command)


@workbook_session(default=False, venv_backend="none")
def doctor(session: nox.Session) -> None:
    """Is this laptop ready? Python, nox, the browser, ports, disk, packages: offline."""
    refuse_native_windows(session)
    # On nox's own Python, installing nothing: it must answer where nothing can be installed.
    session.run(
        sys.executable, "-m", "harness.doctor", *session.posargs,
        env={**NO_BYTECODE, "PYTHONPATH": "tests"}, external=True,
    )  # fmt: skip


@workbook_session(default=False, venv_backend="none")
def timings(session: nox.Session) -> None:
    """Time every session cold, warm and --quick: nox -s timings (-- part2 for one only)."""
    session.run(
        sys.executable, "-m", "harness.timings", *session.posargs,
        env={"PYTHONPATH": "tests"}, external=True,
    )  # fmt: skip


@workbook_session(default=False)
def bench(session: nox.Session) -> None:
    """Load every WebSocket stage, a bare Autobahn server and a Channels chat: -- --help."""
    folders = [stage.folder for stage in STAGES.values() if "websocket" in stage.features]
    install(session, *[f"{folder}/requirements.txt" for folder in folders], BENCH_REQUIREMENTS)
    # The chart is a file: Agg draws it, whatever backend a notebook that runs this session
    # names in MPLBACKEND (chapter 08 does).
    env = {**NO_BYTECODE, "PYTHONPATH": "tests", "MPLBACKEND": "Agg"}
    session.run("python", "-m", "bench", *session.posargs, env=env)


SERVE_STOP_TIMEOUT = 30.0
"""Seconds serve has to stop its servers once nox passes on a stop, before nox kills it (its
guard then stops what is left: see harness/serve.py)."""


@contextmanager
def stop_signals_interrupt() -> Iterator[None]:
    """Make SIGTERM and SIGHUP (``kill``, a process manager, a closing terminal) a Ctrl-C.

    By default they end nox at once and leave its command running. As a KeyboardInterrupt,
    they take nox's own way for Ctrl-C: ``session.run`` waits ``interrupt_timeout``,
    sends the command SIGTERM, waits ``terminate_timeout``, then kills it. A second signal
    is ignored, so that it cannot cut that short.
    """
    names = ("SIGINT", "SIGTERM", "SIGHUP")  # Windows has no SIGHUP
    signums = [signum for signum in (getattr(signal, n, None) for n in names) if signum]

    def interrupt(signum: int, frame: object) -> None:
        for each in signums:
            signal.signal(each, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in signums}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@workbook_session(default=False)
def catchup(session: nox.Session) -> None:
    """Put a learner's attempt aside and the reference stage in its place: -- STAGE."""
    problem = wrong_catchup_arguments(session.posargs)
    if problem:
        session.error(problem)  # before installing: the stage says what to install
    install_stage(session, STAGES[session.posargs[0]], HARNESS_REQUIREMENTS)
    session.run(
        "python", "-m", "harness.catchup", *session.posargs,
        env={**NO_BYTECODE, "PYTHONPATH": "tests"},
    )  # fmt: skip


@workbook_session(default=False)
def serve(session: nox.Session) -> None:
    """Run a stage for people: nox -s serve -- part2 (default: the newest stage)."""
    refuse_native_windows(session)
    name = session.posargs[0] if session.posargs else NEWEST.name
    if name not in STAGES:
        session.error(f"there is no stage called {name!r}; the stages are: {', '.join(STAGES)}")
    refuse_missing_programs(session, STAGES[name])
    with stop_signals_interrupt():
        # The harness's requirements bring psutil, which lists this machine's addresses for
        # a room (harness/room.py).
        install_stage(
            session, STAGES[name], HARNESS_REQUIREMENTS,
            *requirements_of_folder_checked(session.posargs),
        )  # fmt: skip
        # serve runs in a process group of its own, which the terminal's Ctrl-C does not
        # reach: nox passes every stop on to it at once, as SIGTERM.
        session.run(
            "python", "-m", "harness.serve", name, *session.posargs[1:],
            env={**NO_BYTECODE, "PYTHONPATH": "tests"},
            interrupt_timeout=0, terminate_timeout=SERVE_STOP_TIMEOUT,
        )  # fmt: skip


@workbook_session(default=False)
def wheelhouse(session: nox.Session) -> None:
    """Every pinned package, for a room without internet: nox -s wheelhouse -- DIR (--help)."""
    install(session, pins=WHEELHOUSE_TOOLS)
    chosen = {"-r", "--requirements"} & {arg.partition("=")[0] for arg in session.posargs}
    everything = [] if chosen else [
        *(f"--requirements={file}" for file in every_stage_requirements()),
        *(f"--requirements={file}" for file in (HARNESS_REQUIREMENTS, TUTORIAL_REQUIREMENTS)),
        *(f"--requirements={file}" for file in (BENCH_REQUIREMENTS, SOCKETIO_PEER_REQUIREMENTS)),
        *(f"--pin={pin}" for pin in (RUFF, *WHEELHOUSE_TOOLS)),
    ]  # fmt: skip
    session.run(
        "python", "-m", "harness.wheelhouse", *session.posargs, *everything,
        env={**NO_BYTECODE, "PYTHONPATH": "tests"},
    )  # fmt: skip


@workbook_session(default=False)
def workshop(session: nox.Session) -> None:
    """The room's server with the instructor's live board: -- --accounts 40, -- --reset."""
    with stop_signals_interrupt():
        install_stage(session, NEWEST, HARNESS_REQUIREMENTS)  # psutil: see serve
        # As for serve: a process group of its own, which nox passes every stop on to.
        session.run(
            "python", "-m", "harness.workshop", *session.posargs,
            env={**NO_BYTECODE, "PYTHONPATH": "tests"},
            interrupt_timeout=0, terminate_timeout=SERVE_STOP_TIMEOUT,
        )  # fmt: skip
