"""A correct solution to a chapter's exercise passes the stage's checks.

Learners add to the protocol: chapter 02's exercise 1 sends presence messages, chapter 05's
exercise 4 adds the person's name to the welcome. The checks pass over message types and
fields they do not know, as every client must, so such a solution has to pass every check of
its stage, and the checks must write nothing into its folder.

The worked solutions in tutorial/solutions/<chapter>/ (one patch per exercise, for the
instructors' notes) are held to the same: all of a chapter's patches are applied, in order,
to one copy of its stage, and one run of the stage's checks must pass. What a solution adds
that no stage check knows of (a status page, presence, a setting) is proven at the end of
this file, on the stage's real servers run from such a copy: a wrong solution fails there.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, closing, contextmanager
from http.client import HTTPConnection, HTTPResponse
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from harness import chat_page, http, people, waits
from harness.browser import Browsers
from harness.longpoll_client import LongPollClient
from harness.processes import StageProcesses, tail
from harness.stages import NEWEST, REPO_ROOT, STAGES, Stage
from harness.waits import wait_for
from harness.wsclient import (
    JSON,
    ChatConnection,
    django_origin,
    handshake_status,
    joined,
    room_url,
)
from selftest.copies import copy_stage, edit, files_in, run_checks

SOLUTIONS = REPO_ROOT / "tutorial" / "solutions"
SOLVED = [stage for stage in STAGES.values() if (SOLUTIONS / stage.chapter_path.stem).is_dir()]
"""The stages whose chapter has worked solutions as patches."""
CAUGHT_BY = {
    "part2": "chatserver or chat_browser",
    "part3": "longpoll_protocol or second_enter",
    "single_process": "longpoll_protocol or client_address",
    "auth": "welcome or author",
    "twisted_websocket": "test_twisted_websocket or chatserver or stopping",
}
"""For a stage whose every check would take long, the checks (pytest -k) that would catch a
wrong solution: those of the files its patches change. Every check runs for other stages.
What a solution adds (a status page, a field in the welcome) no stage check knows of: the
checks at the end of this file prove it, on the stage's real servers, and a page they open
and drive there needs no browser check of the stage's as well."""

# Chapter 02, exercise 1, "Who is here?": after its welcome, everyone in the room hears
# how many are here, whenever someone joins or leaves.
PRESENCE_ON_JOIN = (
    "        self.send_json(messages.welcome(self.room.id, config))\n",
    "        self.send_json(messages.welcome(self.room.id, config))\n"
    "        self.tell_the_room_who_is_here()\n",
)
PRESENCE_ON_LEAVE = (
    "        self.factory.leave(self, self.room)\n",
    "        self.factory.leave(self, self.room)\n        self.tell_the_room_who_is_here()\n",
)
PRESENCE_METHOD = (
    "    def send_json(self, message):\n",
    "    def tell_the_room_who_is_here(self):\n"
    '        news = {"type": "presence", "room": self.room.id, "count": len(self.room.clients)}\n'
    "        for client in list(self.room.clients):\n"
    "            client.send_json(news)\n"
    "\n"
    "    def send_json(self, message):\n",
)


# Every JSON object the chat server sends (welcome, message, ack, error, missed, poll answers,
# and the objects inside them) goes through messages.encode: there, each gets a field no check
# knows, as when a learner adds a colour to messages or "you" to the welcome.
ENCODE = (
    "def encode(message):\n",
    "def with_a_colour(value):\n"
    "    if isinstance(value, dict):\n"
    "        coloured = {key: with_a_colour(item) for key, item in value.items()}\n"
    '        return {**coloured, "colour": "teal"}\n'
    "    if isinstance(value, list):\n"
    "        return [with_a_colour(item) for item in value]\n"
    "    return value\n"
    "\n"
    "\n"
    "def encode(message):\n"
    "    message = with_a_colour(message)\n",
)


# part3 and the newest stage between them run every check there is for an in-memory chat and
# a stored one; part2's checks are all part3's too (part3 only adds long-polling), and they
# read part2 and part3 the same way, so running part2 as well would prove nothing more.
@pytest.mark.timeout(1800)  # every check of a stage, in a child pytest
@pytest.mark.parametrize("stage", ["part3", NEWEST.name])
def test_a_learners_own_types_and_fields_pass_every_check(stage: str, tmp_path: Path) -> None:
    """A learner's copy, in a folder whose path has a space in it, with presence messages
    and a field no check knows on every object the chat server sends, passes every check of
    its stage, and the checks write nothing into it."""
    folder = copy_stage(stage, tmp_path / "a learner's folder")
    for old, new in (PRESENCE_ON_JOIN, PRESENCE_ON_LEAVE, PRESENCE_METHOD):
        edit(folder, "chatserver/protocol.py", old, new)
    edit(folder, "chatserver/messages.py", *ENCODE)
    before = files_in(folder)

    result = run_checks(stage, folder, tmp_path / "artefacts")

    assert result.returncode == 0, (
        f"{stage} with presence messages (chapter 02, exercise 1) and a field the checks do "
        "not know on every object it sends failed its checks; the checks must pass over "
        f"message types and fields they do not know:\n{result.stdout[-6000:]}"
    )
    after = files_in(folder)
    assert after == before, (
        f"the checks wrote into the stage folder: {sorted(set(after) - set(before))}"
    )


def test_part3_runs_every_check_part2_runs() -> None:
    """Why part2 is left out above: a check runs where the stage has every feature it needs,
    so part3, with all of part2's features, runs all of part2's checks."""
    assert STAGES["part2"].features <= STAGES["part3"].features, (
        "part2 has features part3 lacks, so some of its checks no longer run on part3: "
        "add part2 back to the stages of test_a_learners_own_types_and_fields_pass_every_check"
    )


def solutions_to(stage: Stage) -> list[Path]:
    """The worked solutions to a stage's chapter, in the order they are applied."""
    return sorted((SOLUTIONS / stage.chapter_path.stem).glob("*.diff"))


def solved_copy(stage: Stage, into: Path) -> Path:
    """A copy of the stage with every worked solution to its chapter applied, in order."""
    folder = copy_stage(stage.name, into)
    for patch in solutions_to(stage):
        apply_solution(patch, folder)
    return folder


def apply_solution(patch: Path, folder: Path) -> None:
    """Apply one exercise's patch to a copy of its stage, as ``git apply`` does."""
    done = subprocess.run(
        ["git", "apply", "--verbose", str(patch)], cwd=folder, capture_output=True, text=True
    )
    assert done.returncode == 0, (
        f"{patch.relative_to(REPO_ROOT)} no longer applies to its stage, which has changed "
        f"since it was written. Redo the exercise on the stage as it is now and write the "
        f"patch again (git diff). git apply said:\n{done.stderr}"
    )


@pytest.mark.timeout(1800)  # every check of a stage, in a child pytest
@pytest.mark.parametrize("stage", SOLVED, ids=[stage.name for stage in SOLVED])
def test_the_worked_solutions_to_a_chapters_exercises_pass_its_checks(
    stage: Stage, tmp_path: Path
) -> None:
    patches = solutions_to(stage)
    folder = solved_copy(stage, tmp_path)

    chosen = ("-k", CAUGHT_BY[stage.name]) if stage.name in CAUGHT_BY else ()
    result = run_checks(stage.name, folder, tmp_path / "artefacts", *chosen)

    assert result.returncode == 0, (
        f"{stage.name} with the worked solutions {[p.name for p in patches]} applied failed "
        f"its checks; a solution shown to instructors must keep every check passing:\n"
        f"{result.stdout[-6000:]}"
    )


# -- what the solutions add, on the stage's real servers ----------------------------------------
#
# Each stage below runs once, from a copy with its chapter's solutions applied, with the
# settings that let its checks see what the exercises ask for.


@contextmanager
def solved_site(name: str, into: Path, settings: Mapping[str, str]) -> Iterator[StageProcesses]:
    """The stage's processes, run from a copy with its chapter's worked solutions applied."""
    stage = STAGES[name]
    folder = solved_copy(stage, into)
    preparing = StageProcesses(stage, folder, into / "prepared")
    logins = people.EVERYONE if "auth" in stage.features else ()
    preparing.prepare(rooms=4, logins=logins)
    site = StageProcesses(stage, folder, into / "running", env=settings)
    try:
        site.start(database=preparing.prepared())
        yield site
    finally:
        site.stop()


TOKEN_EVERY = 2
"""Seconds between two POSTs an address may make on the part3 site below."""


@pytest.fixture(scope="module")
def longpoll_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StageProcesses]:
    """part3 with chapter 03's solutions; a history of two messages, so that one is dropped
    from a room of three, and a token every TOKEN_EVERY s for an address's POSTs."""
    settings = {"CHAT_HISTORY": "2", "CHAT_RATE": str(1 / TOKEN_EVERY), "CHAT_BURST": "1"}
    with solved_site("part3", tmp_path_factory.mktemp("chapter03"), settings) as site:
        yield site


def chat_server_answer(site: StageProcesses, path: str) -> http.Response:
    return http.request(site.url("chatserver", path), headers={"Origin": django_origin(site)})


def say(site: StageProcesses, room: int, text: str) -> None:
    """Say ``text`` in the room over a WebSocket of its own: a bucket of its own, too."""
    with joined(site, room) as chat:
        chat.send_json({"text": text})
        chat.receive_until("message", f"the message {text!r}")


@contextmanager
def event_stream(site: StageProcesses, room: int, last_seen: int | None) -> Iterator[HTTPResponse]:
    """A room's server-sent events, as an EventSource that saw ``last_seen`` last asks."""
    headers = {"Origin": django_origin(site)}
    if last_seen is not None:
        headers["Last-Event-ID"] = str(last_seen)
    port = site.port("chatserver")
    with closing(HTTPConnection(site.host, port, timeout=waits.MAX_WAIT)) as connection:
        connection.request("GET", f"/rooms/{room}/events", headers=headers)
        stream = connection.getresponse()
        assert stream.status == 200, f"/rooms/{room}/events answered {stream.status}"
        assert stream.headers["Content-Type"].startswith("text/event-stream"), stream.headers
        yield stream


def next_event(stream: HTTPResponse) -> dict[str, str]:
    """The next event's fields ("id", "data"), passing over comment lines such as ": ping"."""
    fields: dict[str, str] = {}
    while True:
        try:
            text = stream.readline().decode("utf-8")
        except TimeoutError:
            raise AssertionError(f"No event came in {waits.MAX_WAIT:g} s: {fields}") from None
        assert text, "The chat server ended the event stream."
        if text == "\n" and fields:
            return fields
        if text.strip() and not text.startswith(":"):
            name, _, value = text.rstrip("\n").partition(":")
            fields[name] = value.removeprefix(" ")


def test_chapter_03_server_sent_events_bring_each_message_and_resume(
    longpoll_site: StageProcesses,
) -> None:
    """Exercise 1: a stream gets each message as it is said, with its id; one that comes
    back with Last-Event-ID is caught up from the history first."""
    site, room = longpoll_site, longpoll_site.new_room()
    say(site, room, "before the stream")
    with event_stream(site, room, last_seen=None) as stream:
        say(site, room, "live")
        event = next_event(stream)
    assert event["id"] == "2" and json.loads(event["data"])["text"] == "live", (
        f"A stream opened after message 1 should hear message 2 as 'id: 2' and its JSON as "
        f"'data:', not {event}; see 03_longpoll/1_server_sent_events.diff."
    )
    with event_stream(site, room, last_seen=1) as resumed:
        caught_up = next_event(resumed)
    assert caught_up["id"] == "2", (
        f"A stream that saw message 1 last, and comes back saying so in Last-Event-ID, should "
        f"first be sent message 2 from the history, not {caught_up}."
    )


def room_counts(site: StageProcesses, room: int) -> tuple[int, int] | None:
    """What /status says of a room: its WebSockets and its waiting polls."""
    answer = chat_server_answer(site, "/status")
    assert answer.status == 200, f"/status answered {answer.status}: {answer.text[:300]}"
    for listed in answer.json()["rooms"]:
        if listed["room"] == room:
            return listed["websockets"], listed["waiting_polls"]
    return None


def counted(site: StageProcesses, room: int, expected: tuple[int, int]) -> bool:
    counts = room_counts(site, room)
    assert counts == expected, f"/status said {counts}"
    return True


def test_chapter_03_the_status_page_counts_who_is_waiting(longpoll_site: StageProcesses) -> None:
    """Exercise 3: a WebSocket and a waiting poll are counted, and forgotten as they go."""
    site, room = longpoll_site, longpoll_site.new_room()
    with (
        joined(site, room),
        closing(HTTPConnection(site.host, site.port("chatserver"), timeout=30)) as waiting,
    ):
        waiting.request("GET", f"/rooms/{room}/messages?after=0")  # waits; never read
        wait_for(
            lambda: counted(site, room, (1, 1)),
            f"/status never counted room {room}'s WebSocket and waiting poll as 1 and 1; see "
            "3_how_many_are_waiting.diff.",
        )
    wait_for(
        lambda: counted(site, room, (0, 0)),
        f"/status still counted room {room}'s WebSocket or poll after both had gone: a count "
        "must go down at once.",
    )


def latest(site: StageProcesses, room: int, last: str) -> dict[str, Any]:
    answer = chat_server_answer(site, f"/rooms/{room}/messages?last={last}")
    assert answer.status == 200, f"?last={last} answered {answer.status}: {answer.text[:300]}"
    return answer.json()


def test_chapter_03_a_poll_may_ask_for_the_latest_messages(longpoll_site: StageProcesses) -> None:
    """Exercise 4: ?last=N answers at once with the latest N, and says missed only when some
    of those are gone from the history (two messages here)."""
    site, room = longpoll_site, longpoll_site.new_room()
    say(site, room, "the only one")
    alone = latest(site, room, "20")
    say(site, room, "second")
    say(site, room, "third")

    assert [m["text"] for m in alone["messages"]] == ["the only one"], (
        f"?last=20 in a room of one message should answer that message at once: {alone}"
    )
    assert alone["missed"] is False, (
        f"A room with fewer than 20 messages has lost none of them: missed must be false, "
        f"not {alone['missed']} (4_catch_up_on_arrival.diff)."
    )
    two = latest(site, room, "2")
    assert [m["id"] for m in two["messages"]] == [2, 3] and two["cursor"] == 3, (
        f"?last=2 after three messages should answer messages 2 and 3, cursor 3: {two}"
    )
    assert two["missed"] is False, f"Messages 2 and 3 are both in the history: {two}"
    three = latest(site, room, "3")
    assert ([m["id"] for m in three["messages"]], three["missed"]) == ([2, 3], True), (
        f"message 1 is no longer in a history of two, so ?last=3 has missed it: {three}"
    )
    refused = chat_server_answer(site, f"/rooms/{room}/messages?last=many")
    assert refused.status == 400 and refused.json()["type"] == "error", (
        f"?last=many should be refused with a 400 and a JSON error, not {refused.status} "
        f"{refused.text[:200]}"
    )


@contextmanager
def tokens_taken(site: StageProcesses, room: int) -> Iterator[None]:
    """Keep this address's bucket of POSTs empty while the block runs, so that a page on
    this machine is refused however long it takes to send."""
    origin = django_origin(site)
    sender = LongPollClient(site.url("chatserver", ""), room, origin=origin, timeout=30)
    done = threading.Event()

    def take() -> None:
        while not done.wait(0.01):
            sender.send("taking a token")

    taker = threading.Thread(target=take, daemon=True)
    taker.start()
    try:
        yield
    finally:
        done.set()
        taker.join(timeout=30)


TRIES = 3
"""Messages the page may send before one is refused: each has the slimmest chance of coming
just as a token does, before the thread that takes the tokens."""


def error_line(window: WebDriver) -> str:
    return window.find_element(By.ID, "chat_error").text


def test_chapter_03_a_refused_message_is_sent_again_after_retry_after(
    longpoll_site: StageProcesses, browsers: Browsers
) -> None:
    """Exercise 5: a POST refused with 429 stays in the box, counts down and goes by itself;
    exercise 4's page opens with the room's latest messages."""
    site, room = longpoll_site, longpoll_site.new_room()
    say(site, room, "said before the page opened")
    window = chat_page.open_window(browsers, site, f"/chats/long_poll/{room}/")
    chat_page.wait_for_message(
        window,
        "said before the page opened",
        "The long-poll page did not show the room's latest message when it opened: its first "
        "poll should ask with ?last= (4_catch_up_on_arrival.diff).",
    )
    with tokens_taken(site, room):
        # A token comes every TOKEN_EVERY s, and the page may happen to take it before the
        # thread does: then its message is simply sent, and it tries with another.
        for attempt in range(1, TRIES + 1):
            text = f"patience {attempt}"
            chat_page.send(window, text)
            outcome = wait_for(
                lambda text=text: ("again in" in error_line(window) and "refused")
                or (text in chat_page.messages(window) and "sent"),
                f"{text!r} was neither shown nor refused with a countdown in the error line "
                "(#chat_error); see 5_listen_to_retry_after_when_sending_too.diff.",
            )
            if outcome == "refused":
                break
        else:
            pytest.fail(f"The page was never refused in {TRIES} tries; the thread took no token.")
    chat_page.wait_for_message(
        window,
        text,
        "A message refused with 429 was never sent again by itself once Retry-After had "
        "passed.",
        timeout=waits.MAX_WAIT + 2 * TOKEN_EVERY,  # a countdown, or two if the thread won
    )
    assert window.find_element(By.ID, "inputbox").get_attribute("value") == "", (
        "The message was sent again, but the box still holds it."
    )


@pytest.fixture(scope="module")
def one_process_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StageProcesses]:
    """single_process with chapter 04's solutions, behind a "proxy" at 127.0.0.1 (this
    machine: the checks themselves), and one POST at a time for each address."""
    settings = {"CHAT_TRUSTED_PROXY": "127.0.0.1", "CHAT_BURST": "1", "CHAT_RATE": "0.01"}
    with solved_site("single_process", tmp_path_factory.mktemp("chapter04"), settings) as site:
        yield site


def post_from(site: StageProcesses, room: int, via: str, forwarded_for: str) -> int:
    """POST a message over a connection from the local address ``via``, saying it was
    forwarded for ``forwarded_for``; the status of the answer. Every 127.x address is this
    machine, so a connection from 127.0.0.2 is one the proxy did not make."""
    body = json.dumps({"text": f"for {forwarded_for}"})
    headers = {
        "Content-Type": "application/json",
        "Origin": django_origin(site),
        "X-Forwarded-For": f"10.0.0.1, {forwarded_for}",  # the first, the client wrote
    }
    port = site.port("chatserver")
    with closing(HTTPConnection(site.host, port, timeout=30, source_address=(via, 0))) as post:
        post.request("POST", f"/rooms/{room}/messages", body=body, headers=headers)
        return post.getresponse().status


def test_chapter_04_a_trusted_proxy_names_the_client(one_process_site: StageProcesses) -> None:
    """Exercise 3: behind the proxy, each client has a bucket of its own and the log shows
    it; anyone else's X-Forwarded-For is not believed."""
    site, room = one_process_site, one_process_site.new_room()
    posted = [
        post_from(site, room, "127.0.0.1", "192.0.2.1"),
        post_from(site, room, "127.0.0.1", "192.0.2.1"),
        post_from(site, room, "127.0.0.1", "192.0.2.2"),
    ]
    assert posted == [201, 429, 201], (
        f"Three POSTs through the proxy, for 192.0.2.1 twice and then 192.0.2.2, with one "
        f"message allowed each, were answered {posted}: the rate limit should count each "
        "client, by the last address in X-Forwarded-For (3_a_trusted_proxy.diff)."
    )
    page = http.request(site.url("django", "/chats/"), headers={"X-Forwarded-For": "192.0.2.5"})
    assert page.status == 200, f"/chats/ through the proxy answered {page.status}"
    for client, request in (("192.0.2.1", "POST /rooms/"), ("192.0.2.5", "GET /chats/")):
        wait_for(
            lambda client=client, request=request: any(
                f'"{client}"' in line and request in line
                for line in site.log_text("site").splitlines()
            ),
            f"The log has no line for {request}... naming the client, {client}, not the proxy "
            f"(the server's log: {site.log_path('site')}).",
        )
    # Not from the proxy: whatever X-Forwarded-For says, it is 127.0.0.2 that sends.
    spoofed = [
        post_from(site, room, "127.0.0.2", "192.0.2.3"),
        post_from(site, room, "127.0.0.2", "192.0.2.4"),
    ]
    assert spoofed == [201, 429], (
        f"Two POSTs from 127.0.0.2, which is not CHAT_TRUSTED_PROXY, claiming two clients, "
        f"were answered {spoofed}: only the trusted proxy's X-Forwarded-For may be believed."
    )


def says_why(window: WebDriver) -> bool:
    text = window.find_element(By.ID, "connection_state").text
    assert text.startswith("The chat server is stopping. Reconnecting"), f"it said {text!r}"
    return True


def test_chapter_04_the_status_line_says_why_the_server_closed(
    one_process_site: StageProcesses, browsers: Browsers
) -> None:
    """Exercise 5: the close frame's reason shows while the page reconnects, and goes once
    it is back."""
    site = one_process_site
    window = chat_page.open_window(browsers, site, f"/chats/{site.new_room()}/")
    try:
        site.stop_process("chatserver", signal.SIGTERM)
        wait_for(
            lambda: says_why(window),
            "After SIGTERM the page's status line did not give the server's reason and say it "
            "reconnects; see 04_single_process/5_say_why.diff.",
        )
    finally:
        site.start_process("chatserver")
    chat_page.wait_until_connected(window, timeout=chat_page.RECONNECT_WAIT)
    shown = window.find_element(By.ID, "connection_state").text
    assert shown == "Connected", (
        f"Back on the restarted server, the page's status line says {shown!r}: the reason "
        "belongs to the close it came with, and goes with the next welcome."
    )


@pytest.fixture(scope="module")
def auth_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StageProcesses]:
    with solved_site("auth", tmp_path_factory.mktemp("chapter05"), {}) as site:
        yield site


def heard_until(chat: ChatConnection, last: Callable[[JSON], bool]) -> list[JSON]:
    """Every message the connection gets, whatever its type, up to the first for which
    ``last`` is true: the checks' own reading passes over types they do not know."""
    heard: list[JSON] = []
    while not (heard and last(heard[-1])):
        try:
            heard.append(json.loads(chat.connection.recv(timeout=chat.timeout)))
        except TimeoutError:
            raise AssertionError(f"Waited {chat.timeout:g} s; the socket heard {heard}") from None
    return heard


def line(text: str) -> Callable[[JSON], bool]:
    return lambda message: message.get("type") == "message" and message["text"] == text


def presence_in(heard: list[JSON]) -> list[tuple[str, str]]:
    """Who joined or left, as (person, event), in the messages heard."""
    return [(m["person"], m["event"]) for m in heard if m.get("type") == "presence"]


def test_chapter_05_presence_counts_people_not_tabs(auth_site: StageProcesses) -> None:
    """Exercise 1: a newcomer hears who is here; the others hear of a person's first tab and
    their last, and of nothing in between. A step's news is sent before a line of chat
    that follows it, so reading up to that line reads all of it."""
    site, room = auth_site, auth_site.new_room()
    alice, bob = people.ALICE, people.BOB
    with ExitStack() as stack:
        first_tab = stack.enter_context(joined(site, room, alice))
        bobs_tab = stack.enter_context(joined(site, room, bob))
        first_tab.send_json({"text": "bob came"})
        assert presence_in(heard_until(first_tab, line("bob came"))) == [(bob, "joined")]
        newcomer = heard_until(bobs_tab, line("bob came"))
        assert newcomer[0] == {"type": "people", "room": room, "people": [alice, bob]}, (
            f"Bob, arriving, should first hear who is here, Alice and himself: {newcomer}"
        )
        with joined(site, room, alice) as second_tab:
            first_tab.connection.close()  # returns once the server has closed it
            second_tab.send_json({"text": "alice moved tabs"})
            heard = presence_in(heard_until(bobs_tab, line("alice moved tabs")))
            assert heard == [], f"Alice kept a tab open throughout, yet Bob heard {heard}"
        last = heard_until(bobs_tab, lambda message: message.get("type") == "presence")
        assert presence_in(last) == [(alice, "left")], (
            f"Alice closed her last tab, and Bob heard {last}; see 05_auth/1_who_is_here.diff."
        )


def test_chapter_05_the_welcome_says_who_you_are_and_the_page_marks_yours(
    auth_site: StageProcesses, browsers: Browsers
) -> None:
    """Exercise 4: "you" in the welcome, and only your own messages marked on the page."""
    site, room = auth_site, auth_site.new_room()
    window = chat_page.open_window(browsers, site, f"/chats/{room}/", people.ALICE)
    with joined(site, room, people.BOB) as bob:
        assert bob.welcome.get("you") == people.BOB, f"Bob's welcome: {bob.welcome}"
        bob.send_json({"text": "from bob"})
        chat_page.send(window, "from alice")
        chat_page.wait_for_message(window, "from alice", "Alice's own message never showed.")
        chat_page.wait_for_message(window, "from bob", "Bob's message never reached Alice.")
    mine = chat_page.read_all(window, "#message_list li.mine .text")
    assert mine == ["from alice"], (
        f"Alice's page marked {mine} as hers; it should mark her message alone, by comparing "
        "each author with the welcome's 'you' (05_auth/4_show_who_you_are.diff)."
    )


def test_chapter_07_an_address_may_hold_only_so_many_websockets(tmp_path: Path) -> None:
    """Exercise 5: with CHAT_MAX_SOCKETS=2, a third is refused with 429; refused handshakes
    leave the count as it was, and a socket that closes makes room at once."""
    with solved_site("twisted_websocket", tmp_path, {"CHAT_MAX_SOCKETS": "2"}) as site:
        room, origin = site.new_room(), django_origin(site)

        def status(room_id: int) -> int:
            return handshake_status(room_url(site, room_id), origin=origin, timeout=30)

        with joined(site, room):
            for _ in range(3):
                refused = status(999999)
                assert refused == 404, (
                    f"A handshake to a room Django lacks was answered {refused}, not 404, with "
                    "one WebSocket open and CHAT_MAX_SOCKETS=2: the count leaks when a "
                    "handshake is refused after it was counted. Count it down there too."
                )
            with joined(site, room):
                third = status(room)
                assert third == 429, (
                    f"A third WebSocket from one address was answered {third}, not 429, with "
                    f"CHAT_MAX_SOCKETS=2. The server's last lines:\n"
                    f"{tail(site.log_text('chatserver'))}"
                )
            wait_for(
                lambda: status(room) == 101,
                "Once one of two WebSockets had closed, another was still refused: count "
                "down in connectionLost, and after every refusal that follows the count.",
            )
