"""Verify the workbook, one stage at a time or all at once, and run a stage for people.

nox                                   verify everything
nox -s part2                          verify one stage (the reference snapshot)
nox -s part2 -- --stage-dir ~/mine    verify your own folder as part2
nox -s serve -- part2                 run a stage's servers for people to chat on
nox -s workshop                       the room's server for a workshop, with a live board
nox -l                                list the sessions
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent / "tests"))
from harness.lab import planned as planned_lab
from harness.lab import settings_folder as lab_settings_folder
from harness.lab import write_settings as write_lab_settings
from harness.stages import NEWEST, STAGES, Stage

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"

HARNESS_REQUIREMENTS = "tests/requirements.txt"
TUTORIAL_REQUIREMENTS = "tutorial/requirements.txt"
BENCH_REQUIREMENTS = "bench/requirements.txt"
"""The bench's client, the Channels peer and the chart: chapter 08 runs the bench, and the
self-tests check its figures and its chart."""
NO_BYTECODE = {"PYTHONDONTWRITEBYTECODE": "1"}


def install_stage(session: nox.Session, stage: Stage, *more: str) -> None:
    args = ["-r", f"{stage.folder}/requirements.txt"]
    for requirements in more:
        args += ["-r", requirements]
    session.install(*args)


def install_every_stage(session: nox.Session, *more: str) -> None:
    """Every stage's requirements at once (they pin the same Django and Twisted), for what
    runs more than one stage: the chapters, which build the branches too, and the self-tests."""
    args = []
    for requirements in [f"{stage.folder}/requirements.txt" for stage in STAGES.values()]:
        args += ["-r", requirements]
    for requirements in more:
        args += ["-r", requirements]
    session.install(*args)


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


def stage_session(stage: Stage):
    def verify(session: nox.Session) -> None:
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
    nox.session(name=_stage.name)(stage_session(_stage))


@nox.session
def under_load(session: nox.Session) -> None:
    """Check the newest stage with every core kept busy: the checks' answer must not change."""
    install_stage(session, NEWEST, HARNESS_REQUIREMENTS)
    session.run(
        "pytest", "tests/stage_checks", "--stage", NEWEST.name, "--under-load", "--tb=short",
        *session.posargs, env=NO_BYTECODE,
    )  # fmt: skip


@nox.session
def harness(session: nox.Session) -> None:
    """Check the checks: copies of a stage with a mistake in them must fail in plain words."""
    install_every_stage(session, HARNESS_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run("pytest", "tests/selftest", "--tb=short", *session.posargs, env=NO_BYTECODE)


@nox.session
def tutorial(session: nox.Session) -> None:
    """Replay every chapter onto its parent stage and compare with its snapshot."""
    install_every_stage(session, HARNESS_REQUIREMENTS, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run("pytest", "tests/chapters", "--tb=short", *session.posargs, env=NO_BYTECODE)


@nox.session
def book(session: nox.Session) -> None:
    """Build the chapters, with what their replay printed, into a website, and check it."""
    install_every_stage(session, HARNESS_REQUIREMENTS, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    session.run("pytest", "tests/book", "--tb=short", *session.posargs, env=NO_BYTECODE)
    session.log("The book is in book/_build/html/: open index.html there, or publish the folder.")


@nox.session
def lint(session: nox.Session) -> None:
    """Run ruff over the stages, the harness and this file."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")


@nox.session(default=False)
def lab(session: nox.Session) -> None:
    """Open the chapters as notebooks in JupyterLab (a double-click opens one)."""
    install_every_stage(session, TUTORIAL_REQUIREMENTS, BENCH_REQUIREMENTS)
    # The default viewer is set in this environment's own settings folder, never the user's.
    settings = lab_settings_folder(Path(session.virtualenv.location))
    session.log(f"Chapters open as notebooks: {write_lab_settings(settings)}")
    command, address = planned_lab(session.posargs, settings)
    session.log(f"Open {address} in your browser (JUPYTER_PORT chooses the port).")
    session.run(*command)


@nox.session(default=False, venv_backend="none")
def timings(session: nox.Session) -> None:
    """Time every session cold, warm and --quick: nox -s timings (-- part2 for one only)."""
    session.run(
        sys.executable, "-m", "harness.timings", *session.posargs,
        env={"PYTHONPATH": "tests"}, external=True,
    )  # fmt: skip


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Load every WebSocket stage, a bare Autobahn server and a Channels chat: -- --help."""
    folders = [stage.folder for stage in STAGES.values() if "websocket" in stage.features]
    stage_requirements = [f"-r{folder}/requirements.txt" for folder in folders]
    session.install(*stage_requirements, f"-r{BENCH_REQUIREMENTS}")
    session.run(
        "python", "-m", "bench", *session.posargs, env={**NO_BYTECODE, "PYTHONPATH": "tests"}
    )


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


@nox.session(default=False)
def serve(session: nox.Session) -> None:
    """Run a stage for people: nox -s serve -- part2 (default: the newest stage)."""
    name = session.posargs[0] if session.posargs else NEWEST.name
    if name not in STAGES:
        session.error(f"there is no stage called {name!r}; the stages are: {', '.join(STAGES)}")
    with stop_signals_interrupt():
        install_stage(session, STAGES[name])
        # serve runs in a process group of its own, which the terminal's Ctrl-C does not
        # reach: nox passes every stop on to it at once, as SIGTERM.
        session.run(
            "python", "-m", "harness.serve", name, *session.posargs[1:],
            env={**NO_BYTECODE, "PYTHONPATH": "tests"},
            interrupt_timeout=0, terminate_timeout=SERVE_STOP_TIMEOUT,
        )  # fmt: skip


@nox.session(default=False)
def workshop(session: nox.Session) -> None:
    """The room's server with the instructor's live board: -- --accounts 40, -- --reset."""
    with stop_signals_interrupt():
        install_stage(session, NEWEST)
        # As for serve: a process group of its own, which nox passes every stop on to.
        session.run(
            "python", "-m", "harness.workshop", *session.posargs,
            env={**NO_BYTECODE, "PYTHONPATH": "tests"},
            interrupt_timeout=0, terminate_timeout=SERVE_STOP_TIMEOUT,
        )  # fmt: skip
