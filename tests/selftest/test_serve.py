"""`nox -s serve` runs a stage for people: demo rooms, an admin login, a clean Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import socket
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


def start_serve(stage: str, data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, int]]:
    """``python -m harness.serve STAGE`` on free ports; returns it and its ports."""
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "tests"), "PYTHONDONTWRITEBYTECODE": "1"}
    ports = {}
    for process in STAGES[stage].processes:
        ports[process.name] = free_port()
        env[process.port_env] = str(ports[process.name])
    command = [sys.executable, "-m", "harness.serve", stage, "--data-dir", str(data_dir)]
    serve = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return serve, ports


def stop_serve(serve: subprocess.Popen[str], signum: int) -> str:
    """Send ``signum`` and return what serve printed until it ended."""
    serve.send_signal(signum)
    try:
        rest, _ = serve.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        serve.kill()
        rest, _ = serve.communicate()
        pytest.fail(f"serve was still running 30 s after {signum.name}:\n{rest}")
    return rest


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_serve_runs_a_stage_with_demo_rooms_and_stops_on_ctrl_c(stage: str, tmp_path: Path) -> None:
    serve, _ = start_serve(stage, tmp_path)
    try:
        printed = read_until(serve, "Press Ctrl-C to stop.")
        rooms_url = re.search(r"Chat rooms:\s+(\S+)", printed)
        password = re.search(r"user admin, password (\S+)", printed)
        assert rooms_url and password, f"serve did not print the URL and login:\n{printed}"

        logins = re.findall(r"Chat as:\s+user (\S+), password (\S+)", printed)
        headers = {}
        if "auth" in STAGES[stage].features:
            assert logins, f"serve did not print the demo people to log in as:\n{printed}"
            login_url = rooms_url.group(1).replace("/chats/", "/accounts/login/")
            headers["Cookie"] = http.log_in(login_url, *logins[0])
        page = http.request(rooms_url.group(1), headers=headers)
        assert page.status == 200 and "Lobby" in page.text, "the demo rooms are not listed"
        assert (tmp_path / "db.sqlite3").exists(), "the database is not in --data-dir"
    finally:
        rest = stop_serve(serve, signal.SIGINT)
    assert serve.returncode == 0, f"serve did not stop cleanly on Ctrl-C:\n{rest}"
    assert "Stopped" in rest
    with pytest.raises(OSError):
        http.request(rooms_url.group(1), timeout=2)  # nothing answers any more


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_serve_stops_every_server_however_it_is_stopped(signum: int, tmp_path: Path) -> None:
    """`kill`, or closing the terminal, must not leave servers holding the ports."""
    serve, ports = start_serve("part2", tmp_path)
    try:
        read_until(serve, "Press Ctrl-C to stop.")
        assert all(port_answers(port) for port in ports.values()), "serve's servers never answered"
    finally:
        rest = stop_serve(serve, signum)
    assert serve.returncode == 0 and "Stopped" in rest, (
        f"serve did not stop cleanly on {signal.Signals(signum).name}:\n{rest}"
    )
    still = [name for name, port in ports.items() if port_answers(port)]
    assert not still, (
        f"After {signal.Signals(signum).name}, serve had exited but left {still} running on "
        f"ports {[ports[name] for name in still]}."
    )
