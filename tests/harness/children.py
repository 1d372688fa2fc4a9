"""Child processes the harness starts: a free port for each, and every wait on them bounded.

Both the stage's own servers (harness/processes.py) and the servers a stage needs beside
them (PostgreSQL and Redis: harness/services.py) start and stop this way.
"""

from __future__ import annotations

import socket
import subprocess

READY_TIMEOUT = 120.0
"""Seconds a starting process may take before it answers. Only a process that never will
meets this limit (harness/processes.py tells one listening on another port at once), so it
is generous: Django's system checks alone can take half a minute on a laptop that is busy."""
STOP_TIMEOUT = 10.0
"""Seconds a process has to end after it is asked to, before it is killed: a stopping twistd
answers its waiting polls, closes its sockets and joins its threads, all quick, but a busy
laptop is slow at everything."""


def end_process(popen: subprocess.Popen[bytes], signum: int | None, timeout: float) -> bool:
    """Send ``signum`` (None: it was sent already), wait up to ``timeout`` seconds, then kill;
    True if it had to be killed.

    Every wait is bounded: even a process that ignores every signal it can is gone after
    ``timeout`` plus a moment for SIGKILL, which no process can ignore.
    """
    if popen.poll() is not None:
        return False
    if signum is not None:
        popen.send_signal(signum)
    try:
        popen.wait(timeout)
        return False
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(STOP_TIMEOUT)  # SIGKILL cannot be caught; only a hung kernel call delays it
        return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody is listening on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def tail(text: str, lines: int = 25) -> str:
    """The last ``lines`` lines of a log, for a message that shows what a process said."""
    return "\n".join(text.splitlines()[-lines:])
