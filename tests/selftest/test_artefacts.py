"""Evidence from one run of the checks is kept apart from every other run's."""

from __future__ import annotations

from pathlib import Path

from harness.artefacts import RUNS_KEPT, folder_for, run_folder


def test_each_run_has_its_own_folder_and_latest_points_to_it(tmp_path: Path) -> None:
    first = folder_for(run_folder(tmp_path, "2026-11-24_09-00-00"), "test_a.py::test_one")
    (first / "window-1.png").write_bytes(b"old")
    second = folder_for(run_folder(tmp_path, "2026-11-24_09-05-00"), "test_a.py::test_one")

    assert first != second and not any(second.iterdir()), "a new run sees an old run's files"
    assert (tmp_path / "latest").resolve() == second.parent


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    names = [f"2026-11-24_09-{minute:02d}-00" for minute in range(RUNS_KEPT + 3)]
    for name in names:
        folder_for(run_folder(tmp_path, name), "test_a.py::test_one")

    kept = sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink())
    assert kept == names[-RUNS_KEPT:]
