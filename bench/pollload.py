"""The long-poll load client: many pollers of one room, each on a kept-alive HTTP connection.

Each poller behaves like the room page's long-poll script: it asks once without a cursor
to learn where "now" is, then asks ``?after=<cursor>`` again and again, moving its cursor to
what each answer says.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping

from .adapters import sequence_in
from .recorder import Recorder

RETRY_STATUSES = (429, 503)


class PollError(Exception):
    """The chat server answered a poll with something other than messages or "retry"."""


class HttpConnection:
    """Just enough HTTP/1.1 for GETs with JSON answers on one kept-alive connection."""

    def __init__(
        self, host: str, port: int, origin: str | None, headers: Mapping[str, str]
    ) -> None:
        self.host, self.port = host, port
        lines = [f"Host: {host}:{port}", "Accept: application/json"]
        lines += [] if origin is None else [f"Origin: {origin}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self._headers = "".join(f"{line}\r\n" for line in lines) + "\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes]:
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self._headers}".encode("latin-1"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        body = await self.reader.readexactly(length)
        return int(status_line.split()[1]), body

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class PollSwarm:
    """``size`` long-poll clients of one room, each polling for as long as the swarm runs."""

    def __init__(
        self,
        host: str,
        port: int,
        room: str,
        origin: str | None,
        size: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.path = f"/rooms/{room}/messages"
        self.connections = [HttpConnection(host, port, origin, headers or {}) for _ in range(size)]
        self.pollers: list[asyncio.Task[None]] = []
        self.recorder: Recorder | None = None
        self.waiting = 0
        """Pollers that have asked with a cursor and not yet been answered."""
        self.retries = 0
        self.answers = 0
        """Polls answered with messages (or none, on a timeout), first polls left out."""

    async def start(self, deadline: float, concurrency: int) -> None:
        """Start every poller, ``concurrency`` connecting at once at most; return once each
        has a poll waiting at the server."""
        gate = asyncio.Semaphore(concurrency)

        async def first_poll(connection: HttpConnection) -> int:
            async with gate:
                return await self._first_poll(connection)

        cursors = await asyncio.wait_for(
            asyncio.gather(*(first_poll(c) for c in self.connections)), deadline
        )
        for index, (connection, cursor) in enumerate(zip(self.connections, cursors, strict=True)):
            self.pollers.append(asyncio.create_task(self._poll(index, connection, cursor)))
        await self.all_asking(deadline)
        await asyncio.sleep(0.2)  # let the server park the last ones it has been sent

    async def all_asking(self, deadline: float) -> None:
        """Return once every poller has a poll on its way or waiting at the server, or
        after ``deadline`` seconds."""
        ends = time.perf_counter() + deadline
        while self.waiting < len(self.connections) and time.perf_counter() < ends:
            await asyncio.sleep(0.02)

    async def _first_poll(self, connection: HttpConnection) -> int:
        status, body = await connection.get(self.path)
        if status != 200:
            raise PollError(f"GET {self.path} answered HTTP {status}: {body[:200]!r}")
        return int(json.loads(body)["cursor"])

    async def _poll(self, index: int, connection: HttpConnection, cursor: int) -> None:
        while True:
            self.waiting += 1
            try:
                status, body = await connection.get(f"{self.path}?after={cursor}")
            finally:
                self.waiting -= 1
            now = time.perf_counter()
            if status in RETRY_STATUSES:
                self.retries += 1
                await asyncio.sleep(0.05)
                continue
            if status != 200:
                raise PollError(f"a poll answered HTTP {status}: {body[:200]!r}")
            self.answers += 1
            answer = json.loads(body)
            cursor = int(answer["cursor"])
            recorder = self.recorder
            if recorder is not None:
                for message in answer["messages"]:
                    recorder.arrived(index, sequence_in(message.get("text", "")), now)

    def problem(self) -> str | None:
        """The first poller that stopped with an error, in plain words; None if none did."""
        for poller in self.pollers:
            if poller.done() and not poller.cancelled() and poller.exception() is not None:
                return repr(poller.exception())
        return None

    async def close(self) -> None:
        for poller in self.pollers:
            poller.cancel()
        await asyncio.gather(*self.pollers, return_exceptions=True)
        for connection in self.connections:
            connection.close()
