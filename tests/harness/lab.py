"""The command ``nox -s lab`` runs: JupyterLab on the chapters, at an address it prints first.

JupyterLab refuses to run as root unless told ``--allow-root`` (a workshop's containers and
some Linux set-ups run everything as root), so the flag is added then, and only then. The
login token is made here, so that the one address to open can be printed before the server's
own busy log begins.

A double-click on a chapter opens it as a notebook: the lab's own settings folder (in the
lab's virtual environment, passed to JupyterLab as ``--LabApp.app_settings_dir``) holds an
``overrides.json`` that makes Jupytext Notebook the default viewer for Markdown. Overrides
are defaults: they change nothing in a learner's own settings, which still win, and no other
JupyterLab on the machine reads them.

The same file turns autosave off. A chapter is marked changed as soon as its kernel starts
(the kernel's name goes into its metadata), so autosave would save it two minutes after it
opened, and Jupytext would write the chapter's file anew: other front matter, and blank lines
taken from the ends of cells, ``%%change`` cells among them. A learner who edits a cell
still saves with Ctrl-S, and is asked before closing one with changes.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DOCMANAGER = "@jupyterlab/docmanager-extension:plugin"
DEFAULT_VIEWERS = {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
"""The file types the chapters are (``.md``; ``.myst`` for good measure) and their viewer."""
AUTOSAVE = False
"""Whether the lab saves open documents by itself (see above for why not)."""
OVERRIDES = "overrides.json"
START_TIMEOUT = 120.0
"""Seconds the lab may take to answer after it starts (it loads every extension first)."""
STOP_TIMEOUT = 10.0


def settings_folder(prefix: Path) -> Path:
    """The application settings folder of the environment at ``prefix`` (JupyterLab's own
    default, ``{sys.prefix}/share/jupyter/lab/settings``)."""
    return prefix / "share" / "jupyter" / "lab" / "settings"


def write_settings(folder: Path) -> Path:
    """Make Jupytext Notebook the default viewer, and autosave off, in ``folder``'s
    overrides.json, keeping whatever else the file says. Returns its path."""
    path = folder / OVERRIDES
    try:
        overrides = json.loads(path.read_text()) if path.is_file() else {}
    except json.JSONDecodeError as error:
        raise SystemExit(f"{path} is not valid JSON ({error}); fix or delete it.") from None
    docmanager = overrides.setdefault(DOCMANAGER, {})
    docmanager["defaultViewers"] = {**docmanager.get("defaultViewers", {}), **DEFAULT_VIEWERS}
    docmanager["autosave"] = AUTOSAVE
    folder.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(overrides, indent=2) + "\n")
    return path


def lab_command(
    *, port: int, token: str, as_root: bool, settings: Path, extra: list[str]
) -> list[str]:
    command = [
        "jupyter", "lab", "tutorial/", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}", f"--LabApp.app_settings_dir={settings}",
    ]  # fmt: skip
    if as_root:
        command.append("--allow-root")
    return [*command, *extra]


def lab_address(port: int, token: str) -> str:
    return f"http://localhost:{port}/lab?token={token}"


def planned(extra: list[str], settings: Path) -> tuple[list[str], str]:
    """The command to run and the address to open, for this user and JUPYTER_PORT."""
    port_text = os.environ.get("JUPYTER_PORT", "8888")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise SystemExit(f"JUPYTER_PORT must be a port number (1 to 65535), not {port_text!r}")
    port = int(port_text)
    token = secrets.token_urlsafe(16)
    command = lab_command(
        port=port, token=token, as_root=os.geteuid() == 0, settings=settings, extra=extra
    )
    return command, lab_address(port, token)


@dataclass(frozen=True)
class RunningLab:
    """A lab started by ``running_lab``: where it answers, and how to log in."""

    port: int
    token: str
    log: Path

    def url(self, path: str) -> str:
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}{path}{separator}token={self.token}"


@contextmanager
def running_lab(repo: Path, settings: Path, home: Path, port: int) -> Iterator[RunningLab]:
    """JupyterLab as ``nox -s lab`` runs it, on ``port``, with ``settings`` as its settings
    folder, and the user's own settings, workspaces and runtime files kept in ``home``
    (empty at first), so that nothing of the person running the checks decides the result.
    Stopped on the way out (SIGTERM, a bounded wait, then SIGKILL)."""
    token = secrets.token_urlsafe(16)
    command = lab_command(
        port=port, token=token, as_root=os.geteuid() == 0, settings=settings,
        extra=["--no-browser", "--ServerApp.ip=127.0.0.1"],
    )  # fmt: skip
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(home / "user-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = home / "lab.log"
    with log.open("wb") as output:
        lab = subprocess.Popen(command, cwd=repo, env=env, stdout=output, stderr=output)
        try:
            yield RunningLab(port, token, log)
        finally:
            lab.terminate()
            try:
                lab.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                lab.kill()
                lab.wait()
