"""A change shown in a chapter can be typed by hand without counting braces.

A ``%%change`` to a script or a style sheet adds whole blocks: its ``+`` lines never close
a brace that they did not open, so a new function comes with its own closing brace instead
of borrowing the one of the function before it (chapter 05's room.js once did).
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from harness.stages import TUTORIAL_DIR

CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
BRACED = (".js", ".css")
STRINGS = re.compile(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'|//.*$", re.MULTILINE)


def borrowed_braces(added: str) -> int:
    """How many closing braces ``added`` has before the opening brace that each closes."""
    depth = lowest = 0
    for brace in re.findall(r"[{}]", STRINGS.sub("", added)):
        depth += 1 if brace == "{" else -1
        lowest = min(lowest, depth)
    return -lowest


def added_by_place(body: str) -> dict[str, str]:
    """The ``+`` lines of a ``%%change`` body, for each place (``@@`` hint) it changes."""
    places: dict[str, str] = {}
    hint = ""
    for line in body.splitlines():
        if line.startswith("@@"):
            hint = line[2:].strip()
        elif line.startswith("+"):
            places[hint] = places.get(hint, "") + line[1:] + "\n"
    return places


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_a_change_to_a_script_adds_whole_blocks(chapter: Path) -> None:
    for cell in jupytext.read(chapter).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type != "code" or not first.startswith("%%change "):
            continue
        path = first.split()[1]
        if not path.endswith(BRACED):
            continue
        for hint, added in added_by_place(body).items():
            assert not borrowed_braces(added), (
                f"{chapter.name}: the change to {path} at '@@ {hint}' adds lines that close "
                "a brace they did not open, borrowing it from the code around them. Show the "
                "new block whole, with its own closing brace, and the unchanged lines around "
                f"it as context:\n{added}"
            )


def test_a_borrowed_brace_is_counted() -> None:
    assert borrowed_braces("  }\n\n  function more() {\n    run('}');\n") == 1
    assert borrowed_braces("  function more() {\n    run();\n  }\n") == 0
