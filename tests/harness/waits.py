"""Explicit waits: try a check again and again until it passes or time runs out.

A browser check never sleeps for a fixed time; it waits for what it needs and fails with a
message that says what never happened and where to look.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from selenium.common.exceptions import WebDriverException

T = TypeVar("T")

MAX_WAIT = float(os.environ.get("CHAT_MAX_WAIT", "5"))
"""Seconds a check waits before it fails. Slow machine? Set CHAT_MAX_WAIT or --max-wait."""

POLL_INTERVAL = 0.1


def set_max_wait(seconds: float) -> None:
    global MAX_WAIT
    MAX_WAIT = seconds


def wait_for(check: Callable[[], T | None], failure: str, timeout: float | None = None) -> T:
    """Return the first truthy value ``check()`` gives; fail with ``failure`` if none comes.

    ``check`` may also raise AssertionError or a Selenium error to mean "not yet".
    ``failure`` is written for the learner: what did not happen, and which file to look at.
    """
    limit = MAX_WAIT if timeout is None else timeout
    deadline = time.monotonic() + limit
    while True:
        problem = ""
        try:
            result = check()
            if result:
                return result
        except (AssertionError, WebDriverException) as error:
            problem = str(error).strip().splitlines()[0] if str(error).strip() else ""
        if time.monotonic() >= deadline:
            last = f" (last thing seen: {problem})" if problem else ""
            raise AssertionError(f"{failure} [waited {limit:g} s]{last}")
        time.sleep(POLL_INTERVAL)
