"""Starting and stopping the bench's own server processes: the bare Autobahn server, Daphne
serving the Channels peer, and redis-server for the peer's Redis channel layer."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import psutil

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


class ServerError(Exception):
    """A server did not start; the message says why and shows its last lines."""


def accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    return True


def log_tail(path: Path, lines: int = 15) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def server_process(
    argv: list[str],
    *,
    host: str,
    port: int,
    log: Path,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` until the block ends; ready once ``port`` accepts connections."""
    with log.open("ab") as output:
        popen = subprocess.Popen(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            while not accepts(host, port):
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(
                        f"`{' '.join(argv[:4])} ...` did not start listening on {host}:{port}. "
                        f"Its last lines:\n{log_tail(log)}"
                    )
                time.sleep(0.05)
            yield popen
        finally:
            stop(popen)


def stop(popen: subprocess.Popen[bytes]) -> None:
    """Ask politely (SIGINT), then insist."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGINT)
        try:
            popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()


def redis_installed() -> bool:
    return shutil.which("redis-server") is not None


@contextmanager
def redis_server(workdir: Path, host: str, port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throw-away redis-server on ``port``: nothing saved, its files in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    argv = [
        "redis-server",
        "--bind", host,
        "--port", str(port),
        "--dir", str(workdir),
        "--save", "",
        "--appendonly", "no",
        "--protected-mode", "yes",
    ]  # fmt: skip
    with server_process(argv, host=host, port=port, log=workdir / "redis.log") as popen:
        yield popen


def listening_on(port: int) -> int:
    """The process id of the bench's child (or grandchild) that listens on ``port``: a
    server the harness started for a target (its Redis, its PostgreSQL), which it does not
    name by process id. Of a parent and its children that share the socket, the parent."""
    found: dict[int, int] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            sockets = child.net_connections(kind="tcp")
            parent = child.ppid()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if any(s.status == psutil.CONN_LISTEN and s.laddr.port == port for s in sockets):
            found[child.pid] = parent
    first = [pid for pid, parent in found.items() if parent not in found]
    if not first:
        raise ServerError(f"no server the bench started listens on port {port}")
    return first[0]
