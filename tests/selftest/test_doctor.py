"""`nox -s doctor` gives a red line, with what to do, for each thing a laptop can lack, and
exits 0 on a laptop that lacks nothing: this one.

Each check is shown a machine of the test's making (its own PATH of fake programs, ports,
package index), so no test needs to break the real one."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness import doctor
from harness.chromium import system_chromium
from harness.doctor import Machine, Result
from harness.processes import free_port
from harness.stages import REPO_ROOT
from harness.webdriver_wire import WebDriverError, call

DOCTOR_TIMEOUT = 120.0
"""Seconds `nox -s doctor` may take here (it takes seconds; a busy machine is slow)."""


def machine(path: Path | None = None, **environ: str) -> Machine:
    """This machine, seen through ``path`` (a folder of the test's programs) and ``environ``,
    by a doctor that gives Debian's advice."""
    everything = {name: value for name, value in os.environ.items() if name != "CHAT_WHEELHOUSE"}
    everything.update(environ)
    if path is not None:
        everything["PATH"] = str(path)
    return Machine(everything, system="debian")


def program(folder: Path, name: str, script: str) -> Path:
    """A shell script called ``name`` in ``folder``."""
    path = folder / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


@pytest.fixture(scope="module")
def real_pair() -> tuple[str, str]:
    browser, driver = system_chromium()
    assert browser and driver, "these checks need Chromium and chromedriver installed"
    return browser, driver


def chromedriver_version(driver: str) -> str:
    printed = subprocess.run([driver, "--version"], capture_output=True, text=True, timeout=30)
    found = re.search(r"\d+\.\d+\.\d+\.\d+", printed.stdout)
    assert found, f"chromedriver --version printed {printed.stdout!r}"
    return found.group()


@pytest.fixture(scope="module")
def local_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A package index on loopback (an empty folder served over HTTP)."""
    folder = tmp_path_factory.mktemp("index")
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def assert_red(result: Result, *words: str) -> None:
    assert not result.ok, f"doctor passed what it should have refused: {result.what}"
    for word in words:
        assert word in f"{result.what}\n{result.advice}", (
            f"the red line does not say {word!r}:\n{result.what}\n{result.advice}"
        )


# -- this machine, all green -----------------------------------------------------------------


def test_on_this_machine_every_line_is_green_and_doctor_exits_0(local_index: str) -> None:
    nox = shutil.which("nox")
    assert nox, "nox is not on PATH (pipx ensurepath puts it there): this types nox -s doctor"
    env = {**os.environ, "UV_DEFAULT_INDEX": local_index}
    env.pop("CHAT_WHEELHOUSE", None)
    for variable in ("DJANGO_PORT", "CHAT_PORT", "JUPYTER_PORT"):
        env[variable] = str(free_port())  # the usual ports may be busy on a shared machine
    ran = subprocess.run(
        [nox, "-s", "doctor"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=DOCTOR_TIMEOUT,
    )  # fmt: skip
    assert ran.returncode == 0 and "All 8 checks passed" in ran.stdout, (
        f"nox -s doctor failed on this machine (exit code {ran.returncode}):\n{ran.stdout}"
        f"\n{ran.stderr[-2000:]}"
    )
    assert "\033[" not in ran.stdout, "colours only when the output is a terminal"


# -- one red line for each thing a laptop can lack -------------------------------------------


def test_a_python_older_than_3_11_is_red() -> None:
    old = Machine(os.environ, python_version=(3, 10, 12), system="debian")
    assert_red(doctor.python_version(old), "3.10.12", "pipx reinstall --python python3 nox")


def test_no_nox_on_path_is_red(tmp_path: Path) -> None:
    assert_red(doctor.nox_and_uv(machine(tmp_path)), "nox is not on PATH", "pipx install nox")


def test_nox_without_uv_is_red(tmp_path: Path) -> None:
    program(tmp_path, "nox", "echo 2026.10.20 >&2")
    alone = Machine({"PATH": str(tmp_path)}, python=tmp_path / "python", system="debian")
    assert_red(doctor.nox_and_uv(alone), "not uv", "pipx inject nox uv")


def test_a_nox_older_than_the_readme_installs_is_red(tmp_path: Path) -> None:
    program(tmp_path, "nox", "echo 2024.3.2 >&2")
    assert_red(doctor.nox_and_uv(machine(tmp_path)), "nox 2024.3.2", "older than 2026.10.20")


def test_a_virtual_environment_that_cannot_be_made_is_red(tmp_path: Path) -> None:
    uv = program(
        tmp_path, "uv",
        'if [ "$1" = --version ]; then echo "uv 0.13.9"; exit 0; fi\n'
        "echo 'error: No space left on device' >&2; exit 2",
    )  # fmt: skip
    failing = machine(UV=str(uv))
    assert_red(
        doctor.virtual_environment(failing), "with uv: error: No space left on device",
        "python3-venv",
    )  # fmt: skip


def test_no_chromium_is_red(tmp_path: Path) -> None:
    assert_red(
        doctor.chromium_and_driver(machine(tmp_path)), "No Chromium",
        "sudo apt-get install chromium chromium-driver",
    )  # fmt: skip


def test_chromium_without_chromedriver_is_red_and_the_browser_is_not_tried(
    tmp_path: Path, real_pair: tuple[str, str]
) -> None:
    (tmp_path / "chromium").symlink_to(real_pair[0])
    without_driver = machine(tmp_path)
    assert_red(
        doctor.chromium_and_driver(without_driver), "no chromedriver is on PATH",
        "sudo apt-get install chromium-driver",
    )  # fmt: skip
    assert_red(doctor.headless_browser(without_driver), "not tried")


def test_a_chromedriver_of_another_version_is_red(
    tmp_path: Path, real_pair: tuple[str, str]
) -> None:
    (tmp_path / "chromium").symlink_to(real_pair[0])
    program(tmp_path, "chromedriver", "echo 'ChromeDriver 99.0.4844.51 (d537ec02474b5afe)'")
    mismatched = machine(tmp_path)
    assert_red(
        doctor.chromium_and_driver(mismatched), "chromedriver 99.0.4844.51",
        "does not match Chromium", f"remove {tmp_path / 'chromedriver'}",
    )  # fmt: skip
    assert_red(doctor.headless_browser(mismatched), "not tried")


def test_a_chromedriver_that_cannot_say_its_version_is_red(
    tmp_path: Path, real_pair: tuple[str, str]
) -> None:
    (tmp_path / "chromium").symlink_to(real_pair[0])
    program(tmp_path, "chromedriver", "echo 'cannot be opened' >&2; exit 1")
    assert_red(
        doctor.chromium_and_driver(machine(tmp_path)), "does not say its version",
        "sudo apt-get install --reinstall chromium-driver",
    )  # fmt: skip


def test_a_browser_that_cannot_start_is_red(tmp_path: Path, real_pair: tuple[str, str]) -> None:
    version = chromedriver_version(real_pair[1])
    program(
        tmp_path, "chromium",
        f'if [ "$1" = --version ]; then echo "Chromium {version}"; exit 0; fi\n'
        "echo 'Missing X server or $DISPLAY' >&2; exit 1",
    )  # fmt: skip
    (tmp_path / "chromedriver").symlink_to(real_pair[1])
    broken = machine(tmp_path)
    assert doctor.chromium_and_driver(broken).ok, "the pair itself matches"
    assert_red(
        doctor.headless_browser(broken), "Headless Chromium did not start",
        f"{tmp_path / 'chromium'} --headless=new",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("page_shows", "said"),
    [
        ("JavaScript did not run.", "its JavaScript did not run"),
        ("connecting", "its WebSocket to a local server did not open within 0.3 s"),
        ("the WebSocket failed", "its WebSocket to a local server failed"),
    ],
)
def test_a_page_without_its_echo_is_told_apart(
    monkeypatch: pytest.MonkeyPatch, page_shows: str, said: str
) -> None:
    monkeypatch.setattr(doctor, "PAGE_TIMEOUT", 0.3)
    assert doctor.page_result(lambda script: page_shows, "echoed 42").startswith(said)


def test_a_program_that_does_not_speak_webdriver_is_told_apart(local_index: str) -> None:
    base = local_index.rstrip("/")
    with pytest.raises(WebDriverError, match=r"File not found"):
        call(base, "GET", "/status", None, timeout=10)
    with pytest.raises(WebDriverError, match=r"with something not WebDriver's"):
        call(base, "GET", "/", None, timeout=10)


def test_a_port_another_program_listens_on_is_red_and_names_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as holder:
        port = holder.getsockname()[1]
        result = doctor.free_ports(machine(DJANGO_PORT=str(port), CHAT_PORT=str(free_port())))
    assert_red(
        result, f"Port {port}", f"pid {os.getpid()}", "wants it for Django", "DJANGO_PORT=..."
    )


def test_a_port_variable_that_is_no_port_is_red() -> None:
    assert_red(doctor.free_ports(machine(CHAT_PORT="eighty")), "CHAT_PORT='eighty' is not a port")


def test_too_little_free_disk_is_red() -> None:
    crowded = Machine(os.environ, system="debian", disk_needed_gb=10.0**9)
    assert_red(doctor.free_disk(crowded), "Only", "sudo apt-get clean")


def test_offline_without_a_wheelhouse_is_red() -> None:
    offline = machine(UV_DEFAULT_INDEX=f"http://127.0.0.1:{free_port()}/simple/")
    assert_red(doctor.packages(offline), "does not answer", "no wheelhouse", "CHAT_WHEELHOUSE")


def test_the_package_index_uv_is_given_is_the_one_asked(local_index: str) -> None:
    result = doctor.packages(machine(UV_DEFAULT_INDEX=local_index))
    assert result.ok and local_index in result.what, result


def test_a_wheelhouse_folder_is_green_only_with_packages_in_it(tmp_path: Path) -> None:
    assert_red(doctor.packages(machine(CHAT_WHEELHOUSE=str(tmp_path / "none"))), "not a folder")
    assert_red(doctor.packages(machine(CHAT_WHEELHOUSE=str(tmp_path))), "holds no packages")
    (tmp_path / "Django-5.2.8-py3-none-any.whl").write_bytes(b"")
    assert doctor.packages(machine(CHAT_WHEELHOUSE=str(tmp_path))).ok


def test_a_wheelhouse_address_that_does_not_answer_is_red(local_index: str) -> None:
    assert doctor.packages(machine(CHAT_WHEELHOUSE=local_index)).ok
    gone = f"http://127.0.0.1:{free_port()}/"
    assert_red(doctor.packages(machine(CHAT_WHEELHOUSE=gone)), "does not answer", gone)


# -- the report --------------------------------------------------------------------------------


def test_one_red_line_makes_the_exit_status_1_and_its_advice_is_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checks = (lambda m: doctor.green("fine"), lambda m: doctor.red("broken", "do this\nor that"))
    monkeypatch.setattr(doctor, "CHECKS", checks)
    out = io.StringIO()
    assert doctor.run(machine(), out, colour=False) == 1
    assert "  ok  fine\n  !!  broken\n      → do this\n      → or that\n" in out.getvalue()
    assert "1 of 2 checks failed" in out.getvalue() and "\033[" not in out.getvalue()


def test_colour_marks_green_and_red_lines_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert doctor.render(doctor.green("fine"), colour=True) == "\033[32m  ok  fine\033[0m"
    assert doctor.render(doctor.red("broken", ""), colour=True) == "\033[31m  !!  broken\033[0m"
    monkeypatch.setattr(doctor, "CHECKS", (lambda m: doctor.green("fine"),))
    out = io.StringIO()
    assert doctor.run(machine(), out, colour=True) == 0
    assert out.getvalue().endswith("\033[32mAll 1 checks passed: this laptop is ready.\033[0m\n")


def test_long_lines_wrap_at_the_width_but_never_inside_a_path_or_a_flag() -> None:
    what = "Headless Chromium did not start: try /usr/bin/chromium --headless=new --no-sandbox"
    shown = doctor.render(doctor.red(what, "sudo apt-get install chromium"), False, width=40)
    assert max(map(len, shown.splitlines())) <= 40, shown
    assert "/usr/bin/chromium" in shown and "--headless=new" in shown and "--no-sandbox" in shown


def test_advice_is_for_this_system_and_for_each_where_it_cannot_tell() -> None:
    def advice(system: str, **ubuntu: str) -> str:
        return Machine({}, system=system).advice("apt-get install x", "brew install x", **ubuntu)

    assert advice("debian") == advice("ubuntu") == "apt-get install x"
    assert advice("macos") == "brew install x"
    assert advice("ubuntu", ubuntu="apt-get install y") == "apt-get install y"
    assert advice("other") == "On Debian or Ubuntu: apt-get install x\nOn macOS: brew install x"
    assert advice("other", ubuntu="apt-get install y") == (
        "On Debian: apt-get install x\nOn Ubuntu: apt-get install y\nOn macOS: brew install x"
    )


def test_ubuntu_is_told_its_own_names_for_chromium(tmp_path: Path) -> None:
    ubuntu = Machine({"PATH": str(tmp_path)}, system="ubuntu")
    assert_red(doctor.chromium_and_driver(ubuntu), "chromium-browser chromium-chromedriver")
