"""What a chapter asks of its reader: words of prose, lines of code to run, and exercises.

The instructors' notes (tutorial/instructors.md) time each chapter from these counts and
answer each exercise; a self-test reads both again, so the notes cannot drift from the
chapters as they change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .stages import TUTORIAL_DIR

CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
WORDS_PER_MINUTE = 150
"""A careful reading pace for technical prose; the notes time the chapters with it."""
CODE_LINES_PER_MINUTE = 15
"""Lines of a code cell read, run, and its output looked at, in a minute."""

CODE_CELL = re.compile(r"^(?P<fence>`{3,})\{code-cell\}")
"""The first line of a notebook cell in a MyST chapter; the cell ends at the same fence."""
EXERCISE = re.compile(r"^(?P<number>\d+)\. \*\*(?P<title>.+?)\*\*", re.MULTILINE)
"""An exercise in a chapter's "Exercises" list: ``1. **Count the rooms.** ...``."""
WORD = re.compile(r"\w+(?:['\u2019.-]\w+)*")
"""A word as a reader reads one: ``don't``, ``get_object_or_404``, ``1.5`` are one each."""


@dataclass(frozen=True)
class Reading:
    prose_words: int
    """Words outside the code cells: the text, with its inline code and short examples."""
    code_lines: int
    """Non-blank lines inside the code cells: what the learner runs, reads and may retype."""


def reading(chapter: Path) -> Reading:
    words = 0
    code = 0
    closing = ""
    for line in body(chapter.read_text()).splitlines():
        if closing:
            if line.strip() == closing:
                closing = ""
            elif line.strip():
                code += 1
        elif opened := CODE_CELL.match(line):
            closing = opened["fence"]
        else:
            words += len(WORD.findall(line))
    return Reading(prose_words=words, code_lines=code)


def body(text: str) -> str:
    """The chapter without its jupytext front matter (the ``---`` block at the top)."""
    if text.startswith("---\n"):
        return text.split("\n---\n", 1)[1]
    return text


def exercises(chapter: Path) -> dict[int, str]:
    """The chapter's exercises, by number: their bold titles, as "Count the rooms."."""
    listed = body(chapter.read_text()).partition("\n## Exercises\n")[2]
    return {int(found["number"]): found["title"] for found in EXERCISE.finditer(listed)}


def main() -> None:
    """Print each chapter's counts and minutes, as the notes' timing table shows them."""
    for chapter in CHAPTERS:
        counted = reading(chapter)
        print(
            f"{chapter.stem}: {counted.prose_words:,} words, {counted.code_lines:,} lines of "
            f"code; reading {counted.prose_words / WORDS_PER_MINUTE:.0f} min, cells "
            f"{counted.code_lines / CODE_LINES_PER_MINUTE:.0f} min"
        )


if __name__ == "__main__":
    main()
