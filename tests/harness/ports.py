"""Can a server listen on a port now, and if not, which program holds it.

"In use" means another program listens there. A server stopped a moment ago leaves the
connections it closed in TIME_WAIT for a minute (after a crash, too): a plain ``bind()``
fails on them, but Twisted and Django's runserver set ``SO_REUSEADDR`` and start fine. So
the port is tried the way they bind (not on Windows, where ``SO_REUSEADDR`` would let two
programs share a port), and when a program does listen there it is named: by its pid and
command, from ``/proc`` on Linux or ``lsof`` where that is installed, or by the port alone
when neither can tell.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

LSOF_TIMEOUT = 10.0
LISTEN = "0A"
"""The state of a listening socket in /proc/net/tcp."""
COMMAND_LENGTH = 120


@dataclass(frozen=True)
class Holder:
    """A program listening on a port."""

    pid: int
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


@dataclass(frozen=True)
class Problem:
    """Why a server could not listen where it was asked to, in plain words."""

    text: str
    another_port_helps: bool


def listen_problem(host: str, port: int) -> Problem | None:
    """None if a server could listen on ``host``:``port`` now; else why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except (socket.gaierror, UnicodeError):
        return Problem(f"{host!r} is not an address or a name this machine can resolve.", False)
    with socket.socket(family, kind, proto) as sock:
        if os.name == "posix":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
            sock.listen()
        except OSError as error:
            return explain(error, host, port)
    return None


def explain(error: OSError, host: str, port: int) -> Problem:
    """What ``error``, met listening on ``host``:``port``, means for a person."""
    if error.errno == errno.EADDRINUSE:
        found = holders(port)
        if not found:
            text = (
                f"Port {port} on {host} is already in use: another program listens there "
                "(this machine would not say which)."
            )
            return Problem(text, True)
        named = "; ".join(str(holder) for holder in found)
        pids = " ".join(str(holder.pid) for holder in found)
        text = f"Port {port} on {host} is already in use by {named}. Stop it (kill {pids})."
        return Problem(text, True)
    if error.errno == errno.EADDRNOTAVAIL:
        return Problem(f"This machine has no address {host}, so nothing can listen on it.", False)
    if error.errno == errno.EACCES:
        return Problem(f"Port {port} needs administrator rights here.", True)
    return Problem(f"Cannot listen on port {port} on {host}: {error.strerror or error}.", False)


def holders(port: int) -> list[Holder]:
    """The programs listening on TCP ``port`` (any address), as far as this machine says."""
    return holders_from_proc(port) or holders_from_lsof(port)


def holders_from_proc(port: int, proc: Path = Path("/proc")) -> list[Holder]:
    """Linux: the listening sockets' inodes from /proc/net/tcp{,6}, then whose fds they are."""
    inodes = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = (proc / "net" / table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != LISTEN:
                continue
            if int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    found = []
    for entry in proc.glob("[0-9]*") if inodes else ():
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                found.append(Holder(int(entry.name), command_of(entry)))
        except OSError:
            continue  # gone meanwhile, or another user's
    return found


def command_of(entry: Path) -> str:
    parts = (entry / "cmdline").read_bytes().split(b"\0")
    command = " ".join(part.decode(errors="replace") for part in parts if part)
    command = " ".join(command.split())  # on one line, though `python -c` code has several
    if not command:
        command = (entry / "comm").read_text().strip()
    return command if len(command) <= COMMAND_LENGTH else command[: COMMAND_LENGTH - 3] + "..."


def holders_from_lsof(port: int) -> list[Holder]:
    """Where ``lsof`` is installed (macOS, most Linux): its pid and command-name fields."""
    lsof = shutil.which("lsof")
    if lsof is None:
        return []
    try:
        listed = subprocess.run(
            [lsof, "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"],
            capture_output=True,
            text=True,
            timeout=LSOF_TIMEOUT,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [
        Holder(int(pid), command) for pid, command in re.findall(r"^p(\d+)\nc(.*)$", listed, re.M)
    ]
