"""What a learner's run tells the workshop board, in one place: its fields and their limits.

The checks' plugin (harness/reporting.py) makes a Report and the board (harness/board/)
reads one back with ``Report.from_json``, which refuses anything else in plain words.
A report carries the learner's chosen name, the stage, how many checks passed and failed,
and the first failing check's name and the first line of its message, with file paths
taken out. Never source code, never anything else.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .stages import STAGES

NAME_LIMIT = 40
CHECK_LIMIT = 120
MESSAGE_LIMIT = 200
FIELDS = ("name", "stage", "passed", "failed", "check", "message")
"""A report's fields; the JSON that carries it has these and "code", the workshop's code."""

PATH = re.compile(r"(?:~|[A-Za-z]:)?[/\\][^\s'\"()\[\]{},;:]*")
"""Something that may be a file path: from a slash (or ~/, C:\\) to the next space."""


class BadReport(ValueError):
    """A report the board cannot take; the message says what is wrong, for the sender."""


@dataclass(frozen=True)
class Report:
    name: str
    """The name the learner chose to appear under on the board."""
    stage: str
    passed: int
    failed: int
    check: str = ""
    """The first failing check's name ("" when none failed)."""
    message: str = ""
    """The first line of its message, without file paths."""

    def as_json(self, code: str) -> dict[str, Any]:
        return {**asdict(self), "code": code}

    @classmethod
    def from_json(cls, data: object) -> Report:
        """The report in a decoded JSON body; BadReport says what is wrong with it."""
        if not isinstance(data, dict):
            raise BadReport("Send a JSON object with the fields " + ", ".join(FIELDS) + ".")
        unknown = set(data) - {*FIELDS, "code"}
        if unknown:
            raise BadReport(f"A report has only {', '.join(FIELDS)}; not {sorted(unknown)}.")
        name = text_field(data, "name", NAME_LIMIT).strip()
        if not name:
            raise BadReport("name must not be empty: it is how the board shows you.")
        stage = text_field(data, "stage", NAME_LIMIT)
        if stage not in STAGES:
            raise BadReport(f"stage must be one of {', '.join(STAGES)}, not {stage!r}.")
        return cls(
            name=name,
            stage=stage,
            passed=count_field(data, "passed"),
            failed=count_field(data, "failed"),
            check=text_field(data, "check", CHECK_LIMIT, required=False),
            message=text_field(data, "message", MESSAGE_LIMIT, required=False),
        )


def text_field(data: dict[str, object], field: str, limit: int, *, required: bool = True) -> str:
    value = data.get(field, None if required else "")
    if not isinstance(value, str):
        raise BadReport(f"{field} must be text.")
    if len(value) > limit:
        raise BadReport(f"{field} must be at most {limit} characters.")
    return value


def count_field(data: dict[str, object], field: str) -> int:
    value = data.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 100_000:
        raise BadReport(f"{field} must be a whole number of checks.")
    return value


def first_line(text: str, limit: int) -> str:
    """The first non-empty line of ``text``, cut to ``limit`` characters."""
    for line in text.splitlines():
        if line.strip():
            line = line.strip()
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return ""


def without_paths(text: str) -> str:
    """``text`` with every file path on this machine cut down to its file name.

    A path is told from a URL's path (/chats/1/, which the messages name and which say
    nothing about anyone) by its top folder: /home, /tmp, C:\\Users exist here, /chats not.
    """

    def shorten(match: re.Match[str]) -> str:
        found = match.group(0)
        if found.startswith("~") or re.match(r"[A-Za-z]:", found) or is_local(found):
            name = re.split(r"[/\\]", found.rstrip("/\\"))[-1]
            return f"…/{name}" if name else "…"
        return found

    return PATH.sub(shorten, text)


def is_local(path: str) -> bool:
    top = re.split(r"[/\\]", path.lstrip("/\\"))[0]
    return bool(top) and Path("/", top).exists()
