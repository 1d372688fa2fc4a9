"""An offline room: a workbook that moved works, and the wheelhouse replaces PyPI.

The expensive check is one: the network cut off (a network namespace with only loopback),
``nox -s part2 -- --quick`` installs from scratch from a wheelhouse served over http.
"""

from __future__ import annotations

import http.server
import os
import select
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.moved_envs import why_not_reusable
from harness.package_source import (
    VARIABLE,
    Wheelhouse,
    WheelhouseError,
    pins_in,
    wheelhouse_from_environment,
)
from harness.processes import free_port
from harness.stages import REPO_ROOT
from selftest.nox_runs import nox_command

NOX_TIMEOUT = 600.0
"""Seconds one nox run here may take on a busy laptop: installing a stage from scratch."""
SERVER_START_TIMEOUT = 60.0
WHEELHOUSE_PORT = 8000
"""Free in a namespace of our own, where nothing else runs."""


def run_nox(*args: str, cwd: Path = REPO_ROOT, prefix: tuple[str, ...] = (), **env: str):
    environment = {key: value for key, value in os.environ.items() if key != VARIABLE}
    return subprocess.run(
        [*prefix, *nox_command(), *args], cwd=cwd, env={**environment, **env},
        capture_output=True, text=True, timeout=NOX_TIMEOUT,
    )  # fmt: skip


def passed(result: subprocess.CompletedProcess[str], what: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{what} failed:\n{output[-4000:]}"
    return output


# --- A workbook copied elsewhere -------------------------------------------------------


def an_env(folder: Path, made_in: Path, home: str = "/usr/bin") -> Path:
    """The two files that say where and with which Python an environment was made."""
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "activate").write_text(f"VIRTUAL_ENV='{made_in}'\nexport VIRTUAL_ENV\n")
    version = f"{sys.version_info.major}.{sys.version_info.minor}.0"
    (folder / "pyvenv.cfg").write_text(f"home = {home}\nversion_info = {version}\n")
    return folder


def test_an_environment_made_here_is_reused(tmp_path: Path) -> None:
    env = an_env(tmp_path / "part2", tmp_path / "part2")
    assert why_not_reusable(env) is None


def test_an_environment_made_in_another_folder_is_not(tmp_path: Path) -> None:
    env = an_env(tmp_path / "part2", Path("/media/usb/workbook/.nox/part2"))
    assert why_not_reusable(env) == "it was made in /media/usb/workbook/.nox/part2"


def test_an_environment_made_with_a_python_not_here_is_not(tmp_path: Path) -> None:
    env = an_env(tmp_path / "part2", tmp_path / "part2", home="/opt/homebrew/bin")
    assert "(/opt/homebrew/bin) is not on this machine" in (why_not_reusable(env) or "")


def test_a_copied_workbook_makes_its_environment_anew(tmp_path: Path) -> None:
    """A workbook run once, copied to another place, the old place gone: nox makes the
    copy's environment in the copy instead of reusing one that points at the old place."""
    first = tmp_path / "first" / "workbook"
    first.mkdir(parents=True)
    for name in ("noxfile.py", "pyproject.toml"):
        shutil.copy2(REPO_ROOT / name, first / name)
    shutil.copytree(REPO_ROOT / "tests" / "harness", first / "tests" / "harness",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    passed(run_nox("-s", "lint", cwd=first), "nox -s lint in the first place")
    copy = tmp_path / "usb-stick" / "workbook"
    shutil.copytree(first, copy, symlinks=True)
    shutil.rmtree(first)

    output = passed(run_nox("-s", "lint", cwd=copy), "nox -s lint in the copy")
    assert "Creating virtual environment" in output, (
        f"nox reused the environment copied from {first}; noxfile.py must have it made anew "
        f"(harness/moved_envs.py). nox printed:\n{output[-2000:]}"
    )
    assert why_not_reusable(copy / ".nox" / "lint") is None


# --- CHAT_WHEELHOUSE: what goes wrong is said in one line ---------------------------------


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheelhouse"
    folder.mkdir()
    for name in ("Django-5.2.19-py3-none-any.whl", "twisted-26.10.0-py3-none-any.whl"):
        (folder / name).write_bytes(b"")
    return folder


@pytest.fixture
def served(wheels: Path) -> Iterator[str]:
    """The wheelhouse's address, served as ``python3 -m http.server -d DIR`` serves it."""

    def handler(*args: object) -> http.server.SimpleHTTPRequestHandler:
        return http.server.SimpleHTTPRequestHandler(*args, directory=str(wheels))  # type: ignore

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_missing_folder_is_named_with_the_fix(tmp_path: Path) -> None:
    fix = "which is not a folder: fill it with `nox -s wheelhouse"
    with pytest.raises(WheelhouseError, match=fix):
        wheelhouse_from_environment({VARIABLE: str(tmp_path / "nowhere")})


@pytest.mark.parametrize("where", ["folder", "address"])
def test_a_missing_package_is_named_with_the_fix(
    where: str, wheels: Path, served: str, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("Django==5.2.19\nTwisted[tls]==26.10.0  # tls\nautobahn==26.10.2\n")
    location = served if where == "address" else str(wheels)
    wheelhouse = wheelhouse_from_environment({VARIABLE: location})
    assert wheelhouse is not None
    with pytest.raises(WheelhouseError) as failure:
        wheelhouse.check(pins_in([str(requirements)]))
    assert f"has no autobahn 26.10.2 (pinned in {requirements})" in str(failure.value)
    assert "nox -s wheelhouse -- " in str(failure.value)
    wheelhouse.check(pins_in([str(requirements)])[:2])  # the first two are there


def test_an_address_that_does_not_answer_is_named(served: str) -> None:
    listed = sorted(Wheelhouse(served).file_names())
    assert listed == ["Django-5.2.19-py3-none-any.whl", "twisted-26.10.0-py3-none-any.whl"]
    nobody = Wheelhouse(f"http://127.0.0.1:{free_port()}/")
    with pytest.raises(WheelhouseError, match=r"did not answer .*python3 -m http\.server -d DIR"):
        nobody.file_names()


# --- The room without internet ------------------------------------------------------------


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace whose only network is its own loopback."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail(
            "This check cuts the network off with `ip netns`, which needs root and the "
            "iproute2 package: run it as root (CI does), with iproute2 installed."
        )
    name = f"chat-offline-{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.fail(f"`ip netns add` failed, so the network cannot be cut off here: {made.stderr}")
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.mark.timeout(2 * NOX_TIMEOUT + SERVER_START_TIMEOUT)
def test_part2_installs_and_passes_from_the_wheelhouse_alone(
    tmp_path: Path, namespace: str
) -> None:
    folder, environments = tmp_path / "wheelhouse", tmp_path / "environments"
    passed(
        run_nox("--envdir", str(environments), "-s", "wheelhouse", "--", str(folder),
                "--here-only", "-r", "part2_websocket/requirements.txt",
                "-r", "tests/requirements.txt"),
        "nox -s wheelhouse",
    )  # fmt: skip
    inside = ("ip", "netns", "exec", namespace)
    server = subprocess.Popen(
        [*inside, "python3", "-u", "-m", "http.server", "--bind", "127.0.0.1",
         str(WHEELHOUSE_PORT), "-d", str(folder)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        ready, _, _ = select.select([server.stdout], [], [], SERVER_START_TIMEOUT)
        assert ready and "Serving HTTP" in server.stdout.readline(), (
            f"python3 -m http.server did not start within {SERVER_START_TIMEOUT:g} s"
        )
        checked = run_nox(
            "--envdir", str(environments), "-s", "part2", "--", "--quick", prefix=inside,
            CHAT_WHEELHOUSE=f"http://127.0.0.1:{WHEELHOUSE_PORT}/",
            UV_CACHE_DIR=str(tmp_path / "empty-cache"), PIP_NO_CACHE_DIR="1",
        )  # fmt: skip
    finally:
        server.terminate()
        served_log = server.communicate(timeout=SERVER_START_TIMEOUT)[1]
    output = passed(checked, "nox -s part2 -- --quick, offline, from the wheelhouse")
    assert "--no-index" in output and "get /django-5.2.19" in served_log.lower(), (
        f"part2 passed, but did not install from the wheelhouse. The wheelhouse served:\n"
        f"{served_log[-2000:]}"
    )
