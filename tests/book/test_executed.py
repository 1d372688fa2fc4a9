"""A kept run counts for the book only while it was made from the files as they are now."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from harness.executed import EXECUTED_DIR_ENV, keep, kept_path, up_to_date


@pytest.fixture
def chapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(EXECUTED_DIR_ENV, str(tmp_path / "executed"))
    written = tmp_path / "09_more.md"
    written.write_text("# 09 · More\n")
    return written


def a_run() -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell("print('hello')")
    cell.outputs = [nbformat.v4.new_output("stream", text="hello\n")]
    return nbformat.v4.new_notebook(cells=[cell])


def test_a_kept_run_is_found_with_its_outputs(chapter: Path) -> None:
    keep(a_run(), chapter)
    found = up_to_date(chapter)
    assert found is not None and found.cells[0].outputs[0].text == "hello\n"


def test_a_chapter_never_run_has_no_run(chapter: Path) -> None:
    assert up_to_date(chapter) is None


def test_a_run_of_an_earlier_version_of_the_chapter_is_out_of_date(chapter: Path) -> None:
    keep(a_run(), chapter)
    chapter.write_text("# 09 · More, and changed\n")
    assert up_to_date(chapter) is None, "the book must never show outputs of older text"


def test_a_run_without_a_stamp_is_out_of_date(chapter: Path) -> None:
    kept_path(chapter).parent.mkdir(parents=True)
    nbformat.write(a_run(), kept_path(chapter))
    assert up_to_date(chapter) is None
