"""A server that reads each request's first line and hangs up without answering.

To a load balancer in front of it, it is a chat process that dies in the middle of every
request: HAProxy answers the client 502 Bad Gateway, with a page of its own. Checks put it
behind the balancer (Cluster.diverted_to) to see what a page does with such an answer.
"""

from __future__ import annotations

import socketserver
import threading
from types import TracebackType

READ_TIMEOUT = 5.0
"""Seconds the server waits for a request's first line before it hangs up anyway."""
STOP_TIMEOUT = 5.0
"""Seconds the server's thread may take to end once asked (it checks twice a second)."""


class HangUp(socketserver.ThreadingTCPServer):
    """The server, for a ``with`` block: it listens from the start of the block to its end.

    >>> with HangUp() as hang_up:
    ...     hang_up.address        # "127.0.0.1:40123", for HAProxy
    ...     hang_up.asked("POST")  # how many POSTs it has hung up on
    """

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        super().__init__((host, 0), HangUpHandler)
        self.request_lines: list[str] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, name="hang-up", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def note(self, request_line: str) -> None:
        with self.lock:
            self.request_lines.append(request_line)

    def asked(self, method: str) -> int:
        """How many requests with ``method`` (GET, POST) it has read, and hung up on."""
        with self.lock:
            return sum(1 for line in self.request_lines if line.split()[:1] == [method])

    def __enter__(self) -> HangUp:
        self.thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()
        self.thread.join(STOP_TIMEOUT)
        self.server_close()


class HangUpHandler(socketserver.StreamRequestHandler):
    """One connection: read the request line, note it, close without a word."""

    timeout = READ_TIMEOUT
    server: HangUp

    def handle(self) -> None:
        try:
            line = self.rfile.readline(65536)
        except OSError:
            return  # the client went first, or said nothing in time
        if line:
            self.server.note(line.decode("latin-1").strip())
