"""The Node peers' packages (socket.io, ws), installed from bench/node/package-lock.json.

``npm ci`` installs exactly what the lockfile says into bench/node/node_modules (ignored by
git). It runs at most once per lockfile: a stamp in node_modules records the lockfile it
installed, so that a bench run after the first starts the Node peers at once, and a changed
lockfile is installed anew.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from .servers import ServerError, log_tail

NODE_DIR = Path(__file__).with_name("node")
LOCKFILE = NODE_DIR / "package-lock.json"
MODULES = NODE_DIR / "node_modules"
STAMP = MODULES / ".installed-lockfile-sha256"
INSTALL_TIMEOUT = 600.0
"""Seconds ``npm ci`` may take: a slow registry, not a hang."""


def lockfile_digest() -> str:
    return hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()


def installed() -> bool:
    """True when node_modules holds what the lockfile says."""
    return STAMP.is_file() and STAMP.read_text().strip() == lockfile_digest()


def install(log: Path) -> None:
    """``npm ci`` in bench/node unless it is done already; ServerError, with npm's last lines,
    if it fails."""
    if installed():
        return
    argv = ["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"]
    with log.open("ab") as output:
        try:
            done = subprocess.run(
                argv, cwd=NODE_DIR, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT, check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ServerError(
                f"`npm ci` in {NODE_DIR} took more than {INSTALL_TIMEOUT:.0f} s; is the npm "
                f"registry reachable? Its last lines:\n{log_tail(log)}"
            ) from None
    if done.returncode != 0:
        raise ServerError(
            f"`npm ci` in {NODE_DIR} failed (exit {done.returncode}); its last lines:\n"
            f"{log_tail(log)}"
        )
    STAMP.write_text(lockfile_digest() + "\n")
