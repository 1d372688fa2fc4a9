"""How the load client speaks Socket.IO (protocol 5, on Engine.IO 4) over WebSocket only.

A Socket.IO client usually starts with HTTP long-polling and upgrades; the bench's asks
for WebSocket at once (``transport=websocket``), as a client configured with
``transports: ["websocket"]`` does, so that every target is loaded over WebSocket alone.
On that one connection, each frame is a packet: its type in the first characters, then
JSON. In the order they come:

    server: 0{"sid": ..., "pingInterval": ...}   Engine.IO's open packet
    client: 40                                    connect to the default namespace
    server: 40{"sid": ...}                        connected: ready to chat (the welcome)
    both:   42["message", {"text": ...}]          an event called "message"
    server: 2                client: 3            Engine.IO's ping, and the pong it needs

A client that does not answer a ping within the server's ping timeout is dropped, so
``incoming`` gives every frame that needs an answer a ``reply``.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from .adapters import ERROR, OTHER, WELCOME, Received, sequence_in, text_for

OPEN = b"0"
CONNECT = b"40"
CONNECT_ERROR = b"44"
EVENT = b"42"
PING = b"2"
PONG = "3"
EVENT_NAME = "message"


class SocketIOAdapter:
    """The Socket.IO peers (python-socketio's, Node's): the room in the query string;
    ``42["message", {"text": ...}]`` both ways; ready once connected to the namespace."""

    waits_for_welcome = True

    def path(self, room: str) -> str:
        return f"/socket.io/?EIO=4&transport=websocket&room={quote(room)}"

    def outgoing(self, sequence: int) -> str:
        return EVENT.decode() + json.dumps([EVENT_NAME, {"text": text_for(sequence)}])

    def incoming(self, frame: str | bytes) -> Received:
        """Read as bytes, as the client receives frames: no decoding before JSON's own."""
        data = frame if isinstance(frame, bytes) else frame.encode()
        if data.startswith(EVENT):
            return event(data[len(EVENT) :])
        if data == PING:
            return Received("ping", reply=PONG)
        if data.startswith(CONNECT):
            return WELCOME
        if data.startswith(OPEN):
            return Received("open", reply=CONNECT.decode())
        return ERROR if data.startswith(CONNECT_ERROR) else OTHER


def event(payload: bytes) -> Received:
    """A ``42`` packet's JSON: a "message" event's text carries the message's number."""
    name, *arguments = json.loads(payload)
    data = arguments[0] if arguments else None
    if name != EVENT_NAME or not isinstance(data, dict) or not isinstance(data.get("text"), str):
        return OTHER
    return Received("message", sequence_in(data["text"]))
