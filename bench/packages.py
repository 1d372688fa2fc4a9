"""The alternatives' own packages, each set installed apart from the bench's, once per lockfile.

An alternative runs with the packages its documentation deploys it with, and no others:
Node's (socket.io, ws) in bench/node/node_modules, which ``npm ci`` installs from
package-lock.json; python-socketio's and uvicorn's in a virtual environment of their own,
bench/socketio_peer/.venv, which pip fills from that folder's requirements.txt (from
CHAT_WHEELHOUSE's wheelhouse when it is set). Git ignores both folders.

Keeping python-socketio's packages out of the bench's environment matters for the figures.
uvicorn needs click, and Autobahn, wherever click can be imported, colours the arguments
of a debug line with it for every frame it sends, whether debug lines are logged or not.
In one environment with uvicorn, our stages, the bare server and Daphne (all on Autobahn)
paid for that with a third to a half more CPU per delivery (bench/README.md, "Each with its
own packages", has the figures). The bench's own environment holds the stages' packages and
bench/requirements.txt, no more.

Each set is installed at most once per lockfile: a stamp in the folder the install makes
records the digest of the lockfile it installed, so that a run after the first starts at
once, and a changed lockfile is installed anew.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from harness.package_source import Wheelhouse, WheelhouseError, wheelhouse_from_environment

from .servers import ServerError, log_tail

STAMP = ".installed-lockfile-sha256"
"""The file, in the folder an install makes, that records the digest of its lockfile."""
INSTALL_TIMEOUT = 600.0
"""Seconds one install command may take: a slow registry, not a hang."""


@dataclass(frozen=True, kw_only=True)
class Packages(ABC):
    """One alternative's packages: where they go, and the lockfile that pins them."""

    folder: Path
    lockfile: str
    made: str
    """The folder the install makes inside ``folder``; it holds the stamp."""
    whose: str
    """Whose packages they are, for messages: "the Node peers"."""

    @abstractmethod
    def commands(self) -> list[list[str]]:
        """What installs them, in order, each run in ``folder``."""

    def environment(self) -> dict[str, str]:
        """What the commands' environment needs besides the bench's own."""
        return {}

    def digest(self) -> str:
        return hashlib.sha256((self.folder / self.lockfile).read_bytes()).hexdigest()

    def installed(self) -> bool:
        """True when the installed packages are the ones the lockfile says."""
        stamp = self.folder / self.made / STAMP
        return stamp.is_file() and stamp.read_text().strip() == self.digest()

    def install(self, log: Path) -> None:
        """Install them unless that is done already; ServerError, with the failed command's
        last lines, if it fails."""
        if self.installed():
            return
        for argv in self.commands():
            run(argv, self.folder, log, self.whose, {**os.environ, **self.environment()})
        (self.folder / self.made / STAMP).write_text(self.digest() + "\n")


@dataclass(frozen=True, kw_only=True)
class NodePackages(Packages):
    """Installed by ``npm ci``, exactly as package-lock.json says, into node_modules."""

    lockfile: str = "package-lock.json"
    made: str = "node_modules"

    def commands(self) -> list[list[str]]:
        return [["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]]

    def pinned(self, package: str) -> str:
        """The version of ``package`` that package.json asks for, as the run shows it."""
        wanted = json.loads((self.folder / "package.json").read_text())["dependencies"]
        return str(wanted[package])


@dataclass(frozen=True, kw_only=True)
class PythonPackages(Packages):
    """A virtual environment of their own, made afresh and filled by pip from
    requirements.txt, in which every package is pinned."""

    lockfile: str = "requirements.txt"
    made: str = ".venv"

    @property
    def python(self) -> Path:
        return self.folder / self.made / "bin" / "python"

    def environment(self) -> dict[str, str]:
        wheelhouse = self.wheelhouse()
        return {} if wheelhouse is None else wheelhouse.install_env()

    def wheelhouse(self) -> Wheelhouse | None:
        """The wheelhouse CHAT_WHEELHOUSE names, None when it is not set; ServerError, in
        its plain words, when it names no wheelhouse."""
        try:
            return wheelhouse_from_environment()
        except WheelhouseError as error:
            raise ServerError(f"{self.whose} cannot be installed: {error}") from None

    def commands(self) -> list[list[str]]:
        wheelhouse = self.wheelhouse()
        source = [] if wheelhouse is None else wheelhouse.install_options()
        return [
            [sys.executable, "-m", "venv", "--clear", self.made],
            [str(self.python), "-m", "pip", "install", "--disable-pip-version-check",
             "--no-input", "--requirement", self.lockfile, *source],
        ]  # fmt: skip


def run(argv: list[str], folder: Path, log: Path, whose: str, env: dict[str, str]) -> None:
    """Run one install command, its output in ``log``."""
    shown = " ".join([Path(argv[0]).name, *argv[1:3]])  # "npm ci --no-audit", "python -m pip"
    with log.open("ab") as output:
        try:
            done = subprocess.run(
                argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"`{shown}` in {folder} took more than {INSTALL_TIMEOUT:.0f} s; is the "
                f"package registry reachable? Its last lines:\n{log_tail(log)}"
            ) from None
    if done.returncode != 0:
        raise ServerError(
            f"`{shown}` in {folder} failed (exit {done.returncode}): {whose} cannot start "
            f"without their packages. Its last lines:\n{log_tail(log)}"
        )


BENCH_DIR = Path(__file__).parent
NODE = NodePackages(folder=BENCH_DIR / "node", whose="the Node peers")
SOCKETIO = PythonPackages(folder=BENCH_DIR / "socketio_peer", whose="the python-socketio peers")


def click_warning() -> str:
    """A line saying why the figures of this run are too high, when click can be imported
    in the bench's environment; else ""."""
    if importlib.util.find_spec("click") is None:
        return ""
    return (
        "warning: click can be imported in the bench's environment, so Autobahn colours a "
        "debug line with it for every frame it sends, and every target on Autobahn (our "
        "stages, bare, Daphne) spends a third to a half more CPU per delivery; install only "
        "bench/requirements.txt and the stages' requirements there"
    )
