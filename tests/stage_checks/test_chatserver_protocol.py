"""Part 2's chat server inside the test process: protocol, factory and resources.

Clients reach the stage's own ``root_resource`` through in-memory transports, the room
lookup is a fake whose answers the checks decide, and time is a ``task.Clock``. So each
check sees every byte the server writes, and nothing waits on a network or a real clock.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.web.server import Site

from harness import memory_http
from harness.fakes import ORIGIN, FakeRooms, chat_factory, chat_resource, pages_on_port
from harness.protocol import known_fields, message_fields
from harness.wsclient import BINARY, TEXT, MemoryClient

pytestmark = pytest.mark.needs("websocket")

SENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|\+00:00)")


# -- the server under test ---------------------------------------------------------------


@dataclass
class ChatServer:
    """The stage's chat server in this process, with its room lookup and clock in our hands."""

    factory: Any
    site: Site
    clock: task.Clock
    rooms: FakeRooms
    clients: list[MemoryClient] = field(default_factory=list)

    def connect(
        self, path: str, origin: str | None = ORIGIN, extensions: str | None = None
    ) -> MemoryClient:
        client = MemoryClient(self.site, path, origin=origin, extensions=extensions)
        self.clients.append(client)
        return client

    def join(self, room_id: int) -> MemoryClient:
        """A client in room ``room_id`` that has read its welcome message."""
        client = self.connect(f"/ws/{room_id}")
        assert client.status == 101, (
            f"Connecting to /ws/{room_id}, a room that exists, from {ORIGIN} was answered with "
            f"HTTP {client.status} instead of 101 Switching Protocols. Check onConnect in "
            "chatserver/protocol.py and the allowed origins in chatserver/factory.py."
        )
        first = client.first_message()
        assert first is not None and first.get("type") == "welcome", (
            f"The first message after connecting should be the welcome message, but was "
            f"{first}. Send it from onOpen, before anything else (presence, catching up)."
        )
        client.new_messages()  # read: the checks start after the welcome
        return client

    def limits(self, client: MemoryClient) -> dict[str, Any]:
        return client.messages()[0]["limits"]

    def members(self, room_id: int) -> set[object]:
        room = self.factory.rooms.get(room_id)
        return set(room.clients) if room is not None else set()

    def stop(self) -> None:
        for client in self.clients:
            client.disconnect()


@pytest.fixture
def make_server(
    chatserver_code: SimpleNamespace, stage_features: frozenset[str]
) -> Iterator[Callable[..., ChatServer]]:
    """Build servers with ``make_server(settings={"CHAT_RATE": "2"}, rooms=(1, 2))``.

    The settings are added to SHORT_TEXTS, unless ``short_texts=False`` leaves those out too.
    """
    made: list[ChatServer] = []

    def make(
        *,
        settings: Mapping[str, str] | None = None,
        rooms: tuple[int, ...] = (1, 2),
        short_texts: bool = True,
    ) -> ChatServer:
        factory, clock, fake_rooms = chat_factory(
            chatserver_code, settings, rooms, short_texts=short_texts
        )
        resource = chat_resource(chatserver_code, factory, "single_process" in stage_features)
        site = Site(resource, reactor=MemoryReactorClock())
        server = ChatServer(factory, site, clock, fake_rooms)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., ChatServer]) -> ChatServer:
    """A server with the default settings (text limit 20) where rooms 1 and 2 exist."""
    return make_server()


def texts(messages: list[dict[str, Any]]) -> list[Any]:
    return [message.get("text") for message in messages if message.get("type") == "message"]


# -- settings --------------------------------------------------------------------------------


def test_the_default_settings_are_the_documented_ones(
    make_server: Callable[..., ChatServer],
) -> None:
    server = make_server(short_texts=False)
    welcome = server.join(1).messages()[0]
    documented = {
        "type": "welcome",
        "room": 1,
        "limits": {"max_length": 1000, "max_bytes": 8192, "rate": 5, "burst": 10},
    }
    assert known_fields(welcome, documented) == documented, (
        "With the CHAT_ variables unset the welcome message should read "
        '{"type": "welcome", "room": 1, "limits": {"max_length": 1000, "max_bytes": 8192, '
        f'"rate": 5, "burst": 10}}}}, not {welcome}.'
    )


@pytest.mark.needs("autobahn")
def test_autobahn_gets_the_documented_default_limits(
    make_server: Callable[..., ChatServer],
) -> None:
    factory = make_server(short_texts=False).factory
    assert (factory.maxMessagePayloadSize, factory.maxFramePayloadSize) == (8192, 8192), (
        "With CHAT_MAX_BYTES unset, Autobahn's maxMessagePayloadSize and maxFramePayloadSize "
        "should both be 8192. Pass them to setProtocolOptions in chatserver/factory.py."
    )
    assert (factory.autoPingInterval, factory.autoPingTimeout) == (20, 10), (
        "With CHAT_PING_INTERVAL and CHAT_PING_TIMEOUT unset, Autobahn should ping every 20 s "
        "and give up after 10 s: autoPingInterval and autoPingTimeout in setProtocolOptions."
    )


SETTINGS_FROM_THE_ENVIRONMENT = {
    "CHAT_MAX_LENGTH": "50",
    "CHAT_MAX_BYTES": "4096",
    "CHAT_RATE": "2",
    "CHAT_BURST": "3",
    "CHAT_PING_INTERVAL": "7",
    "CHAT_PING_TIMEOUT": "3",
}


def test_settings_from_the_environment_reach_the_server(
    make_server: Callable[..., ChatServer],
) -> None:
    settings = SETTINGS_FROM_THE_ENVIRONMENT
    server = make_server(settings=settings)
    limits = server.limits(server.join(1))
    followed = {"max_length": 50, "max_bytes": 4096, "rate": 2, "burst": 3}
    assert known_fields(limits, followed) == followed, (
        f"The welcome message's limits {limits} do not follow the CHAT_ variables {settings}. "
        "Read every setting in Config.from_environ (chatserver/config.py)."
    )


@pytest.mark.needs("autobahn")
def test_settings_from_the_environment_reach_autobahn(
    make_server: Callable[..., ChatServer],
) -> None:
    factory = make_server(settings=SETTINGS_FROM_THE_ENVIRONMENT).factory
    assert (factory.maxMessagePayloadSize, factory.autoPingInterval, factory.autoPingTimeout) == (
        4096,
        7,
        3,
    ), "CHAT_MAX_BYTES and the CHAT_PING_ settings did not reach setProtocolOptions."


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CHAT_RATE", "fast"),
        ("CHAT_RATE", "0"),
        ("CHAT_BURST", "-3"),
        ("CHAT_MAX_LENGTH", "1.5"),
        ("CHAT_MAX_BUFFER", "lots"),
        ("CHAT_PING_INTERVAL", "0"),
        ("CHAT_PING_TIMEOUT", "nan"),
        ("CHAT_ALLOWED_ORIGINS", "localhost:8000"),
        ("CHAT_ALLOWED_ORIGINS", "http://localhost:8000/chats/"),
        # Where the chat server listens, and where the pages it trusts come from: two
        # processes have a port each; one process listens on an endpoint description.
        pytest.param("CHAT_PORT", "http", marks=pytest.mark.needs("two_origins")),
        pytest.param("CHAT_PORT", "70000", marks=pytest.mark.needs("two_origins")),
        pytest.param("DJANGO_PORT", "eighty", marks=pytest.mark.needs("two_origins")),
        pytest.param("CHAT_LISTEN", "tcp:http", marks=pytest.mark.needs("single_process")),
        pytest.param("CHAT_LISTEN", "8000", marks=pytest.mark.needs("single_process")),
        pytest.param(
            "CHAT_LISTEN",
            "ssl:8443:privateKey=missing.pem:certKey=missing.pem",
            marks=pytest.mark.needs("single_process"),
        ),
        pytest.param("CHAT_PAGE_THREADS", "0", marks=pytest.mark.needs("single_process")),
        # Part 3's settings, checked where the stage has long-polling:
        pytest.param("CHAT_HISTORY", "0", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_HISTORY", "lots", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_POLL_PAGE", "-5", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_POLL_TIMEOUT", "0", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_POLL_TIMEOUT", "soon", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_MAX_PARKED", "1.5", marks=pytest.mark.needs("longpoll")),
        pytest.param("CHAT_SESSION_RECHECK", "0", marks=pytest.mark.needs("auth")),
        pytest.param("CHAT_SESSION_RECHECK", "a while", marks=pytest.mark.needs("auth")),
    ],
)
def test_a_setting_the_server_cannot_use_is_named_in_one_line(
    chatserver_code: SimpleNamespace, name: str, value: str
) -> None:
    config = chatserver_code.config
    with pytest.raises(config.ConfigError) as problem:
        config.Config.from_environ({name: value})
    message = str(problem.value)
    assert name in message and "\n" not in message.strip(), (
        f"With {name}={value!r}, Config.from_environ should raise ConfigError with one line "
        f"that names {name}; its message was {message!r}."
    )


# -- the resources ---------------------------------------------------------------------------


@pytest.mark.needs("two_origins")  # one process, one origin: no status page, no CORS
def test_the_root_says_the_server_is_running_and_unknown_paths_are_404(server: ChatServer) -> None:
    root = memory_http.get(server.site, "/")
    status, headers, body = root.status, root.headers, root.body
    assert status == 200 and body.strip() == b"chat server running", (
        f"GET / answered {status} {body[:80]!r}; it should answer 200 'chat server running' "
        "(the harness waits for it). Check the root resource in chatserver/resource.py."
    )
    assert headers.get("content-type", "").startswith("text/plain"), (
        f"GET / should be text/plain, not {headers.get('content-type')!r}."
    )
    for path in ("/nothing", "/chats/", "/static/chat.js"):
        status = memory_http.get(server.site, path).status
        assert status == 404, f"GET {path} answered {status}; only / and /ws/<id> should exist."


# -- rooms and broadcasting ------------------------------------------------------------------


def test_clients_join_the_room_they_ask_for_and_leave_it_when_they_go(server: ChatServer) -> None:
    alice, _bob, _carol = server.join(1), server.join(1), server.join(2)
    assert len(server.members(1)) == 2, (
        "factory.rooms[1].clients should hold exactly the two clients connected to /ws/1, "
        f"not {len(server.members(1))}. Check join() in chatserver/factory.py and where the "
        "protocol calls it once the connection is open."
    )
    assert len(server.members(2)) == 1, "factory.rooms[2] should hold the /ws/2 client."
    alice.disconnect()
    assert len(server.members(1)) == 1, (
        "A client that disconnected is still in room 1. Remove it from its room when its "
        "connection is lost."
    )


def test_a_message_reaches_everyone_in_its_room_and_nobody_else(
    server: ChatServer, stage_features: frozenset[str]
) -> None:
    alice, bob, carol = server.join(1), server.join(1), server.join(2)
    alice.send_json({"text": "hello"})
    assert texts(alice.new_messages()) == ["hello"], (
        "The sender did not get its own message back; broadcast to everyone in the room, "
        "sender included, so its page shows what was accepted."
    )
    received = bob.new_messages()
    assert texts(received) == ["hello"], (
        f"Another client in room 1 received {received} instead of the message 'hello'. "
        "Check broadcast() in chatserver/factory.py."
    )
    assert carol.new_messages() == [], (
        "A message sent in room 1 reached a client in room 2; check how your factory keeps "
        "clients per room, and that broadcast() sends only to the sender's room."
    )
    message = received[0]
    fields = message_fields(stage_features)
    assert fields <= set(message), (
        f"A chat message should have {', '.join(sorted(fields))}; got {message}."
    )
    assert (message["type"], message["id"], message["room"]) == ("message", 1, 1), (
        f"The first message in room 1 should have type 'message', id 1 and room 1: {message}."
    )
    assert isinstance(message["sent"], str) and SENT.fullmatch(message["sent"]), (
        f"'sent' should be an ISO 8601 UTC time to the millisecond, such as "
        f"2027-01-15T08:00:00.000Z, not {message['sent']!r}."
    )


def test_message_ids_count_up_from_1_in_each_room_separately(server: ChatServer) -> None:
    in_room_1, in_room_2 = server.join(1), server.join(2)
    for client, text in [
        (in_room_1, "one"),
        (in_room_2, "uno"),
        (in_room_1, "two"),
        (in_room_1, "three"),
        (in_room_2, "dos"),
    ]:
        client.send_json({"text": text})
    ids_1 = [(m["id"], m["text"]) for m in in_room_1.new_messages()]
    ids_2 = [(m["id"], m["text"]) for m in in_room_2.new_messages()]
    assert ids_1 == [(1, "one"), (2, "two"), (3, "three")] and ids_2 == [(1, "uno"), (2, "dos")], (
        f"Each room counts its own message ids from 1: room 1 got {ids_1}, room 2 got {ids_2}. "
        "Keep the last id on the Room, not on the factory."
    )


@pytest.mark.needs("autobahn")
def test_a_broadcast_is_framed_once_for_all_its_receivers(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [server.join(1) for _ in range(3)]
    prepared: list[object] = []
    real_prepare = server.factory.prepareMessage

    def prepare(*args: Any, **kwargs: Any) -> object:
        prepared.append(args)
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(server.factory, "prepareMessage", prepare)
    sent_prepared: list[object] = []
    for client in clients:
        real_send = client.server_side.sendPreparedMessage

        def send(message: object, real_send: Callable[[object], None] = real_send) -> None:
            sent_prepared.append(message)
            real_send(message)

        monkeypatch.setattr(client.server_side, "sendPreparedMessage", send)

    clients[0].send_json({"text": "once"})
    assert len(prepared) == 1, (
        f"One message to 3 clients called factory.prepareMessage {len(prepared)} times. "
        "Prepare the message once in broadcast() and send that to every client."
    )
    assert len(sent_prepared) == 3 and all(m is sent_prepared[0] for m in sent_prepared), (
        "Each of the 3 clients should get the one prepared message through "
        "sendPreparedMessage; sendMessage frames it again for every client."
    )
    assert all(texts(client.new_messages()) == ["once"] for client in clients)


# -- what a client may send ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "opcode", "code"),
    [
        pytest.param(b"hello", TEXT, "invalid_json", id="not-json"),
        pytest.param(b"[" * 5000, TEXT, "invalid_json", id="nested-too-deep"),
        pytest.param(b'"hello"', TEXT, "not_an_object", id="a-string"),
        pytest.param(b'["hello"]', TEXT, "not_an_object", id="an-array"),
        pytest.param(b"null", TEXT, "not_an_object", id="null"),
        pytest.param(b"{}", TEXT, "missing_text", id="no-text"),
        pytest.param(b'{"message": "hello"}', TEXT, "missing_text", id="text-misnamed"),
        pytest.param(b'{"text": 42}', TEXT, "missing_text", id="text-a-number"),
        pytest.param(b'{"text": ""}', TEXT, "empty_text", id="text-empty"),
        pytest.param(b'{"text": " \\n\\t "}', TEXT, "empty_text", id="text-blank"),
        pytest.param(json.dumps({"text": "x" * 21}).encode(), TEXT, "too_long", id="too-long"),
        pytest.param(b"\x00\x01", BINARY, "binary_not_supported", id="binary"),
    ],
)
def test_a_bad_message_is_answered_with_an_error_and_not_broadcast(
    server: ChatServer, payload: bytes, opcode: int, code: str
) -> None:
    alice, bob = server.join(1), server.join(1)
    alice.send_frame(payload, opcode)
    shown = payload[:40]
    replies = alice.new_messages()
    assert [reply.get("type") for reply in replies] == ["error"], (
        f"After sending {shown!r} the sender should get exactly one error message, but got "
        f"{replies}. A rejected message is never silently dropped: its sender hears why."
    )
    error = replies[0]
    assert error.get("code") == code, (
        f"Sending {shown!r} should be answered with error code {code!r}, not {error}."
    )
    assert isinstance(error.get("detail"), str) and error["detail"].strip(), (
        f"The error {error} needs a 'detail' saying in plain words what was wrong."
    )
    assert bob.new_messages() == [], f"A message rejected as {code} was broadcast to the room."
    assert alice.is_open, (
        f"The server closed the connection after a {code} message; answer with an error "
        "and keep the connection open."
    )
    alice.send_json({"text": "still here"})
    assert texts(bob.new_messages()) == ["still here"], (
        f"After a {code} error the sender's next, valid message did not reach the room."
    )


def test_the_length_limit_counts_characters_not_bytes(server: ChatServer) -> None:
    alice = server.join(1)
    longest = "é" * server.limits(alice)["max_length"]
    alice.send_json({"text": longest})
    assert texts(alice.new_messages()) == [longest], (
        "A text exactly CHAT_MAX_LENGTH characters long (of 2-byte characters) was refused; "
        "the limit counts characters: len(text) > max_length."
    )


def test_a_message_over_the_byte_limit_closes_with_1009(server: ChatServer) -> None:
    alice, bob = server.join(1), server.join(1)
    too_big = server.limits(alice)["max_bytes"] + 1
    alice.send_frame(b" " * too_big)
    assert 1009 in alice.close_codes(), (
        f"A {too_big}-byte message, one over CHAT_MAX_BYTES, should be answered with a close "
        f"frame with code 1009 (message too big); close codes seen: {alice.close_codes()}. "
        "Set maxMessagePayloadSize and maxFramePayloadSize, and failByDrop=False so that "
        "Autobahn says why it closes."
    )
    assert bob.new_messages() == []


def test_a_fast_sender_is_told_to_wait_and_may_send_again_after_waiting(
    server: ChatServer,
) -> None:
    alice, bob = server.join(1), server.join(1)
    limits = server.limits(alice)
    rate, burst = limits["rate"], limits["burst"]
    for number in range(burst):
        alice.send_json({"text": f"burst {number}"})
    assert len(texts(bob.new_messages())) == burst, (
        f"A burst of CHAT_BURST={burst} messages at one instant should all be accepted."
    )
    alice.new_messages()

    alice.send_json({"text": "one too many"})
    replies = alice.new_messages()
    assert [reply.get("code") for reply in replies] == ["rate_limited"], (
        f"Message {burst + 1} at the same instant should be refused with a rate_limited "
        f"error, but the sender got {replies}. Check the token bucket in the protocol."
    )
    retry_after = replies[0].get("retry_after")
    assert isinstance(retry_after, int | float) and 0 < retry_after <= 1 / rate + 0.01, (
        f"retry_after should be the seconds until one more message is allowed, about "
        f"{1 / rate:g} at CHAT_RATE={rate}; it was {retry_after!r}."
    )
    assert bob.new_messages() == [], "A rate-limited message was broadcast anyway."

    server.clock.advance(retry_after)
    alice.send_json({"text": "after waiting"})
    after = bob.new_messages()
    assert [(m.get("id"), m.get("text")) for m in after] == [(burst + 1, "after waiting")], (
        f"After waiting retry_after={retry_after} s the next message should go through with "
        f"id {burst + 1} (refused messages use no id), but the room got {after}. The bucket "
        "must refill with the factory's clock."
    )


# -- a client that stops reading -------------------------------------------------------------


SLOW_READER_SETTINGS = {"CHAT_RATE": "1000", "CHAT_BURST": "1000", "CHAT_MAX_BUFFER": "2000"}


def pause(client: MemoryClient) -> None:
    """Do what a TCP transport does when its send buffer is full: pause its producer."""
    if not client.transport.connected:
        return  # the server has dropped it already
    producer = client.transport.producer
    assert producer is not None, (
        "Nothing is registered as the transport's producer, so the chat server cannot hear "
        "that a client stopped reading. Register the protocol with "
        "transport.registerProducer(self, True) in connectionMade."
    )
    producer.pauseProducing()


def test_a_client_that_stops_reading_is_dropped_and_the_room_carries_on(
    make_server: Callable[..., ChatServer],
) -> None:
    server = make_server(settings=SLOW_READER_SETTINGS)
    sender, reader, slow = server.join(1), server.join(1), server.join(1)
    count = 40  # about 4 kB of broadcasts, twice CHAT_MAX_BUFFER
    for number in range(count):
        # A transport pauses its producer again on every write while its buffer stays full.
        pause(slow)
        sender.send_json({"text": f"flood {number:02d}"})
    assert slow.aborted, (
        "A client whose transport stayed paused while more than CHAT_MAX_BUFFER (2000) bytes "
        "of broadcasts piled up was not dropped with abortConnection. Count the bytes sent "
        "while paused (pauseProducing may be called many times; only resumeProducing resets "
        "the count), and check the protocol is the transport's registered producer."
    )
    assert texts(reader.new_messages()) == [f"flood {n:02d}" for n in range(count)], (
        "While one client was too slow, another client in the room missed messages."
    )
    assert len(server.members(1)) == 2, "The dropped client is still in room 1."
    assert len(texts(slow.messages())) < count


def test_a_client_that_catches_up_is_not_dropped(make_server: Callable[..., ChatServer]) -> None:
    server = make_server(settings=SLOW_READER_SETTINGS)
    sender, reader = server.join(1), server.join(1)
    for _ in range(2):
        for number in range(12):  # about 1.2 kB, under CHAT_MAX_BUFFER (2000)
            pause(reader)
            sender.send_json({"text": f"busy {number:02d}"})
        reader.transport.producer.resumeProducing()  # its buffer drained: it caught up
    assert not reader.aborted and reader.is_open, (
        "A client was dropped although it caught up (resumeProducing) before CHAT_MAX_BUFFER "
        "bytes piled up. Start counting afresh in resumeProducing."
    )
    assert len(texts(reader.new_messages())) == 24


# -- the opening handshake -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/ws/abc",
        "/ws/0",
        "/ws/-1",
        "/ws/1.5",
        "/ws/1e3",
        "/ws/%31",
        "/ws/" + "1" * 40,
        "/ws/1/more",
        "/ws/",
        "/ws",
    ],
)
def test_a_path_that_is_not_a_room_id_is_refused_with_404(server: ChatServer, path: str) -> None:
    client = server.connect(path)
    assert client.status == 404, (
        f"A WebSocket to {path} was answered with HTTP {client.status}; it should be refused "
        "with 404, since only /ws/<positive whole number> names a room. Raise "
        "ConnectionDeny(404) in onConnect."
    )
    assert server.rooms.asked == [], (
        f"For {path} the server asked the database about room {server.rooms.asked}; check the "
        "id's form first and ask only about ids that could exist."
    )


def test_a_room_that_django_does_not_have_is_refused_with_404(server: ChatServer) -> None:
    client = server.connect("/ws/3")
    assert server.rooms.asked == [3], (
        f"The server should ask factory.room_exists(3) about /ws/3; it asked {server.rooms.asked}."
    )
    assert client.status == 404, (
        f"Room 3 does not exist, but /ws/3 was answered with HTTP {client.status}, not 404."
    )
    assert not server.members(3)


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
def test_a_page_from_another_origin_is_refused(server: ChatServer, origin: str) -> None:
    client = server.connect("/ws/1", origin=origin)
    assert client.status is not None and 400 <= client.status < 500, (
        f"A page from {origin} opened a WebSocket (HTTP {client.status}); only the Django "
        "site's origins may connect. Pass allowedOrigins to setProtocolOptions."
    )
    assert not server.members(1)


def test_both_local_names_of_the_django_site_may_connect(server: ChatServer) -> None:
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000"):
        client = server.connect("/ws/1", origin=origin)
        assert client.status == 101, f"A page from {origin} was refused (HTTP {client.status})."


def test_a_client_without_an_origin_header_is_let_in(server: ChatServer) -> None:
    client = server.connect("/ws/1", origin=None)
    assert client.status == 101, (
        "Browsers always send Origin; a client without one is a program, and the chapter "
        f"lets it in. This one was refused with HTTP {client.status}."
    )


def test_the_allowed_origins_follow_the_settings(
    make_server: Callable[..., ChatServer], stage_features: frozenset[str]
) -> None:
    pages = pages_on_port(9000, "single_process" in stage_features)
    setting = ", ".join(f"{name}={value}" for name, value in pages.items())
    server = make_server(settings=pages)
    assert server.connect("/ws/1", origin="http://localhost:9000").status == 101, (
        f"With {setting} the default allowed origins should be http://localhost:9000 "
        "and http://127.0.0.1:9000."
    )
    assert server.connect("/ws/1", origin="http://localhost:8000").status != 101

    server = make_server(
        settings={"CHAT_ALLOWED_ORIGINS": "https://chat.example.com, http://10.0.0.5:8000"}
    )
    for origin in ("https://chat.example.com", "https://chat.example.com:443"):
        assert server.connect("/ws/1", origin=origin).status == 101, (
            f"CHAT_ALLOWED_ORIGINS lists https://chat.example.com, yet {origin} was refused. "
            "Autobahn compares scheme://host:port, so write the default port (443) in."
        )
    assert server.connect("/ws/1", origin="http://10.0.0.5:8000").status == 101
    assert server.connect("/ws/1", origin="http://localhost:8000").status != 101, (
        "CHAT_ALLOWED_ORIGINS replaces the default origins; it does not add to them."
    )


def test_compression_is_never_agreed(server: ChatServer) -> None:
    client = server.connect("/ws/1", extensions="permessage-deflate; client_max_window_bits")
    assert client.status == 101 and client.response is not None
    agreed = client.response.headers.get("sec-websocket-extensions")
    assert agreed is None, (
        f"The server agreed to the extension {agreed!r}. Leave perMessageCompressionAccept "
        "unset so that compression stays off."
    )


def test_the_handshake_waits_for_the_room_lookup(server: ChatServer) -> None:
    server.rooms.hold()
    client = server.connect("/ws/1")
    assert client.status is None, (
        f"The server answered HTTP {client.status} before the database said whether room 1 "
        "exists. Return the Deferred from room_exists in onConnect, so Autobahn waits."
    )
    server.rooms.answer()
    assert client.status == 101 and len(server.members(1)) == 1


def test_a_client_that_leaves_during_the_room_lookup_never_joins(server: ChatServer) -> None:
    server.rooms.hold()
    client = server.connect("/ws/1")
    client.disconnect()
    server.rooms.answer()
    assert not server.members(1), (
        "A client that went away while its room was being looked up was added to the room "
        "anyway, where it would stay for ever. Check the connection is still there when the "
        "lookup answers."
    )


def test_when_rooms_cannot_be_looked_up_the_handshake_is_refused(server: ChatServer) -> None:
    server.rooms.hold()
    client = server.connect("/ws/1")
    server.rooms.fail(RuntimeError("the database is down"))
    assert client.status is not None and client.status >= 500, (
        f"When room_exists fails, the handshake should be refused with a 5xx status, not "
        f"HTTP {client.status}."
    )
    assert not server.members(1)


# -- asking Django ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def django_room(import_from_stage: Callable[[str], ModuleType], django_in_process: None) -> int:
    """A room in the database of the Django set up in this process: its id."""
    from django.db import connections

    room = import_from_stage("chat.models").ChatRoom.objects.create(name="looked up")
    connections.close_all()
    return room.pk


@pytest_twisted.ensureDeferred
async def test_the_default_room_lookup_asks_django_in_a_thread(
    chatserver_code: SimpleNamespace, django_room: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every query Django runs goes through CursorWrapper.execute, in the thread that asked.
    # (Noting new connections instead would see nothing on a stage that keeps them open.)
    from django.db.backends.utils import CursorWrapper

    threads: list[threading.Thread] = []
    execute = CursorWrapper.execute

    def note_thread(cursor: CursorWrapper, *args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread())
        return execute(cursor, *args, **kwargs)

    monkeypatch.setattr(CursorWrapper, "execute", note_thread)
    factory = chatserver_code.factory.ChatServerFactory(
        chatserver_code.config.Config.from_environ({})
    )
    lookup = factory.room_exists(django_room)
    assert isinstance(lookup, Deferred), (
        f"factory.room_exists(room_id) should return a Deferred, not {lookup!r}."
    )
    found = await lookup
    missing = await factory.room_exists(django_room + 1000)
    monkeypatch.undo()
    assert (found, missing) == (True, False), (
        f"The default room_exists said {found} for an existing room and {missing} for a "
        "missing one. Query ChatRoom.objects.filter(pk=room_id).exists()."
    )
    assert threads and threading.main_thread() not in threads, (
        "The default room_exists queried Django in the reactor's thread, which stops every "
        "other client while the database answers. Run the query with deferToThread."
    )
