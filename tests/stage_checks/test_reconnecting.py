"""Room pages never give up on a chat server that is down: a restart, however long it
takes, is followed by every open page coming back by itself and carrying on.

The shared servers cap the pages' wait between two tries at 0.2 s (CHAT_LONGEST_RETRY_MS,
see harness/shared_site.py), so a page reaches its twelfth failed try within seconds,
where it once gave up after ten, a minute into a restart.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page
from harness.browser import Browsers
from harness.processes import StageProcesses
from harness.waits import wait_for

pytestmark = pytest.mark.needs("websocket")

GAVE_UP_AFTER = 10
"""Failed tries in a row after which the pages once showed "Disconnected" and stopped."""
TRIES_WATCHED = GAVE_UP_AFTER + 2


def room_pages(browsers: Browsers, site: StageProcesses, room: int) -> dict[str, WebDriver]:
    """The room's WebSocket page, and its long-poll page where the stage has one."""
    pages = {"chat.js": chat_page.open_window(browsers, site, f"/chats/{room}/")}
    if "longpoll" in site.stage.features:
        pages["longpoll.js"] = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/")
    return pages


def gave_up_or_tried(page: WebDriver, tries: int) -> str | None:
    """"gave up" if ``page`` has stopped trying, "tried" once it counts ``tries`` failed
    tries in a row, None meanwhile."""
    if chat_page.connection_state(page) not in ("connecting", "reconnecting"):
        return "gave up"
    counted = chat_page.failed_tries(page)
    return "tried" if counted is not None and counted >= tries else None


def test_pages_keep_reconnecting_while_the_server_is_down_and_resume_when_it_is_back(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    pages = room_pages(browsers, site, new_room())
    sender, reader = pages["chat.js"], pages.get("longpoll.js", pages["chat.js"])
    chat_page.send(sender, "before the break")
    chat_page.wait_for_message(reader, "before the break", "The first message never came.")

    site.stop_process("chatserver")
    try:
        # Each try must follow the one before within the usual wait: a bound per event,
        # not for the whole run of tries, so a slow machine cannot make this fail.
        for tries in range(1, TRIES_WATCHED + 1):
            for script, page in pages.items():
                seen = wait_for(
                    lambda page=page, tries=tries: gave_up_or_tried(page, tries),
                    f"With the chat server down, the page ({script}) did not count failed try "
                    f"{tries} in #connection_state's data-attempts. Pass the count of failed "
                    "tries in a row to showState, and try again after page.retryDelay.",
                )
                assert seen == "tried", (
                    f"With the chat server down, the page ({script}) went to the state "
                    f"{chat_page.connection_state(page)!r} after {tries - 1} failed tries. A "
                    "page must never give up while it is open: keep trying, with the capped "
                    "backoff, however long the server is away (no MAX_ATTEMPTS, no 'closed')."
                )
    finally:
        site.start_process("chatserver")

    for page in pages.values():
        chat_page.wait_until_connected(page, timeout=chat_page.RECONNECT_WAIT)
    chat_page.send(sender, "back after a long break")
    chat_page.wait_for_message(
        reader,
        "back after a long break",
        f"After {TRIES_WATCHED} failed tries, the chat server came back and the pages said "
        "they were connected, but a message sent then never arrived.",
    )
