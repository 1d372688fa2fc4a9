"""`nox -s workshop`: the room's server with the instructor's live board, the accounts made
before the day, the reset between sessions, and the learners' reports (harness/reporting.py).

One workshop server serves the whole module; the reset check, which stops it, comes last.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from harness import http, waits
from harness.browser import BrowserPool, Browsers
from harness.report import FIELDS, Report
from harness.reporting import OptIn, send
from harness.stages import NEWEST, REPO_ROOT, STAGES
from harness.waits import wait_for
from selftest.test_serve import READY, STOP_TIMEOUT, Output, serve_env, start, stop_serve

ACCOUNTS = 3
CROWD = 40
REPORTS_EACH = 3
MAIN_LINE = [name for name, stage in STAGES.items() if not stage.branch]


@dataclass
class Workshop:
    """The workshop server this module shares, and what it printed."""

    process: subprocess.Popen[str]
    output: Output
    data_dir: Path
    env: dict[str, str]
    url: str
    admin_password: str
    code: str

    def post_report(self, body: object) -> http.Response:
        return http.request(
            f"{self.url}/workshop/report/", method="POST", body=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"}, timeout=60,
        )  # fmt: skip


def workshop_command(data_dir: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "harness.workshop", "--host", "127.0.0.1",
            "--data-dir", str(data_dir), *options]  # fmt: skip


def run_workshop(env: dict[str, str], data_dir: Path, *options: str) -> subprocess.CompletedProcess:
    """A workshop command that ends by itself (--accounts, --reset)."""
    return subprocess.run(
        workshop_command(data_dir, *options), cwd=REPO_ROOT, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workshop]:
    data_dir = tmp_path_factory.mktemp("workshop")
    env, taken = serve_env(NEWEST.name)
    made = run_workshop(env, data_dir, "--accounts", str(ACCOUNTS))
    assert made.returncode == 0, f"--accounts failed:\n{made.stdout}{made.stderr}"
    process = start(workshop_command(data_dir), env)
    output = Output(process)
    try:
        printed = output.until(READY)
        password = re.search(r"user admin, password (\S+)", printed)
        code = re.search(r"Code:\s+(\S+)", printed)
        assert password and code, f"The workshop did not print the admin login and code:\n{printed}"
        url = f"http://127.0.0.1:{taken['site']}"
        yield Workshop(process, output, data_dir, env, url, password.group(1), code.group(1))
    finally:
        if process.poll() is None:
            stop_serve(process, output, signal.SIGINT)


def test_accounts_are_made_before_the_day_and_log_in(workshop: Workshop) -> None:
    sheet = (workshop.data_dir / "accounts.txt").read_text()
    slips = re.findall(r"user\s+(\S+)\n\s+password\s+(\S+)", sheet)
    assert [name for name, _ in slips] == ["learner01", "learner02", "learner03"], sheet
    cookie = http.log_in(f"{workshop.url}/accounts/login/", *slips[1])
    rooms = http.request(f"{workshop.url}/chats/", headers={"Cookie": cookie})
    assert rooms.status == 200 and "Lobby" in rooms.text, "learner02 could not see the rooms"


def test_a_report_without_the_workshops_code_is_refused(workshop: Workshop) -> None:
    report = Report("stranger", "part2", 1, 0).as_json("WRONG1")
    for body in (report, {k: v for k, v in report.items() if k != "code"}):
        answer = workshop.post_report(body)
        assert answer.status == 403, f"A report with code {body.get('code')} got {answer.status}"
        assert answer.json()["code"] == "wrong_code" and "code" in answer.json()["detail"]
    refused = workshop.post_report({**Report("x", "part2", 1, 0).as_json(workshop.code), "src": 1})
    assert refused.status == 400 and "not ['src']" in refused.json()["detail"], refused.text


@pytest.fixture(scope="module")
def board_window(workshop: Workshop, browser_pool: BrowserPool) -> Iterator[Browsers]:
    """A browser showing the board, logged in as the admin, kept open for the module."""
    window = Browsers(browser_pool)
    driver = window.open()
    driver.get(f"{workshop.url}/admin/login/?next=/board/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(workshop.admin_password)
    driver.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(
        lambda: driver.find_element(By.CSS_SELECTOR, "#connection_state[data-state=open]"),
        "The board did not open, connected to its room, after the admin logged in.",
    )
    yield window
    window.close_all()


@dataclass(frozen=True)
class Learner:
    name: str
    stage: str
    stuck_on: str
    """The check their reports fail on; "" for a learner whose last run passes."""

    def reports(self) -> list[Report]:
        runs = []
        for attempt in range(REPORTS_EACH):
            last = attempt == REPORTS_EACH - 1
            if self.stuck_on:
                runs.append(Report(self.name, self.stage, 4 + attempt, 1, self.stuck_on, "no"))
            else:  # stuck before, passing at last
                check = "" if last else "test_crowd_before"
                runs.append(Report(self.name, self.stage, 5, 0 if last else 1, check, "no"))
        return runs


def crowd() -> list[Learner]:
    """Forty learners at every stage, in groups of different sizes stuck on four checks."""
    checks = ["", "test_crowd_a", "test_crowd_b", "test_crowd_a", "test_crowd_c", "test_crowd_d"]
    return [
        Learner(f"crowd{n:02d}", MAIN_LINE[n % len(MAIN_LINE)], checks[n // 3 % len(checks)])
        for n in range(CROWD)
    ]


def counts_shown(driver: WebDriver) -> tuple[dict[str, int], dict[str, int]]:
    """Crowd learners per stage column, and per group, as the board shows them now."""
    per_stage = Counter(
        tile.find_element(By.XPATH, "ancestor::div[@data-stage]").get_attribute("data-stage")
        for tile in driver.find_elements(By.CSS_SELECTOR, ".learner[data-name^=crowd]")
    )
    per_group = {
        group.get_attribute("data-check"): int(group.get_attribute("data-count"))
        for group in driver.find_elements(By.CSS_SELECTOR, ".group[data-check^=test_crowd]")
    }
    return dict(per_stage), per_group


def test_the_board_shows_forty_learners_reporting_at_once_live(
    workshop: Workshop, board_window: Browsers
) -> None:
    driver = board_window.drivers[0]
    driver.execute_script("window.notReloaded = true;")
    learners = crowd()
    start_together = threading.Barrier(CROWD)
    statuses: list[int] = []

    def report_as(learner: Learner) -> None:
        start_together.wait(timeout=60)
        statuses.extend(
            workshop.post_report(r.as_json(workshop.code)).status for r in learner.reports()
        )

    threads = [threading.Thread(target=report_as, args=(one,)) for one in learners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [201] * CROWD * REPORTS_EACH, f"Reports refused: {Counter(statuses)}"

    expected = (
        dict(Counter(learner.stage for learner in learners)),
        dict(Counter(learner.stuck_on for learner in learners if learner.stuck_on)),
    )
    shown = wait_for(
        lambda: counts_shown(driver) == expected and counts_shown(driver),
        f"The board did not come to show the crowd: expected (per stage, per check) {expected}. "
        "See harness/board/nudge.py (the line said in the board room) and board.js.",
        timeout=3 * waits.MAX_WAIT,  # the board's lines may wait out the chat's rate limit once
    )
    assert shown == expected
    assert driver.execute_script("return window.notReloaded === true;"), "The board reloaded"
    biggest = driver.find_element(By.CSS_SELECTOR, ".group[data-check^=test_crowd]")
    assert biggest.get_attribute("data-count") == str(max(expected[1].values()))
    stuck_for = biggest.find_elements(By.CSS_SELECTOR, ".stuck .for")
    assert stuck_for and all(each.text for each in stuck_for), "no time stuck shown"
    assert "crowd a" in driver.find_element(By.ID, "groups").text  # the check, readable


def test_a_report_with_markup_is_shown_as_text(workshop: Workshop, board_window: Browsers) -> None:
    driver = board_window.drivers[0]
    name = "<b>eve</b>"
    message = '<img src=x onerror="window.injected = 1">'
    report = Report(name, "part3", 2, 1, "test_markup_<i>check</i>", message)
    assert workshop.post_report(report.as_json(workshop.code)).status == 201
    tile = wait_for(
        lambda: [t for t in driver.find_elements(By.CSS_SELECTOR, ".learner") if
                 t.get_attribute("data-name") == name],
        "The board never showed the report whose name has markup in it.",
    )[0]  # fmt: skip
    assert tile.find_element(By.CLASS_NAME, "name").text == name
    assert not tile.find_elements(By.TAG_NAME, "b"), "the name became HTML"
    group = driver.find_element(By.CSS_SELECTOR, ".group[data-check^=test_markup]")
    assert group.find_element(By.CLASS_NAME, "message").text == message
    assert not driver.find_elements(By.CSS_SELECTOR, "#groups img, #groups i")
    assert driver.execute_script("return window.injected;") is None, "the message ran as HTML"


class Recorder(BaseHTTPRequestHandler):
    """A board that keeps every report it is sent."""

    received: list[dict[str, object]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"received": 1}')

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recording_board() -> Iterator[tuple[str, list[dict[str, object]]]]:
    received: list[dict[str, object]] = []
    handler = type("Recording", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/?code=ABC234", received
    server.shutdown()
    server.server_close()


TINY_CHECKS = """
import os

def test_a_passes():
    pass

def test_b_fails():
    raise AssertionError(
        "Window B never saw it; see " + os.environ["HIDDEN"] + "/chat/views.py line 3\\n"
        "secret_source = 'never sent'"
    )
"""
TINY_CONFTEST = """
def pytest_addoption(parser):
    parser.addoption("--stage")  # as tests/conftest.py has it
"""


def run_tiny_checks(
    folder: Path, *options: str, checks: str = TINY_CHECKS
) -> subprocess.CompletedProcess[str]:
    """Two tiny checks, one failing, run by pytest with the reporting plugin."""
    folder.mkdir(exist_ok=True)
    (folder / "test_tiny.py").write_text(checks)
    (folder / "conftest.py").write_text(TINY_CONFTEST)
    env = {
        **serve_env(NEWEST.name)[0],
        "CHAT_REPORT_FILE": str(folder.parent / "opt-in.json"),
        "HIDDEN": str(folder.parent),
    }
    command = [sys.executable, "-m", "pytest", "-p", "harness.reporting", "-p", "no:cacheprovider",
               "--stage", "part2", *options, str(folder)]  # fmt: skip
    return subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)


def test_the_plugin_sends_only_the_reports_fields_without_paths(
    recording_board: tuple[str, list[dict[str, object]]], tmp_path: Path
) -> None:
    address, received = recording_board
    first = run_tiny_checks(tmp_path / "checks", "--report", address, "--report-name", "ada")
    again = run_tiny_checks(tmp_path / "checks")  # opted in once: reports from then on
    for run in (first, again):
        assert "Reported to the workshop board" in run.stdout, run.stdout + run.stderr
        assert run.returncode == 1, "the run's own outcome (one check fails) must not change"
    assert len(received) == 2 and received[0] == received[1], received
    assert sorted(received[0]) == sorted([*FIELDS, "code"])
    assert {k: v for k, v in received[0].items() if k != "message"} == {
        "name": "ada", "stage": "part2", "passed": 1, "failed": 1,
        "check": "test_b_fails", "code": "ABC234",
    }  # fmt: skip
    message = str(received[0]["message"])
    assert message == "Window B never saw it; see …/views.py line 3", message
    assert str(tmp_path) not in json.dumps(received) and "secret_source" not in json.dumps(received)


def test_an_unreachable_board_costs_the_run_its_bounded_wait_and_never_fails_it(
    tmp_path: Path,
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes connections, never answers
        address = f"http://127.0.0.1:{silent.getsockname()[1]}/?code=ABC234"
        began = time.monotonic()
        problem = send(Report("ada", "part2", 1, 0), OptIn(address, "ada"), timeout=1.0)
        took = time.monotonic() - began
        passing = TINY_CHECKS.split("def test_b_fails")[0]
        run = run_tiny_checks(tmp_path / "checks", "--report", address, "--report-name", "ada",
                              checks=passing)  # fmt: skip
    assert problem is not None and "did not answer" in problem, problem
    assert took < 1.0 + waits.MAX_WAIT, f"Sending to a silent board took {took:.1f} s, not ~1 s"
    assert run.returncode == 0, f"A report not sent failed the run:\n{run.stdout}{run.stderr}"
    assert "Your report was not sent to the workshop board" in run.stdout, run.stdout


def table_rows(database: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(database) as connection:
        return connection.execute(query).fetchall()


def test_reset_keeps_the_accounts_and_removes_messages_and_reports(workshop: Workshop) -> None:
    """Last in the module: it stops the shared workshop server."""
    database = workshop.data_dir / "db.sqlite3"
    assert workshop.post_report(Report("zoe", "auth", 3, 0).as_json(workshop.code)).status == 201
    refused = run_workshop(workshop.env, workshop.data_dir, "--reset")
    assert refused.returncode == 1 and "stop the workshop server" in refused.stderr, refused
    accounts = "SELECT username, password FROM auth_user WHERE username LIKE 'learner%'"
    before = table_rows(database, accounts)
    assert len(before) == ACCOUNTS
    stop_serve(workshop.process, workshop.output, signal.SIGINT)
    assert workshop.process.wait(STOP_TIMEOUT) == 0

    reset = run_workshop(workshop.env, workshop.data_dir, "--reset")

    assert reset.returncode == 0 and "Removed" in reset.stdout, reset.stdout + reset.stderr
    for table in ("chat_message", "board_report", "django_session"):
        assert table_rows(database, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    assert table_rows(database, accounts) == before, "the accounts changed"
