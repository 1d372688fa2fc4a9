"""Starting and stopping the bench's own server processes: the bare Autobahn server and
Daphne serving the Channels peer. (Redis and PostgreSQL come from harness/services.py.)"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

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
