"""The instructors' notes (tutorial/instructors.md) say what the workbook really is.

Their timing table holds the chapters' word and line counts as they are now, their list of
mistakes is the self-tests' catalogue with the words the checks really print, and they
answer every exercise of every chapter, naming the patch of each worked solution.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.reading import (
    CHAPTERS,
    CODE_LINES_PER_MINUTE,
    WORDS_PER_MINUTE,
    exercises,
    reading,
)
from harness.stages import TUTORIAL_DIR
from selftest.mistakes import MISTAKES, STARTUP_MISTAKES

NOTES = TUTORIAL_DIR / "instructors.md"
SOLUTIONS = TUTORIAL_DIR / "solutions"
DRIFT = 0.10
"""How far a figure in the notes may be from the chapters as they are now."""
TABLE_ROW = re.compile(r"^\| (?P<number>\d\d) [^|]+\|(?P<figures>.+)\|$", re.MULTILINE)
"""A row of the timing table: the chapter's number and title, then its figures."""


def notes() -> str:
    return NOTES.read_text()


def timing_rows() -> dict[str, list[float]]:
    """The timing table's figures, by chapter number: words, code lines, reading minutes,
    cells minutes, replay seconds, exercise minutes and total hours."""
    return {
        found["number"]: [float(cell.replace(",", "")) for cell in found["figures"].split("|")]
        for found in TABLE_ROW.finditer(notes())
    }


def close(shown: float, counted: float) -> bool:
    return abs(shown - counted) <= max(DRIFT * counted, 1)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_the_timing_table_holds_the_chapters_counts(chapter: Path) -> None:
    rows = timing_rows()
    number = chapter.stem[:2]
    assert number in rows, f"{NOTES.name}'s timing table has no row for {chapter.name}"
    words, lines, reading_minutes, cells_minutes, _replay, exercise_minutes, hours = rows[number]
    counted = reading(chapter)
    fix = (
        f"Recount (PYTHONPATH=tests python -m harness.reading) and update the row of "
        f"{chapter.stem} in "
        f"{NOTES.name}'s table"
    )
    assert close(words, counted.prose_words) and close(lines, counted.code_lines), (
        f"{chapter.name} now has {counted.prose_words} words of prose and {counted.code_lines} "
        f"lines of code; the notes say {words:.0f} and {lines:.0f}. {fix}."
    )
    assert close(reading_minutes, counted.prose_words / WORDS_PER_MINUTE) and close(
        cells_minutes, counted.code_lines / CODE_LINES_PER_MINUTE
    ), (
        f"{chapter.stem}'s minutes are not its words at {WORDS_PER_MINUTE} a minute and its "
        f"lines at {CODE_LINES_PER_MINUTE} a minute. {fix}."
    )
    assert close(hours * 60, reading_minutes + cells_minutes + exercise_minutes), (
        f"{chapter.stem}'s total is not its reading, cells and exercise minutes added up"
    )


def test_the_notes_state_the_rates_the_table_uses() -> None:
    for rate in (f"{WORDS_PER_MINUTE} words a minute", f"{CODE_LINES_PER_MINUTE} a minute"):
        assert rate in notes(), f"{NOTES.name} does not say its table counts {rate!r}"


CATALOGUE = {
    **MISTAKES,
    **STARTUP_MISTAKES,
    **{name: also for each in MISTAKES.values() for name, also in each.also_caught_by.items()},
}


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_mistake_is_listed_with_what_the_checks_say(name: str) -> None:
    said = CATALOGUE[name].message
    listed = [line for line in notes().splitlines() if name.lower() in line.lower()]
    assert any(said in line for line in listed), (
        f"{NOTES.name} must list the mistake {name!r} (tests/selftest/mistakes.py) on one "
        f"line with the words the checks answer it with: {said!r}"
    )


ANSWERED = [c for c in CHAPTERS if exercises(c)]


def answers_to(chapter: Path) -> str:
    """The notes' section of worked solutions for one chapter."""
    sections = re.split(r"^### ", notes(), flags=re.MULTILINE)
    found = [s for s in sections if s.startswith(chapter.stem[:2] + " ")]
    assert found, f"{NOTES.name} has no section '### {chapter.stem[:2]} ...' of solutions"
    return found[0].split("\n## ", 1)[0]


@pytest.mark.parametrize("chapter", ANSWERED, ids=[c.stem for c in ANSWERED])
def test_every_exercise_has_a_worked_solution(chapter: Path) -> None:
    answers = answers_to(chapter)
    for number, title in exercises(chapter).items():
        assert f"{number}. **{title}**" in answers, (
            f"{NOTES.name} does not answer {chapter.stem}'s exercise {number}, {title!r}: "
            f"add '{number}. **{title}**' and its solution to the section on {chapter.stem}"
        )
    for patch in sorted((SOLUTIONS / chapter.stem).glob("*.diff")):
        number = int(patch.name.split("_", 1)[0])
        item = re.search(rf"^{number}\. \*\*.*?(?=^\d+\. \*\*|\Z)", answers, re.M | re.S)
        where = patch.relative_to(TUTORIAL_DIR.parent).as_posix()
        assert item and where in item[0], (
            f"{NOTES.name} does not name {where} in its answer to {chapter.stem}'s exercise "
            f"{number}"
        )
