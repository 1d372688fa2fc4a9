"""The message protocol's one rule for readers: pass over the types and fields you do not know.

Every stage's chat server speaks JSON objects with a ``type``. The checks read three of
them (``welcome``, ``message``, ``error``), and from chapter 06 on two more: ``ack``, which
a server sends only to a client that gave its message a ref, and ``missed``, only to one
that resumes from an id older than the room keeps. A learner may add others, such as
presence or typing notices, and the checks must not trip over them. So every client in the
harness picks what it reads by type, and the only ordering rule it holds a server to is that
a WebSocket's first message is its welcome.

The same goes for fields: a learner may add one to any message (``"you"`` in the welcome, a
colour in a chat message), so a check compares only the fields it knows (``known_fields``)
and never requires an object to have exactly the fields it expects.

An object without a ``type`` is kept: it is a mistake the checks should show, not an
extension to pass over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

KNOWN_TYPES = frozenset({"welcome", "message", "error", "ack", "missed"})
"""The message types the checks read."""

LOGGED_OUT_CLOSE = 4001
"""The close code the chat server sends a WebSocket whose person is not logged in."""

JSON = dict[str, Any]


def message_fields(features: frozenset[str], ref: bool = False) -> set[str]:
    """The fields of a chat message on a stage with ``features``: who wrote it, once the
    chat server knows (auth); the sender's ``ref``, when it gave one (history)."""
    fields = {"type", "id", "room", "text", "sent"}
    if "auth" in features:
        fields.add("author")
    if ref:
        fields.add("ref")
    return fields


def known_fields(actual: Any, expected: Any) -> Any:
    """``actual`` with only the fields ``expected`` has, at every depth, for comparing with it.

    ``known_fields(welcome, {"type": "welcome", "room": 1})`` is ``{"type": "welcome",
    "room": 1}`` whatever else the welcome carries; a field ``expected`` has and ``actual``
    lacks stays missing, so the comparison fails as it should. Lists of the same length are
    compared item by item.
    """
    if isinstance(actual, dict) and isinstance(expected, dict):
        return {
            name: known_fields(actual[name], expected[name]) for name in expected if name in actual
        }
    if isinstance(actual, list) and isinstance(expected, list) and len(actual) == len(expected):
        return [known_fields(got, due) for got, due in zip(actual, expected, strict=True)]
    return actual


def is_ignored(message: Any) -> bool:
    """True for a message of a type the checks do not know (a learner's extension)."""
    if not isinstance(message, dict):
        return False
    kind = message.get("type")
    return isinstance(kind, str) and kind not in KNOWN_TYPES


def known(messages: Iterable[Any]) -> list[Any]:
    """``messages`` without those of types the checks do not know."""
    return [message for message in messages if not is_ignored(message)]


def without_unknown_messages(answer: Any) -> Any:
    """A long-poll answer whose ``messages`` list keeps only the types the checks know."""
    if isinstance(answer, dict) and isinstance(answer.get("messages"), list):
        return {**answer, "messages": known(answer["messages"])}
    return answer


def ignored_note(types: Iterable[str]) -> str:
    """A sentence for a failure message, naming the extra types that were passed over."""
    seen = sorted(set(types))
    if not seen:
        return ""
    return (
        f" (It also sent messages of types the checks pass over: {', '.join(seen)}. That is "
        "fine; they are not what was missing.)"
    )


def errors_listed(errors: Iterable[Any], most: int = 3) -> str:
    """The last ``most`` of ``errors`` (error messages, or error answers to a POST) as JSON,
    for a failure message."""
    seen = list(errors)
    listed = "; ".join(json.dumps(error) for error in seen[-most:])
    return listed + (f" (the last {most} of {len(seen)})" if len(seen) > most else "")


def errors_note(errors: Iterable[JSON]) -> str:
    """A sentence for a failure message, naming the error messages passed over while waiting
    for something else: most likely they say why it never came."""
    passed_over = list(errors)
    if not passed_over:
        return ""
    listed = errors_listed(passed_over)
    return f" Meanwhile the chat server sent these errors, which say why: {listed}."


PLAIN_GET_STATUS = "426 HTTP Upgrade header missing"
"""The status line a plain HTTP GET of a WebSocket URL gets (426 is Upgrade Required; the
words are Autobahn's). Chapter 02 quotes it; a check holds the server and the text to it."""
