"""The watchdog turns a check that hangs into a failure that names it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.stages import REPO_ROOT

HUNG_CHECK = """\
import threading


def test_that_waits_for_ever():
    threading.Event().wait()  # no limit: what the watchdog is for
"""


def test_a_hung_check_fails_naming_itself_and_the_run_goes_on(tmp_path: Path) -> None:
    (tmp_path / "test_hung.py").write_text(HUNG_CHECK)
    (tmp_path / "test_after.py").write_text("def test_that_runs_after_it():\n    pass\n")
    result = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-p", "harness.watchdog", "--watchdog", "2",
            "-p", "no:cacheprovider", "-q", str(tmp_path),
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO_ROOT / "tests"), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, f"the hung check did not fail:\n{output}"
    assert "1 failed, 1 passed" in output, f"the run did not go on after it:\n{output}"
    assert "test_hung.py::test_that_waits_for_ever was still running after 2 s" in output, (
        f"the failure does not name the hung check in plain words:\n{output}"
    )
