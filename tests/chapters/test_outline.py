"""A chapter's outline is its own headings, each once, and no file a cell writes adds to it.

The outline is what JupyterLab's table of contents, a book's page index or GitHub shows: the
headings of the chapter's Markdown cells, as jupytext reads them. A cell that writes a
Markdown file (a stage's README) holds headings too. They belong to that file, and a reader
that takes the chapter for plain Markdown can show them beside the chapter's own, so none
may repeat a heading of the chapter: "Keeping the history short" showed twice in chapter 06.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import jupytext
import pytest

from harness.stages import TUTORIAL_DIR

CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
HEADING = re.compile(r"^(#{1,6}) +(.+?) *#* *$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
WRITES_MARKDOWN = re.compile(r"^%%writefile +\S+\.md\s*$")


def headings(markdown: str) -> list[str]:
    """The ATX headings of ``markdown`` outside its fenced blocks, as "## Title"."""
    found, fence = [], ""
    for line in markdown.splitlines():
        opening = FENCE.match(line)
        if fence:
            closes = opening and opening.group(1)[0] == fence[0]
            if closes and len(opening.group(1)) >= len(fence) and not line.strip(" `~"):
                fence = ""
        elif opening:
            fence = opening.group(1)
        elif heading := HEADING.match(line):
            found.append(f"{heading.group(1)} {heading.group(2)}")
    return found


def outline_and_files(chapter: Path) -> tuple[list[str], dict[str, list[str]]]:
    """The chapter's outline, and the headings of each Markdown file its cells write."""
    notebook = jupytext.read(chapter)
    outline: list[str] = []
    files: dict[str, list[str]] = {}
    for cell in notebook.cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "markdown":
            outline += headings(cell.source)
        elif WRITES_MARKDOWN.match(first):
            files[first.split()[1]] = headings(body)
    return outline, files


def title(heading: str) -> str:
    return heading.lstrip("#").strip().casefold()


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_the_outline_holds_the_chapters_own_headings_once_each(chapter: Path) -> None:
    outline, files = outline_and_files(chapter)
    twice = [heading for heading, count in Counter(outline).items() if count > 1]
    assert not twice, f"{chapter.name} has these headings more than once: {twice}"
    ours = {title(heading) for heading in outline}
    for name, inside in files.items():
        clash = [heading for heading in inside if title(heading) in ours]
        assert not clash, (
            f"{chapter.name}: the {name} its cell writes has the heading(s) {clash}, which the "
            "chapter has too, so an outline of the chapter can show them twice. Name the "
            "chapter's own heading differently."
        )


def test_headings_inside_a_fenced_block_are_not_the_outlines() -> None:
    text = (
        "# Top\n````{code-cell}\n%%writefile README.md\n# Inner\n```bash\nx\n```\n"
        "## Also\n````\n## Next\n"
    )
    assert headings(text) == ["# Top", "## Next"]
