"""The watchdog: a check that hangs fails, naming itself, instead of freezing the run.

Every wait in the harness has a limit of its own, so a check should never hang. Should one
slip through anyway, pytest-timeout stops it after ``--watchdog`` seconds (by default
WATCHDOG_PER_WAIT times the checks' longest wait, far above what the slowest check takes on a
busy laptop) and the failure says in plain words that the harness, not the learner's code,
broke its promise. A check that legitimately takes longer (a self-test that runs a whole stage's
checks) says so with its own ``@pytest.mark.timeout(seconds)``.

Loaded by tests/conftest.py as a plugin: ``pytest_plugins = ["harness.watchdog"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import waits

WATCHDOG_PER_WAIT = 60
"""The watchdog's limit, in units of the longest wait a check makes (MAX_WAIT, --max-wait)."""

STOPPED_BY_PYTEST_TIMEOUT = "from pytest-timeout"
"""Words pytest-timeout's failure message always has."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("chat workbook").addoption(
        "--watchdog",
        type=float,
        help=f"seconds after which a check that is still running is stopped and fails "
        f"(default: {WATCHDOG_PER_WAIT} times --max-wait)",
    )


def limit(config: pytest.Config) -> float:
    """Seconds a check may run before the watchdog stops it."""
    return config.getoption("--watchdog") or WATCHDOG_PER_WAIT * waits.MAX_WAIT


@pytest.hookimpl(trylast=True)  # after conftest.py has read --max-wait
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seconds = limit(config)
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(seconds, method="signal"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Iterator[pytest.TestReport]:
    report = yield
    if report.failed and STOPPED_BY_PYTEST_TIMEOUT in str(report.longrepr):
        marker = item.get_closest_marker("timeout")
        seconds = marker.args[0] if marker is not None and marker.args else limit(item.config)
        report.sections.insert(
            0,
            (
                "watchdog",
                f"{item.nodeid} was still running after {seconds:g} s and the watchdog "
                "stopped it. No check should ever take that long: something it waited for "
                "had no limit of its own. The traceback shows where it was waiting. This is a "
                "fault of the checks, not of your code: please report it (see the README, "
                '"What the checks promise"), with the traceback.',
            ),
        )
    return report
