"""Every step a learner takes is in the notebook: nothing is left to a terminal block.

A chapter that installs something does it in a cell (``%install_requirements``, which
installs into the notebook's own environment and is safe to run twice), so a learner working
in the notebook never has to leave it for a terminal and find the right environment there.
Stage READMEs, written by cells, may still say how to install by hand: they are files.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

from harness.stages import TUTORIAL_DIR

CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
INSTALL = re.compile(r"\s*(python3? -m )?(pip3?|uv pip) install\b")
FENCED = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1", re.MULTILINE | re.DOTALL)


def installs_outside_cells(chapter: Path) -> list[str]:
    """The install commands in the chapter's prose blocks, not in its cells."""
    found = []
    for cell in jupytext.read(chapter).cells:
        if cell.cell_type == "markdown":
            for block in FENCED.finditer(cell.source):
                lines = block.group(2).splitlines()
                found += [line.strip() for line in lines if INSTALL.match(line)]
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_a_chapter_installs_in_a_cell_not_in_a_terminal(chapter: Path) -> None:
    found = installs_outside_cells(chapter)
    assert not found, (
        f"{chapter.name} asks the reader to run {found} in a terminal. Make it a cell, "
        "`%install_requirements`, which installs into the notebook's own environment and is "
        "safe to run twice, and say so in the text."
    )
