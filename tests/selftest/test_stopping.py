"""Every process the checks start ends when asked, or is killed within a bound, wherever the
checks were started from."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.processes import end_process
from harness.stages import get_stage
from selftest.copies import run_checks

STUBBORN = """\
import signal, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring", flush=True)
time.sleep(600)
"""


def test_a_process_that_ignores_sigint_and_sigterm_is_killed_within_the_limit() -> None:
    stubborn = subprocess.Popen([sys.executable, "-c", STUBBORN], stdout=subprocess.PIPE, text=True)
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == "ignoring\n"
        started = time.monotonic()
        killed = end_process(stubborn, signal.SIGTERM, timeout=1)
        took = time.monotonic() - started
    finally:
        stubborn.kill()
        stubborn.wait(10)
    assert killed and stubborn.returncode == -signal.SIGKILL, (
        f"end_process gave up politely on a process that ignores SIGTERM (killed: {killed}, "
        f"exit code {stubborn.returncode})"
    )
    assert took < 10, f"ending it took {took:.1f} s, far past its 1 s limit"


HEARS_CTRL_C = """\
import signal, subprocess, sys
sys.path.insert(0, "tests")
from harness.processes import let_children_hear_ctrl_c
let_children_hear_ctrl_c()
child = "import signal; print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)"
sys.exit(subprocess.run([sys.executable, "-c", child]).returncode)
"""


def test_servers_started_from_a_background_job_still_hear_ctrl_c(tmp_path: Path) -> None:
    """A shell starts ``nox ... &`` with SIGINT ignored; twistd would inherit that and never
    stop on it. The harness gives its children SIGINT's usual meaning back."""
    as_a_background_job = ["bash", "-c", '"$@" & wait $!', "bash", sys.executable, "-c"]
    result = subprocess.run(
        [*as_a_background_job, HEARS_CTRL_C],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "True", (
        f"a child of the harness started from a background job does not hear SIGINT:\n"
        f"{result.stdout}{result.stderr}"
    )


@pytest.mark.timeout(300)
def test_the_https_check_ends_when_the_checks_run_in_the_background(tmp_path: Path) -> None:
    """The check that once waited for ever: started from a background job, where every
    process it starts would ignore SIGINT, it must still pass, and promptly."""
    stage = get_stage("single_process")
    started = time.monotonic()
    result = run_checks(
        stage.name, stage.path, tmp_path / "artefacts", "-k", "ssl_endpoint",
        in_the_background=True,
    )  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 0 and "1 passed" in result.stdout, (
        f"the https check failed when run in the background:\n{result.stdout}{result.stderr}"
    )
    assert "had to be killed" not in result.stdout, result.stdout
    assert took < 240, f"it took {took:.0f} s"
