"""Answers over HTTP: every one is JSON, none may be cached, and an error says what was wrong.

The long-poll API (longpoll.py) and the early refusals in web.py both answer through here,
so a page always gets the same shape, and errors look like those sent over WebSocket:

    {"type": "error", "code": "too_large", "detail": "The body has ... bytes; ..."}
"""

import math
from http import HTTPStatus

from chatserver import messages
from chatserver.messages import Rejected


def write_json(request, status, message):
    """Write a JSON answer's status line, headers and body; the caller finishes the request."""
    write_encoded(request, status, messages.encode(message))


def write_encoded(request, status, body):
    """Like write_json, for a body already encoded: one many requests share."""
    # Python's table of reason phrases knows 429, which Twisted's does not.
    request.setResponseCode(status, HTTPStatus(status).phrase.encode("ascii"))
    request.setHeader(b"content-type", b"application/json; charset=utf-8")
    # A poll's answer is news once: no browser or proxy may keep it and hand it out again.
    request.setHeader(b"cache-control", b"no-store")
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)


def answer(request, status, message):
    """Answer a request with JSON, now or later: after render has returned NOT_DONE_YET."""
    write_json(request, status, message)
    request.finish()


def answer_encoded(request, status, body):
    """Answer a request with JSON already encoded."""
    write_encoded(request, status, body)
    request.finish()


def refuse(request, status, code, detail, retry_after=None):
    """Answer with an error: its code for programs, and its detail in plain words for people.

    retry_after, in seconds, goes into the body as it does over WebSocket, and rounded up to
    whole seconds into the Retry-After header, where HTTP clients look for it.
    """
    extra = {}
    if retry_after is not None:
        request.setHeader(b"retry-after", b"%d" % math.ceil(retry_after))
        extra["retry_after"] = retry_after
    answer(request, status, Rejected(code, detail, **extra).as_message())
