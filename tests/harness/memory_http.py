"""HTTP to a twisted.web Site inside the test process, through in-memory transports.

One connection per request. A request the server parks simply has no answer yet; the check
decides when time passes and when the client leaves.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.web.server import Site

from .protocol import without_unknown_messages
from .wsclient import MemoryTransport, read_handshake_response


class HTTPTransport(MemoryTransport):
    """A MemoryTransport that, like TCP, says it is disconnecting once it has been closed.

    An HTTP channel stops reading a request once its transport is disconnecting; that is how
    a server that refuses a body early leaves the rest of it unread.
    """

    def loseConnection(self) -> None:
        self.disconnecting = True
        super().loseConnection()


@dataclass(frozen=True)
class Answer:
    """A complete HTTP response from the server."""

    status: int
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes

    def json(self) -> Any:
        """The body as JSON; in a poll answer, ``messages`` of unknown types are passed over."""
        try:
            return without_unknown_messages(json.loads(self.body.decode("utf-8")))
        except ValueError:
            raise AssertionError(
                f"The answer (HTTP {self.status}) should be JSON, but its body is "
                f"{self.body[:200]!r}. Every answer of the long-poll API is JSON."
            ) from None


class Exchange:
    """One request on a connection of its own, and whatever the server has answered so far."""

    SERVER = IPv4Address("TCP", "127.0.0.1", 1025)
    _ports = itertools.count(50000)

    def __init__(self, site: Site, request: bytes, *, client_ip: str = "127.0.0.1") -> None:
        self.method = request.split(b" ", 1)[0]
        peer = IPv4Address("TCP", client_ip, next(self._ports))
        self.transport = HTTPTransport(hostAddress=self.SERVER, peerAddress=peer)
        channel = site.buildProtocol(peer)
        assert channel is not None
        self.transport.protocol = channel
        channel.makeConnection(self.transport)
        channel.dataReceived(request)

    def send(self, data: bytes) -> None:
        """Send more bytes on the connection, such as a body after its headers."""
        self.transport.protocol.dataReceived(data)

    @property
    def closed(self) -> bool:
        """True once the connection has ended (the server closed it, or we left)."""
        return not self.transport.connected

    @property
    def answer(self) -> Answer | None:
        """The server's complete answer, or None while it has not answered (yet)."""
        data = self.transport.value()
        found = read_handshake_response(data)
        if found is None:
            return None
        head, length = found
        body = data[length:]
        if self.method == b"HEAD":
            return Answer(head.status, head.headers, b"")  # never a body, whatever it says
        if "content-length" in head.headers:
            size = int(head.headers["content-length"])
            if len(body) < size:
                return None
            body = body[:size]
        elif head.headers.get("transfer-encoding") == "chunked":
            if b"0\r\n\r\n" not in body:
                return None
            body = dechunk(body)
        elif head.status not in (204, 304) and not self.closed:
            return None  # the body ends when the connection does
        return Answer(head.status, head.headers, body)

    def answered(self, what: str, hint: str | None = None) -> Answer:
        """The answer, which must be there by now.

        ``what`` names the request in the failure message, ``hint`` says what to check.
        """
        answer = self.answer
        assert answer is not None, f"{what} got no answer: the server is still holding it. " + (
            hint or "Only a poll with nothing new to give should wait for the next message."
        )
        return answer

    def disconnect(self) -> None:
        """The client goes away, as when a browser tab is closed mid-request."""
        if self.transport.connected:
            self.transport.loseConnection()


def request_bytes(
    method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes | None = None
) -> bytes:
    """An HTTP/1.1 request. With a body, Content-Length is added unless ``headers`` has it."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1:1025"]
    given = {name.lower() for name in (headers or {})}
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None and "content-length" not in given:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


class MemoryHTTP:
    """Sends requests to a Site through memory: ``http.get("/rooms/1/messages?after=0")``.

    Everything is synchronous: when a method returns, the server has done all it does
    without waiting for the clock or the room lookup, and its answer, if any, is there.
    """

    def __init__(self, site: Site, origin: str | None) -> None:
        self.site = site
        self.origin = origin
        """Sent as the Origin header unless a request says otherwise."""
        self.exchanges: list[Exchange] = []

    def request(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
        origin: str | bool | None = True,
        client_ip: str = "127.0.0.1",
    ) -> Exchange:
        """Send one request from the usual origin (``origin=True``), another one (a string),
        or none at all (``origin=None``), from the address ``client_ip``.
        """
        chosen = self.origin if origin is True else origin
        all_headers = dict(headers or {})
        if isinstance(chosen, str):
            all_headers.setdefault("Origin", chosen)
        exchange = Exchange(
            self.site, request_bytes(method, path, all_headers, body), client_ip=client_ip
        )
        self.exchanges.append(exchange)
        return exchange

    def get(self, path: str, **options: Any) -> Exchange:
        return self.request("GET", path, **options)

    def post_json(self, path: str, value: Any, **options: Any) -> Exchange:
        body = json.dumps(value).encode("utf-8")
        headers = {"Content-Type": "application/json", **options.pop("headers", {})}
        return self.request("POST", path, headers=headers, body=body, **options)

    def close_all(self) -> None:
        for exchange in self.exchanges:
            exchange.disconnect()


def get(site: Site, path: str) -> Answer:
    """GET ``path``, which the server must answer at once."""
    request = request_bytes("GET", path, {"Connection": "close"})
    return Exchange(site, request).answered(f"GET {path}", "It should be answered at once.")


def dechunk(body: bytes) -> bytes:
    chunks = []
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        chunks.append(body[:size])
        body = body[size + 2 :]
    return b"".join(chunks)
