"""The WebSocket load client: many clients in one room of a target, on the websockets library.

One asyncio loop runs every client. Each client reads all the time, as a browser tab does,
and hands what it reads to the Recorder of the flow being measured, if any.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator, Mapping

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from .adapters import Adapter
from .collector import collector_paused
from .recorder import Recorder
from .results import Join

OPEN_TIMEOUT = 30.0
_sequence: Iterator[int] = itertools.count(1)
"""Message numbers, unique across the whole run, so a straggler is never taken for news."""


class Swarm:
    """``size`` WebSocket clients of one room; the first of them is the one that sends."""

    def __init__(
        self,
        url: str,
        adapter: Adapter,
        origin: str | None,
        size: int,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """``headers`` go with every handshake: a logged-in page's cookies, where a target
        needs them."""
        self.url = url
        self.adapter = adapter
        self.origin = None if origin is None else Origin(origin)
        self.headers = dict(headers or {})
        self.size = size
        self.connections: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.recorder: Recorder | None = None
        self.sample: str | bytes | None = None
        """A message frame as the target sent it, once one has arrived."""

    async def _open(self) -> ClientConnection:
        connection = await connect(
            self.url,
            origin=self.origin,
            additional_headers=self.headers,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=2,
            ping_interval=None,  # the servers ping their clients; the clients answer
            compression=None,
            max_size=2**20,
        )
        if self.adapter.waits_for_welcome:
            while True:
                frame = await asyncio.wait_for(connection.recv(), OPEN_TIMEOUT)
                got = self.adapter.incoming(frame)
                if got.reply is not None:
                    await connection.send(got.reply)
                if got.kind == "welcome":
                    break
        return connection

    async def join(self, concurrency: int, deadline: float) -> Join:
        """Connect every client, at most ``concurrency`` handshakes at once, and time it
        until the last one is ready to chat (welcomed, where the target welcomes)."""
        gate = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with gate:
                connection = await self._open()
            self.readers.append(asyncio.create_task(self._read(len(self.connections), connection)))
            self.connections.append(connection)

        with collector_paused():
            started = time.perf_counter()
            tries = [asyncio.create_task(one()) for _ in range(self.size)]
            done, pending = await asyncio.wait(tries, timeout=deadline)
            took = time.perf_counter() - started
        for task in pending:
            task.cancel()
        problems = [task.exception() for task in done if task.exception() is not None]
        failed = len(problems) + len(pending)
        first = repr(problems[0]) if problems else ("timed out" if pending else None)
        return Join(
            clients=self.size,
            concurrency=concurrency,
            seconds=None if failed else round(took, 4),
            failed=failed,
            first_error=first,
        )

    async def _read(self, index: int, connection: ClientConnection) -> None:
        try:
            async for frame in connection:
                now = time.perf_counter()
                got = self.adapter.incoming(frame)
                if got.reply is not None:
                    await connection.send(got.reply)
                recorder = self.recorder
                if recorder is None:
                    continue
                if got.kind == "message":
                    recorder.arrived(index, got.sequence, now)
                    self.sample = frame
                elif got.kind == "error":
                    recorder.refused += 1
        except ConnectionClosed:
            pass

    async def send(self, recorder: Recorder, messages: int, rate: float | None) -> None:
        """Send ``messages`` numbered messages from the first client: ``rate`` a second, or
        as fast as the connection takes them."""
        sender = self.connections[0]
        started = time.perf_counter()
        for count in range(messages):
            if rate:
                await asyncio.sleep(max(started + count / rate - time.perf_counter(), 0))
            sequence = next(_sequence)
            recorder.sending(sequence)
            await sender.send(self.adapter.outgoing(sequence))

    async def close(self) -> None:
        for reader in self.readers:
            reader.cancel()
        await asyncio.gather(
            *(connection.close() for connection in self.connections), return_exceptions=True
        )
        self.connections.clear()
        self.readers.clear()
