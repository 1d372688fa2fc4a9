"""Chapter 5's logins: every page needs one, and the chat server knows who is speaking.

The checks of the earlier stages run here too, logged in as harness.people.VISITOR. These
check what is new: the login, sign-up and logout pages; a chat server that refuses anyone
without a session in a way the page can show, takes each message's author from the session,
refuses cross-site POSTs, counts rate limits per person, and lets go of a login's
connections the moment it logs out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.web.server import Site
from websockets.exceptions import ConnectionClosed

from harness import chat_page, http, people, waits
from harness.browser import Browsers
from harness.fakes import FakePeople, FakePerson, chat_factory, chat_site
from harness.longpoll_client import LongPollClient
from harness.memory_http import Exchange, MemoryHTTP
from harness.processes import SiteWith, StageProcesses
from harness.protocol import LOGGED_OUT_CLOSE
from harness.wsclient import (
    MemoryClient,
    chat_connection,
    django_origin,
    joined,
    room_url,
)

pytestmark = pytest.mark.needs("auth")

ALICE = FakePerson(2, "alice", "alice-session")
BOB = FakePerson(3, "bob", "bob-session")
ORIGIN = "http://localhost:8000"


# -- in process: the chat server with its sessions in our hands -----------------------------


class Server:
    """The stage's chat server in this process, where only ALICE and BOB are logged in."""

    def __init__(
        self,
        code: SimpleNamespace,
        settings: Mapping[str, str] | None = None,
        people: FakePeople | None = None,
    ) -> None:
        self.people = people or FakePeople(code)
        self.alice = self.people.log_in(ALICE)
        self.bob = self.people.log_in(BOB)
        self.factory, self.clock, _ = chat_factory(code, settings, (1, 2), people=self.people)
        self.site: Site = chat_site(code, self.factory, one_process=True)
        self.site.reactor = MemoryReactorClock()
        self.http = MemoryHTTP(self.site, ORIGIN)
        self.sockets: list[MemoryClient] = []

    def connect(self, headers: Mapping[str, str] | None, room: int = 1) -> MemoryClient:
        client = MemoryClient(self.site, f"/ws/{room}", origin=ORIGIN, headers=headers)
        self.sockets.append(client)
        return client

    def join(self, headers: Mapping[str, str], room: int = 1) -> MemoryClient:
        client = self.connect(headers, room)
        first = client.new_messages()
        assert client.status == 101 and first[:1] and first[0]["type"] == "welcome", (
            f"A logged-in person's WebSocket was answered {client.status} with {first[:1]}, "
            "not let in with a welcome."
        )
        return client

    def post(self, headers: Mapping[str, str] | None, body: dict[str, Any]) -> Exchange:
        return self.http.post_json("/rooms/1/messages", body, headers=dict(headers or {}))

    def stop(self) -> None:
        for client in self.sockets:
            client.disconnect()
        self.http.close_all()


@pytest.fixture
def server(chatserver_code: SimpleNamespace) -> Any:
    made = Server(chatserver_code)
    yield made
    made.stop()


def test_a_websocket_without_a_session_is_closed_with_4001_and_a_reason(server: Server) -> None:
    client = server.connect(headers=None)
    assert client.status == 101, (
        f"A handshake without a session was answered HTTP {client.status}. A browser shows "
        "a refused handshake as a bare 1006; let it finish, then close with 4001, which the "
        "page can read."
    )
    assert client.close_codes() == [LOGGED_OUT_CLOSE], (
        f"A WebSocket without a session got close codes {client.close_codes()}, not "
        f"[{LOGGED_OUT_CLOSE}] (logged out). Check the session in onConnect, close in onOpen."
    )
    assert not client.new_messages(), "A client that is not logged in got messages."
    assert not server.factory.rooms or not server.factory.rooms[1].clients


def test_the_author_comes_from_the_session_whatever_the_client_says(server: Server) -> None:
    alice, bob = server.join(server.alice), server.join(server.bob)
    alice.send_json({"text": "it is me", "author": "mallory"})
    received = bob.new_messages()
    assert [(m.get("author"), m.get("text")) for m in received] == [("alice", "it is me")], (
        f"Bob received {received}; the message should carry author 'alice', from the session, "
        "whatever author the client wrote into it."
    )
    posted = server.post(server.bob, {"text": "by post", "author": "mallory"}).answered("a POST")
    assert posted.status == 201 and posted.json().get("author") == "bob", (
        f"A POST from Bob's page was answered {posted.status} {posted.json()}; it should be "
        "201 with author 'bob'."
    )


def test_long_polls_need_a_session_and_posts_need_the_csrf_token(server: Server) -> None:
    for what, exchange in [
        ("a poll without a session", server.http.get("/rooms/1/messages")),
        ("a POST without a session", server.post(None, {"text": "anyone?"})),
    ]:
        answer = exchange.answered(what)
        assert answer.status == 403 and answer.json().get("code") == "logged_out", (
            f"{what} was answered {answer.status} {answer.body!r}, not 403 logged_out."
        )
    cookie_only = {"Cookie": server.alice["Cookie"]}
    forged = server.post(cookie_only, {"text": "from another site"}).answered("a forged POST")
    assert forged.status == 403 and forged.json().get("code") == "csrf_failed", (
        f"A POST carrying Alice's cookie but no CSRF token was answered {forged.status} "
        f"{forged.body!r}, not 403 csrf_failed. Any site can make a browser send our cookies."
    )
    wrong = {**server.alice, "X-CSRFToken": "not-the-token"}
    assert server.post(wrong, {"text": "guessing"}).answered("a POST").status == 403
    assert server.post(server.alice, {"text": "mine"}).answered("a POST").status == 201


def test_logging_out_closes_that_logins_websockets_and_polls_at_once(server: Server) -> None:
    alice_socket, bob_socket = server.join(server.alice), server.join(server.bob)
    server.join(server.alice, room=2)
    cursor = server.http.get("/rooms/1/messages", headers=server.alice).answered("a first poll")
    waiting = server.http.get(
        f"/rooms/1/messages?after={cursor.json()['cursor']}", headers=server.alice
    )
    assert waiting.answer is None, "Alice's poll should wait for the next message."

    server.factory.session_ended(ALICE.session_key)
    server.people.log_out(ALICE)

    assert alice_socket.close_codes() == [LOGGED_OUT_CLOSE], (
        f"After Alice logged out her WebSocket got close codes {alice_socket.close_codes()}, "
        f"not [{LOGGED_OUT_CLOSE}]. factory.session_ended should close her connections."
    )
    answer = waiting.answered("Alice's waiting poll after she logged out")
    assert answer.status == 403 and answer.json().get("code") == "logged_out"
    assert bob_socket.close_codes() == [], "Bob's WebSocket closed when Alice logged out."
    assert alice_socket.server_side not in server.factory.rooms[1].clients, (
        "Alice's closed WebSocket is still in the room."
    )


def test_a_session_is_asked_about_once_then_remembered_for_a_while(server: Server) -> None:
    recheck = server.factory.config.session_recheck
    server.join(server.alice)
    for _ in range(3):
        server.http.get("/rooms/1/messages", headers=server.alice).answered("a poll of Alice's")
    assert server.people.asked == 1, (
        f"Alice's handshake and three polls asked whose session it is {server.people.asked} "
        "times, not once. Keep Django's answer for CHAT_SESSION_RECHECK seconds "
        "(factory.people, a KnownSessions), under the request's Cookie header."
    )
    server.clock.advance(recheck)
    server.http.get("/rooms/1/messages", headers=server.bob).answered("a poll of Bob's")
    assert len(server.factory.people.known) == 1, (
        "The chat server still keeps Alice's answer, older than CHAT_SESSION_RECHECK, next "
        "to Bob's: drop old answers (forget_stale), or the table grows with everyone who "
        "ever visited."
    )
    server.http.get("/rooms/1/messages", headers=server.alice).answered("Alice's next poll")
    assert server.people.asked == 3, (
        f"CHAT_SESSION_RECHECK ({recheck:g} s) after Django's answer, Alice's next poll "
        "should ask again: a deactivation made in another process counts only then."
    )
    for text in ("one", "two"):
        server.post(server.alice, {"text": text}).answered("a POST of Alice's")
    assert server.people.asked == 5, (
        "A POST must ask Django every time: the CSRF check runs there, on its own headers."
    )


class SlowPeople(FakePeople):
    """FakePeople whose answers come only when ``answer_all`` is called, as Django's answers
    come from a thread some moments later."""

    def __init__(self, code: SimpleNamespace) -> None:
        super().__init__(code)
        self.held: list[tuple[Deferred[Any], Deferred[Any]]] = []

    def __call__(self, headers: Mapping[str, str], secure: bool, posting: bool) -> Deferred[Any]:
        later: Deferred[Any] = Deferred()
        self.held.append((super().__call__(headers, secure, posting), later))
        return later

    def answer_all(self) -> None:
        held, self.held = self.held, []
        for answer, later in held:
            answer.chainDeferred(later)


@pytest.fixture
def slow_people(chatserver_code: SimpleNamespace) -> SlowPeople:
    return SlowPeople(chatserver_code)


@pytest.fixture
def slow_server(chatserver_code: SimpleNamespace, slow_people: SlowPeople) -> Iterator[Server]:
    """The chat server in this process, asking ``slow_people`` whose session it is."""
    made = Server(chatserver_code, people=slow_people)
    yield made
    made.stop()


def test_polls_that_come_while_django_is_asked_wait_for_the_same_answer(
    slow_server: Server, slow_people: SlowPeople
) -> None:
    server, people = slow_server, slow_people
    polls = [server.http.get("/rooms/1/messages", headers=server.alice) for _ in range(3)]
    polls[1].disconnect()  # one of them goes away before Django answers
    assert people.asked == 1, (
        f"Three polls with Alice's cookie, sent before Django had answered the first, "
        f"asked {people.asked} times. Let the others wait for the first one's answer, "
        "as find_room does for rooms: a crowd whose answer has just expired would "
        "otherwise ask all at once."
    )
    people.answer_all()
    for number in (0, 2):
        answer = polls[number].answered(f"poll {number + 1} of Alice's three")
        assert answer.status == 200, (
            f"Poll {number + 1} of three, which waited for the same answer, was "
            f"answered {answer.status} {answer.body!r}, not 200; the one that went away "
            "must not take the others' answer with it."
        )


def test_an_answer_asked_for_before_a_logout_is_not_remembered_after_it(
    slow_server: Server, slow_people: SlowPeople
) -> None:
    server, people = slow_server, slow_people
    asking = server.http.get("/rooms/1/messages", headers=server.alice)
    server.factory.session_ended(ALICE.session_key)  # she logs out meanwhile
    people.answer_all()  # Django had read her session before the logout
    asking.answered("the poll Alice sent before she logged out")
    server.people.log_out(ALICE)
    after = server.http.get("/rooms/1/messages", headers=server.alice)
    people.answer_all()
    answer = after.answered("Alice's poll after she logged out")
    assert answer.status == 403 and answer.json().get("code") == "logged_out", (
        f"After Alice logged out, her poll was answered {answer.status} {answer.body!r}. "
        "A session lookup that was under way when she logged out came back afterwards "
        "and was remembered: keep only answers asked for since the last logout."
    )


def test_the_rate_limit_counts_per_person_not_per_connection(chatserver_code: Any) -> None:
    server = Server(chatserver_code, settings={"CHAT_RATE": "1", "CHAT_BURST": "2"})
    try:
        tab_one, tab_two = server.join(server.alice), server.join(server.alice)
        bob = server.join(server.bob)
        tab_one.send_json({"text": "one"})
        tab_two.send_json({"text": "two"})
        tab_two.send_json({"text": "three"})
        errors = [m for m in tab_two.new_messages() if m["type"] == "error"]
        assert [e.get("code") for e in errors] == ["rate_limited"], (
            f"Alice sent three messages from two tabs with CHAT_BURST=2; the third should be "
            f"refused rate_limited, as her tabs share one bucket. Her second tab got {errors}."
        )
        posted = server.post(server.alice, {"text": "and by post"}).answered("a POST")
        assert posted.status == 429, f"Alice's POST shares her bucket too; it got {posted.status}."
        bob.send_json({"text": "bob is not alice"})
        assert not [m for m in bob.new_messages() if m["type"] == "error"], (
            "Bob was rate-limited for Alice's messages: count per person."
        )
    finally:
        server.stop()


@pytest_twisted.ensureDeferred
async def test_the_default_session_lookup_asks_django_in_a_thread(
    chatserver_code: SimpleNamespace, django_in_process: None
) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    user = get_user_model().objects.create_user("looked-up")
    client = Client()
    client.force_login(user)
    key = client.cookies["sessionid"].value
    connections.close_all()

    threads: list[threading.Thread] = []
    real_ask = chatserver_code.people.ask_django

    def noting_thread(*args: Any) -> Any:
        threads.append(threading.current_thread())
        return real_ask(*args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chatserver_code.people, "ask_django", noting_thread)
        lookup = chatserver_code.people.find_person({"cookie": f"sessionid={key}"}, False, False)
        assert isinstance(lookup, Deferred)
        person = await lookup
        with pytest.raises(chatserver_code.people.LoggedOut):
            await chatserver_code.people.find_person({"cookie": "sessionid=nobody"}, False, False)
    assert (person.name, person.session_key) == ("looked-up", key)
    assert threads and threading.main_thread() not in threads, (
        "find_person read the session on the reactor's thread; use deferToThread."
    )


# -- against the running process ------------------------------------------------------------


@pytest.mark.parametrize("path", ["/chats/", "/chats/{room}/", "/chats/long_poll/{room}/"])
def test_an_anonymous_visitor_is_sent_to_the_login_page(
    site: StageProcesses, new_room: Callable[[], int], path: str
) -> None:
    path = path.format(room=new_room())
    answer = http.request(site.url("django", path))
    location = answer.headers.get("Location", "")
    assert answer.status == 302 and location.startswith("/accounts/login/?next="), (
        f"{path} answered {answer.status} (Location: {location or 'none'}) to someone not "
        "logged in, not a redirect to the login page. Put @login_required on the view."
    )


def test_an_anonymous_websocket_and_long_poll_get_the_documented_answers(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    url, origin = room_url(site, room), django_origin(site)
    with (
        chat_connection(url, origin=origin, timeout=waits.MAX_WAIT) as chat,
        pytest.raises(ConnectionClosed) as closed,
    ):
        chat.receive("the close frame for a visitor who is not logged in")
    received = closed.value.rcvd
    assert received is not None and received.code == LOGGED_OUT_CLOSE and received.reason, (
        f"A WebSocket without a session was closed with {received}, not {LOGGED_OUT_CLOSE} "
        "and a reason the page can show."
    )
    poll = LongPollClient(site.url("chatserver", ""), room, origin=django_origin(site), timeout=5)
    refused = poll.send("hello?")
    assert refused.status == 403 and refused.json().get("code") == "logged_out"


def test_a_cross_site_post_with_the_persons_cookie_is_refused(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    cookie = {"Cookie": site.credentials()["Cookie"]}
    base = site.url("chatserver", "")
    for origin, expected in [("http://evil.example", "forbidden_origin"), (None, "csrf_failed")]:
        client = LongPollClient(base, room, origin=origin, timeout=5, headers=cookie)
        refused = client.send("posted by another site")
        assert refused.status == 403 and refused.json().get("code") == expected, (
            f"A POST with the visitor's cookie but without the page's CSRF token, from "
            f"{origin or 'no Origin at all'}, was answered {refused.status} {refused.body!r}, "
            f"not 403 {expected}."
        )
    own = LongPollClient(
        base, room, origin=django_origin(site), timeout=5, headers=site.credentials()
    )
    assert own.send("posted by our page").status == 201


RECHECK_SOON = {"CHAT_SESSION_RECHECK": "1"}


def test_a_person_deactivated_elsewhere_is_refused_once_the_session_is_rechecked(
    site_with: SiteWith, tmp_path: Path
) -> None:
    with site_with(tmp_path, RECHECK_SOON) as running:
        key = running.new_login("soon-inactive")
        room = running.new_room()

        def handshake_answer() -> str:
            with chat_connection(
                room_url(running, room),
                origin=django_origin(running),
                timeout=waits.MAX_WAIT,
                headers=people.credentials(key),
            ) as chat:
                try:
                    return str(chat.receive("the first thing the server sends")["type"])
                except ConnectionClosed as closed:
                    return f"closed {closed.rcvd.code if closed.rcvd else None}"

        assert handshake_answer() == "welcome"
        # Another process, as an administrator's manage.py is: no signal reaches the server.
        running.django_shell(
            "from django.contrib.auth import get_user_model; "
            "get_user_model().objects.filter(username='soon-inactive').update(is_active=False)"
        )
        seen: list[str] = []

        def refused() -> bool | None:
            seen.append(handshake_answer())
            return seen[-1] == f"closed {LOGGED_OUT_CLOSE}" or None

        waits.wait_for(
            refused,
            "A person deactivated in another process was still let in more than "
            "CHAT_SESSION_RECHECK=1 s later: KnownSessions must ask Django again once an "
            "answer is that old, and Django's get_user refuses an inactive user.",
            timeout=1 + waits.MAX_WAIT,
        )


def test_messages_over_both_ways_carry_their_authors_name(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    room = new_room()
    with joined(site, room, people.ALICE) as alice, joined(site, room, people.BOB) as bob:
        alice.send_json({"text": "hello bob", "author": "bob"})
        assert bob.receive("Alice's message")["author"] == people.ALICE
        poster = LongPollClient(
            site.url("chatserver", ""),
            room,
            origin=django_origin(site),
            timeout=5,
            headers=site.credentials(people.BOB),
        )
        assert poster.send("hello alice").status == 201
        assert alice.receive("her own message back")["author"] == people.ALICE
        assert alice.receive("Bob's POST")["author"] == people.BOB


# -- real browsers --------------------------------------------------------------------------


def type_into(driver: WebDriver, name: str, value: str) -> None:
    field = driver.find_element(By.NAME, name)
    field.clear()
    field.send_keys(value)


def test_logging_in_leads_back_to_the_room(
    site: StageProcesses, browser: WebDriver, new_room: Callable[[], int]
) -> None:
    room = new_room()
    browser.get(site.url("django", f"/chats/{room}/"))
    waits.wait_for(
        lambda: browser.find_element(By.NAME, "username"),
        "A visitor who is not logged in should land on the login page, with its form.",
    )
    type_into(browser, "username", people.ALICE)
    type_into(browser, "password", people.PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    chat_page.wait_until_connected(browser)
    assert browser.current_url.endswith(f"/chats/{room}/")
    shown = browser.find_element(By.ID, "logged_in_as").text
    assert shown == people.ALICE, f"The page header says {shown!r}, not who is logged in."


def test_signing_up_makes_an_account_and_logs_it_in(
    site: StageProcesses, browser: WebDriver
) -> None:
    browser.get(site.url("django", "/accounts/signup/"))
    type_into(browser, "username", "newcomer")
    type_into(browser, "password1", "a long enough passphrase 42")
    type_into(browser, "password2", "a long enough passphrase 42")
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    waits.wait_for(
        lambda: browser.find_element(By.ID, "logged_in_as").text == "newcomer",
        "After signing up, the page should show the new account as logged in.",
    )


def test_two_people_see_each_others_names(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    room = new_room()
    alice = chat_page.open_window(browsers, site, f"/chats/{room}/", people.ALICE)
    bob = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/", people.BOB)
    chat_page.send(alice, "hi, it is alice")
    chat_page.wait_for_message(bob, "hi, it is alice", "Bob never got Alice's message.")
    chat_page.send(bob, "and bob here")
    chat_page.wait_for_message(alice, "and bob here", "Alice never got Bob's answer.")
    for window in (alice, bob):
        authors = [
            item.get_attribute("textContent")
            for item in window.find_elements(By.CSS_SELECTOR, "#message_list li .author")
        ]
        assert authors == [people.ALICE, people.BOB], (
            f"The messages are shown with authors {authors}; each should show its sender's "
            "name (room.js's showMessage, with textContent)."
        )


def test_a_name_with_markup_shows_as_text(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    name = "<img src=x onerror=alert(1)>"
    room = new_room()
    window = browsers.open()
    chat_page.use_session(window, site, site.new_login(name))
    window.get(site.url("django", f"/chats/{room}/"))
    chat_page.wait_until_connected(window)
    chat_page.send(window, "look at my name")
    chat_page.wait_for_message(window, "look at my name", "The message never came back.")
    # read_all: the line may still be "sending…", and be replaced by the stored one meanwhile.
    authors = chat_page.read_all(window, "#message_list li .author")
    assert authors == [name], (
        f"The author is shown as {authors}, not as the name typed. Put it in with textContent."
    )
    assert not window.find_elements(By.CSS_SELECTOR, "main img, header img"), (
        "A name that looks like HTML became an element on the page; it must stay text."
    )
    assert window.find_element(By.ID, "logged_in_as").text == name


def test_logging_out_in_one_tab_shows_in_the_others_at_once(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    key = site.new_login("leaving-soon")
    room = new_room()
    tabs = []
    for path in (f"/chats/{room}/", f"/chats/long_poll/{room}/", "/chats/"):
        tab = browsers.open()
        chat_page.use_session(tab, site, key)
        tab.get(site.url("django", path))
        tabs.append(tab)
    websocket_tab, polling_tab, leaving_tab = tabs
    for tab in (websocket_tab, polling_tab):
        chat_page.wait_until_connected(tab)
    leaving_tab.find_element(By.CSS_SELECTOR, "form.logout button").click()
    for tab, kind in ((websocket_tab, "WebSocket"), (polling_tab, "long-poll")):
        waits.wait_for(
            lambda tab=tab: chat_page.connection_state(tab) == "logged_out",
            f"After logging out in another tab, the {kind} room page should say it is logged "
            "out at once (the chat server ends that login's connections when Django's "
            "user_logged_out signal fires).",
        )
        link = tab.find_element(By.ID, "log_in_again")
        assert "/accounts/login/" in (link.get_attribute("href") or "")


def test_after_logging_out_in_another_window_the_room_pages_header_agrees(
    site: StageProcesses, browsers: Browsers, new_room: Callable[[], int]
) -> None:
    name = "two-windows"
    key = site.new_login(name)
    room = new_room()
    windows = []
    for path in (f"/chats/{room}/", f"/chats/long_poll/{room}/"):
        window = browsers.open()
        chat_page.use_session(window, site, key)
        window.get(site.url("django", path))
        chat_page.wait_until_connected(window)
        windows.append((window, path))
    leaving = browsers.open()
    chat_page.use_session(leaving, site, key)
    leaving.get(site.url("django", "/chats/"))
    leaving.find_element(By.CSS_SELECTOR, "form.logout button").click()
    for window, path in windows:
        waits.wait_for(
            lambda window=window: chat_page.connection_state(window) == "logged_out",
            f"After logging out in another window, {path} should say it is logged out.",
        )
        header = window.find_element(By.CSS_SELECTOR, "header")
        offers = [
            element.text for element in header.find_elements(By.CSS_SELECTOR, "button, a")
        ]
        assert "Log out" not in offers and name not in header.text, (
            f"{path} says it is logged out, but its header still shows {header.text!r}: "
            f"{name!r} with a Log out button. When the page learns its login has ended "
            "(room.js's showLoggedOut), make the header agree: no name, no Log out, a link "
            "to log in."
        )
        login = header.find_elements(By.CSS_SELECTOR, "a[href*='/accounts/login/']")
        assert login, f"{path}'s header should offer to log in again, as the page does."
