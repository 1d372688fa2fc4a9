"""`nox -s serve` runs a stage for people: demo rooms, an admin login, a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import http
from harness.processes import free_port
from harness.stages import REPO_ROOT, STAGES

STARTUP_TIMEOUT = 60.0


def read_until(process: subprocess.Popen[str], marker: str) -> str:
    """What the process printed up to and including ``marker``, or fail after a while."""
    seen = []
    deadline = time.monotonic() + STARTUP_TIMEOUT
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    pytest.fail(f"serve never printed {marker!r}; it printed:\n{''.join(seen)}")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_serve_runs_a_stage_with_demo_rooms_and_stops_on_ctrl_c(stage: str, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests"), "PYTHONDONTWRITEBYTECODE": "1"}
    for process in STAGES[stage].processes:
        env[process.port_env] = str(free_port())
    command = [sys.executable, "-m", "harness.serve", stage, "--data-dir", str(tmp_path)]
    serve = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        printed = read_until(serve, "Press Ctrl-C to stop.")
        rooms_url = re.search(r"Chat rooms:\s+(\S+)", printed)
        password = re.search(r"user admin, password (\S+)", printed)
        assert rooms_url and password, f"serve did not print the URL and login:\n{printed}"

        page = http.request(rooms_url.group(1))
        assert page.status == 200 and "Lobby" in page.text, "the demo rooms are not listed"
        assert (tmp_path / "db.sqlite3").exists(), "the database is not in --data-dir"
    finally:
        serve.send_signal(signal.SIGINT)
        rest, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, f"serve did not stop cleanly on Ctrl-C:\n{rest}"
    assert "Stopped." in rest
    with pytest.raises(OSError):
        http.request(rooms_url.group(1), timeout=2)  # nothing answers any more
