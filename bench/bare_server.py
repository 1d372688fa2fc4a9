"""The bare Autobahn broadcast server: the ceiling this machine and client can reach.

It does the least a room chat can do: a client in /ws/<room> gets a welcome frame, and
every frame it sends goes, as it came, to everyone in that room, itself included. No
database, no checks, no limits; Autobahn's factory listening on a port of its own, with
Twisted's usual backlog.

With --poll-port, the same process also serves the least long-poll API twisted.web
allows, on the same rooms: GET /rooms/<room>/messages answers at once with the room's
cursor (how many messages it has had), and ?after=<cursor> answers with the messages
said since, {"cursor": ..., "messages": [...]}, at once if there are any, else as soon as
the next one is. A frame sent over WebSocket is such a message, read as JSON (the bench
sends frames shaped like our stages' broadcasts). Every poll with the same cursor gets
the same encoded answer, as in part3, and there is no access log. It does what every
long-poll server must, and no more: a poll waits --poll-timeout seconds at most (proxies
cut quiet requests), and an answer says Cache-Control: no-store (news only once).

With --web-port, it also serves the same broadcast the way our stages serve theirs:
Autobahn's WebSocketResource at /ws/ in a twisted.web Site, so that twisted.web reads each
handshake's request before Autobahn reads it again. A stage shares its port with its
long-poll API (and single_process with Django's pages), and pays for that on every
handshake; this is the ceiling for a server that does. Its clients and those on --port
share the rooms.

With --twisted-port, it also serves the same broadcast on Twisted's own
twisted.web.websocket: the ceiling for the stage built on that module,
whose cost is the module's (it frames every copy of a broadcast for each client, where
Autobahn's prepareMessage frames one for them all), not the stage's. A room's clients on
either library hear only each other; the long-poll API hears them all.

    python -m bench.bare_server --port 9000 --poll-port 9001 --web-port 9002 --twisted-port 9003
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from typing import Any

from autobahn.twisted.resource import WebSocketResource as AutobahnResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionRequest
from twisted.internet import endpoints, task
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from twisted.web.websocket import WebSocketResource, WebSocketTransport

WELCOME = b'{"type": "welcome"}'
POLL_PATH = re.compile(rb"/rooms/([^/]+)/messages")


class Room:
    """Who is in a room (its WebSocket clients), what was said there, and its parked polls."""

    def __init__(self) -> None:
        self.clients: set[BroadcastProtocol] = set()
        self.twisted_clients: set[TwistedBroadcast] = set()
        """Its clients on twisted.web.websocket, who get what they send among themselves."""
        self.messages: list[Any] = []
        self.polls: dict[Request, tuple[int, IDelayedCall]] = {}
        """Each parked poll, its cursor and its timeout."""
        self.answers: dict[int, bytes] = {}
        """Each cursor's answer, encoded once between two messages."""

    def said(self, payload: bytes) -> None:
        self.messages.append(json.loads(payload))
        self.answers.clear()
        polls, self.polls = self.polls, {}
        for request, (cursor, timeout) in polls.items():
            timeout.cancel()
            answer(request, self.answer_after(cursor))

    def park(self, request: Request, cursor: int, clock: IReactorTime, wait: float) -> None:
        def time_out() -> None:
            del self.polls[request]
            answer(request, self.answer_after(cursor))

        def gone(_: object) -> None:
            parked = self.polls.pop(request, None)
            if parked is not None:
                parked[1].cancel()

        self.polls[request] = (cursor, clock.callLater(wait, time_out))
        request.notifyFinish().addErrback(gone)

    def answer_after(self, cursor: int) -> bytes:
        body = self.answers.get(cursor)
        if body is None:
            news = {"cursor": len(self.messages), "messages": self.messages[cursor:]}
            body = self.answers[cursor] = json.dumps(news).encode()
        return body


class BroadcastProtocol(WebSocketServerProtocol):
    room: str = ""

    def connectionMade(self) -> None:
        super().connectionMade()
        # In a twisted.web Site, the HTTP channel that read the handshake stays registered
        # as the transport's producer, and keeps its request and headers alive with it. The
        # stages put their protocol in its place (to hear of slow readers); the bare server
        # lets it go, so that the two keep the same per connection.
        self.transport.unregisterProducer()

    def onConnect(self, request: ConnectionRequest) -> None:
        self.room = request.path.removeprefix("/ws/")

    def onOpen(self) -> None:
        self.factory.rooms[self.room].clients.add(self)
        self.sendMessage(WELCOME)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        room = self.factory.rooms[self.room]
        prepared = self.factory.prepareMessage(payload, isBinary)
        for client in room.clients:
            client.sendPreparedMessage(prepared)
        room.said(payload)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.rooms[self.room].clients.discard(self)


class BroadcastFactory(WebSocketServerFactory):
    protocol = BroadcastProtocol

    def __init__(self) -> None:
        super().__init__()
        self.rooms: defaultdict[str, Room] = defaultdict(Room)


class TwistedBroadcast:
    """The same broadcast on twisted.web.websocket: one for every client."""

    transport: WebSocketTransport | None = None

    def __init__(self, room: Room) -> None:
        self.room = room

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        self.room.twisted_clients.add(self)
        self.send(WELCOME.decode())

    def textMessageReceived(self, message: str) -> None:
        for client in self.room.twisted_clients:
            client.send(message)
        self.room.said(message.encode())

    def bytesMessageReceived(self, data: bytes | bytearray) -> None:
        """The bench sends text frames only."""

    def pongReceived(self, payload: bytes) -> None:
        """No pings are sent."""

    def connectionLost(self, reason: Failure) -> None:
        self.room.twisted_clients.discard(self)

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.sendTextMessage(text)


class TwistedBroadcastFactory:
    """Makes a TwistedBroadcast for each WebSocket request to /ws/<room>."""

    def __init__(self, rooms: defaultdict[str, Room]) -> None:
        self.rooms = rooms

    def buildProtocol(self, request: Request) -> TwistedBroadcast:
        return TwistedBroadcast(self.rooms[request.path.removeprefix(b"/ws/").decode()])


class Polls(Resource):
    """GET /rooms/<room>/messages[?after=<cursor>], answered now or parked in the room."""

    isLeaf = True

    def __init__(self, rooms: defaultdict[str, Room], clock: IReactorTime, wait: float) -> None:
        super().__init__()
        self.rooms, self.clock, self.wait = rooms, clock, wait

    def render_GET(self, request: Request) -> bytes | int:
        found = POLL_PATH.fullmatch(request.path)
        if found is None:
            request.setResponseCode(404)
            return b""
        room = self.rooms[found[1].decode()]
        after = request.args.get(b"after")
        cursor = len(room.messages) if after is None else int(after[0])
        if after is None or cursor < len(room.messages):
            answer(request, room.answer_after(cursor))
        else:
            room.park(request, cursor, self.clock, self.wait)
        return NOT_DONE_YET


def answer(request: Request, body: bytes) -> None:
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()


class QuietSite(Site):
    def log(self, request: Request) -> None:
        """No access log line: our stages write one only for a refusal."""


class RoomSockets(WebSocketResource):
    """/ws/<room>: a leaf, so that it answers every path below /ws/ (buildProtocol reads the
    room from the path)."""

    isLeaf = True


def web_site(factory: BroadcastFactory) -> Site:
    """/ws/<room> served as our stages serve it (AutobahnResource is a leaf too)."""
    root = Resource()
    root.putChild(b"ws", AutobahnResource(factory))
    return QuietSite(root)


def twisted_site(rooms: defaultdict[str, Room]) -> Site:
    root = Resource()
    root.putChild(b"ws", RoomSockets(TwistedBroadcastFactory(rooms)))
    return QuietSite(root)


def serve(
    reactor: IReactorTime,
    host: str,
    port: int,
    poll_port: int | None,
    poll_timeout: float,
    web_port: int | None,
    twisted_port: int | None,
) -> Deferred[None]:
    """Listen (with Twisted's usual backlog of 50, as twistd does) until stopped."""
    factory = BroadcastFactory()
    if poll_port is not None:
        site = QuietSite(Polls(factory.rooms, reactor, poll_timeout))
        endpoints.TCP4ServerEndpoint(reactor, poll_port, interface=host).listen(site)
    if web_port is not None:
        endpoint = endpoints.TCP4ServerEndpoint(reactor, web_port, interface=host)
        endpoint.listen(web_site(factory))
    if twisted_port is not None:
        endpoint = endpoints.TCP4ServerEndpoint(reactor, twisted_port, interface=host)
        endpoint.listen(twisted_site(factory.rooms))
    endpoints.TCP4ServerEndpoint(reactor, port, interface=host).listen(factory)
    return Deferred()  # never fires: Ctrl-C or SIGTERM stops the reactor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--poll-port", type=int, help="serve the long-poll API here too")
    parser.add_argument(
        "--poll-timeout", type=float, default=25.0, help="most seconds a poll waits (25)"
    )
    parser.add_argument(
        "--web-port", type=int, help="serve the broadcast in a twisted.web Site here too"
    )
    parser.add_argument(
        "--twisted-port", type=int, help="serve the broadcast on twisted.web.websocket here too"
    )
    options = parser.parse_args()
    arguments = (options.poll_port, options.poll_timeout, options.web_port, options.twisted_port)
    task.react(serve, (options.host, options.port, *arguments))


if __name__ == "__main__":
    main()
