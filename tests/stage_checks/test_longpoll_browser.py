"""Part 3 in real browsers: a long-poll window and a WebSocket window share one room."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page, http
from harness.browser import Browsers
from harness.processes import SiteWith, StageProcesses
from harness.waits import wait_for

pytestmark = pytest.mark.needs("longpoll")


def websocket_window(browsers: Browsers, site: StageProcesses, room_id: int) -> WebDriver:
    return chat_page.open_window(browsers, site, f"/chats/{room_id}/")


def long_poll_window(browsers: Browsers, site: StageProcesses, room_id: int) -> WebDriver:
    return chat_page.open_window(browsers, site, f"/chats/long_poll/{room_id}/")


def test_the_long_poll_page_exists_for_every_room_and_only_those(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    logged_in = site.credentials()
    page = http.request(site.url("django", f"/chats/long_poll/{room}/"), headers=logged_in)
    assert page.status == 200, (
        f"/chats/long_poll/{room}/ answered {page.status}, not 200. Add the long_poll/<int:"
        "chat_room_id>/ URL to chat/urls.py with a view that renders chats/long_poll.html."
    )
    for missing in ("999999", "abc"):
        answer = http.request(site.url("django", f"/chats/long_poll/{missing}/"), headers=logged_in)
        assert answer.status == 404, (
            f"/chats/long_poll/{missing}/ answered {answer.status}, not 404. Use "
            "get_object_or_404 in the long-poll view too."
        )


def test_the_room_page_links_to_its_long_poll_version(
    site: StageProcesses, browser: WebDriver, new_room: Callable[[], int]
) -> None:
    room = new_room()
    chat_page.open_room(browser, site, f"/chats/{room}/")
    browser.find_element(By.CSS_SELECTOR, f"a[href$='/chats/long_poll/{room}/']").click()
    chat_page.wait_until_connected(browser)


def test_websocket_and_long_poll_windows_in_one_room_talk_both_ways(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    socket_user = websocket_window(browsers, site, room)
    polling_user = long_poll_window(browsers, site, room)

    chat_page.send(socket_user, "sent over a WebSocket")
    chat_page.wait_for_message(
        polling_user,
        "sent over a WebSocket",
        "A message typed in the WebSocket window never reached the long-poll window of the "
        "same room. Check that longpoll.js polls /rooms/<id>/messages and shows what it gets, "
        "and that the chat server wakes parked polls when a WebSocket message arrives.",
    )
    chat_page.send(polling_user, "sent over long-polling")
    chat_page.wait_for_message(
        socket_user,
        "sent over long-polling",
        "A message typed in the long-poll window never reached the WebSocket window. Check "
        "that longpoll.js POSTs JSON to /rooms/<id>/messages and that the chat server "
        "broadcasts it to the room's WebSocket clients.",
    )
    chat_page.wait_for_message(
        polling_user,
        "sent over long-polling",
        "The long-poll window never showed its own message; it should come back in a poll.",
    )
    assert chat_page.messages(polling_user) == chat_page.messages(socket_user), (
        "The two windows show different conversations (a message missing, twice, or out of "
        "order). Both should list every message of the room once, in id order."
    )


def test_a_long_poll_window_in_another_room_hears_nothing(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room, other_room = new_room(), new_room()
    socket_user = websocket_window(browsers, site, room)
    outsider = long_poll_window(browsers, site, other_room)

    chat_page.send(socket_user, "for room one only")
    chat_page.wait_for_message(socket_user, "for room one only", "The sender never saw it.")
    chat_page.send(outsider, "the outsider speaks")
    chat_page.wait_for_message(
        outsider, "the outsider speaks", "The long-poll window never saw its own message."
    )
    assert chat_page.messages(outsider) == ["the outsider speaks"], (
        "A message from one room appeared in the long-poll window of another room. Polls must "
        "only return messages of the room in their URL."
    )


def test_html_in_a_message_stays_text_on_the_long_poll_page(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    socket_user = websocket_window(browsers, site, room)
    polling_user = long_poll_window(browsers, site, room)
    attack = '<img src=x onerror="window.hacked = true">'

    chat_page.send(socket_user, attack)
    chat_page.wait_for_message(
        polling_user,
        attack,
        "The message <img src=x onerror=...> never appeared as text. If the page inserts "
        "received text with innerHTML, it became an element instead. Use textContent.",
    )
    assert not polling_user.find_elements(By.CSS_SELECTOR, "#message_list img"), (
        "A message became an <img> element on the long-poll page. Use textContent, never "
        "innerHTML, when showing messages."
    )
    assert polling_user.execute_script("return window.hacked === true") is False


def test_the_long_poll_page_recovers_after_the_chat_server_restarts(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    socket_user = websocket_window(browsers, site, room)
    polling_user = long_poll_window(browsers, site, room)
    chat_page.send(socket_user, "before the restart")
    chat_page.wait_for_message(polling_user, "before the restart", "The first message never came.")

    site.stop_process("chatserver")
    try:
        wait_for(
            lambda: chat_page.connection_state(polling_user) == "reconnecting",
            "With the chat server stopped, the long-poll page still claims to be connected. "
            "longpoll.js should show 'reconnecting' when a poll fails.",
            timeout=chat_page.RECONNECT_WAIT,
        )
    finally:
        site.start_process("chatserver")

    for window in (socket_user, polling_user):
        chat_page.wait_until_connected(window, timeout=chat_page.RECONNECT_WAIT)
    chat_page.send(socket_user, "after the restart")
    chat_page.wait_for_message(
        polling_user,
        "after the restart",
        "After the chat server restarted (its message ids start again at 1), the long-poll "
        "page no longer shows new messages. When a poll answers with missed: true, start "
        "counting ids afresh.",
    )


def test_a_second_enter_while_sending_does_not_post_twice(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    polling_user = long_poll_window(browsers, site, room)
    # Two Enters in a row, before the first POST has been answered.
    polling_user.execute_script(
        """
        const box = document.getElementById("inputbox");
        box.value = "only once";
        for (let i = 0; i < 2; i++) {
            box.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true}));
        }
        """
    )
    chat_page.wait_for_message(polling_user, "only once", "The message never came back.")
    chat_page.send(polling_user, "and then this")
    chat_page.wait_for_message(polling_user, "and then this", "The second message never came.")
    assert chat_page.messages(polling_user).count("only once") == 1, (
        "Pressing Enter twice while a POST was under way sent the message twice. Ignore Enter "
        "until the send in progress has been answered (room.js's onEnter)."
    )


@pytest.mark.needs("two_origins")  # one process: the page talks to where it came from
def test_the_page_follows_the_chat_server_settings(
    site_with: SiteWith, tmp_path: Path, browser: WebDriver
) -> None:
    # Nothing listens on port 9 of this machine: only what the page computes is looked at.
    settings = {"CHAT_SERVER_URL": "ws://127.0.0.1:9/chat/", "CHAT_POLL_TIMEOUT": "2.5"}
    with site_with(tmp_path, settings) as elsewhere:
        room = elsewhere.new_room()
        browser.get(elsewhere.url("django", f"/chats/long_poll/{room}/"))
        config = browser.execute_script(
            'return JSON.parse(document.getElementById("chat-server").textContent);'
        )
        assert config.get("poll_timeout") == 2.5, (
            f"With CHAT_POLL_TIMEOUT=2.5 the page's chat-server settings were {config}; pass "
            "settings.CHAT_POLL_TIMEOUT as poll_timeout, so the page waits longer than the server."
        )
        urls = browser.execute_script(
            "const page = window.chatRoomPage;"
            'return [page.serverUrl("wss:", "ws:"), page.serverUrl("https:", "http:")];'
        )
    assert urls == ["ws://127.0.0.1:9/chat", "http://127.0.0.1:9/chat"], (
        f"With CHAT_SERVER_URL=ws://127.0.0.1:9/chat/ the page would talk to {urls}; keep the "
        "URL's path (a chat server behind a proxy often lives under one) and drop its final slash."
    )
