"""Every chapter replays: run from its parent stage, it produces its stage exactly.

A chapter that builds no stage (a Reading in the registry, such as 00 and 08) is run once in
an empty folder and must run without error; there is no snapshot to compare it with.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from harness.executed import keep
from harness.learner_folders import chapter_folder, copy_stage, folder_beside
from harness.replay import (
    CHAPTERS,
    ReplayError,
    chapter_servers,
    differences,
    execute_chapter,
)
from harness.stages import READINGS, STAGES, Stage

STAGE_OF_CHAPTER = {stage.chapter: stage for stage in STAGES.values()}


def replay(
    chapter: Path, workdir: Path, run: str, servers: dict[str, str]
) -> nbformat.NotebookNode:
    try:
        return execute_chapter(chapter, workdir, servers)
    except ReplayError as error:
        pytest.fail(f"{run}: {error}", pytrace=False)


@contextmanager
def servers_for(chapters: list[Path], tmp_path: Path) -> Iterator[dict[str, str]]:
    """chapter_servers, failing the check in plain words when they cannot be started."""
    try:
        with chapter_servers(chapters, tmp_path / "servers") as servers:
            yield servers
    except ReplayError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_replays_to_its_stage(chapter: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "django-twisted-chat"
    workdir.mkdir()
    stage = STAGE_OF_CHAPTER.get(chapter.name)
    if stage is None:
        assert chapter.name in READINGS, f"{chapter.name} is neither a stage's nor a Reading"
        keep(replay(chapter, workdir, "Running it", {}), chapter)
        return
    if stage.parent is not None:
        copy_stage(STAGES[stage.parent].path, workdir)

    # Twice: a learner may run a chapter again on the folder it built, and every cell must
    # be safe to run again; the second run must leave the same files as the first. Both
    # runs use the same servers, as a learner's would (chapter 09's database, say).
    runs = []
    with servers_for([chapter], tmp_path) as servers:
        for run in ("Replaying", "Replaying a second time, on its own result,"):
            runs.append(replay(chapter, workdir, run, servers))
            expect_stage(stage, chapter_folder(stage, workdir), f"{run} {chapter.name}")
            if stage.branch and stage.parent is not None:
                expect_stage(STAGES[stage.parent], workdir, f"{run} {chapter.name}, a branch,")
    keep(runs[0], chapter)  # what a learner sees the first time through


def expect_stage(stage: Stage, folder: Path, done: str) -> None:
    diff = differences(stage.path, folder)
    if diff:
        pytest.fail(
            f"{done} does not leave {folder.name} equal to {stage.folder} file for file. "
            f"Change the chapter or the snapshot so they agree:\n{diff}",
            pytrace=False,
        )


def main_line_from(name: str) -> list[Stage]:
    """The main-line stages built on ``name``, in the order their chapters are followed."""
    line: list[Stage] = []
    while True:
        after = [s for s in STAGES.values() if s.parent == name and not s.branch]
        if not after:
            return line
        line.append(after[0])
        name = after[0].name


BRANCHES = [stage for stage in STAGES.values() if stage.branch and stage.parent is not None]


@pytest.mark.parametrize(
    "branch",
    BRANCHES,
    ids=[
        "-".join(s.chapter[:2] for s in main_line_from(b.parent or "")) + f"-then-{b.chapter[:2]}"
        for b in BRANCHES
    ],
)
def test_a_branch_after_the_main_line_leaves_every_folder_as_its_stage(
    branch: Stage, tmp_path: Path
) -> None:
    """A learner who follows the main line past a branch's parent (04 to 06 after Part 3)
    and then the branch (07) in one folder keeps both: the main folder is the newest
    main-line stage, the branch's folder its stage, and the kept copy the parent."""
    parent = STAGES[branch.parent or ""]
    workdir = tmp_path / "django-twisted-chat"
    copy_stage(parent.path, workdir)
    followed = [*main_line_from(parent.name), branch]
    with servers_for([stage.chapter_path for stage in followed], tmp_path) as servers:
        for stage in followed:
            run = f"Replaying {stage.chapter} after the others"
            replay(stage.chapter_path, workdir, run, servers)
    done = "Replaying " + ", then ".join(stage.chapter for stage in followed)
    expect_stage(followed[-2] if len(followed) > 1 else parent, workdir, done)
    expect_stage(branch, chapter_folder(branch, workdir), done)
    expect_stage(parent, folder_beside(workdir, parent.chapter), done)


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
