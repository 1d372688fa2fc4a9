"""Part 2 in real browsers: people in one room talk; other rooms hear nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page
from harness.browser import Browsers
from harness.processes import SiteWith, StageProcesses
from harness.waits import wait_for

pytestmark = pytest.mark.needs("websocket")


def room_window(browsers: Browsers, site: StageProcesses, room_id: int) -> WebDriver:
    return chat_page.open_window(browsers, site, f"/chats/{room_id}/")


def test_two_windows_in_one_room_see_each_others_messages(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    alice, bob = room_window(browsers, site, room), room_window(browsers, site, room)

    chat_page.send(alice, "Hello from Alice")
    chat_page.wait_for_message(
        bob,
        "Hello from Alice",
        "The message typed in window A never appeared in window B (same room). Check that "
        'chat.js sends {"text": ...} on Enter and shows each incoming message in '
        "#message_list, and that the chat server broadcasts to the whole room.",
    )
    chat_page.send(bob, "Hi Alice, Bob here")
    chat_page.wait_for_message(
        alice,
        "Hi Alice, Bob here",
        "The reply typed in window B never appeared in window A.",
    )
    assert chat_page.messages(alice) == chat_page.messages(bob), (
        "The two windows show different conversations; both should list every message of "
        "the room in the same order."
    )


def test_a_window_in_another_room_hears_nothing(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room, other_room = new_room(), new_room()
    alice, bob = room_window(browsers, site, room), room_window(browsers, site, room)
    carol = room_window(browsers, site, other_room)

    chat_page.send(alice, "only for this room")
    chat_page.wait_for_message(bob, "only for this room", "Window B never got A's message.")
    # Carol's own message arrives after anything the server sent her before it, so once it is
    # shown, a leaked message from the other room would be shown too.
    chat_page.send(carol, "carol's own message")
    chat_page.wait_for_message(
        carol, "carol's own message", "Window C never saw its own message come back."
    )
    assert chat_page.messages(carol) == ["carol's own message"], (
        "A message sent in one room appeared in a window of another room. The chat server "
        "must keep its clients per room and broadcast only to the sender's room."
    )


def test_a_message_that_looks_like_html_is_shown_as_text(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    alice, bob = room_window(browsers, site, room), room_window(browsers, site, room)
    attack = '<img src=x onerror="window.hacked = true">'

    chat_page.send(alice, attack)
    chat_page.wait_for_message(
        bob,
        attack,
        "The message <img src=x onerror=...> never appeared as text. If the page inserts "
        "received text with innerHTML, it became an element instead. Use textContent.",
    )
    assert not bob.find_elements(By.CSS_SELECTOR, "#message_list img"), (
        "A message became an <img> element on the page: received text is being inserted as "
        "HTML. Use textContent, never innerHTML, in chat.js."
    )
    assert bob.execute_script("return window.hacked === true") is False, (
        "A chat message ran JavaScript in another person's window. Use textContent in chat.js."
    )


@pytest.mark.needs("unacknowledged")  # from chapter 06 on, an unsent message waits, "sending…"
def test_the_page_reconnects_after_the_chat_server_restarts(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    alice, bob = room_window(browsers, site, room), room_window(browsers, site, room)

    site.stop_process("chatserver")
    try:
        wait_for(
            lambda: chat_page.connection_state(alice) == "reconnecting",
            "With the chat server stopped, the page still claims to be connected. chat.js "
            "should show the state 'reconnecting' when the socket closes.",
        )
        chat_page.send(alice, "lost in the void?")
        wait_for(
            lambda: alice.find_element(By.ID, "chat_error").is_displayed(),
            "Pressing Enter while disconnected gave no visible error. Tell the person their "
            "message was not sent instead of dropping it silently.",
        )
        kept = alice.find_element(By.ID, "inputbox").get_attribute("value")
        assert kept == "lost in the void?", "The unsent message was cleared from the input box."
    finally:
        site.start_process("chatserver")

    for window in (alice, bob):
        chat_page.wait_until_connected(window, timeout=chat_page.RECONNECT_WAIT)
    alice.find_element(By.ID, "inputbox").clear()
    chat_page.send(alice, "back again")
    chat_page.wait_for_message(
        bob, "back again", "After the chat server came back, messages no longer get through."
    )


REFUSING = {"CHAT_RATE": "0.001", "CHAT_BURST": "1"}
"""One message, then one more every 1000 s: the second is refused however slowly it is typed."""


@pytest.mark.needs("unacknowledged")  # from chapter 06 on, a refused message is sent again
def test_a_message_the_server_refuses_comes_back_to_the_box(
    site_with: SiteWith, browsers: Browsers, tmp_path: Path
) -> None:
    with site_with(tmp_path, REFUSING) as refusing:
        window = room_window(browsers, refusing, refusing.new_room())
        chat_page.send(window, "the one allowed")
        chat_page.wait_for_message(
            window, "the one allowed", "The first message never came back to its own window."
        )
        chat_page.send(window, "one too many")
        error = wait_for(
            lambda: (box := window.find_element(By.ID, "chat_error")).is_displayed() and box.text,
            "With CHAT_BURST=1 and CHAT_RATE=0.001, a second message was refused "
            "(rate_limited), but the page showed no error. chat.js should show the detail of "
            "every error object the server sends.",
        )
        kept = window.find_element(By.ID, "inputbox").get_attribute("value") or ""
    assert kept == "one too many", (
        "The server refused a message (rate_limited) but its text was gone from the input "
        f"box (box: {kept!r}, error: {error!r}). Give the last text sent back when an error "
        "arrives, so a refused message is never silently lost."
    )
