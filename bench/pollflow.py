"""The long-poll fan-out: a room of long-poll clients hearing one WebSocket client speak,
and the CPU time the server spent answering them."""

from __future__ import annotations

import time

from .collector import collector_paused
from .cpuclock import CLOCK
from .meter import Meter
from .options import Options
from .pollload import PollSwarm
from .recorder import Recorder
from .results import Flow
from .targets import Running
from .wsload import Swarm


class LongPolls:
    """``options.clients`` long-poll clients of one room and a WebSocket client that speaks
    there, at the fan-out's rate, for as many runs as asked."""

    def __init__(self, running: Running, room: str, options: Options) -> None:
        self.options = options
        self.running = running
        self.sender = Swarm.on(running, room, 1)
        port = running.poll_port or running.port
        self.polls = PollSwarm(
            running.host, port, room, running.origin, options.clients, running.headers
        )

    async def start(self) -> None:
        joined = await self.sender.join(1, 30)
        if joined.failed:
            raise RuntimeError(f"the long-poll flow's sender could not join: {joined.first_error}")
        await self.polls.start(self.options.deadline, self.options.join_concurrency)

    async def run(self) -> Flow:
        """One run: the messages sent, every copy arrived (or given up for lost), and what
        the server's processes spent meanwhile."""
        options, polls = self.options, self.polls
        recorder = Recorder(options.clients)
        polls.recorder = recorder
        retries, answers, meter = polls.retries, polls.answers, Meter(self.running)
        with collector_paused():
            await self.sender.send(recorder, options.fanout_messages, options.rate)
            deadline = time.perf_counter() + options.deadline
            await recorder.settle(quiet=options.quiet, deadline=deadline)
        polls.recorder = None
        await polls.all_asking(options.quiet)  # the last answers' next polls are the flow's
        spent = meter.spent()
        problem = polls.problem()
        if problem is not None:
            raise RuntimeError(f"a long-poll client stopped: {problem}")
        recorder.refused += polls.retries - retries
        flow = recorder.flow(options.rate)
        flow.answers, flow.server_cpu_s = polls.answers - answers, spent.total_s
        flow.client_busy = spent.client_busy
        flow.cpu_resolution_s = CLOCK.resolution_s
        return flow

    async def close(self) -> None:
        await self.polls.close()
        await self.sender.close()
