"""The JSON messages that travel between the chat server and its clients.

Every message is a JSON object in a WebSocket text frame. A client sends only one kind:

    {"text": "hello", "ref": "k3x9q2"}

ref is optional: the client's own name for the message, up to 64 letters, digits, "-" and
"_". A client that sends the same message again (because its connection broke before the
answer came) sends the same ref, and the message is stored and shown only once.

The server sends five kinds:

    {"type": "welcome", "room": 3, "limits": {...}}   to a client that has just connected
    {"type": "message", "id": 7, "room": 3, "author": "alice", "text": "hello",
     "sent": "2026-01-31T12:00:00.000Z", "ref": "k3x9q2"}
                                                       to everyone in room 3, sender included;
                                                       "ref" only if its sender gave one
    {"type": "ack", "ref": "k3x9q2", "id": 7}         to the sender, once message 7 is stored
    {"type": "missed", "first": 4, "last": 6, "detail": "..."}
                                                       to a client resuming from an id older
                                                       than the room keeps: 4 to 6 are gone
    {"type": "error", "code": "too_long", "detail": "...", "ref": "k3x9q2"}
                                                       to the sender of a message we refuse

Over HTTP (longpoll.py) the same JSON travels in request and response bodies: a POST sends
{"text": "hello", "ref": "k3x9q2"} and gets the stored message back (201 when it is new, 200
when that ref was stored before) or an error, and a long-poll gets

    {"room": 3, "messages": [...], "cursor": 7, "missed": false}

with a "detail" in plain words besides when missed is true.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

REF = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""A client's name for a message: long enough for a random id, short enough to index."""


class Rejected(Exception):
    """A message from a client that will not be broadcast, and the reason its sender is told."""

    def __init__(self, code, detail, **extra):
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra

    def as_message(self):
        return {"type": "error", "code": self.code, "detail": self.detail, **self.extra}


@dataclass(frozen=True)
class Said:
    """What a client asked to say: its text, and its own name for the message (or None)."""

    text: str
    ref: str | None


def read_message(payload, max_length):
    """What a client wants to say, taken from the bytes of its text frame or POST body.

    Raises Rejected, with the error code its sender will see, when there is no usable text.
    The refusal carries the message's ref whenever the ref itself could be read, so that
    the client knows which of its messages was refused.
    """
    try:
        data = json.loads(payload.decode("utf-8"))
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested too deeply
        raise Rejected(
            "invalid_json", 'That was not JSON. Send {"text": "your message"}.'
        ) from None
    if not isinstance(data, dict):
        raise Rejected("not_an_object", 'Send a JSON object: {"text": "your message"}.')
    ref = data.get("ref")
    if ref is not None and not (isinstance(ref, str) and REF.fullmatch(ref)):
        raise Rejected(
            "invalid_ref",
            'A "ref" is up to 64 letters, digits, "-" and "_", chosen by the client.',
        )
    refers = {} if ref is None else {"ref": ref}
    text = data.get("text")
    if not isinstance(text, str):
        raise Rejected(
            "missing_text", 'The object needs a "text" field holding a string.', **refers
        )
    text = text.strip()
    if not text:
        raise Rejected("empty_text", "The text is empty; there is nothing to send.", **refers)
    if len(text) > max_length:
        raise Rejected(
            "too_long",
            f"The text has {len(text)} characters; the most allowed is {max_length}.",
            **refers,
        )
    return Said(text, ref)


@dataclass(frozen=True)
class Draft:
    """A message on its way to the database: everything but its id, which the database gives.

    author is the sender's Person (people.py); sent is the moment the server took it, in
    seconds since the epoch.
    """

    room_id: int
    author: object
    text: str
    sent: float
    ref: str | None = None

    def message(self, message_id):
        """The message as everyone will receive it, once stored with this id."""
        return chat_message(
            message_id, self.room_id, self.author.name, self.text, timestamp(self.sent), self.ref
        )


def welcome(room_id, config):
    """The first message a client gets: which room it is in, and the limits it must keep."""
    limits = {
        "max_length": config.max_length,
        "max_bytes": config.max_bytes,
        "rate": config.rate,
        "burst": config.burst,
    }
    return {"type": "welcome", "room": room_id, "limits": limits}


def chat_message(message_id, room_id, author, text, sent, ref=None):
    """One line of the conversation, as everyone in the room receives it.

    author is the sender's username, as the chat server found it from their session; ref
    the sender's own name for the message, if it gave one, so that its page can put the
    message where its "sending…" line was.
    """
    message = {
        "type": "message",
        "id": message_id,
        "room": room_id,
        "author": author,
        "text": text,
        "sent": sent,
    }
    if ref is not None:
        message["ref"] = ref
    return message


def ack(ref, message_id):
    """Tells a sender that its message `ref` is stored, as message `message_id`."""
    return {"type": "ack", "ref": ref, "id": message_id}


def missed(first, last):
    """Tells a client that messages `first` to `last` are no longer kept, so it cannot see them."""
    which = f"Message {first} is" if first == last else f"Messages {first} to {last} are"
    detail = (
        f"{which} older than this room keeps, so you missed "
        f"{'it' if first == last else 'them'} while you were away."
    )
    return {"type": "missed", "first": first, "last": last, "detail": detail}


def poll_answer(room_id, new_messages, cursor, missed_detail=None):
    """A long-poll's answer: messages after the client's cursor, and the cursor to ask from next.

    missed_detail, when given, says in plain words which messages since the cursor are no
    longer kept; the answer then has missed: true.
    """
    answer = {
        "room": room_id,
        "messages": new_messages,
        "cursor": cursor,
        "missed": missed_detail is not None,
    }
    if missed_detail is not None:
        answer["detail"] = missed_detail
    return answer


def timestamp(seconds):
    """A time as ISO 8601 in UTC to the millisecond, the format JavaScript's Date reads."""
    return iso_time(datetime.fromtimestamp(seconds, UTC))


def iso_time(moment):
    """A datetime (one the database gave back, say) written as timestamp writes times."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode(message):
    """A message as the UTF-8 bytes of a WebSocket text frame."""
    return json.dumps(message, ensure_ascii=False).encode("utf-8")
