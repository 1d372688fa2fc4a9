"""Reports to the workshop board: after each run of a stage's checks, a learner who opted in
tells the instructor's board how it went (see harness/report.py for what is sent).

Opting in happens once, with the address the board shows and a name of the learner's
choosing; both are kept in a small file in the workbook folder (.chat-report.json, or the
file CHAT_REPORT_FILE names) and used by every later run:

    nox -s part2 -- --report "http://192.168.1.20:8000/?code=K7QX2M" --report-name ada
    nox -s part2 -- --report off            # stop sending

A report that cannot be sent never fails the run and never holds it up for long: it is
sent in a thread that the run waits for at most SEND_TIMEOUT seconds, and one line says
it was not sent.

Loaded by tests/conftest.py as a plugin, like harness.watchdog.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

from . import http
from .report import CHECK_LIMIT, MESSAGE_LIMIT, NAME_LIMIT, Report, first_line, without_paths
from .stages import REPO_ROOT

SEND_TIMEOUT = 3.0
"""Seconds the end of a run waits for the board to take its report."""
REPORT_PATH = "/workshop/report/"
"""Where on the workshop's site reports go (harness/board/urls.py)."""
OFF = "off"
EXAMPLE = "http://192.168.1.20:8000/?code=K7QX2M"


@dataclass(frozen=True)
class OptIn:
    """Where reports go and under which name: what a learner said once with --report."""

    address: str
    name: str

    @property
    def code(self) -> str:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.address).query)["code"][0]

    @property
    def report_url(self) -> str:
        return urllib.parse.urljoin(self.address, REPORT_PATH)


def opt_in_file() -> Path:
    return Path(os.environ.get("CHAT_REPORT_FILE") or REPO_ROOT / ".chat-report.json")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chat workbook")
    group.addoption(
        "--report",
        metavar="ADDRESS",
        help=f"send the workshop board a short report after every run from now on: the "
        f"address the board shows ({EXAMPLE}); 'off' stops",
    )
    group.addoption(
        "--report-name",
        metavar="NAME",
        help="the name the board shows you under (with --report)",
    )


def read_opt_in(config: pytest.Config) -> OptIn | None:
    """The opt-in this run reports with: given now (and then kept), or kept from before."""
    address, name = config.getoption("--report"), config.getoption("--report-name")
    kept = opt_in_file()
    if address == OFF:
        kept.unlink(missing_ok=True)
        return None
    if address is None:
        if name is not None:
            raise pytest.UsageError("--report-name goes with --report ADDRESS (see the board).")
        if not kept.is_file():
            return None
        try:
            saved = json.loads(kept.read_text(encoding="utf-8"))
            return OptIn(str(saved["address"]), str(saved["name"]))
        except (ValueError, KeyError, TypeError):
            raise pytest.UsageError(
                f"{kept} is not a report opt-in: opt in again with --report, or delete it."
            ) from None
    opt_in = checked_opt_in(address, name)
    kept.write_text(json.dumps(opt_in.__dict__) + "\n", encoding="utf-8")
    return opt_in


def checked_opt_in(address: str, name: str | None) -> OptIn:
    """The opt-in given on the command line; a UsageError in one line if it cannot work."""
    parts = urllib.parse.urlsplit(address)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise pytest.UsageError(f"--report wants the address the board shows, like {EXAMPLE}")
    if not urllib.parse.parse_qs(parts.query).get("code"):
        raise pytest.UsageError(f"--report {address} has no ?code=...: copy it from the board.")
    if not name or not name.strip() or len(name) > NAME_LIMIT:
        raise pytest.UsageError(
            f"--report needs --report-name NAME too: the name the board shows you under "
            f"(at most {NAME_LIMIT} characters)."
        )
    return OptIn(address, name.strip())


class Tally:
    """How the run is going: checks passed and failed, and the first failure."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: set[str] = set()
        self.first_failure: tuple[str, str] | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.passed and report.when == "call":
            self.passed += 1
        elif report.failed and report.nodeid not in self.failed:
            self.failed.add(report.nodeid)
            if self.first_failure is None:
                self.first_failure = (check_name(report.nodeid), failure_line(report))

    def report(self, name: str, stage: str) -> Report:
        check, message = self.first_failure or ("", "")
        return Report(name, stage, self.passed, len(self.failed), check, message)


def check_name(nodeid: str) -> str:
    """A check's name without its file and its parameters: test_two_windows_chat."""
    return nodeid.split("::")[-1].split("[")[0][:CHECK_LIMIT]


def failure_line(report: pytest.TestReport) -> str:
    """The first line of what the check said when it failed, without file paths."""
    crash = getattr(report.longrepr, "reprcrash", None)
    said = crash.message if crash is not None else str(report.longrepr)
    for prefix in ("AssertionError: ", "Failed: "):
        said = said.removeprefix(prefix)
    return first_line(without_paths(said), MESSAGE_LIMIT)


def send(report: Report, opt_in: OptIn, timeout: float = SEND_TIMEOUT) -> str | None:
    """Send ``report``; None once the board has it, else why not, in a few words.

    The request runs in a thread of its own, and this waits for it ``timeout`` seconds at
    most, however slowly a board that is not there fails to answer.
    """
    outcome: list[str | None] = []

    def post() -> None:
        body = json.dumps(report.as_json(opt_in.code)).encode()
        try:
            answer = http.request(
                opt_in.report_url, method="POST", body=body, timeout=timeout,
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
        except (OSError, ValueError) as error:
            outcome.append(f"the board did not answer ({error})")
            return
        if answer.status == 201:
            outcome.append(None)
        else:
            outcome.append(f"the board refused it ({answer.status}: {refusal(answer)})")

    sender = threading.Thread(target=post, name="report to the board", daemon=True)
    sender.start()
    sender.join(timeout)
    return outcome[0] if outcome else f"the board did not answer within {timeout:g} s"


def refusal(answer: http.Response) -> str:
    try:
        return str(answer.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return first_line(answer.text, 100) or "no reason given"


OPT_IN = pytest.StashKey[OptIn]()
TALLY = pytest.StashKey[Tally]()


def pytest_configure(config: pytest.Config) -> None:
    opt_in = read_opt_in(config)
    if opt_in is None or not config.getoption("--stage", default=None):
        return  # no opt-in, or not a stage's checks (the self-tests, the chapter replay)
    config.stash[OPT_IN] = opt_in
    config.stash[TALLY] = tally = Tally()
    config.pluginmanager.register(tally, "report tally")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    config = terminalreporter.config
    if OPT_IN not in config.stash:
        return
    opt_in = config.stash[OPT_IN]
    report = config.stash[TALLY].report(opt_in.name, config.getoption("--stage"))
    problem = send(report, opt_in)
    host = urllib.parse.urlsplit(opt_in.address).netloc
    if problem is None:
        terminalreporter.write_line(f"Reported to the workshop board at {host} as {opt_in.name}.")
    else:
        terminalreporter.write_line(
            f"Your report was not sent to the workshop board at {host}: {problem}.", yellow=True
        )
