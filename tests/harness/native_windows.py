"""The workbook runs on Linux and macOS, and on Windows inside WSL 2: never natively.

``nox -s serve`` stops its servers through process groups and signals native Windows does not
have (``os.setpgid``, ``os.killpg``, SIGHUP, SIGKILL), the lab asks ``os.geteuid`` whether it
runs as root, and doctor checks a POSIX set-up. Rather than fail on the first of them with a
traceback, each of these commands asks here first, and native Windows gets a plain answer.
"""

from __future__ import annotations

import sys

PLATFORM = sys.platform
"""The platform the guard sees (the self-tests pretend another)."""


def refusal(command: str) -> str | None:
    """What to tell a person who runs ``command`` on native Windows; None anywhere else."""
    if PLATFORM != "win32":
        return None
    return (
        f"`{command}` does not run on native Windows: run the workbook inside WSL 2, the "
        "Windows Subsystem for Linux. In PowerShell type `wsl --install -d Ubuntu-24.04`, "
        "open Ubuntu, and follow the README's Ubuntu lines there."
    )


def refuse_native_windows(command: str) -> None:
    """End the program with that answer (exit status 1) on native Windows."""
    message = refusal(command)
    if message is not None:
        raise SystemExit(message)
