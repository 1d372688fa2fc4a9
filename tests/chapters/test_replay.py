"""Every chapter replays: run from its parent stage, it produces its stage exactly.

Once a chapter passes, the notebook of its first run is kept for the book (harness/executed.py).

A chapter that builds no stage (a Reading in the registry, such as 00 and 08) is run once in
an empty folder and must run without error; there is no snapshot to compare it with.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from harness.executed import keep
from harness.replay import CHAPTERS, ReplayError, copy_stage, differences, execute_chapter
from harness.stages import READINGS, STAGES

STAGE_OF_CHAPTER = {stage.chapter: stage for stage in STAGES.values()}


def replay(chapter: Path, workdir: Path, run: str) -> nbformat.NotebookNode:
    try:
        return execute_chapter(chapter, workdir)
    except ReplayError as error:
        pytest.fail(f"{run}: {error}", pytrace=False)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_replays_to_its_stage(chapter: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "django-twisted-chat"
    workdir.mkdir()
    stage = STAGE_OF_CHAPTER.get(chapter.name)
    if stage is None:
        assert chapter.name in READINGS, f"{chapter.name} is neither a stage's nor a Reading"
        keep(replay(chapter, workdir, "Running it"), chapter)
        return
    if stage.parent is not None:
        copy_stage(STAGES[stage.parent].path, workdir)

    # Twice: a learner may run a chapter again on the folder it built, and every cell must
    # be safe to run again; the second run must leave the same files as the first.
    runs = []
    for run in ("Replaying", "Replaying a second time, on its own result,"):
        runs.append(replay(chapter, workdir, run))
        diff = differences(stage.path, workdir)
        if diff:
            pytest.fail(
                f"{run} {chapter.name} does not give {stage.folder} file for file. Change "
                f"the chapter or the snapshot so they agree:\n{diff}",
                pytrace=False,
            )
    keep(runs[0], chapter)  # what a learner sees the first time through


def test_every_stage_has_its_chapter() -> None:
    missing = [s.chapter for s in STAGES.values() if not s.chapter_path.is_file()]
    assert not missing, f"these stages' chapters are missing from tutorial/: {missing}"


def test_every_chapter_builds_a_stage_or_is_a_reading() -> None:
    """A new chapter cannot slip past the comparison with a snapshot unnoticed: one that
    builds no stage must be listed as a Reading in the registry."""
    known = set(STAGE_OF_CHAPTER) | set(READINGS)
    unknown = [chapter.name for chapter in CHAPTERS if chapter.name not in known]
    assert not unknown, (
        f"these chapters are neither a stage's chapter nor a Reading in "
        f"tests/harness/stages.py: {unknown}"
    )
    both = sorted(set(STAGE_OF_CHAPTER) & set(READINGS))
    assert not both, f"these chapters are listed both as a stage's and as a Reading: {both}"
    missing = [r.chapter for r in READINGS.values() if not r.chapter_path.is_file()]
    assert not missing, f"these Readings are missing from tutorial/: {missing}"
