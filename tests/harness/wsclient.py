"""WebSocket clients for the chat server checks.

- ``MemoryClient`` lives inside the test process and reaches a twisted.web ``Site`` through
  an in-memory transport: every byte is visible and nothing waits on a network.
- ``ChatConnection`` wraps the ``websockets`` library's client, for checks against the
  real server on a loopback port.
- ``open_silent_client`` completes a handshake over a plain socket and then reads nothing:
  the slow reader every chat server meets sooner or later.

The wire format helpers (``handshake_request``, ``client_frame``, ``read_server_frames``)
speak just enough RFC 6455 for the above.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from ssl import SSLContext
from typing import Any, Protocol

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransportWithDisconnection
from twisted.python.failure import Failure
from twisted.web.server import Site
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from . import people, protocol, waits
from .processes import tail

TEXT = 0x1
BINARY = 0x2
CLOSE = 0x8
PING = 0x9
PONG = 0xA

JSON = dict[str, Any]


# -- the wire format ------------------------------------------------------------------------


def handshake_request(
    path: str,
    *,
    host: str,
    origin: str | None,
    extensions: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """The HTTP request that opens a WebSocket, as a browser on ``origin`` would send it,
    with ``headers`` besides (a logged-in person's cookies, say)."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin is not None:
        lines.append(f"Origin: {origin}")
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def client_frame(payload: bytes, opcode: int = TEXT) -> bytes:
    """One complete frame from client to server (clients must mask what they send)."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        length = bytes([0x80 | size])
    elif size < 2**16:
        length = bytes([0x80 | 126]) + size.to_bytes(2, "big")
    else:
        length = bytes([0x80 | 127]) + size.to_bytes(8, "big")
    masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
    return bytes([0x80 | opcode]) + length + mask + masked


@dataclass(frozen=True)
class Frame:
    """One frame from the server."""

    opcode: int
    payload: bytes

    def json(self) -> Any:
        return json.loads(self.payload.decode("utf-8"))

    @property
    def close_code(self) -> int | None:
        if self.opcode != CLOSE or len(self.payload) < 2:
            return None
        return int.from_bytes(self.payload[:2], "big")


def read_server_frames(data: bytes) -> tuple[list[Frame], int]:
    """The complete frames at the start of ``data``, and how many bytes they took."""
    frames: list[Frame] = []
    at = 0
    while len(data) - at >= 2:
        first, second = data[at], data[at + 1]
        if not first & 0x80 or second & 0x80:
            raise AssertionError(
                "The server sent a fragmented or masked frame; a server's frames are whole "
                "and unmasked."
            )
        size, start = second & 0x7F, at + 2
        if size == 126:
            size, start = int.from_bytes(data[start : start + 2], "big"), start + 2
        elif size == 127:
            size, start = int.from_bytes(data[start : start + 8], "big"), start + 8
        if len(data) < start + size:
            break
        frames.append(Frame(first & 0x0F, data[start : start + size]))
        at = start + size
    return frames, at


@dataclass(frozen=True)
class HandshakeResponse:
    status: int
    headers: dict[str, str]
    """Header names in lower case."""


def read_handshake_response(data: bytes) -> tuple[HandshakeResponse, int] | None:
    """The HTTP response at the start of ``data`` and its length, or None if incomplete."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *header_lines = data[:end].decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return HandshakeResponse(int(status_line.split()[1]), headers), end + 4


# -- in memory -----------------------------------------------------------------------------


class MemoryTransport(StringTransportWithDisconnection):
    """Keeps what the server writes, in memory, and ends like Twisted's TCP transport.

    Closing is immediate here (TCP waits a reactor turn), and ``aborted`` tells
    ``abortConnection``, which throws away what is queued, from ``loseConnection``.
    """

    aborted = False

    def abortConnection(self) -> None:
        self.aborted = True
        self.loseConnection()

    def loseConnection(self) -> None:
        if not self.connected:
            return
        self.connected = False
        if self.producer is not None:  # as TCP does when the connection ends
            self.producer.stopProducing()
            self.producer = None
        self.protocol.connectionLost(Failure(ConnectionDone("the connection was closed")))

    def unregisterProducer(self) -> None:
        # TCP accepts this when no producer is registered; StringTransport would raise.
        self.producer = None
        self.streaming = None


class MemoryClient:
    """A browser tab inside the test process, connected to a Site through memory.

    Everything is synchronous: when ``send_json`` returns, the server has dealt with the
    message and whatever it wrote, to this client or any other, is already there.
    """

    SERVER = IPv4Address("TCP", "127.0.0.1", 1025)
    _ports = itertools.count(40000)

    def __init__(
        self,
        site: Site,
        path: str,
        *,
        origin: str | None,
        extensions: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.path = path
        peer = IPv4Address("TCP", "127.0.0.1", next(self._ports))
        self.transport = MemoryTransport(hostAddress=self.SERVER, peerAddress=peer)
        channel = site.buildProtocol(peer)
        assert channel is not None
        self.transport.protocol = channel
        channel.makeConnection(self.transport)
        self.response: HandshakeResponse | None = None
        self.frames: list[Frame] = []
        self._parsed = 0
        self._taken = 0
        request = handshake_request(
            path,
            host=f"{self.SERVER.host}:{self.SERVER.port}",
            origin=origin,
            extensions=extensions,
            headers=headers,
        )
        channel.dataReceived(request)

    @property
    def server_side(self) -> Any:
        """The protocol answering this client: HTTP's at first, the chat's after the handshake."""
        return self.transport.protocol

    def _read(self) -> None:
        data = self.transport.value()
        if self.response is None:
            found = read_handshake_response(data)
            if found is None:
                return
            self.response, self._parsed = found
        if self.response.status != 101:
            return  # a refusal: what follows is an HTTP body, not frames
        frames, used = read_server_frames(data[self._parsed :])
        self.frames.extend(frames)
        self._parsed += used

    @property
    def status(self) -> int | None:
        """The handshake's HTTP status: 101 if the server let us in, None if no answer yet."""
        self._read()
        return self.response.status if self.response else None

    @property
    def is_open(self) -> bool:
        return self.status == 101 and bool(self.transport.connected)

    @property
    def aborted(self) -> bool:
        """True once the server has called abortConnection (not loseConnection) on us."""
        return self.transport.aborted

    def messages(self) -> list[JSON]:
        """Every JSON text message received so far, but for types the checks do not know."""
        self._read()
        return protocol.known(frame.json() for frame in self.frames if frame.opcode == TEXT)

    def new_messages(self) -> list[JSON]:
        """The JSON text messages received since the last call."""
        everything = self.messages()
        fresh, self._taken = everything[self._taken :], len(everything)
        return fresh

    def first_message(self) -> JSON | None:
        """The very first JSON message, whatever its type, once it has come: the protocol's one
        ordering rule is that it is the welcome, before even a learner's own types."""
        self._read()
        texts = [frame.json() for frame in self.frames if frame.opcode == TEXT]
        return texts[0] if texts else None

    def take_welcome(self) -> JSON | None:
        """The first message (a welcome, if the server keeps the rule), once it has come; the
        next new_messages() starts after it, with what the server sent next."""
        everything = self.messages()
        if not everything:
            return None
        self._taken = max(self._taken, 1)
        return everything[0]

    def close_codes(self) -> list[int | None]:
        self._read()
        return [frame.close_code for frame in self.frames if frame.opcode == CLOSE]

    def send_frame(self, payload: bytes, opcode: int = TEXT) -> None:
        self.server_side.dataReceived(client_frame(payload, opcode))

    def send_text(self, text: str) -> None:
        self.send_frame(text.encode("utf-8"))

    def send_json(self, value: Any) -> None:
        self.send_text(json.dumps(value))

    def disconnect(self) -> None:
        """The network connection ends, as when a tab is closed."""
        if self.transport.connected:
            self.transport.loseConnection()


# -- over the network ------------------------------------------------------------------------


class ChatConnection:
    """A chat client on the ``websockets`` library, where every wait has a deadline."""

    def __init__(self, connection: ClientConnection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self.welcome: JSON = {}
        """The welcome message, once whoever opened the connection has read it."""
        self.ignored: list[str] = []
        """The types of the messages passed over so far (a learner's own extensions)."""
        self.errors_passed_over: list[JSON] = []
        """The error messages ``receive_until`` passed over while it waited for another type."""

    def send_json(self, value: Any) -> None:
        self.connection.send(json.dumps(value))

    def send_text(self, text: str) -> None:
        self.connection.send(text)

    def _next(self, deadline: float) -> JSON | None:
        """The next message of a type the checks know, or None if none comes by ``deadline``."""
        while True:
            try:
                data = self.connection.recv(timeout=max(deadline - time.monotonic(), 0))
            except TimeoutError:
                return None
            message = json.loads(data)
            if not protocol.is_ignored(message):
                return message
            self.ignored.append(message["type"])

    def receive_first(self, waiting_for: str) -> JSON:
        """The connection's very first message, whatever its type: the protocol's one ordering
        rule is that it is the welcome, before even a learner's own types."""
        try:
            data = self.connection.recv(timeout=self.timeout)
        except TimeoutError:
            raise AssertionError(
                f"Waited {self.timeout:g} s for {waiting_for}, but the chat server sent nothing."
            ) from None
        return json.loads(data)

    def receive(self, waiting_for: str) -> JSON:
        """The next message of a type the checks know, as JSON.

        Messages of other types are passed over. Fails, saying what was awaited, if no
        message comes in time.
        """
        message = self._next(time.monotonic() + self.timeout)
        if message is None:
            raise AssertionError(
                f"Waited {self.timeout:g} s for {waiting_for}, but the chat server sent "
                f"nothing.{protocol.ignored_note(self.ignored)}"
            )
        return message

    def receive_until(self, kind: str, waiting_for: str) -> JSON:
        """The next message of type ``kind``, passing over the others.

        The errors passed over are remembered: if ``kind`` never comes, the failure names
        them, since they most likely say why.
        """
        deadline = time.monotonic() + self.timeout
        while (message := self._next(deadline)) is not None:
            if message.get("type") == kind:
                return message
            if message.get("type") == "error":
                self.errors_passed_over.append(message)
        raise AssertionError(
            f"Waited {self.timeout:g} s for {waiting_for} (a message of type {kind!r}), but it "
            f"never came.{protocol.errors_note(self.errors_passed_over)}"
            f"{protocol.ignored_note(self.ignored)}"
        )

    def receive_many(self, count: int, waiting_for: str) -> list[JSON]:
        return [self.receive(f"{waiting_for} ({i + 1} of {count})") for i in range(count)]


@contextmanager
def chat_connection(
    url: str,
    *,
    origin: str | None,
    timeout: float,
    ssl: SSLContext | None = None,
    headers: Mapping[str, str] | None = None,
) -> Iterator[ChatConnection]:
    """Open a WebSocket at ``url`` as a page on ``origin`` would; close it on leaving.

    ``ssl``: the context that trusts the server's certificate, for a wss:// URL.
    ``headers``: more for the handshake, such as the cookies of a logged-in person.
    """
    with connect(
        url,
        origin=as_origin(origin),
        open_timeout=timeout,
        close_timeout=timeout,
        max_size=2**24,
        ssl=ssl,
        additional_headers=headers,
    ) as connection:
        yield ChatConnection(connection, timeout)


def as_origin(origin: str | None) -> Origin | None:
    return None if origin is None else Origin(origin)


def handshake_status(
    url: str, *, origin: str | None, timeout: float, headers: Mapping[str, str] | None = None
) -> int:
    """101 if the server opens a WebSocket at ``url``, else the HTTP status it refused with."""
    try:
        with connect(
            url,
            origin=as_origin(origin),
            open_timeout=timeout,
            close_timeout=timeout,
            additional_headers=headers,
        ):
            return 101
    except InvalidStatus as refusal:
        return refusal.response.status_code


def open_silent_client(
    host: str, port: int, path: str, *, origin: str, timeout: float
) -> socket.socket:
    """A client that completes the handshake and then never reads another byte.

    Its receive buffer is made as small as the system allows, so that the server's
    writes back up quickly.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(timeout)
    sock.connect((host, port))
    sock.sendall(handshake_request(path, host=f"{host}:{port}", origin=origin))
    received = b""
    while read_handshake_response(received) is None:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    found = read_handshake_response(received)
    if found is None or found[0].status != 101:
        sock.close()
        raise AssertionError(
            f"The chat server did not open a WebSocket at {path} for a plain-socket client: "
            f"{received[:200]!r}"
        )
    return sock


def read_until_closed(sock: socket.socket, *, within: float) -> tuple[bool, int]:
    """Read whatever the server sends until it closes the connection or time runs out.

    Returns whether the server closed it (a reset or an end of stream) and how many bytes
    arrived before that.
    """
    deadline = time.monotonic() + within
    received = 0
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(min(left, 0.5))
        try:
            chunk = sock.recv(2**16)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return True, received
        if not chunk:
            return True, received
        received += len(chunk)
    return False, received


# -- a chat client of the stage's real chat server, as a Django page would be ------------


class ChatSite(Protocol):
    """What the clients read from a running site: its addresses, the logged-in sessions,
    a person's credentials and its log. A StageProcesses is one; so is one chat process of
    a cluster, reached without its balancer (harness/cluster.py's Door)."""

    @property
    def sessions(self) -> dict[str, str]: ...

    def url(self, role: str, path: str = "/", scheme: str = "http") -> str: ...

    def credentials(self, username: str = people.VISITOR) -> dict[str, str]: ...

    def log_text(self, role: str) -> str: ...


def django_origin(site: ChatSite) -> str:
    """The origin of the stage's Django pages, which the chat server must let in."""
    return site.url("django", "")


def room_url(site: ChatSite, room: int | str) -> str:
    return site.url("chatserver", f"/ws/{room}", scheme="ws")


@contextmanager
def joined(site: ChatSite, room: int, username: str = people.VISITOR) -> Iterator[ChatConnection]:
    """A client in ``room``, connected as a page from the Django site would be, logged in as
    ``username`` where the stage has logins.

    Its welcome message has been read: it is in ``chat.welcome``.
    """
    url, origin = room_url(site, room), django_origin(site)
    headers = site.credentials(username)
    with ExitStack() as stack:
        try:
            chat = stack.enter_context(
                chat_connection(url, origin=origin, timeout=waits.MAX_WAIT, headers=headers)
            )
        except InvalidStatus as refusal:
            raise AssertionError(
                f"The chat server refused a WebSocket to {url} from a page on {origin} with "
                f"HTTP {refusal.response.status_code}. Room {room} exists, and {origin} is the "
                "Django site's origin: check onConnect and the default CHAT_ALLOWED_ORIGINS, "
                "which follow DJANGO_PORT (or, in one process, CHAT_LISTEN)."
            ) from None
        except (OSError, TimeoutError) as problem:
            raise AssertionError(
                f"Could not open a WebSocket to {url}: {problem}.\n"
                f"The chat server's last lines:\n{tail(site.log_text('chatserver'))}"
            ) from None
        welcome = chat.receive_first("the welcome message")
        assert welcome.get("type") == "welcome", (
            f"The first message from the chat server should be the welcome message, not "
            f"{welcome}. Send anything else (presence, catching up) after the welcome."
        )
        chat.welcome = welcome
        yield chat
