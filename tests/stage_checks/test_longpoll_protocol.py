"""Part 3's long-poll API inside the test process: cursors, waiting, limits, errors, CORS.

Requests reach the stage's own Site (``chatserver.web.ChatSite``) through in-memory
transports, the room lookup is a fake whose answers the checks decide, and time is a
``task.Clock``. So a parked poll simply has no answer yet, and a check can move the clock
to its timeout, close its connection, or send a message to wake it, and see at once what
the server wrote.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from twisted.internet import task
from twisted.internet.testing import MemoryReactorClock
from twisted.web.server import Site

from harness.fakes import ORIGIN, FakeRooms, chat_factory, chat_site
from harness.memory_http import Answer, Exchange, MemoryHTTP, request_bytes
from harness.protocol import known_fields, message_fields
from harness.wsclient import MemoryClient

pytestmark = pytest.mark.needs("longpoll")

JSON_TYPE = "application/json"

CAP_HINT = (
    "With CHAT_MAX_PARKED polls already waiting in the room, turn the next one away at once "
    "with 503 too_many_waiting and a Retry-After header."
)
WAKE_HINT = (
    "A new message in the room should answer every poll waiting there: answer the room's "
    "parked polls from broadcast() in the factory, which WebSocket and POST messages share."
)


# -- the server under test ---------------------------------------------------------------


@dataclass
class LongPollServer:
    """The stage's chat server in this process, reached over HTTP and WebSocket in memory."""

    factory: Any
    site: Site
    clock: task.Clock
    rooms: FakeRooms
    http: MemoryHTTP
    sockets: list[MemoryClient] = field(default_factory=list)

    def path(self, room: int | str, after: int | str | None = None) -> str:
        query = "" if after is None else f"?after={after}"
        return f"/rooms/{room}/messages{query}"

    def poll(self, room: int, after: int | str | None = None, **options: Any) -> Exchange:
        return self.http.get(self.path(room, after), **options)

    def post(self, room: int, text: str, **options: Any) -> Exchange:
        return self.http.post_json(self.path(room), {"text": text}, **options)

    def say(self, room: int, count: int, prefix: str = "line") -> list[dict[str, Any]]:
        """Post ``count`` messages, a second apart (so no rate limit bites); return them."""
        sent = []
        for number in range(1, count + 1):
            answer = expect(self.post(room, f"{prefix} {number}"), 201, f"posting {prefix}")
            sent.append(answer.json())
            self.clock.advance(1)
        return sent

    def join(self, room: int) -> MemoryClient:
        """A WebSocket client in ``room`` that has read its welcome message."""
        client = MemoryClient(self.site, f"/ws/{room}", origin=ORIGIN)
        self.sockets.append(client)
        assert client.status == 101, (
            f"A WebSocket to /ws/{room} got HTTP {client.status}, not 101. Part 3 must keep "
            "part 2's WebSocket endpoint working beside the long-poll API."
        )
        client.new_messages()  # the welcome
        return client

    def stop(self) -> None:
        self.http.close_all()
        for client in self.sockets:
            client.disconnect()


@pytest.fixture
def make_server(
    chatserver_code: SimpleNamespace, stage_features: frozenset[str]
) -> Iterator[Callable[..., LongPollServer]]:
    """Build servers with ``make_server(settings={"CHAT_POLL_PAGE": "3"}, rooms=(1, 2))``."""
    made: list[LongPollServer] = []

    def make(
        *,
        settings: Mapping[str, str] | None = None,
        rooms: tuple[int, ...] = (1, 2),
        short_texts: bool = True,
    ) -> LongPollServer:
        factory, clock, fake_rooms = chat_factory(
            chatserver_code, settings, rooms, short_texts=short_texts
        )
        site = chat_site(chatserver_code, factory, "single_process" in stage_features)
        site.reactor = MemoryReactorClock()  # connection timeouts on a clock of our own
        server = LongPollServer(factory, site, clock, fake_rooms, MemoryHTTP(site, ORIGIN))
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., LongPollServer]) -> LongPollServer:
    """A server with the default settings (text limit 20) where rooms 1 and 2 exist."""
    return make_server()


def expect(exchange: Exchange, status: int, what: str, hint: str | None = None) -> Answer:
    """The answer to ``what``, which must have come with ``status``, as uncacheable JSON.

    ``hint`` says what to check if there is no answer at all.
    """
    answer = exchange.answered(what, hint)
    assert answer.status == status, (
        f"{what} was answered with HTTP {answer.status} {answer.body[:200]!r}, not {status}."
    )
    if status != 204:
        content_type = answer.headers.get("content-type", "")
        assert content_type.startswith(JSON_TYPE) and "utf-8" in content_type.lower(), (
            f"{what} was answered with Content-Type {content_type!r}; every answer of the "
            "long-poll API is JSON: application/json; charset=utf-8."
        )
    assert answer.headers.get("cache-control") == "no-store", (
        f"{what} was answered without Cache-Control: no-store, so a browser or proxy may "
        "keep it and give it again later, when it is no longer news."
    )
    return answer


def expect_error(
    exchange: Exchange, status: int, code: str, what: str, hint: str | None = None
) -> dict[str, Any]:
    """An error answer: ``status``, and a JSON body with ``code`` and a plain-words detail."""
    answer = expect(exchange, status, what, hint)
    error = answer.json()
    assert isinstance(error, dict) and error.get("type") == "error", (
        f'{what} should be answered with {{"type": "error", "code": ..., "detail": ...}}, '
        f"not {error}."
    )
    assert error.get("code") == code, (
        f"{what} should be answered with error code {code!r}, not {error.get('code')!r}."
    )
    assert isinstance(error.get("detail"), str) and error["detail"].strip(), (
        f"The error {error} needs a 'detail' saying in plain words what was wrong."
    )
    return error


def poll_answer(exchange: Exchange, what: str, hint: str | None = None) -> dict[str, Any]:
    """A successful poll's answer: room, messages, cursor and missed, checked for shape."""
    answer = expect(exchange, 200, what, hint).json()
    assert isinstance(answer, dict) and set(answer) >= {"room", "messages", "cursor", "missed"}, (
        f'{what} should be answered with {{"room": ..., "messages": [...], "cursor": ..., '
        f'"missed": ...}}, not {answer}.'
    )
    return answer


def ids(answer: dict[str, Any]) -> list[Any]:
    return [message.get("id") for message in answer["messages"]]


def texts(messages: list[dict[str, Any]]) -> list[Any]:
    return [message.get("text") for message in messages if message.get("type") == "message"]


# -- settings --------------------------------------------------------------------------------


def test_the_default_limits_are_the_documented_ones(
    make_server: Callable[..., LongPollServer], stage_features: frozenset[str]
) -> None:
    server = make_server()
    sent = server.say(1, 120)
    first = poll_answer(server.poll(1, 0), "a poll from the start of a room with 120 messages")
    if "memory_only" in stage_features:
        assert ids(first) == list(range(21, 71)) and first["missed"] is True, (
            "With CHAT_HISTORY and CHAT_POLL_PAGE unset, a room keeps its last 100 messages "
            "and a poll gets at most 50: after 120 messages, ?after=0 should bring messages 21 "
            f"to 70 with missed: true, not ids {ids(first)} with missed: {first['missed']}."
        )
        assert first["messages"] == sent[20:70]
    else:  # the database keeps them all (chapter 06)
        assert ids(first) == list(range(1, 51)) and first["missed"] is False, (
            "With CHAT_POLL_PAGE unset a poll gets at most 50 messages, and the database keeps "
            "every one: after 120 messages, ?after=0 should bring messages 1 to 50 with "
            f"missed: false, not ids {ids(first)} with missed: {first['missed']}."
        )
        assert first["messages"] == sent[:50]

    parked = [server.poll(1, 120) for _ in range(100)]
    assert all(poll.answer is None for poll in parked), (
        "A poll with nothing new should wait for the next message, not be answered at once."
    )
    expect_error(server.poll(1, 120), 503, "too_many_waiting", "a 101st waiting poll", CAP_HINT)
    server.clock.advance(24.9)
    assert all(poll.answer is None for poll in parked), (
        "A waiting poll was answered before 25 s had passed; CHAT_POLL_TIMEOUT defaults to 25."
    )
    server.clock.advance(0.1)
    assert all(poll.answer is not None for poll in parked), (
        "After CHAT_POLL_TIMEOUT (default 25 s) a waiting poll should be answered."
    )


# -- the cursor ------------------------------------------------------------------------------


def test_a_poll_without_a_cursor_starts_from_now(server: LongPollServer) -> None:
    fresh = poll_answer(server.poll(1), "GET /rooms/1/messages in a room where nobody spoke")
    from_now = {"room": 1, "messages": [], "cursor": 0, "missed": False}
    assert known_fields(fresh, from_now) == from_now, (
        f"A first poll (no ?after=) in an empty room should be answered at once with "
        f'{{"room": 1, "messages": [], "cursor": 0, "missed": false}}, not {fresh}.'
    )
    server.say(1, 3)
    later = poll_answer(server.poll(1), "GET /rooms/1/messages after 3 messages")
    assert (later["messages"], later["cursor"], later["missed"]) == ([], 3, False), (
        "A newcomer starts from now, like a WebSocket client: without ?after= the answer has "
        f"no messages and the room's last id (3) as its cursor, not {later}."
    )


def test_newer_messages_come_at_once_oldest_first(server: LongPollServer) -> None:
    watcher = server.join(1)
    sent = server.say(1, 4)
    answer = poll_answer(server.poll(1, 1), "a poll after message 1 of 4")
    assert ids(answer) == [2, 3, 4] and answer["cursor"] == 4 and answer["missed"] is False, (
        f"?after=1 in a room with messages 1 to 4 should bring 2, 3, 4 with cursor 4 and "
        f"missed: false, not ids {ids(answer)}, cursor {answer['cursor']}, missed "
        f"{answer['missed']}."
    )
    assert answer["messages"] == sent[1:] == watcher.new_messages()[1:], (
        "A poll should return the very message objects WebSocket clients got (type, id, room, "
        "text, sent), kept in the room's history."
    )


def test_a_long_backlog_comes_a_page_at_a_time(make_server: Callable[..., LongPollServer]) -> None:
    server = make_server(settings={"CHAT_POLL_PAGE": "3"})
    server.say(1, 7)
    first = poll_answer(server.poll(1, 0), "a poll from the start of a room with 7 messages")
    assert ids(first) == [1, 2, 3], (
        f"With CHAT_POLL_PAGE=3, a poll from the start of a room with 7 messages should bring "
        f"only messages 1 to 3, not {ids(first)}: at most CHAT_POLL_PAGE messages an answer."
    )
    pages, cursor = [ids(first)], first["cursor"]
    for _ in range(2):
        answer = poll_answer(server.poll(1, cursor), f"a poll after message {cursor}")
        pages.append(ids(answer))
        cursor = answer["cursor"]
    assert pages == [[1, 2, 3], [4, 5, 6], [7]] and cursor == 7, (
        "With CHAT_POLL_PAGE=3 and 7 messages, polling from 0 and then from each answer's "
        f"cursor should bring [1, 2, 3], [4, 5, 6], [7]; it brought {pages}, ending at "
        f"cursor {cursor}."
    )
    assert server.poll(1, 7).answer is None, "With nothing left, the next poll should wait."


@pytest.mark.needs("memory_only")  # from chapter 06 on, the database keeps every message
def test_the_history_keeps_only_the_latest_messages(
    make_server: Callable[..., LongPollServer],
) -> None:
    server = make_server(settings={"CHAT_HISTORY": "5"})
    server.say(1, 8)
    for cursor, missed in [(0, True), (2, True), (3, False)]:
        answer = poll_answer(server.poll(1, cursor), f"a poll after message {cursor} of 8")
        assert ids(answer) == [4, 5, 6, 7, 8] and answer["missed"] is missed, (
            f"With CHAT_HISTORY=5, a room keeps messages 4 to 8 of 8. ?after={cursor} should "
            f"bring those with missed: {str(missed).lower()} (messages 1 to {cursor} were "
            f"seen, {'some newer are' if missed else 'none newer is'} gone), not ids "
            f"{ids(answer)} with missed: {answer['missed']}. Keep the history in a "
            "deque(maxlen=CHAT_HISTORY)."
        )


def test_a_cursor_the_room_has_not_reached_brings_the_whole_history(
    server: LongPollServer,
) -> None:
    server.say(1, 2)
    answer = poll_answer(server.poll(1, 50), "?after=50 in a room whose last id is 2")
    assert ids(answer) == [1, 2] and answer["missed"] is True and answer["cursor"] == 2, (
        "A cursor beyond the room's last id means the chat server restarted and ids began "
        "again; answer at once with the whole history and missed: true. Got ids "
        f"{ids(answer)}, cursor {answer['cursor']}, missed {answer['missed']}."
    )
    empty = poll_answer(server.poll(2, 9), "?after=9 in a room where nobody has spoken")
    assert (empty["messages"], empty["missed"], empty["cursor"]) == ([], True, 0), (
        "After a restart, a room nobody has spoken in yet should answer ?after=9 at once with "
        "no messages, missed: true, and cursor 0, so the client asks from 0 next instead of "
        f"repeating 9 for ever; got {empty}."
    )


# -- waiting ---------------------------------------------------------------------------------


def test_a_waiting_poll_is_answered_by_the_next_message(server: LongPollServer) -> None:
    server.say(1, 2)
    talker = server.join(1)
    timers = set(server.clock.getDelayedCalls())  # the WebSocket's own (pings), if any
    waiting = server.poll(1, 2)
    assert waiting.answer is None, (
        "?after=2 in a room whose last message is 2 has nothing to give: it should wait "
        f"(render returns NOT_DONE_YET), but was answered at once: {waiting.answer}."
    )
    talker.send_json({"text": "wake up"})
    answer = poll_answer(waiting, "A poll waiting when a WebSocket message came", WAKE_HINT)
    assert (texts(answer["messages"]), ids(answer), answer["cursor"]) == (["wake up"], [3], 3), (
        "A message sent over WebSocket should answer the room's waiting polls with it; the "
        f"poll got {answer}. Answer the room's parked polls from broadcast() in the factory."
    )
    assert set(server.clock.getDelayedCalls()) <= timers, (
        "A poll answered by a message still has its timeout scheduled. Cancel the callLater "
        "when the poll is answered."
    )


def test_polls_woken_together_share_one_encoded_answer(
    make_server: Callable[..., LongPollServer],
    chatserver_code: SimpleNamespace,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def encodings_for_one_message(waiting: int) -> tuple[int, set[bytes]]:
        server = make_server(settings={"CHAT_MAX_PARKED": "100"})
        server.say(1, 1)
        polls = [server.poll(1, 1) for _ in range(waiting)]
        calls = []
        original = chatserver_code.messages.encode
        monkeypatch.setattr(
            chatserver_code.messages, "encode", lambda m: calls.append(m) or original(m)
        )
        server.join(1).send_json({"text": "news for everyone"})
        monkeypatch.setattr(chatserver_code.messages, "encode", original)
        bodies = {poll_answered.body for poll_answered in (p.answered("a poll") for p in polls)}
        return len(calls), bodies

    few, few_bodies = encodings_for_one_message(2)
    many, many_bodies = encodings_for_one_message(40)
    assert len(few_bodies) == len(many_bodies) == 1, "polls on one cursor got different answers"
    assert many == few, (
        f"One message encoded {few} times with 2 polls waiting but {many} times with 40: every "
        "poll's answer is encoded separately. Encode each different answer once when "
        "answering a room's polls, and give every poll on that cursor the same bytes."
    )


def test_a_waiting_poll_times_out_with_nothing_and_the_same_cursor(
    make_server: Callable[..., LongPollServer],
) -> None:
    server = make_server(settings={"CHAT_POLL_TIMEOUT": "10"})
    server.say(1, 3)
    waiting = server.poll(1, 3)
    server.clock.advance(9.9)
    assert waiting.answer is None, "With CHAT_POLL_TIMEOUT=10, a poll was answered before 10 s."
    server.clock.advance(0.1)
    answer = poll_answer(waiting, "a poll after CHAT_POLL_TIMEOUT passed")
    timed_out = {"room": 1, "messages": [], "cursor": 3, "missed": False}
    assert known_fields(answer, timed_out) == timed_out, (
        "A poll that waited CHAT_POLL_TIMEOUT seconds should be answered with "
        f'{{"room": 1, "messages": [], "cursor": 3, "missed": false}}, not {answer}.'
    )
    expect(server.post(1, "after the timeout"), 201, "a message after a poll timed out")


def test_a_client_that_goes_away_stops_waiting(make_server: Callable[..., LongPollServer]) -> None:
    server = make_server(settings={"CHAT_MAX_PARKED": "2"})
    leaving = [server.poll(1, 0), server.poll(1, 0)]
    for exchange in leaving:
        exchange.disconnect()
    assert server.clock.getDelayedCalls() == [], (
        "Two polls whose clients went away still have their timeouts scheduled. Remove a "
        "parked poll, and cancel its timeout, in an errback on request.notifyFinish()."
    )
    staying = [server.poll(1, 0), server.poll(1, 0)]
    assert all(exchange.answer is None for exchange in staying), (
        "With CHAT_MAX_PARKED=2, two polls whose clients had gone away still counted as "
        "waiting, and new polls were turned away. Forget a poll when its client leaves."
    )
    expect(server.post(1, "hello"), 201, "a message to a room where clients left")
    assert all(ids(poll_answer(e, "a waiting poll")) == [1] for e in staying)


def test_a_room_with_too_many_waiting_polls_says_when_to_retry(
    make_server: Callable[..., LongPollServer],
) -> None:
    server = make_server(settings={"CHAT_MAX_PARKED": "2"})
    waiting = [server.poll(1, 0), server.poll(1, 0)]
    refused = server.poll(1, 0)
    expect_error(
        refused, 503, "too_many_waiting", "a third waiting poll with CHAT_MAX_PARKED=2", CAP_HINT
    )
    retry_after = refused.answered("the third poll").headers.get("retry-after", "")
    assert retry_after.isdigit() and int(retry_after) > 0, (
        "A poll turned away from a full room needs a Retry-After header with the whole "
        f"seconds to wait, not {retry_after!r}."
    )
    assert server.poll(2, 0).answer is None, "CHAT_MAX_PARKED counts per room, not overall."
    expect(server.post(1, "free them"), 201, "a message to the full room")
    assert all(poll_answer(e, "a waiting poll")["messages"] for e in waiting)
    assert server.poll(1, 1).answer is None, (
        "Once the waiting polls were answered, a new poll in the room should wait again."
    )


def test_stopping_the_server_answers_every_waiting_poll(
    server: LongPollServer, chatserver_code: SimpleNamespace
) -> None:
    server.say(1, 2)
    waiting = [server.poll(1, 2), server.poll(1, 2), server.poll(2, 0)]
    service = chatserver_code.longpoll.LongPollService(server.factory)
    service.startService()
    stopped = service.stopService()
    server.clock.advance(0)
    for exchange, (room, cursor) in zip(waiting, [(1, 2), (1, 2), (2, 0)], strict=True):
        answer = poll_answer(exchange, "a waiting poll when the server stopped")
        unchanged = {"room": room, "messages": [], "cursor": cursor, "missed": False}
        assert known_fields(answer, unchanged) == unchanged, (
            "When the chat server stops, every waiting poll should be answered with no "
            f"messages and its cursor unchanged ({cursor}), not {answer}. Answer them in "
            "LongPollService.stopService."
        )
    if stopped is not None:
        assert stopped.called, (
            "LongPollService.stopService returned a Deferred that had not fired after a turn "
            "of the clock; twistd would wait for it for ever."
        )
    assert server.clock.getDelayedCalls() == [], "The answered polls' timeouts are still set."


# -- one broadcast for both kinds of client --------------------------------------------------


def test_a_posted_message_reaches_websockets_and_waiting_polls_in_its_room_only(
    server: LongPollServer, stage_features: frozenset[str]
) -> None:
    in_room, elsewhere = server.join(1), server.join(2)
    waiting, waiting_elsewhere = server.poll(1, 0), server.poll(2, 0)
    posted = expect(server.post(1, "over http"), 201, "a POST to room 1").json()
    assert isinstance(posted, dict) and message_fields(stage_features) <= set(posted), (
        "A successful POST should be answered 201 with the message as everyone receives it "
        f'({{"type": "message", "id": ..., "room": ..., "text": ..., "sent": ...}}), not {posted}.'
    )
    assert (posted["type"], posted["id"], posted["room"], posted["text"]) == (
        "message",
        1,
        1,
        "over http",
    )
    assert in_room.new_messages() == [posted], (
        "A message posted over HTTP never reached the WebSocket client in the same room; "
        "check that POST goes through the same broadcast as WebSocket messages."
    )
    assert poll_answer(waiting, "A poll waiting when a POST came", WAKE_HINT)["messages"] == [
        posted
    ], "A message posted over HTTP did not answer the poll waiting in its room with it."
    assert elsewhere.new_messages() == [] and waiting_elsewhere.answer is None, (
        "A message posted to room 1 reached a client of room 2."
    )


@pytest.mark.needs("autobahn")
def test_a_posted_message_is_framed_once_for_all_websocket_clients(
    server: LongPollServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [server.join(1), server.join(1)]
    prepared: list[object] = []
    real_prepare = server.factory.prepareMessage

    def prepare(*args: Any, **kwargs: Any) -> object:
        prepared.append(args)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(server.factory, "prepareMessage", prepare)
    expect(server.post(1, "over http"), 201, "a POST to room 1")
    assert len(prepared) == 1, "A posted message should be framed once for all WebSocket clients."
    assert all(texts(client.new_messages()) == ["over http"] for client in clients)


def test_websocket_and_http_messages_share_one_sequence_of_ids(server: LongPollServer) -> None:
    socket_client = server.join(1)
    socket_client.send_json({"text": "from a socket"})
    expect(server.post(1, "from http"), 201, "a POST after a WebSocket message")
    socket_client.send_json({"text": "socket again"})
    answer = poll_answer(server.poll(1, 0), "a poll from the start of the room")
    seen = [(message["id"], message["text"]) for message in answer["messages"]]
    assert seen == [(1, "from a socket"), (2, "from http"), (3, "socket again")], (
        "Messages from WebSocket and HTTP should share the room's ids and history, in the "
        f"order they were sent; a poll from 0 saw {seen}."
    )
    assert texts(socket_client.new_messages()) == ["from a socket", "from http", "socket again"]


# -- what a poll may ask -------------------------------------------------------------------


@pytest.mark.parametrize("cursor", ["x", "-1", "1.5", "1e3", "%201", "", "1" * 19, "0x1"])
def test_a_cursor_that_is_not_a_message_id_is_refused(server: LongPollServer, cursor: str) -> None:
    expect_error(server.poll(1, cursor), 400, "invalid_cursor", f"a poll with ?after={cursor}")


@pytest.mark.parametrize(
    "path",
    [
        "/rooms/abc/messages",
        "/rooms/0/messages",
        "/rooms/-1/messages",
        "/rooms/1.5/messages",
        "/rooms/%31/messages",
        "/rooms/" + "1" * 40 + "/messages",
        "/rooms/1/messages/",
        "/rooms/1/messages/more",
        "/rooms/1",
        "/rooms",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_path_that_does_not_name_a_room_is_404(
    server: LongPollServer, path: str, method: str
) -> None:
    if method == "GET":
        exchange = server.http.get(path + "?after=0")
    else:
        exchange = server.http.post_json(path, {"text": "hello"})
    expect_error(exchange, 404, "no_such_room", f"{method} {path}")
    assert server.rooms.asked == [], (
        f"For {path} the server asked the database about room {server.rooms.asked}; room ids "
        "follow the same rules as for /ws/: check their form first."
    )


def test_a_room_that_django_does_not_have_is_404(server: LongPollServer) -> None:
    expect_error(server.poll(3, 0), 404, "no_such_room", "a poll in room 3, which does not exist")
    expect_error(server.post(3, "hi"), 404, "no_such_room", "a POST to room 3")
    assert 3 in server.rooms.asked, "The server should ask factory.room_exists(3) about room 3."


def test_a_room_already_known_is_not_looked_up_again(server: LongPollServer) -> None:
    poll_answer(server.poll(1), "a first poll in room 1")
    server.say(1, 2)
    poll_answer(server.poll(1, 0), "a later poll in room 1")
    assert server.rooms.asked == [1], (
        f"Room 1 was looked up {len(server.rooms.asked)} times. A room in factory.rooms is "
        "known to exist: only ask the database about rooms the server does not have yet."
    )


def test_a_handshake_to_a_room_already_known_is_not_looked_up_again(
    server: LongPollServer,
) -> None:
    server.join(1)
    server.join(1)
    poll_answer(server.poll(1), "a first poll in room 1")
    assert server.rooms.asked == [1], (
        f"Room 1 was looked up {len(server.rooms.asked)} times for two WebSocket handshakes "
        "and a poll. Let onConnect use factory.find_room, as the long-poll API does: a room "
        "in factory.rooms is known to exist."
    )


def test_a_crowd_arriving_in_a_new_room_costs_one_lookup(server: LongPollServer) -> None:
    server.rooms.hold()
    sockets = [MemoryClient(server.site, "/ws/1", origin=ORIGIN) for _ in range(5)]
    polls = [server.poll(1, 0) for _ in range(3)]
    server.sockets.extend(sockets)
    assert server.rooms.asked == [1], (
        f"While Django was being asked about room 1, {len(server.rooms.asked)} more questions "
        "about it went out. In find_room, let everyone who asks about a room being looked up "
        "wait for the same answer."
    )
    server.rooms.answer()
    assert all(client.status == 101 for client in sockets), "not every handshake was let in"
    assert all(exchange.answer is None for exchange in polls), "the polls should now wait"


def test_a_crowd_waiting_for_a_failed_lookup_is_told_so(server: LongPollServer) -> None:
    server.rooms.hold()
    sockets = [MemoryClient(server.site, "/ws/1", origin=ORIGIN) for _ in range(3)]
    poll = server.poll(1, 0)
    server.sockets.extend(sockets)
    server.rooms.fail(RuntimeError("the database is down"))
    assert all(client.status is not None and client.status >= 500 for client in sockets)
    assert poll.answered("a poll whose shared room lookup failed").status == 503


def test_a_poll_waits_for_the_room_lookup_and_a_client_that_leaves_meanwhile_is_forgotten(
    make_server: Callable[..., LongPollServer],
) -> None:
    server = make_server(settings={"CHAT_MAX_PARKED": "1"})
    server.rooms.hold()
    leaving, staying = server.poll(1, 0), server.poll(1, 0)
    assert leaving.answer is None and staying.answer is None
    leaving.disconnect()
    server.rooms.answer()
    assert staying.answer is None, (
        f"With CHAT_MAX_PARKED=1, a client that left while its room was looked up took the "
        f"only place: the remaining poll was answered {staying.answer}. Cancel the lookup "
        "when request.notifyFinish() fails."
    )


def test_when_rooms_cannot_be_looked_up_the_answer_is_503(server: LongPollServer) -> None:
    server.rooms.hold()
    exchange = server.poll(1, 0)
    server.rooms.fail(RuntimeError("the database is down"))
    answer = exchange.answered("a poll whose room lookup failed")
    assert answer.status == 503 and answer.json().get("type") == "error", (
        f"When room_exists fails, answer 503 with a JSON error, not {answer.status} "
        f"{answer.body[:100]!r}."
    )


# -- what a POST may send --------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type", [None, "text/plain", "application/x-www-form-urlencoded", "application/jsonx"]
)
def test_a_post_that_is_not_json_is_415(server: LongPollServer, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    exchange = server.http.request("POST", server.path(1), headers=headers, body=b'{"text": "hi"}')
    expect_error(
        exchange, 415, "unsupported_media_type", f"a POST with Content-Type {content_type}"
    )


def test_json_with_a_charset_is_fine(server: LongPollServer) -> None:
    exchange = server.http.request(
        "POST",
        server.path(1),
        headers={"Content-Type": "application/json; charset=utf-8"},
        body='{"text": "héllo"}'.encode(),
    )
    assert expect(exchange, 201, "a POST with charset=utf-8").json()["text"] == "héllo"


def test_a_post_without_a_content_length_is_411(server: LongPollServer) -> None:
    exchange = server.http.request("POST", server.path(1), headers={"Content-Type": JSON_TYPE})
    expect_error(exchange, 411, "length_required", "a POST without Content-Length")


def test_a_body_sent_in_chunks_is_refused_before_it_arrives(server: LongPollServer) -> None:
    headers = {"Content-Type": JSON_TYPE, "Transfer-Encoding": "chunked"}
    exchange = server.http.request("POST", server.path(1), headers=headers)
    expect_error(
        exchange,
        411,
        "length_required",
        "The headers of a POST whose body comes in chunks",
        "Refuse a body without a Content-Length in gotLength (its length is None there), in "
        "a Request subclass given to the Site as its requestFactory, before the body is read.",
    )
    assert exchange.closed, "After refusing a body, close the connection: it will not be read."


@pytest.mark.parametrize("expect_continue", [False, True], ids=["plain", "expect-100-continue"])
def test_a_body_over_the_byte_limit_is_refused_before_it_arrives(
    server: LongPollServer, expect_continue: bool
) -> None:
    headers = {"Content-Type": JSON_TYPE, "Content-Length": "8193"}
    if expect_continue:
        headers["Expect"] = "100-continue"
    exchange = server.http.request("POST", server.path(1), headers=headers)
    answer = exchange.answer
    assert answer is not None, (
        "Headers announcing a 8193-byte body (CHAT_MAX_BYTES is 8192) got no answer; the "
        "server is waiting to read the body. Refuse it in gotLength, in a Request subclass "
        "given to the Site as its requestFactory, before the body is read."
    )
    assert answer.status == 413, (
        f"An announced body over CHAT_MAX_BYTES should be refused with 413, not "
        f"{answer.status} (a client sending Expect: 100-continue must not be told to go on)."
    )
    expect_error(exchange, 413, "too_large", "headers announcing an oversized body")
    assert exchange.closed, "After refusing a body, close the connection: it will not be read."


def test_a_body_of_exactly_the_byte_limit_is_accepted(server: LongPollServer) -> None:
    body = b'{"text": "just fits"}'
    body = body[:-1] + b" " * (8192 - len(body)) + b"}"
    exchange = server.http.request(
        "POST", server.path(1), headers={"Content-Type": JSON_TYPE}, body=body
    )
    expect(exchange, 201, "a POST of exactly CHAT_MAX_BYTES (8192) bytes")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b"hello", "invalid_json", id="not-json"),
        pytest.param(b"[" * 5000, "invalid_json", id="nested-too-deep"),
        pytest.param(b"\xff\xfe", "invalid_json", id="not-utf8"),
        pytest.param(b'["hello"]', "not_an_object", id="array"),
        pytest.param(b'{"message": "hello"}', "missing_text", id="no-text"),
        pytest.param(b'{"text": 5}', "missing_text", id="text-not-a-string"),
        pytest.param(b'{"text": "   "}', "empty_text", id="blank"),
        pytest.param(b'{"text": "' + b"x" * 21 + b'"}', "too_long", id="too-long"),
    ],
)
def test_a_bad_message_is_refused_with_the_websocket_error_codes(
    server: LongPollServer, body: bytes, code: str
) -> None:
    watcher = server.join(1)
    exchange = server.http.request(
        "POST", server.path(1), headers={"Content-Type": JSON_TYPE}, body=body
    )
    expect_error(exchange, 400, code, f"a POST of {body[:40]!r}")
    assert watcher.new_messages() == [], f"A message refused as {code} was broadcast anyway."
    posted = expect(server.post(1, "valid"), 201, "a valid POST after a refused one").json()
    assert posted["id"] == 1, "A refused message used up a message id."


def test_a_fast_sender_is_told_when_to_retry(make_server: Callable[..., LongPollServer]) -> None:
    server = make_server(settings={"CHAT_RATE": "2", "CHAT_BURST": "3"})
    for number in range(3):
        expect(server.post(1, f"burst {number}"), 201, f"POST {number + 1} of a burst of 3")
    refused = server.post(1, "one too many")
    error = expect_error(refused, 429, "rate_limited", "a 4th POST at once with CHAT_BURST=3")
    retry_after = error.get("retry_after")
    assert isinstance(retry_after, int | float) and 0 < retry_after <= 0.51, (
        f"retry_after should be the seconds until one more message is allowed, about 0.5 at "
        f"CHAT_RATE=2, as over WebSocket; it was {retry_after!r}."
    )
    header = refused.answered("the 4th POST").headers.get("retry-after", "")
    assert header.isdigit() and int(header) >= 1, (
        f"A 429 answer needs a Retry-After header in whole seconds (rounded up), not {header!r}."
    )
    server.clock.advance(retry_after)
    expect(server.post(1, "after waiting"), 201, "a POST after waiting retry_after seconds")


@pytest.mark.needs("anonymous")  # with logins, the bucket is the person's (chapter 05)
def test_each_address_has_a_bucket_of_its_own(make_server: Callable[..., LongPollServer]) -> None:
    server = make_server(settings={"CHAT_RATE": "2", "CHAT_BURST": "3"})
    for number in range(4):
        server.post(1, f"burst {number}")
    expect(
        server.post(1, "from elsewhere", client_ip="10.0.0.7"), 201, "a POST from another address"
    )


# -- which pages may ask ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://localhost:8001",
        "https://localhost:8000",
        "http://localhost:8000.evil.example",
        "null",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "OPTIONS"])
def test_a_page_from_another_origin_is_refused(
    server: LongPollServer, origin: str, method: str
) -> None:
    watcher = server.join(1)
    if method == "POST":
        exchange = server.post(1, "hello", origin=origin)
    else:
        exchange = server.http.request(method, server.path(1), origin=origin)
    expect_error(exchange, 403, "forbidden_origin", f"{method} from a page on {origin}")
    headers = exchange.answered(method).headers
    assert "access-control-allow-origin" not in headers, (
        f"A refused request from {origin} got Access-Control-Allow-Origin "
        f"{headers['access-control-allow-origin']!r}; send no CORS headers to other origins."
    )
    assert watcher.new_messages() == [], f"A POST from {origin} was broadcast."


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_both_local_names_of_the_django_site_may_read_the_answers(server: LongPollServer) -> None:
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000"):
        headers = expect(server.poll(1, origin=origin), 200, f"a poll from {origin}").headers
        assert headers.get("access-control-allow-origin") == origin, (
            f"A poll from the Django site ({origin}) should be answered with "
            f"Access-Control-Allow-Origin: {origin} (the page's own origin, never *), not "
            f"{headers.get('access-control-allow-origin')!r}."
        )
        assert "origin" in headers.get("vary", "").lower(), (
            "An answer that depends on the Origin header needs Vary: Origin, so that caches "
            "keep one copy per origin."
        )
        posted = server.post(1, "cors", origin=origin)
        assert (
            expect(posted, 201, f"a POST from {origin}").headers.get("access-control-allow-origin")
            == origin
        )


def test_a_client_without_an_origin_is_let_in(server: LongPollServer) -> None:
    answer = expect(server.poll(1, origin=None), 200, "a poll without an Origin header")
    assert "access-control-allow-origin" not in answer.headers
    expect(server.post(1, "from a script", origin=None), 201, "a POST without an Origin header")


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_the_allowed_origins_follow_the_settings(
    make_server: Callable[..., LongPollServer],
) -> None:
    server = make_server(settings={"CHAT_ALLOWED_ORIGINS": "https://chat.example.com"})
    answer = expect(server.poll(1, origin="https://chat.example.com"), 200, "a poll")
    assert answer.headers.get("access-control-allow-origin") == "https://chat.example.com", (
        "CHAT_ALLOWED_ORIGINS lists https://chat.example.com; a poll from there should get it "
        "back, as the browser wrote it, in Access-Control-Allow-Origin."
    )
    expect_error(server.poll(1, origin=ORIGIN), 403, "forbidden_origin", f"a poll from {ORIGIN}")


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_a_browser_may_ask_before_posting_json(server: LongPollServer) -> None:
    exchange = server.http.request("OPTIONS", server.path(1), origin=ORIGIN)
    headers = expect(exchange, 204, f"a preflight OPTIONS from {ORIGIN}").headers
    wanted = {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": "GET, POST, OPTIONS",
        "access-control-allow-headers": "Content-Type",
        "access-control-max-age": "600",
    }
    got = {name: headers.get(name) for name in wanted}
    assert got == wanted, (
        "A browser asks (OPTIONS) before a page may POST JSON to another origin. The answer "
        f"should be 204 with {wanted}; it had {got}."
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "HEAD"])
def test_other_methods_are_405_with_an_allow_header(server: LongPollServer, method: str) -> None:
    exchange = server.http.request(method, server.path(1, 0))
    answer = exchange.answered(f"{method} /rooms/1/messages")
    assert answer.status == 405, f"{method} was answered with {answer.status}, not 405."
    allowed = {part.strip() for part in answer.headers.get("allow", "").split(",")}
    assert {"GET", "POST"} <= allowed, (
        f"A 405 answer needs an Allow header listing GET and POST; it had {allowed}."
    )
    if method != "HEAD":  # a HEAD answer never has a body
        expect_error(exchange, 405, "method_not_allowed", f"{method} /rooms/1/messages")


def test_no_answer_is_a_page_of_html(server: LongPollServer) -> None:
    for request in [
        request_bytes("GET", "/rooms/1/messages?after=x"),
        request_bytes("BREW", "/rooms/1/messages"),
        request_bytes("POST", "/rooms/1/messages", {"Content-Type": JSON_TYPE}, b"{"),
    ]:
        exchange = Exchange(server.site, request, client_ip="127.0.0.1")
        server.http.exchanges.append(exchange)
        answer = exchange.answered(request.split(b"\r\n")[0].decode())
        assert answer.headers.get("content-type", "").startswith(JSON_TYPE), (
            f"{request.split(b' ')[0].decode()} got a {answer.headers.get('content-type')} "
            "answer; the long-poll API answers everything in JSON."
        )
