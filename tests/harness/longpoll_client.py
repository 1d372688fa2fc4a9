"""A long-poll client of the real chat server (in-process checks use memory_http.py).

``LongPollClient`` talks to the chat server on a loopback port with plain HTTP, as the room
page's script does: it keeps a cursor and asks for what came after it.
"""

from __future__ import annotations

import json
import socket
import urllib.error
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from . import http
from .protocol import without_unknown_messages

JSON = dict[str, Any]


# -- over the network ------------------------------------------------------------------------


class LongPollClient:
    """A long-poll client for one room of the real chat server, with a deadline on every wait.

    Like the room page's script, it starts from "now" (a GET without ``after``), then asks
    for what came after the last message it got.
    """

    def __init__(
        self,
        base_url: str,
        room: int,
        *,
        origin: str | None,
        timeout: float,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``headers`` go with every request: a logged-in person's cookies, say."""
        self.url = f"{base_url}/rooms/{room}/messages"
        self.room = room
        self.origin = origin
        self.timeout = timeout
        self.headers = dict(headers or {})
        self.cursor: int | None = None

    def _headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        headers = {} if self.origin is None else {"Origin": self.origin}
        return {**headers, **self.headers, **(extra or {})}

    def _ask(self, url: str, waiting_for: str, **options: Any) -> http.Response:
        try:
            return http.request(url, timeout=self.timeout, **options)
        except TimeoutError:
            raise AssertionError(
                f"Waited {self.timeout:g} s for {waiting_for}, but the chat server did not "
                f"answer {url}."
            ) from None
        except urllib.error.URLError as problem:
            raise AssertionError(
                f"Could not reach the chat server at {url} ({problem.reason}) while waiting "
                f"for {waiting_for}."
            ) from None

    def start(self) -> JSON:
        """Ask without a cursor: the server answers at once with the room's last id."""
        first = self._ask(self.url, "the answer to a first poll", headers=self._headers())
        answer = self.expect_json(first, 200)
        self.cursor = answer["cursor"]
        return answer

    def poll(self, waiting_for: str) -> JSON:
        """One poll after the cursor; the cursor moves to what the answer says."""
        assert self.cursor is not None, "start() the client before polling"
        response = self._ask(
            f"{self.url}?after={self.cursor}", waiting_for, headers=self._headers()
        )
        answer = self.expect_json(response, 200)
        self.cursor = answer["cursor"]
        return answer

    def send(self, text: str, ref: str | None = None) -> http.Response:
        """POST ``text``, with the client's own name for it, ``ref``, if given."""
        said = {"text": text} if ref is None else {"text": text, "ref": ref}
        body = json.dumps(said).encode("utf-8")
        return self._ask(
            self.url,
            f"the answer to posting {text!r}",
            method="POST",
            body=body,
            headers=self._headers({"Content-Type": "application/json"}),
        )

    def expect_json(self, response: http.Response, status: int) -> JSON:
        content_type = response.headers.get("Content-Type", "")
        assert response.status == status and content_type.startswith("application/json"), (
            f"{self.url} answered HTTP {response.status} ({content_type or 'no Content-Type'}) "
            f"{response.body[:200]!r}; expected {status} with a JSON body."
        )
        return without_unknown_messages(response.json())


def raw_exchange(url: str, request: bytes, *, timeout: float) -> bytes:
    """Send ``request`` as is on a new connection; return all the server sends until it closes.

    Fails, saying so, if the server neither answers and closes nor closes within ``timeout``.
    """
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(request)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            raise AssertionError(
                f"After {timeout:g} s the server had sent {received[:300]!r} and still "
                "held the connection open: it is waiting for more from the client."
            ) from None
        except ConnectionResetError:
            pass
    return received
