"""The WebSocket load client: many clients in one room of a target, on picows.

One event loop (uvloop's, see run.py) runs every client. Each client reads all the time, as
a browser tab does, and hands what it reads to the Recorder of the flow being measured, if
any. picows hands each frame to a callback, with no task or queue per client: the client
spends less than half the CPU per delivery that it spent on `websockets` (bench/README.md,
"The load client"), so that more of the machine is left to the servers it measures. The
servers send each message in one frame, so a frame is a message here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

from .adapters import Adapter
from .collector import collector_paused
from .recorder import Recorder
from .results import Join

if TYPE_CHECKING:
    from .targets import Running

OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 10.0
MAX_FRAME = 2**20
_sequence: Iterator[int] = itertools.count(1)
"""Message numbers, unique across the whole run, so a straggler is never taken for news."""


class Client(WSListener):
    """One client of a swarm: reads every frame, and tells the swarm what it was."""

    def __init__(self, swarm: Swarm, index: int) -> None:
        super().__init__()
        self.swarm = swarm
        self.index = index
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if not swarm.adapter.waits_for_welcome:
            self.ready.set_result(None)

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type not in (WSMsgType.TEXT, WSMsgType.BINARY):
            return  # picows answers pings, and a close ends the connection
        now = time.perf_counter()
        payload = frame.get_payload_as_bytes()
        got = self.swarm.adapter.incoming(payload)
        if got.reply is not None:  # Socket.IO's connect and pong
            transport.send(WSMsgType.TEXT, got.reply.encode())
        if got.kind == "welcome" and not self.ready.done():
            self.ready.set_result(None)
        recorder = self.swarm.recorder
        if recorder is None:
            return
        if got.kind == "message":
            recorder.arrived(self.index, got.sequence, now)
            self.swarm.sample = payload
        elif got.kind == "error":
            recorder.refused += 1

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("the server closed the connection"))


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
        needs them, and its Origin."""
        self.url = url
        self.adapter = adapter
        self.headers = {**({} if origin is None else {"Origin": origin}), **(headers or {})}
        self.size = size
        self.transports: list[WSTransport] = []
        self.recorder: Recorder | None = None
        self.sample: str | bytes | None = None
        """A message frame as the target sent it, once one has arrived."""

    async def _open(self, index: int) -> WSTransport:
        transport, client = await ws_connect(
            lambda: Client(self, index),
            self.url,
            websocket_handshake_timeout=OPEN_TIMEOUT,
            extra_headers=self.headers,
            max_frame_size=MAX_FRAME,
        )
        try:
            await asyncio.wait_for(client.ready, OPEN_TIMEOUT)
        except BaseException:
            transport.disconnect()
            raise
        return transport

    async def join(self, concurrency: int, deadline: float) -> Join:
        """Connect every client, at most ``concurrency`` handshakes at once, and time it
        until the last one is ready to chat (welcomed, where the target welcomes)."""
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> None:
            async with gate:
                transport = await self._open(index)
            self.transports.append(transport)

        with collector_paused():
            started = time.perf_counter()
            first = len(self.transports)
            tries = [asyncio.create_task(one(first + n)) for n in range(self.size)]
            done, pending = await asyncio.wait(tries, timeout=deadline)
            took = time.perf_counter() - started
        for task in pending:
            task.cancel()
        problems = [task.exception() for task in done if task.exception() is not None]
        failed = len(problems) + len(pending)
        first_error = repr(problems[0]) if problems else ("timed out" if pending else None)
        return Join(
            clients=self.size,
            concurrency=concurrency,
            seconds=None if failed else round(took, 4),
            failed=failed,
            first_error=first_error,
        )

    async def send(self, recorder: Recorder, messages: int, rate: float | None) -> None:
        """Send ``messages`` numbered messages from the first client: ``rate`` a second, or
        as fast as the loop lets it (each send goes out before the next is written)."""
        sender = self.transports[0]
        started = time.perf_counter()
        for count in range(messages):
            if rate:
                await asyncio.sleep(max(started + count / rate - time.perf_counter(), 0))
            sequence = next(_sequence)
            recorder.sending(sequence)
            sender.send(WSMsgType.TEXT, self.adapter.outgoing(sequence).encode())
            await asyncio.sleep(0)

    @classmethod
    def on(
        cls, running: Running, room: str, size: int, headers: Mapping[str, str] | None = None
    ) -> Swarm:
        """``size`` clients of ``room`` on the started target ``running``, sending its
        headers with their handshakes, or ``headers`` when given."""
        sent = running.headers if headers is None else headers
        return cls(running.ws_url(room), running.adapter, running.origin, size, sent)

    async def close(self) -> None:
        """Close every client's connection, and wait (CLOSE_TIMEOUT at most) until the
        server has seen them go. The close frame says 1000, a normal closure: picows's
        default, 0, is no status code at all (RFC 6455, 7.4), and Node's ws answers it with
        an error event, as it should."""
        for transport in self.transports:
            transport.send_close(WSCloseCode.OK)
            transport.disconnect()
        gone = [transport.wait_disconnected() for transport in self.transports]
        with contextlib.suppress(TimeoutError):  # the server learns of the rest in its time
            await asyncio.wait_for(asyncio.gather(*gone), CLOSE_TIMEOUT)
        self.transports.clear()
