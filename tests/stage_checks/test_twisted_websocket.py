"""What a chat server on twisted.web.websocket must add to the module, and does.

The module (Twisted 26.10) answers every well-formed handshake, gathers a message of any
size, never pings, and does not tell the protocol when a connection starts closing. These
checks hold the stage to what chapter 07 adds: the handshake's refusals, a size limit read
from the frame headers, keep-alive pings, and a broadcast that a closing connection cannot
break. Part 2's and Part 3's checks, which run too, hold it to everything else.

In memory first, as in test_chatserver_protocol.py; then over loopback sockets.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import types
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType, SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import pytest
from twisted.internet import task
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent
from twisted.web.server import Site
from websockets.exceptions import ConnectionClosed

from harness import memory_http, waits
from harness.fakes import ORIGIN, FakeRooms, chat_factory
from harness.longpoll_client import raw_exchange
from harness.processes import SiteWith, StageProcesses, tail
from harness.wsclient import (
    CLOSE,
    PING,
    PONG,
    TEXT,
    Frame,
    MemoryClient,
    chat_connection,
    django_origin,
    handshake_request,
    joined,
    read_handshake_response,
    read_server_frames,
    read_until_closed,
    room_url,
)

pytestmark = pytest.mark.needs("twisted_websocket")

CONTINUATION = 0x0


def frame(
    payload: bytes, opcode: int = TEXT, *, fin: bool = True, size: int | None = None
) -> bytes:
    """A masked client frame; ``size`` announces another payload length than the real one."""
    mask = os.urandom(4)
    announced = len(payload) if size is None else size
    if announced < 126:
        length = bytes([0x80 | announced])
    elif announced < 2**16:
        length = bytes([0x80 | 126]) + announced.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + announced.to_bytes(8, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([(0x80 if fin else 0) | opcode]) + length + mask + masked


def close_reason(frame_: Frame) -> str:
    return frame_.payload[2:].decode("utf-8")


def frames_of(client: MemoryClient, opcode: int) -> list[Frame]:
    """The frames of one kind the server has sent the client so far."""
    client.close_codes()  # reads whatever has arrived
    return [f for f in client.frames if f.opcode == opcode]


# -- the server under test, in memory ------------------------------------------------------


@dataclass
class Server:
    factory: Any
    site: Site
    clock: task.Clock
    rooms: FakeRooms
    clients: list[MemoryClient] = field(default_factory=list)

    def connect(self, path: str = "/ws/1", origin: str | None = ORIGIN) -> MemoryClient:
        client = MemoryClient(self.site, path, origin=origin)
        self.clients.append(client)
        return client

    def join(self, room_id: int = 1) -> MemoryClient:
        client = self.connect(f"/ws/{room_id}")
        assert client.status == 101, f"/ws/{room_id} got HTTP {client.status}, not 101."
        client.new_messages()  # the welcome
        return client

    def members(self, room_id: int = 1) -> int:
        room = self.factory.rooms.get(room_id)
        return len(room.clients) if room is not None else 0

    def stop(self) -> None:
        for client in self.clients:
            client.disconnect()


@pytest.fixture(scope="session")
def code(import_from_stage: Callable[[str], ModuleType]) -> SimpleNamespace:
    return SimpleNamespace(
        config=import_from_stage("chatserver.config"),
        factory=import_from_stage("chatserver.factory"),
        web=import_from_stage("chatserver.web"),
        messages=import_from_stage("chatserver.messages"),
    )


@pytest.fixture
def make_server(code: SimpleNamespace) -> Iterator[Callable[..., Server]]:
    made: list[Server] = []

    def make(settings: dict[str, str] | None = None) -> Server:
        factory, clock, rooms = chat_factory(code, settings, (1, 2), short_texts=False)
        site = code.web.ChatSite(factory)
        site.reactor = MemoryReactorClock()
        server = Server(factory, site, clock, rooms)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


def close_like_tcp(client: MemoryClient) -> Callable[[], None]:
    """Make the client's connection close as TCP's does: not at once, but once what has
    been written has gone out, a turn of the reactor later. Returns that later moment."""
    transport = client.transport
    close_now = transport.loseConnection
    asked: list[bool] = []

    def lose_connection() -> None:
        transport.disconnecting = True
        asked.append(True)

    transport.loseConnection = lose_connection  # type: ignore[method-assign]
    return lambda: close_now() if asked else None


# -- the handshake -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "origin", "status", "code_"),
    [
        ("/ws/1", "http://evil.example", 403, "forbidden_origin"),
        ("/ws/1", "null", 403, "forbidden_origin"),
        ("/ws/abc", ORIGIN, 404, "no_such_room"),
        ("/ws/3", ORIGIN, 404, "no_such_room"),
    ],
)
def test_a_refused_handshake_says_why_in_json(
    server: Server, path: str, origin: str, status: int, code_: str
) -> None:
    client = server.connect(path, origin=origin)
    body = client.transport.value().partition(b"\r\n\r\n")[2]
    assert client.status == status, f"A handshake to {path} from {origin} got {client.status}."
    try:
        error = json.loads(body)
    except ValueError:
        pytest.fail(
            f"The {status} refusing {path} from {origin} should carry a JSON error, as the "
            f"long-poll API's do; its body was {body[:120]!r}. Refuse with answers.refuse in "
            "chatserver/handshake.py.",
            pytrace=False,
        )
    assert error.get("type") == "error" and error.get("code") == code_, (
        f"The refusal of {path} from {origin} should say code {code_!r}: {error}."
    )
    assert server.members() == 0


def test_a_plain_get_of_a_socket_url_is_told_to_upgrade(server: Server) -> None:
    answer = memory_http.get(server.site, "/ws/1")
    assert answer.status == 426 and answer.headers.get("upgrade", "").lower() == "websocket", (
        f"A plain GET of /ws/1 got {answer.status} with Upgrade: {answer.headers.get('upgrade')}; "
        "it should get 426 Upgrade Required with Upgrade: websocket, before any room lookup."
    )
    assert answer.json().get("code") == "upgrade_required"
    assert server.rooms.asked == [], "A plain GET should not cost a database question."


def test_a_malformed_handshake_gets_the_modules_400(server: Server) -> None:
    request = handshake_request("/ws/1", host="127.0.0.1:1025", origin=ORIGIN).replace(
        b"Sec-WebSocket-Version: 13", b"Sec-WebSocket-Version: 8"
    )
    exchange = memory_http.Exchange(server.site, request)
    answer = exchange.answered("a handshake with version 8")
    assert answer.status == 400 and server.members() == 0, (
        f"A handshake asking for WebSocket version 8 got {answer.status}; twisted.web.websocket "
        "refuses it with 400 once the room is found. Write the module's answer and finish "
        "the request when super().render_GET does not return NOT_DONE_YET."
    )


def test_a_handshake_into_a_known_room_keeps_nothing_of_the_wait(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module never finishes a handshake's request, so a Deferred from its
    notifyFinish never fires: from the 101 on, it is of no use to anyone."""
    server.join()  # the first client makes the server ask about room 1; later ones need not
    waits: list[object] = []
    request_class = server.site.requestFactory
    real_notify_finish = request_class.notifyFinish

    def notify_finish(request: Any) -> Any:
        waits.append(request)
        return real_notify_finish(request)

    monkeypatch.setattr(request_class, "notifyFinish", notify_finish)
    server.join()
    assert waits == [], (
        "A handshake into a room the server already knows called request.notifyFinish(). "
        "The room is found at once, so there is nothing to cancel; and twisted.web.websocket "
        "never finishes the request, so that Deferred never fires, and it and whatever its "
        "callbacks hold are built for nothing. Call notifyFinish only while the lookup is "
        "still waiting (not lookup.called)."
    )


# -- messages too big ------------------------------------------------------------------------


def test_a_message_too_big_is_refused_on_its_header_alone(server: Server) -> None:
    alice, bob = server.join(), server.join()
    max_bytes = server.factory.config.max_bytes
    # The header announces a gigabyte; not one byte of it follows.
    alice.server_side.dataReceived(frame(b"", size=2**30))
    closes = frames_of(alice, CLOSE)
    assert closes and closes[0].close_code == 1009, (
        "A frame header announcing a 1 GB message should be answered at once with a close "
        f"frame with code 1009, before its payload arrives; close frames: {closes}. Read "
        "the frame headers in front of the module (chatserver/frames.py)."
    )
    reason = close_reason(closes[0])
    assert str(max_bytes) in reason, (
        f"The 1009 close frame's reason {reason!r} should tell the page the limit "
        f"({max_bytes} bytes); a browser shows it as the close event's reason."
    )
    assert not alice.transport.connected and server.members() == 1
    bob.send_json({"text": "still here"})
    assert [m.get("text") for m in bob.new_messages()] == ["still here"]


def test_the_limit_counts_every_frame_of_a_fragmented_message(server: Server) -> None:
    alice, bob = server.join(), server.join()
    half = server.factory.config.max_bytes // 2 + 1
    alice.server_side.dataReceived(frame(b" " * half, fin=False))
    assert alice.close_codes() == [], "The first half of a message was refused on its own."
    alice.server_side.dataReceived(frame(b" " * half, CONTINUATION))
    assert alice.close_codes() == [1009], (
        "Two frames of one message, together over CHAT_MAX_BYTES, should close with 1009: "
        "add up the frames of a message until the one with FIN set."
    )
    assert bob.new_messages() == []


def test_a_fragmented_message_arrives_whole(server: Server) -> None:
    alice, bob = server.join(), server.join()
    alice.server_side.dataReceived(frame(b'{"text": "hel', fin=False))
    alice.server_side.dataReceived(frame(b'lo"}', CONTINUATION))
    got = [m.get("text") for m in bob.new_messages()]
    assert got == ["hello"], (
        f"A message sent in two frames reached the room as {got}, not 'hello'. Twisted "
        "26.10 gathers the frames; an older Twisted hands them over one by one."
    )


def test_frame_headers_split_across_reads_are_read_right(server: Server) -> None:
    alice, bob = server.join(), server.join()
    data = frame(json.dumps({"text": "one byte at a time"}).encode())
    data += frame(b"", size=server.factory.config.max_bytes + 1)
    for at in range(len(data)):
        alice.server_side.dataReceived(data[at : at + 1])
    assert [m.get("text") for m in bob.new_messages()] == ["one byte at a time"]
    assert alice.close_codes() == [1009]


def test_frames_up_to_the_limit_are_passed_on(server: Server) -> None:
    alice = server.join()
    text = "x" * (server.factory.config.max_bytes - len('{"text": ""}'))
    alice.server_side.dataReceived(frame(json.dumps({"text": text}).encode()))
    replies = alice.new_messages()
    assert alice.close_codes() == [] and [r.get("code") for r in replies] == ["too_long"], (
        "A message of exactly CHAT_MAX_BYTES bytes should reach the protocol (and be refused "
        f"as too_long, with a JSON error); the client got {replies} and close codes "
        f"{alice.close_codes()}."
    )


@pytest.mark.parametrize(
    ("settings", "max_bytes", "interval", "timeout"),
    [
        pytest.param({}, 8192, 20, 10, id="defaults"),
        pytest.param(
            {"CHAT_MAX_BYTES": "4096", "CHAT_PING_INTERVAL": "7", "CHAT_PING_TIMEOUT": "3"},
            4096,
            7,
            3,
            id="from-the-environment",
        ),
    ],
)
def test_the_limits_follow_the_settings(
    make_server: Callable[..., Server],
    settings: dict[str, str],
    max_bytes: int,
    interval: float,
    timeout: float,
) -> None:
    """What Autobahn's options did in Part 3, with the same defaults and variables."""
    server = make_server(settings)
    fits, too_big = server.join(), server.join()
    fits.server_side.dataReceived(frame(b" " * max_bytes))
    too_big.server_side.dataReceived(frame(b"", size=max_bytes + 1))
    assert (fits.close_codes(), too_big.close_codes()) == ([], [1009]), (
        f"With {settings or 'no settings'}, a message of {max_bytes} bytes should be let "
        f"through and one of {max_bytes + 1} closed with 1009; close codes seen: "
        f"{fits.close_codes()} and {too_big.close_codes()}. The FrameReader takes "
        "CHAT_MAX_BYTES from the config."
    )
    server.clock.advance(interval - 0.1)
    assert frames_of(fits, PING) == []
    server.clock.advance(0.1)
    assert len(frames_of(fits, PING)) == 1, (
        f"With {settings or 'no settings'} the first ping is due after {interval} s."
    )
    server.clock.advance(timeout - 0.1)
    assert fits.is_open
    server.clock.advance(0.1)
    assert fits.aborted, f"An unanswered ping should drop the client after {timeout} s."


# -- keep-alive pings --------------------------------------------------------------------------


def test_a_quiet_client_is_pinged_and_kept_while_it_answers(make_server: Callable) -> None:
    server = make_server({"CHAT_PING_INTERVAL": "7", "CHAT_PING_TIMEOUT": "3"})
    alice = server.join()
    server.clock.advance(6.9)
    assert frames_of(alice, PING) == [], "Pinged before CHAT_PING_INTERVAL (7 s)."
    server.clock.advance(0.1)
    assert len(frames_of(alice, PING)) == 1, (
        f"After CHAT_PING_INTERVAL (7 s) the server should have sent one ping; it sent "
        f"{len(frames_of(alice, PING))}. The factory's keepalive (a LoopingCall on its clock) "
        "starts when the first client joins."
    )
    alice.server_side.dataReceived(frame(b"", PONG))
    server.clock.advance(6.9)
    assert alice.is_open and server.members() == 1, "A client that answered the ping was dropped."
    server.clock.advance(0.1)
    assert len(frames_of(alice, PING)) == 2, "The second ping should follow 7 s after the first."
    alice.server_side.dataReceived(frame(b"", PONG))
    server.clock.advance(6.9)
    assert alice.is_open, "A client that answered every ping was dropped."


def test_a_client_that_does_not_answer_a_ping_is_dropped(make_server: Callable) -> None:
    server = make_server({"CHAT_PING_INTERVAL": "7", "CHAT_PING_TIMEOUT": "3"})
    alice, bob = server.join(), server.join()
    server.clock.advance(7)
    bob.server_side.dataReceived(frame(b"", PONG))
    server.clock.advance(2.9)
    assert alice.is_open, "Dropped before CHAT_PING_TIMEOUT (3 s) had passed."
    server.clock.advance(0.1)
    assert alice.aborted and server.members() == 1, (
        "A client that did not answer a ping within CHAT_PING_TIMEOUT should be dropped "
        "(abortConnection) and leave its room."
    )
    assert bob.is_open
    assert server.clock.getDelayedCalls() != [], "bob's pings should carry on"
    bob.disconnect()
    assert server.clock.getDelayedCalls() == [], (
        "A client that has gone still has timers running; stop its pings on connectionLost."
    )


def test_every_client_is_pinged_from_one_timer(make_server: Callable) -> None:
    """A LoopingCall for each client held some 1.1 KiB of every idle connection; the
    factory keeps one for them all, from the first client in to the last one out."""
    server = make_server({"CHAT_PING_INTERVAL": "7", "CHAT_PING_TIMEOUT": "3"})
    clients = [server.join(1), server.join(1)]
    server.clock.advance(5)
    clients.append(server.join(2))  # a late comer, in another room
    timers = len(server.clock.getDelayedCalls())
    assert timers == 1, (
        f"Three clients are connected, and {timers} timers are set: there should be one, the "
        "factory's keepalive, which pings them all. Start one LoopingCall on the factory "
        "when the first client joins, rather than one in each protocol."
    )
    server.clock.advance(2)
    assert [len(frames_of(client, PING)) for client in clients] == [1, 1, 1], (
        "The keepalive should ping every connected client, whatever its room, the late "
        "comer too (at most one CHAT_PING_INTERVAL after it joined)."
    )
    assert len(server.clock.getDelayedCalls()) == 1 + 3, "one keepalive and a pong timer each"
    for client in clients:
        client.server_side.dataReceived(frame(b"", PONG))
        client.disconnect()
    assert server.clock.getDelayedCalls() == [], (
        "Every client has gone, and a timer is still set: the last client to leave should "
        "stop the keepalive."
    )
    again = server.join()
    server.clock.advance(7)
    assert len(frames_of(again, PING)) == 1, (
        "A client who came after everyone had left was not pinged: the keepalive should "
        "start again with the next client who joins."
    )


# -- a connection that is closing ------------------------------------------------------------


@pytest.mark.parametrize(
    "goodbye",
    [
        pytest.param(frame((1000).to_bytes(2, "big"), CLOSE), id="close-frame"),
        pytest.param(bytes([0x81, 0x02]) + b"hi", id="unmasked-frame"),
        pytest.param(frame(b"\xff\xfe"), id="invalid-utf-8"),
    ],
)
def test_a_closing_connection_does_not_break_a_broadcast(server: Server, goodbye: bytes) -> None:
    leaving = server.join()
    closed_later = close_like_tcp(leaving)
    sender, reader = server.join(), server.join()
    leaving.server_side.dataReceived(goodbye)
    assert leaving.close_codes(), f"After {goodbye!r} the module should close the connection."
    try:
        sender.send_json({"text": "to everyone still here"})
        received: object = [m.get("text") for m in reader.new_messages()]
    except Exception as error:  # wsproto's LocalProtocolError, when it is not caught
        received = error
    assert received == ["to everyone still here"], (
        "While a connection was closing (its close frame sent, its TCP connection not yet "
        "gone), a broadcast to the room broke. twisted.web.websocket refuses to send on it "
        "(wsproto raises LocalProtocolError): catch that, and let the client leave its room. "
        f"The room got: {received!r}"
    )
    server.clock.advance(20)  # CHAT_PING_INTERVAL: no ping may go to it either
    assert frames_of(leaving, PING) == [], "A ping was sent on a connection that was closing."
    closed_later()
    assert server.members() == 2


def test_a_broadcast_is_encoded_once_and_framed_for_each_client(
    server: Server, code: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [server.join() for _ in range(3)]
    encoded: list[object] = []
    real_encode = code.messages.encode

    def encode(message: Any) -> bytes:
        encoded.append(message)
        return real_encode(message)

    monkeypatch.setattr(code.messages, "encode", encode)
    clients[0].send_json({"text": "once"})
    assert len(encoded) == 1, (
        f"One message to 3 clients was JSON-encoded {len(encoded)} times; encode it once "
        "in broadcast() and give every client the same text."
    )
    assert all([m.get("text") for m in c.new_messages()] == ["once"] for c in clients)


def test_the_protocol_is_the_connections_producer(server: Server) -> None:
    alice = server.join()
    producer = alice.transport.producer
    assert producer is not None and producer in server.factory.rooms[1].clients, (
        "The chat protocol should be the TCP connection's producer (transport.detachProducer, "
        "then transport.attachProducer(self) in negotiationStarted), so that it hears when "
        f"the client stops reading; the producer is {producer!r}."
    )
    assert alice.transport.streaming


# -- what an idle connection holds -------------------------------------------------------------


def chat_protocol(server: Server, room_id: int = 1) -> Any:
    """The chat protocol of the one client in the room."""
    (protocol,) = server.factory.rooms[room_id].clients
    return protocol


def test_nothing_keeps_the_handshakes_request_after_the_101(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The module never finishes a handshake's request: the connection is no longer HTTP's.
    twisted.web kept it in the channel's list of requests, with its headers and its body
    file, ~2.8 KB of every idle connection."""
    requests: list[weakref.ref[Any]] = []
    build = server.factory.buildProtocol

    def build_and_note(request: Any) -> Any:
        requests.append(weakref.ref(request))
        return build(request)

    monkeypatch.setattr(server.factory, "buildProtocol", build_and_note)
    alice = server.join()
    gc.collect()
    assert requests and requests[0]() is None, (
        "The handshake's request is still in memory after the 101, and will be for as long "
        "as the client stays connected: twisted.web keeps a request in its channel's list "
        "until it is finished, and the module never finishes it. Once super().render_GET "
        "has answered 101, take it off that list: request.channel.requests.remove(request)."
    )
    alice.send_json({"text": "still fine"})
    assert [m.get("text") for m in alice.new_messages()] == ["still fine"]


def test_an_idle_client_has_no_token_bucket_until_it_sends(server: Server) -> None:
    """Most people in a room only read; a bucket made at the join held ~120 bytes of each."""
    alice = server.join()
    protocol = chat_protocol(server)
    assert protocol.bucket is None, (
        "A client that has sent nothing already has a TokenBucket. Most clients of a room "
        "only read, so make the bucket in spend_token, at the client's first message (full, "
        "as it would be by then anyway), not in negotiationFinished."
    )
    alice.send_json({"text": "hello"})
    heard = [m.get("text") for m in alice.new_messages()]
    assert protocol.bucket is not None and heard == ["hello"], (
        "After its first message the client should have its bucket, and the room the message."
    )


def test_the_protocol_sets_every_attribute_when_it_is_made(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Python shares one table of attribute names among a class's instances, and soon takes
    no new names into it: a name first set late gave every live connection a dict of its
    own (~460 bytes each) at the first ping after a first message."""
    made: list[tuple[Any, set[str]]] = []
    build = server.factory.buildProtocol

    def build_and_note(request: Any) -> Any:
        protocol = build(request)
        made.append((protocol, set(vars(protocol))))
        return protocol

    monkeypatch.setattr(server.factory, "buildProtocol", build_and_note)
    alice, bob = server.join(), server.join()
    alice.send_json({"text": "hello"})
    protocol, names_when_made = made[0]
    protocol.pauseProducing()  # alice stops reading while bob talks
    bob.send_json({"text": "are you there?"})
    protocol.resumeProducing()
    server.clock.advance(server.factory.config.ping_interval)
    alice.server_side.dataReceived(frame(b"", PONG))
    late = sorted(set(vars(protocol)) - names_when_made)
    assert late == [], (
        f"The protocol set {late} only after it was made (on a message, a ping, a pause). "
        "Set every attribute in __init__, to None, False or 0 if it starts empty: a name "
        "first set on a thousand live connections gives each a dict of its own."
    )


def test_a_connection_keeps_no_address_text_for_log_lines(server: Server) -> None:
    """The client's address is read from the TCP connection when a line is logged."""
    alice = server.join()
    address = alice.transport.getPeer()
    peer = f"{address.host}:{address.port}"
    kept = sorted(name for name, value in vars(chat_protocol(server)).items() if value == peer)
    assert kept == [], (
        f"Every connection keeps the text {peer!r} in {kept}: a string built at every "
        "handshake, ~60 bytes of each idle connection, for log lines most connections never "
        "write. Read the address from the TCP connection (self.tcp.getPeer()) when a line "
        "needs it."
    )
    with capturedLogs() as events:
        alice.server_side.dataReceived(frame(b"", size=2**30))
    lines = [formatEvent(event) for event in events]
    assert any(peer in line for line in lines), (
        f"The log line for a message too big should name the client's address {peer}; "
        f"the lines were {lines}."
    )


def test_a_client_is_kept_in_its_room_only(server: Server) -> None:
    """The rooms know who is in them: a set of every client beside theirs held ~100 bytes
    of each connection."""
    server.join()
    protocol = chat_protocol(server)
    also_in = sorted(
        name
        for name, value in vars(server.factory).items()
        if isinstance(value, (set, list, dict)) and protocol in value
    )
    assert also_in == [], (
        f"The factory keeps every client in {also_in} as well as in its room's clients: an "
        "entry for each connection, twice. To ping everyone, go through the rooms."
    )


def test_the_frame_reader_keeps_objects_not_bound_methods(server: Server) -> None:
    """A bound method is an object of its own: two of them held ~120 bytes of each connection."""
    server.join()
    reader = chat_protocol(server).channel.dataReceived.__self__
    bound = sorted(
        name for name, value in vars(reader).items() if isinstance(value, types.MethodType)
    )
    assert bound == [], (
        f"The FrameReader keeps the bound methods {bound}; each is an object of its own, "
        "made for every connection. Give it the module's wire protocol and the chat "
        "protocol, and let it call their methods when it needs them."
    )


# -- over loopback sockets ---------------------------------------------------------------------


def test_a_plain_get_over_the_network_gets_426(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    url = site.url("chatserver", f"/ws/{new_room()}")
    parts = urlsplit(url)
    request = f"GET {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
    answer = raw_exchange(url, request.encode("ascii"), timeout=waits.MAX_WAIT)
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    assert status_line == "HTTP/1.1 426 Upgrade Required", (
        f"A plain GET of a socket URL was answered {status_line!r}."
    )


def test_the_page_can_show_why_a_message_too_big_closed_the_socket(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    with joined(site, new_room()) as chat:
        max_bytes = chat.welcome["limits"]["max_bytes"]
        chat.send_text(" " * (max_bytes + 1))
        with pytest.raises(ConnectionClosed) as closed:
            chat.receive("the close frame")
    received = closed.value.rcvd
    assert received is not None and received.code == 1009 and str(max_bytes) in received.reason, (
        f"The close frame should carry 1009 and a reason naming {max_bytes}; got {received}."
    )


def open_socket(site: StageProcesses, room: int) -> socket.socket:
    sock = socket.create_connection((site.host, site.ports["chatserver"]), waits.MAX_WAIT)
    sock.sendall(
        handshake_request(
            f"/ws/{room}",
            host=f"{site.host}:{site.ports['chatserver']}",
            origin=django_origin(site),
        )
    )
    received = b""
    while read_handshake_response(received) is None:
        chunk = sock.recv(4096)
        assert chunk, f"The chat server closed the connection during the handshake: {received!r}"
        received += chunk
    return sock


def test_a_gigabyte_announced_is_refused_before_it_is_sent(
    site: StageProcesses, new_room: Callable[[], int]
) -> None:
    with open_socket(site, new_room()) as sock:
        sock.sendall(frame(b"", size=2**30))
        received = b""
        closed = False
        while not closed:
            try:
                chunk = sock.recv(4096)
            except (TimeoutError, ConnectionResetError):
                break
            closed = not chunk
            received += chunk
        _, head_length = read_handshake_response(received) or (None, 0)
        frames, _ = read_server_frames(received[head_length:])
    codes = [f.close_code for f in frames if f.opcode == CLOSE]
    assert codes == [1009], (
        "A frame header announcing 1 GB, with no payload after it, should be answered at "
        f"once with close code 1009; close codes seen: {codes}.\n"
        f"The chat server's last lines:\n{tail(site.log_text('chatserver'))}"
    )


@pytest.fixture(scope="module")
def pinging_site(
    site_with: SiteWith, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StageProcesses]:
    # Pings come often; an answer may take as long as any wait of the checks, so a client
    # that answers is never dropped only because a busy machine was slow to run it.
    settings = {"CHAT_PING_INTERVAL": "0.5", "CHAT_PING_TIMEOUT": f"{waits.MAX_WAIT:g}"}
    with site_with(tmp_path_factory.mktemp("pings"), settings) as running:
        yield running


def test_a_client_that_never_answers_pings_is_dropped_and_one_that_does_stays(
    pinging_site: StageProcesses,
) -> None:
    room = pinging_site.new_room()
    url, origin = room_url(pinging_site, room), django_origin(pinging_site)
    with (
        open_socket(pinging_site, room) as silent,
        chat_connection(url, origin=origin, timeout=waits.MAX_WAIT) as answering,
    ):
        within = 2 * waits.MAX_WAIT + 0.5
        dropped, _ = read_until_closed(silent, within=within)
        assert dropped, (
            f"A client that never answers pings was still connected after {within:g} s, with "
            f"pings every 0.5 s and {waits.MAX_WAIT:g} s to answer."
        )
        answering.send_json({"text": "still here"})
        got = answering.receive("a message after a few pings")
        if got.get("type") == "welcome":
            got = answering.receive("a message after a few pings")
        assert got.get("text") == "still here", f"The answering client got {got}."
