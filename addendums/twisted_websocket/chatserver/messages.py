"""The JSON messages that travel between the chat server and its clients.

Every message is a JSON object in a WebSocket text frame. A client sends only one kind:

    {"text": "hello"}

The server sends three kinds:

    {"type": "welcome", "room": 3, "limits": {...}}   to a client that has just connected
    {"type": "message", "id": 7, "room": 3, "text": "hello", "sent": "2026-01-31T12:00:00.000Z"}
                                                       to everyone in room 3, sender included
    {"type": "error", "code": "too_long", "detail": "..."}
                                                       to the sender of a message we refuse

Over HTTP (longpoll.py) the same JSON travels in request and response bodies: a POST sends
{"text": "hello"} and gets the message or an error back, and a long-poll gets

    {"room": 3, "messages": [...], "cursor": 7, "missed": false}
"""

import json
from datetime import UTC, datetime


class Rejected(Exception):
    """A message from a client that will not be broadcast, and the reason its sender is told."""

    def __init__(self, code, detail, **extra):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra

    def as_message(self):
        return {"type": "error", "code": self.code, "detail": self.detail, **self.extra}


def read_text(payload, max_length):
    """The text a client wants to say, taken from the bytes of its text frame.

    Raises Rejected, with the error code its sender will see, when there is no usable text.
    """
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
        raise Rejected(
            "invalid_json", 'That was not JSON. Send {"text": "your message"}.'
        ) from None
    if not isinstance(data, dict):
        raise Rejected("not_an_object", 'Send a JSON object: {"text": "your message"}.')
    text = data.get("text")
    if not isinstance(text, str):
        raise Rejected("missing_text", 'The object needs a "text" field holding a string.')
    text = text.strip()
    if not text:
        raise Rejected("empty_text", "The text is empty; there is nothing to send.")
    if len(text) > max_length:
        raise Rejected(
            "too_long", f"The text has {len(text)} characters; the most allowed is {max_length}."
        )
    return text


def welcome(room_id, config):
    """The first message a client gets: which room it is in, and the limits it must keep."""
    limits = {
        "max_length": config.max_length,
        "max_bytes": config.max_bytes,
        "rate": config.rate,
        "burst": config.burst,
    }
    return {"type": "welcome", "room": room_id, "limits": limits}


def chat_message(message_id, room_id, text, sent):
    """One line of the conversation, as everyone in the room receives it."""
    return {"type": "message", "id": message_id, "room": room_id, "text": text, "sent": sent}


def poll_answer(room_id, new_messages, cursor, missed):
    """A long-poll's answer: messages after the client's cursor, and the cursor to ask from next.

    missed is true when some messages since the cursor are no longer in the room's history.
    """
    return {"room": room_id, "messages": new_messages, "cursor": cursor, "missed": missed}


def timestamp(seconds):
    """A time as ISO 8601 in UTC to the millisecond, the format JavaScript's Date reads."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(message):
    """A message as the UTF-8 bytes of a WebSocket text frame."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8")
