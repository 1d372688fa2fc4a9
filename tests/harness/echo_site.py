"""A tiny local web site whose page opens a WebSocket and has a word echoed back.

``nox -s doctor`` opens it in a headless browser to see that the browser starts, runs
JavaScript and speaks WebSocket to this machine, before anything is installed: so it is
built on the standard library alone (``http.server``, and the few lines of RFC 6455 an echo
of one short text message needs).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import BinaryIO

WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The constant RFC 6455 mixes into the handshake's key."""
REQUEST_TIMEOUT = 10.0
"""Seconds a connection may stay silent before the server gives up on it."""
POLL_INTERVAL = 0.05
"""Seconds between the server's looks at whether it is asked to stop (so it stops at once)."""
TEXT_FRAME = 0x81
CLOSE_FRAME = 0x88
PAGE = """<!doctype html>
<meta charset="utf-8">
<title>doctor</title>
<p id="result">JavaScript did not run.</p>
<script>
  const result = document.getElementById("result");
  result.textContent = "connecting";
  const socket = new WebSocket(`ws://${location.host}/echo`);
  socket.onopen = () => socket.send(WORD);
  socket.onmessage = (event) => { result.textContent = `echoed ${event.data}`; };
  socket.onerror = () => { result.textContent = "the WebSocket failed"; };
</script>
"""


def echoed(word: str) -> str:
    """What the page shows once the server has echoed ``word``."""
    return f"echoed {word}"


class EchoSite(ThreadingHTTPServer):
    """Serves the page at / and echoes one text message on the WebSocket at /echo."""

    daemon_threads = True

    def __init__(self, word: str) -> None:
        super().__init__(("127.0.0.1", 0), EchoHandler)
        self.word = word

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet: a connection that fails shows on the page, which doctor reads."""


class EchoHandler(BaseHTTPRequestHandler):
    server: EchoSite
    timeout = REQUEST_TIMEOUT

    def do_GET(self) -> None:
        if self.path == "/":
            self._send_page()
        elif self.path == "/echo" and "websocket" in self.headers.get("Upgrade", "").lower():
            self._echo()
        else:
            self.send_error(HTTPStatus.NOT_FOUND)

    def _send_page(self) -> None:
        body = PAGE.replace("WORD", json.dumps(self.server.word)).encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _echo(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest())
        self.send_response(HTTPStatus.SWITCHING_PROTOCOLS)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept.decode())
        self.end_headers()
        self.wfile.flush()
        message = read_text_frame(self.rfile)
        self.wfile.write(text_frame(message) + bytes([CLOSE_FRAME, 0]))
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: doctor prints its own lines."""


def read_text_frame(stream: BinaryIO) -> str:
    """One frame a browser sent (browsers always mask theirs), as text."""
    header = stream.read(2)
    if len(header) < 2:
        raise ConnectionError("the WebSocket closed before a message came")
    length = header[1] & 0x7F
    if length == 126:
        length = int.from_bytes(stream.read(2), "big")
    elif length == 127:
        length = int.from_bytes(stream.read(8), "big")
    mask = stream.read(4)
    payload = stream.read(length)
    return bytes(byte ^ mask[at % 4] for at, byte in enumerate(payload)).decode()


def text_frame(text: str) -> bytes:
    """A server's (unmasked) text frame."""
    payload = text.encode()
    if len(payload) < 126:
        return bytes([TEXT_FRAME, len(payload)]) + payload
    return bytes([TEXT_FRAME, 126]) + len(payload).to_bytes(2, "big") + payload


@contextmanager
def echo_site(word: str) -> Iterator[EchoSite]:
    """The site, on a free loopback port, for as long as the ``with`` block lasts."""
    site = EchoSite(word)
    thread = threading.Thread(
        target=site.serve_forever, args=(POLL_INTERVAL,), name="echo site", daemon=True
    )
    thread.start()
    try:
        yield site
    finally:
        site.shutdown()
        site.server_close()
