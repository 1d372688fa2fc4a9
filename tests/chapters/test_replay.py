"""Every chapter replays: run from its parent stage, it produces its stage exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.replay import ReplayError, copy_stage, differences, execute_chapter
from harness.stages import STAGES, TUTORIAL_DIR

CHAPTERS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.md"))
STAGE_OF_CHAPTER = {stage.chapter: stage for stage in STAGES.values()}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_replays_to_its_stage(chapter: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "django-twisted-chat"
    workdir.mkdir()
    stage = STAGE_OF_CHAPTER.get(chapter.name)
    if stage is not None and stage.parent is not None:
        copy_stage(STAGES[stage.parent].path, workdir)

    # Twice: a learner may run a chapter again on the folder it built, and every cell must
    # be safe to run again; the second run must leave the same files as the first.
    for run in ("Replaying", "Replaying a second time, on its own result,"):
        try:
            execute_chapter(chapter, workdir)
        except ReplayError as error:
            pytest.fail(f"{run}: {error}", pytrace=False)

        if stage is not None:
            diff = differences(stage.path, workdir)
            if diff:
                pytest.fail(
                    f"{run} {chapter.name} does not give {stage.folder} file for file. Change "
                    f"the chapter or the snapshot so they agree:\n{diff}",
                    pytrace=False,
                )


def test_every_stage_has_its_chapter() -> None:
    missing = [s.chapter for s in STAGES.values() if not s.chapter_path.is_file()]
    assert not missing, f"these stages' chapters are missing from tutorial/: {missing}"
