"""Where the system's Chromium (or Chrome) and chromedriver are, and how to start them.

The standard library only: the browser checks start them through Selenium, and ``nox -s
doctor`` through chromedriver's own HTTP interface, before anything is installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
MAC_APPLICATIONS = (
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
)

# Quiet, reproducible, offline: no first-run UI, no background calls to the internet.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
)


def system_chromium(path: str | None = None) -> tuple[str | None, str | None]:
    """Paths of the system's Chromium (or Chrome) and chromedriver, each None when missing.

    ``path``: the folders to search, as in PATH (the PATH of this process by default).
    """
    found = (shutil.which(name, path=path) for name in BROWSER_NAMES)
    browser = next((program for program in found if program), None)
    if browser is None:
        browser = next((app for app in MAC_APPLICATIONS if Path(app).is_file()), None)
    return browser, shutil.which("chromedriver", path=path)
