"""The bare Autobahn broadcast server: the ceiling this machine and client can reach.

It does the least a room chat can do: a client in /ws/<room> gets a welcome frame, and
every frame it sends goes, as it came, to everyone in that room, itself included. No
database, no checks, no limits; the same Twisted listening port as the stages.

    python -m bench.bare_server --port 9000
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionRequest
from twisted.internet import endpoints, task
from twisted.internet.defer import Deferred

WELCOME = b'{"type": "welcome"}'


class BroadcastProtocol(WebSocketServerProtocol):
    room: str = ""

    def onConnect(self, request: ConnectionRequest) -> None:
        self.room = request.path

    def onOpen(self) -> None:
        self.factory.rooms[self.room].add(self)
        self.sendMessage(WELCOME)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        prepared = self.factory.prepareMessage(payload, isBinary)
        for client in self.factory.rooms[self.room]:
            client.sendPreparedMessage(prepared)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.factory.rooms[self.room].discard(self)


class BroadcastFactory(WebSocketServerFactory):
    protocol = BroadcastProtocol

    def __init__(self) -> None:
        super().__init__()
        self.rooms: defaultdict[str, set[BroadcastProtocol]] = defaultdict(set)


def serve(reactor: object, host: str, port: int) -> Deferred[None]:
    """Listen (with Twisted's usual backlog of 50, as twistd does) until stopped."""
    endpoints.TCP4ServerEndpoint(reactor, port, interface=host).listen(BroadcastFactory())
    return Deferred()  # never fires: Ctrl-C or SIGTERM stops the reactor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    task.react(serve, (options.host, options.port))


if __name__ == "__main__":
    main()
