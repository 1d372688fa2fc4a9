"""The Node peers' packages (socket.io, ws), installed from bench/node/package-lock.json.

``npm ci`` installs exactly what the lockfile says into bench/node/node_modules (ignored by
git). It runs at most once per lockfile: a stamp in node_modules records the lockfile it
installed, so that a bench run after the first starts the Node peers at once, and a changed
lockfile is installed anew.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

from .servers import ServerError, log_tail

NODE_DIR = Path(__file__).with_name("node")
STAMP = "node_modules/.installed-lockfile-sha256"
"""Where ``install`` records the digest of the lockfile it installed, in the folder."""
INSTALL_TIMEOUT = 600.0
"""Seconds ``npm ci`` may take: a slow registry, not a hang."""


def pinned(package: str, folder: Path = NODE_DIR) -> str:
    """The version of ``package`` that package.json asks for, as the run shows it."""
    return str(json.loads((folder / "package.json").read_text())["dependencies"][package])


def lockfile_digest(folder: Path) -> str:
    return hashlib.sha256((folder / "package-lock.json").read_bytes()).hexdigest()


def installed(folder: Path = NODE_DIR) -> bool:
    """True when the folder's node_modules holds what its lockfile says."""
    stamp = folder / STAMP
    return stamp.is_file() and stamp.read_text().strip() == lockfile_digest(folder)


def install(log: Path, folder: Path = NODE_DIR) -> None:
    """``npm ci`` in ``folder`` unless it is done already; ServerError, with npm's last
    lines, if it fails."""
    if installed(folder):
        return
    argv = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    with log.open("ab") as output:
        try:
            done = subprocess.run(
                argv, cwd=folder, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"`npm ci` in {folder} took more than {INSTALL_TIMEOUT:.0f} s; is the npm "
                f"registry reachable? Its last lines:\n{log_tail(log)}"
            ) from None
    if done.returncode != 0:
        raise ServerError(
            f"`npm ci` in {folder} failed (exit {done.returncode}): the Node peers cannot "
            f"start without their packages. Its last lines:\n{log_tail(log)}"
        )
    (folder / STAMP).write_text(lockfile_digest(folder) + "\n")
