"""Evidence from one run of the checks is kept apart from every other run's, and only for
checks that have something to show."""

from __future__ import annotations

from pathlib import Path

from harness.artefacts import RUNS_KEPT, keep_evidence


class Window:
    """Stands in for a browser window: it saves one screenshot when asked."""

    def save_artefacts(self, folder: Path) -> list[Path]:
        shot = folder / "window-1.png"
        shot.write_bytes(b"png")
        return [shot]


def test_each_run_has_its_own_folder_and_latest_points_to_it(tmp_path: Path) -> None:
    [first] = keep_evidence([Window()], tmp_path, "2026-11-24_09-00-00", "test_a.py::test_one")
    [second] = keep_evidence([Window()], tmp_path, "2026-11-24_09-05-00", "test_a.py::test_one")

    assert first.parent != second.parent, "two runs share a folder"
    assert first.read_bytes() == second.read_bytes() == b"png"
    assert (tmp_path / "latest").resolve() == second.parent.parent


def test_only_the_newest_runs_are_kept(tmp_path: Path) -> None:
    names = [f"2026-11-24_09-{minute:02d}-00" for minute in range(RUNS_KEPT + 3)]
    for name in names:
        keep_evidence([Window()], tmp_path, name, "test_a.py::test_one")

    kept = sorted(p.name for p in tmp_path.iterdir() if not p.is_symlink())
    assert kept == names[-RUNS_KEPT:]


def test_a_check_with_nothing_to_show_leaves_no_folder(tmp_path: Path) -> None:
    """A check that failed before it opened a browser or started a server (its stage's code
    could not be imported, say) has no evidence: an empty folder would only hide the ones
    that matter."""
    assert keep_evidence(["a room id", 42], tmp_path, "2026-11-24_09-00-00", "test_a.py::t") == []
    assert not any(tmp_path.iterdir()), f"left behind: {sorted(tmp_path.rglob('*'))}"
