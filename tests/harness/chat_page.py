"""Driving a chat room page in the browser: open it, wait until connected, type, read."""

from __future__ import annotations

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver

from . import people
from .browser import Browsers
from .waits import wait_for
from .wsclient import ChatSite

RECONNECT_WAIT = 20.0
"""Seconds a page may take to reconnect after the chat server comes back (backoff included)."""


def connection_state(driver: WebDriver) -> str:
    return driver.find_element(By.ID, "connection_state").get_attribute("data-state") or ""


def failed_tries(driver: WebDriver) -> int | None:
    """How many tries to reach the chat server have failed in a row, as the page counts
    them (its ``data-attempts``); None if it does not say."""
    value = driver.find_element(By.ID, "connection_state").get_attribute("data-attempts")
    return int(value) if value and value.isdigit() else None


def wait_until_connected(driver: WebDriver, timeout: float | None = None) -> None:
    wait_for(
        lambda: connection_state(driver) == "open",
        "The room page never said it was connected (#connection_state with "
        'data-state="open"). Check the URL chat.js connects to, that the chat server is '
        "running (see server-chatserver.log), and that the page's origin is allowed.",
        timeout,
    )


def log_in(driver: WebDriver, site: ChatSite, username: str = people.VISITOR) -> None:
    """Where the stage has logins, give the browser ``username``'s session, as if they had
    logged in on this browser (the login page itself has checks of its own)."""
    if site.sessions:
        use_session(driver, site, site.sessions[username])


def use_session(driver: WebDriver, site: ChatSite, session_key: str) -> None:
    """Give the browser the session cookie ``session_key``: logged in as its person."""
    driver.get(site.url("django", "/accounts/login/"))  # a cookie needs a page of its site
    driver.add_cookie({"name": "sessionid", "value": session_key, "path": "/"})


def open_room(driver: WebDriver, site: ChatSite, path: str, username: str = people.VISITOR) -> None:
    """Open a room page (e.g. ``/chats/3/``), as ``username`` where the stage has logins,
    and wait until it can send."""
    log_in(driver, site, username)
    driver.get(site.url("django", path))
    wait_until_connected(driver)


def open_window(
    browsers: Browsers, site: ChatSite, path: str, username: str = people.VISITOR
) -> WebDriver:
    """A new browser window on a room page, connected and ready to send."""
    window = browsers.open()
    open_room(window, site, path, username)
    return window


def send(driver: WebDriver, text: str) -> None:
    inputbox = driver.find_element(By.ID, "inputbox")
    inputbox.send_keys(text)
    inputbox.send_keys(Keys.ENTER)


SEND_AT_ONCE = """
const [texts, done] = arguments;
const box = document.getElementById("inputbox");
for (const text of texts) {
  box.value = text;
  box.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
  await new Promise((resolve) => setTimeout(resolve, 0));
}
done();
"""


def send_at_once(driver: WebDriver, texts: list[str]) -> None:
    """Enter ``texts`` one after another with no pause between them, faster than any rate
    limit lets them through (typing each with send_keys takes a while on a slow machine)."""
    driver.execute_async_script(SEND_AT_ONCE, texts)


STALE_READS = 20
"""Times a list is read again when the page replaces its elements while they are read."""


def read_all(driver: WebDriver, selector: str, attribute: str = "textContent") -> list[str]:
    """``attribute`` of every element ``selector`` finds, in page order.

    A page may replace an element between finding it and reading it (the history page puts
    the stored message where its "sending…" line was): then the list is found and read
    again, at most STALE_READS times.
    """
    for _ in range(STALE_READS):
        try:
            items = driver.find_elements(By.CSS_SELECTOR, selector)
            return [item.get_attribute(attribute) or "" for item in items]
        except StaleElementReferenceException:
            continue
    raise AssertionError(
        f"The page replaced its {selector!r} elements every time, {STALE_READS} times in a "
        "row, while they were read: it should change them only when something happens, such "
        "as a message arriving (see the page's script)."
    )


def messages(driver: WebDriver) -> list[str]:
    """The text of every message shown, oldest first."""
    return read_all(driver, "#message_list li .text")


def sending(driver: WebDriver) -> list[str]:
    """The texts shown as "sending…": typed here, not yet stored."""
    return read_all(driver, "#message_list li.sending .text")


def wait_for_message(
    driver: WebDriver, text: str, failure: str, timeout: float | None = None
) -> None:
    """Wait until the page shows ``text``: up to waits.MAX_WAIT, or ``timeout`` seconds (such
    as RECONNECT_WAIT, when the page must first come back to a restarted chat server)."""
    wait_for(lambda: text in messages(driver), failure, timeout)
