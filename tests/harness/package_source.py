"""Where nox sessions install packages from: PyPI, or the wheelhouse CHAT_WHEELHOUSE names.

A room without internet has no PyPI. The instructor fills a wheelhouse once (``nox -s
wheelhouse -- DIR``) and each laptop sets CHAT_WHEELHOUSE to that folder, or to its address
on the instructor's laptop (``python3 -m http.server -d DIR``). The wheelhouse is a flat
folder of wheels, and ``--no-index`` with it as the find-links location means the same to
``uv pip install`` and to ``pip install``, so one set of options serves either backend.

Before installing, the pinned requirements are looked for in the wheelhouse, so that a
missing package is named in one line instead of in a resolver's report.

Standard library only: noxfile.py imports it before any environment exists.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

VARIABLE = "CHAT_WHEELHOUSE"
LISTING_TIMEOUT = 15.0
"""Seconds the wheelhouse's address has to send its list of files."""
PIN = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*(?P<version>[^\s;#]+)"
)


class WheelhouseError(Exception):
    """Why the wheelhouse cannot serve an install, in one line that says what to do."""


@dataclass(frozen=True)
class Pin:
    name: str
    version: str
    source: str
    """Where it is pinned: a requirements file, or the noxfile."""


def normalized(name: str) -> str:
    """A project name as wheel and sdist file names spell it, compared case-blind."""
    return re.sub(r"[-_.]+", "_", name).lower()


def pins_in(requirement_files: Iterable[str], pins: Iterable[str] = ()) -> list[Pin]:
    """The ``name==version`` lines of the files, and the pins given as they are."""
    found = []
    for file in requirement_files:
        for line in Path(file).read_text(encoding="utf-8").splitlines():
            if match := PIN.match(line):
                found.append(Pin(match["name"], match["version"], file))
    for pin in pins:
        if match := PIN.match(pin):
            found.append(Pin(match["name"], match["version"], "noxfile.py"))
    return found


def distribution_of(file_name: str) -> tuple[str, str] | None:
    """(normalized name, version) of a wheel or sdist file name, None for anything else."""
    if file_name.endswith(".whl"):
        name, version, *_ = file_name.split("-")
        return normalized(name), version
    for suffix in (".tar.gz", ".zip"):
        if file_name.endswith(suffix):
            name, _, version = file_name.removesuffix(suffix).rpartition("-")
            return normalized(name), version
    return None


class _Links(HTMLParser):
    """The file names an index page links to (``python3 -m http.server`` lists a folder so)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        href = dict(attrs).get("href") if tag == "a" else None
        if href:
            path = urllib.parse.urlsplit(href).path
            self.names.append(urllib.parse.unquote(path.rstrip("/").rpartition("/")[2]))


@dataclass(frozen=True)
class Wheelhouse:
    location: str
    """An absolute folder, or an http(s) address."""

    @property
    def is_address(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    def rebuild_hint(self) -> str:
        folder = "DIR" if self.is_address else self.location
        return f"fill it again with `nox -s wheelhouse -- {folder}`"

    def install_options(self) -> list[str]:
        """What ``uv pip install`` and ``pip install`` both take: this wheelhouse, no index."""
        return ["--no-index", "--find-links", self.location]

    def install_env(self) -> dict[str, str]:
        """Find-links settings of the surroundings replaced by this wheelhouse, for both tools."""
        return {"PIP_FIND_LINKS": self.location, "UV_FIND_LINKS": self.location}

    def file_names(self) -> list[str]:
        if not self.is_address:
            return os.listdir(self.location)
        try:
            with urllib.request.urlopen(self.location, timeout=LISTING_TIMEOUT) as answer:
                page = answer.read().decode("utf-8", errors="replace")
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise WheelhouseError(
                f"{VARIABLE} is {self.location}, which did not answer ({reason}): check the "
                f"address, and that `python3 -m http.server -d DIR` runs on the machine that "
                f"holds the wheelhouse; or unset {VARIABLE} to install from PyPI"
            ) from None
        links = _Links()
        links.feed(page)
        return links.names

    def check(self, pins: Iterable[Pin]) -> None:
        """Fail with one line naming the first pinned package the wheelhouse lacks."""
        held = {found for name in self.file_names() if (found := distribution_of(name))}
        for pin in pins:
            if (normalized(pin.name), pin.version) not in held:
                raise WheelhouseError(
                    f"the wheelhouse {self.location} has no {pin.name} {pin.version} (pinned "
                    f"in {pin.source}): {self.rebuild_hint()}"
                )

    def install_failed(self) -> str:
        return (
            f"installing from the wheelhouse {self.location} failed; the lines above name "
            f"the package it lacks: {self.rebuild_hint()}"
        )


def wheelhouse_from_environment(environ: Mapping[str, str] = os.environ) -> Wheelhouse | None:
    """The wheelhouse CHAT_WHEELHOUSE names, None when it is not set (installs use PyPI)."""
    value = environ.get(VARIABLE, "").strip()
    if not value:
        return None
    if value.startswith(("http://", "https://")):
        return Wheelhouse(value if value.endswith("/") else value + "/")
    folder = Path(value).expanduser().absolute()
    if not folder.is_dir():
        raise WheelhouseError(
            f"{VARIABLE} is {value}, which is not a folder: fill it with `nox -s wheelhouse "
            f"-- {value}` while online, or unset {VARIABLE} to install from PyPI"
        )
    return Wheelhouse(str(folder))
