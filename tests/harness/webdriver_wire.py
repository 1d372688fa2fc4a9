"""chromedriver driven through its HTTP interface (W3C WebDriver), with the standard library.

Selenium speaks this same interface for the browser checks. ``nox -s doctor`` speaks the
handful of commands it needs itself, because it runs before Selenium is installed.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .processes import STOP_TIMEOUT, end_process, free_port, tail

DRIVER_START_TIMEOUT = 20.0
"""Seconds chromedriver may take to answer once started (it is quick: a busy laptop is not)."""
SESSION_TIMEOUT = 60.0
"""Seconds the browser may take to start; chromedriver gives up sooner when it cannot."""
COMMAND_TIMEOUT = 20.0


class WebDriverError(Exception):
    """chromedriver could not do what it was asked; the message says why, in its words."""


@dataclass(frozen=True)
class Session:
    """One browser, started by chromedriver at ``base``."""

    base: str
    id: str

    def go(self, url: str) -> None:
        call(self.base, "POST", f"/session/{self.id}/url", {"url": url}, COMMAND_TIMEOUT)

    def run_script(self, script: str) -> Any:
        """Run ``script`` (a function body: ``return ...``) in the page; its result."""
        body = {"script": script, "args": []}
        return call(self.base, "POST", f"/session/{self.id}/execute/sync", body, COMMAND_TIMEOUT)


def call(base: str, method: str, path: str, body: object | None, timeout: float) -> Any:
    """Send one WebDriver command; its ``value``, or WebDriverError with the driver's reason."""
    request = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method=method,
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.load(response)["value"]
    except urllib.error.HTTPError as error:
        with error:
            reason = str(answer_of(error).get("message", error.reason))
        raise WebDriverError(" ".join(reason.split("Stacktrace:")[0].split())) from None
    except (ValueError, KeyError):
        raise WebDriverError(
            f"{base} answered {method} {path} with something not WebDriver's"
        ) from None


def answer_of(error: urllib.error.HTTPError) -> dict[str, object]:
    """The ``value`` of an error answer: chromedriver explains its errors in JSON."""
    try:
        value = json.load(error).get("value")
    except (ValueError, AttributeError):
        return {}
    return value if isinstance(value, dict) else {}


@contextmanager
def chromedriver(driver: str, log: Path) -> Iterator[str]:
    """chromedriver, started on a free loopback port: its base URL. Its output goes to
    ``log``; it is stopped on the way out (SIGTERM, a bounded wait, then SIGKILL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as output:
        popen = subprocess.Popen(
            [driver, f"--port={port}"],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_ready(popen, base, log)
            yield base
        finally:
            end_process(popen, signal.SIGTERM, STOP_TIMEOUT)


def wait_until_ready(popen: subprocess.Popen[bytes], base: str, log: Path) -> None:
    deadline = time.monotonic() + DRIVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise WebDriverError(
                f"chromedriver stopped at once (exit code {popen.returncode}): "
                f"{' '.join(tail(log.read_text(errors='replace'), 3).split())}"
            )
        with suppress(OSError, ValueError, KeyError):
            if call(base, "GET", "/status", None, 2)["ready"]:
                return
        time.sleep(0.1)
    raise WebDriverError(f"chromedriver did not answer within {DRIVER_START_TIMEOUT:g} s")


@contextmanager
def browser_session(base: str, browser: str, flags: Sequence[str]) -> Iterator[Session]:
    """A browser (the program at ``browser``, started with ``flags``) for the ``with`` block."""
    capabilities = {"goog:chromeOptions": {"binary": browser, "args": list(flags)}}
    body = {"capabilities": {"alwaysMatch": capabilities}}
    value = call(base, "POST", "/session", body, SESSION_TIMEOUT)
    session = Session(base, value["sessionId"])
    try:
        yield session
    finally:
        with suppress(WebDriverError, OSError):  # chromedriver stops the browser with it
            call(base, "DELETE", f"/session/{session.id}", None, COMMAND_TIMEOUT)
