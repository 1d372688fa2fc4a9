"""How the load client speaks to each kind of target: its URLs and its message format.

Every message the bench sends carries a sequence number at the start of its text, so any
receiver can tell which message arrived and when it was sent, whatever JSON wraps it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

FILLER = "the quick brown fox jumps over the lazy dog"
"""Text after the number, so a message is about as long as a line of chat."""


def text_for(sequence: int) -> str:
    return f"{sequence} {FILLER}"


def sequence_in(text: str) -> int | None:
    number = text.partition(" ")[0]
    return int(number) if number.isdigit() else None


@dataclass(frozen=True)
class Received:
    """What one incoming frame was: a chat message (with its number), a welcome, an error;
    and what the client must send back at once, if anything (Socket.IO's pong)."""

    kind: str
    sequence: int | None = None
    reply: str | None = None


WELCOME = Received("welcome")
ERROR = Received("error")
OTHER = Received("other")


class Adapter(Protocol):
    waits_for_welcome: bool
    """True when a client is ready only once the server's welcome message has arrived."""

    def path(self, room: str) -> str: ...

    def outgoing(self, sequence: int) -> str: ...

    def incoming(self, frame: str | bytes) -> Received: ...


def typed_message(frame: str | bytes) -> Received:
    """Our protocol: {"type": "message", "text": ...}, {"type": "welcome"}, {"type": "error"}."""
    data = json.loads(frame)
    kind = data.get("type")
    if kind == "message":
        return Received("message", sequence_in(data.get("text", "")))
    if kind == "welcome":
        return WELCOME
    return ERROR if kind == "error" else OTHER


class StageAdapter:
    """Our stages: /ws/<room id>; send {"text": ...}; a welcome first, then messages."""

    waits_for_welcome = True

    def path(self, room: str) -> str:
        return f"/ws/{room}"

    def outgoing(self, sequence: int) -> str:
        return json.dumps({"text": text_for(sequence)})

    def incoming(self, frame: str | bytes) -> Received:
        return typed_message(frame)


class BareAdapter:
    """The bare server: it sends a welcome, then echoes every frame to the room as it came.
    We send frames shaped like our stages' broadcasts, so both cost a client the same to
    read: ``like``, a broadcast a stage sent, with the number and text of each message put
    in (by default, one with only a type, an id and a text)."""

    waits_for_welcome = True

    def __init__(self, like: Mapping[str, Any] | None = None) -> None:
        self.like = dict(like or {"type": "message"})

    def path(self, room: str) -> str:
        return f"/ws/{room}"

    def outgoing(self, sequence: int) -> str:
        return json.dumps({**self.like, "id": sequence, "text": text_for(sequence)})

    def shaped_like(self, frame: str | bytes | None) -> BareAdapter:
        """This adapter, sending frames shaped like ``frame`` when it is one of our
        broadcasts (a Channels message is not: the bare server's clients could not read it)."""
        if frame is None:
            return self
        try:
            message = json.loads(frame)
        except ValueError:  # a Socket.IO frame: a packet type, then JSON
            return self
        if not isinstance(message, dict) or message.get("type") != "message":
            return self
        return BareAdapter(message)

    def incoming(self, frame: str | bytes) -> Received:
        return typed_message(frame)


class ChannelsAdapter:
    """The Channels peer, as in the Channels tutorial: /ws/chat/<name>/; {"message": ...}
    both ways; nothing is sent on connecting, so a client is ready once the socket opens."""

    waits_for_welcome = False

    def path(self, room: str) -> str:
        return f"/ws/chat/{room}/"

    def outgoing(self, sequence: int) -> str:
        return json.dumps({"message": text_for(sequence)})

    def incoming(self, frame: str | bytes) -> Received:
        message = json.loads(frame).get("message")
        return Received("message", sequence_in(message)) if isinstance(message, str) else OTHER
