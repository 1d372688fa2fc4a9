"""Headless Chromium for the checks: the system's browser when there is one, offline-safe.

Selenium Manager would download a browser and driver, which fails on a machine without
internet, so a system Chromium and chromedriver (Debian: apt-get install chromium
chromium-driver) are always preferred; Selenium Manager is only the fallback.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service

from .chromium import CHROMIUM_FLAGS, system_chromium

WARM_UP_LIMIT = 180.0
"""Seconds to wait for the browsers started in the background (Selenium bounds each start
itself; this only keeps the wait for them bounded too)."""

WINDOW_SIZE = (1100, 800)

PROFILES: dict[webdriver.Chrome, str] = {}
"""The temporary profile folder of each browser started, removed when it quits."""


def new_driver() -> webdriver.Chrome:
    """Start one headless browser window with its own profile."""
    browser, driver = system_chromium()
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    profile = tempfile.mkdtemp(prefix="chat-browser-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if browser and driver:
        options.binary_location = browser
        service = Service(executable_path=driver)
    else:
        service = Service()  # Selenium Manager finds or fetches a matching pair
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as error:
        shutil.rmtree(profile, ignore_errors=True)
        raise RuntimeError(
            "Could not start headless Chromium. On Debian install it with `sudo apt-get "
            "install chromium chromium-driver`, on Ubuntu with `sudo apt-get install "
            "chromium-browser chromium-chromedriver`; elsewhere install Chrome or "
            f"Chromium and chromedriver of the same version. Selenium said: {error.msg}"
        ) from None
    PROFILES[driver] = profile
    return driver


class BrowserPool:
    """Headless browsers kept open between checks, because starting one takes a second or two.

    A check borrows browsers and gives them back; each comes back with a fresh state: a blank
    page (so its WebSockets and polls are closed), no cookies, no cache, no stored data, one
    window, and an empty console log.
    """

    def __init__(self) -> None:
        self.idle: list[webdriver.Chrome] = []
        self._warming: threading.Thread | None = None

    def warm_up(self, count: int) -> None:
        """Start ``count`` browsers in the background, while checks without one run."""

        def start() -> None:
            for _ in range(count):
                with contextlib.suppress(RuntimeError):  # borrow() will say it, in its turn
                    self.idle.append(new_driver())

        self._warming = threading.Thread(target=start, name="browser warm-up", daemon=True)
        self._warming.start()

    def borrow(self) -> webdriver.Chrome:
        if not self.idle and self._warming is not None:
            self._warming.join(WARM_UP_LIMIT)
        if self.idle:
            return self.idle.pop()
        return new_driver()

    def give_back(self, driver: webdriver.Chrome) -> None:
        try:
            reset(driver)
        except WebDriverException:
            quit_quietly(driver)  # a browser in a bad way is not reused
        else:
            self.idle.append(driver)

    def close(self) -> None:
        if self._warming is not None:
            self._warming.join(WARM_UP_LIMIT)
        for driver in self.idle:
            quit_quietly(driver)
        self.idle.clear()


def reset(driver: webdriver.Chrome) -> None:
    """Make a used browser as good as new for the next check."""
    for handle in driver.window_handles[1:]:
        driver.switch_to.window(handle)
        driver.close()
    driver.switch_to.window(driver.window_handles[0])
    with contextlib.suppress(WebDriverException):  # a page that is not an origin of its own
        driver.execute_script("localStorage.clear(); sessionStorage.clear();")
    driver.get("about:blank")
    driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.set_window_size(*WINDOW_SIZE)
    driver.get_log("browser")  # reading the console log empties it


def quit_quietly(driver: webdriver.Chrome) -> None:
    """Quit the browser, and remove the profile folder it was given."""
    with contextlib.suppress(WebDriverException):  # already gone: nothing to close
        driver.quit()
    profile = PROFILES.pop(driver, None)
    if profile is not None:
        shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Browsers:
    """The browser windows one check opened: one per person in the conversation."""

    pool: BrowserPool
    drivers: list[webdriver.Chrome] = field(default_factory=list)

    def open(self) -> webdriver.Chrome:
        driver = self.pool.borrow()
        self.drivers.append(driver)
        return driver

    def close_all(self) -> None:
        for driver in self.drivers:
            self.pool.give_back(driver)
        self.drivers.clear()

    def save_artefacts(self, folder: Path) -> list[Path]:
        """Screenshot, page HTML and console log of every window (called when a check fails)."""
        saved: list[Path] = []
        for number, driver in enumerate(self.drivers, start=1):
            prefix = folder / f"window-{number}"
            try:
                driver.save_screenshot(str(prefix.with_suffix(".png")))
                prefix.with_suffix(".html").write_text(driver.page_source)
                console = "\n".join(
                    f"{entry['level']} {entry['message']}" for entry in driver.get_log("browser")
                )
                prefix.with_suffix(".console.log").write_text(console + "\n")
            except WebDriverException as error:
                note = f"could not save this window: {error}\n"
                prefix.with_suffix(".error.txt").write_text(note)
            saved.extend(sorted(folder.glob(f"{prefix.name}.*")))
        return saved
