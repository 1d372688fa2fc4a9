"""The command ``nox -s lab`` runs: JupyterLab on the chapters, at an address it prints first.

JupyterLab refuses to run as root unless told ``--allow-root`` (a workshop's containers and
some Linux set-ups run everything as root), so the flag is added then, and only then. The
login token is made here, so that the one address to open can be printed before the server's
own busy log begins.
"""

from __future__ import annotations

import os
import secrets


def lab_command(*, port: int, token: str, as_root: bool, extra: list[str]) -> list[str]:
    command = [
        "jupyter", "lab", "tutorial/", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}",
    ]  # fmt: skip
    if as_root:
        command.append("--allow-root")
    return [*command, *extra]


def lab_address(port: int, token: str) -> str:
    return f"http://localhost:{port}/lab?token={token}"


def planned(extra: list[str]) -> tuple[list[str], str]:
    """The command to run and the address to open, for this user and JUPYTER_PORT."""
    port = int(os.environ.get("JUPYTER_PORT", "8888"))
    token = secrets.token_urlsafe(16)
    command = lab_command(port=port, token=token, as_root=os.geteuid() == 0, extra=extra)
    return command, lab_address(port, token)
