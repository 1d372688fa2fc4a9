"""Environments made in another folder or on another machine, which nox must make anew.

A workbook copied to another path or machine (a USB stick) carries its `.nox` folder along,
and nox reuses what it finds there (``reuse_venv = "yes"``). But a virtual environment is
tied to the place it was made: its scripts start with ``#!/old/place/.nox/part2/bin/python``
and its ``bin/activate`` names the old folder, so a reused copy runs the old place's Python,
or nothing at all once the old place is gone. nox itself only notices a broken ``python``
link; this finds the rest, so that noxfile.py can tell nox not to reuse such an environment.

Standard library only: noxfile.py imports it before any environment exists.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

RECORDED_PLACE = re.compile(r"""^\s*(?:export\s+)?VIRTUAL_ENV=(['"])(?P<place>/[^'"]*)\1""", re.M)
"""The line of ``bin/activate`` that says where the environment was made (uv, virtualenv
and venv all write one)."""


def why_not_reusable(env: Path) -> str | None:
    """Why the environment in ``env`` belongs somewhere else, or None when it fits here.

    None too when there is no environment: nox makes one then anyway.
    """
    if not env.is_dir():
        return None
    try:
        activate = (env / "bin" / "activate").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "it has no bin/activate to say where it was made"
    recorded = RECORDED_PLACE.search(activate)
    if recorded is None:
        return "its bin/activate does not say where it was made"
    made_in = Path(recorded["place"])
    if made_in.resolve() != env.resolve():
        return f"it was made in {made_in}"
    return _foreign_python(env)


def _foreign_python(env: Path) -> str | None:
    """Why the environment's Python is not this machine's Python, if it is not."""
    config = _pyvenv_cfg(env)
    home = config.get("home")
    if home is not None and not Path(home).is_dir():
        return f"the Python it was made with ({home}) is not on this machine"
    version = config.get("version_info") or config.get("version") or ""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version and version.split(".")[:2] != running.split("."):
        return f"it was made with Python {version}, and nox runs Python {running} here"
    return None


def _pyvenv_cfg(env: Path) -> dict[str, str]:
    try:
        lines = (env / "pyvenv.cfg").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return {}
    pairs = (line.partition("=") for line in lines if "=" in line)
    return {key.strip(): value.strip() for key, _, value in pairs}
