"""The measurements on one started target, in order: warm-up, join storm, idle memory,
fan-out at a steady rate, burst, and (where the target long-polls) long-poll fan-out.

Each flow runs ``options.repeats`` times and the median run is kept: on a machine that
other programs share, one run in three may be hit by a pause that says nothing about the
server. A run that lasts LONG_ENOUGH seconds averages such pauses out, and is not repeated.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import psutil

from .options import Options
from .pollload import PollSwarm
from .recorder import Recorder
from .results import Flow, Join, Memory, TargetResult
from .targets import Running
from .wsload import Swarm

Say = Callable[[str], None]
SETTLE = 0.3
"""Seconds to let a server catch its breath between measurements."""
BALLAST = 50
"""The fewest warm-up clients; a quarter of the crowd when that is more."""
LONG_ENOUGH = 5.0
"""Seconds after which one run of a flow is long enough on its own."""


def rss_kib(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss // 1024


async def flow(
    swarm: Swarm, receivers: int, messages: int, rate: float | None, options: Options
) -> Flow:
    """Send ``messages`` from the swarm's first client and wait for the copies to arrive."""
    recorder = Recorder(receivers)
    swarm.recorder = recorder
    try:
        await swarm.send(recorder, messages, rate)
        await recorder.settle(quiet=options.quiet, deadline=time.perf_counter() + options.deadline)
    finally:
        swarm.recorder = None
    return recorder.flow(rate)


def p99(flow: Flow) -> float | None:
    return None if flow.latency is None else flow.latency.p99


def deliveries(flow: Flow) -> float | None:
    return flow.deliveries_per_s


async def repeated(
    run: Callable[[], Awaitable[Flow]],
    options: Options,
    figure: Callable[[Flow], float | None],
    higher_is_better: bool,
) -> Flow:
    """The median of up to ``options.repeats`` runs of a flow, by ``figure``."""
    runs: list[Flow] = []
    while len(runs) < options.repeats:
        if runs:
            await asyncio.sleep(SETTLE)
        runs.append(await run())
        if runs[-1].seconds >= LONG_ENOUGH:
            break
    return Flow.median_of(runs, figure, higher_is_better=higher_is_better)


def runs_words(result: Flow, unit: str) -> str:
    if not result.runs:
        return ""
    shown = ", ".join("-" if value is None else f"{value:,.1f}" for value in result.runs)
    return f" (median of {len(result.runs)} runs: {shown}{unit})"


def latency_words(result: Flow) -> str:
    latency = result.latency
    shown = (
        "nothing arrived"
        if latency is None
        else (f"p50 {latency.p50:.1f} ms, p99 {latency.p99:.1f} ms, max {latency.max:.1f} ms")
    )
    lost = f", {result.lost_anywhere} lost" if result.lost_anywhere else ""
    return f"{result.deliveries_per_s or 0:,.0f} deliveries/s, {shown}{lost}"


async def measure(running: Running, result: TargetResult, options: Options, say: Say) -> None:
    """Fill ``result`` in, saying what happens as it goes; stops at the first failure."""
    warm_room, poll_room, crowd_room, *more_rooms = running.rooms
    # The warm-up: clients in a room of their own, which stay until the end. They make
    # the server do its one-time work (imports, threads, a database connection) and fill
    # the free space its allocator starts with, so that the memory the crowd adds is the
    # crowd's own.
    ballast = max(BALLAST, options.clients // 4)
    warm = Swarm(running.ws_url(warm_room), running.adapter, running.origin, ballast)
    swarm = Swarm(running.ws_url(crowd_room), running.adapter, running.origin, options.clients)
    try:
        warmed = await warm.join(options.join_concurrency, options.deadline)
        if warmed.failed:
            result.error = f"the warm-up clients could not join: {warmed.first_error}"
            return
        await flow(warm, ballast, 3, None, options)
        await asyncio.sleep(SETTLE)
        before = rss_kib(running.pid)

        result.join = await swarm.join(options.join_concurrency, options.deadline)
        if result.join.seconds is None:
            result.error = (
                f"{result.join.failed} of {options.clients} clients could not join: "
                f"{result.join.first_error}"
            )
            say(f"join storm failed: {result.error}")
            return
        say(f"join storm 1: {options.clients} clients ready in {result.join.seconds:.2f} s")
        await asyncio.sleep(1.0)  # idle, as a room of people reading is
        result.memory = Memory(before, rss_kib(running.pid), options.clients)
        say(f"idle memory: {result.memory.per_connection_kib} KiB per connection")

        def fanout() -> Awaitable[Flow]:
            return flow(swarm, options.clients, options.fanout_messages, options.rate, options)

        def burst() -> Awaitable[Flow]:
            return flow(swarm, options.clients, options.burst_messages, None, options)

        result.fanout = await repeated(fanout, options, p99, higher_is_better=False)
        words = latency_words(result.fanout) + runs_words(result.fanout, " ms p99")
        say(f"fan-out at {options.rate:g}/s: {words}")
        await asyncio.sleep(SETTLE)
        result.burst = await repeated(burst, options, deliveries, higher_is_better=True)
        words = latency_words(result.burst) + runs_words(result.burst, " deliveries/s")
        say(f"burst of {options.burst_messages}: {words}")
    finally:
        await swarm.close()
        await warm.close()
    if result.join is not None and result.join.seconds is not None and more_rooms:
        result.join = await more_storms(running, result.join, more_rooms, options, say)

    if running.longpoll:
        await asyncio.sleep(SETTLE)
        result.longpoll = await longpoll_flow(running, poll_room, options)
        words = latency_words(result.longpoll) + runs_words(result.longpoll, " ms p99")
        say(f"long-poll fan-out at {options.rate:g}/s: {words}")


async def more_storms(
    running: Running, first: Join, rooms: list[str], options: Options, say: Say
) -> Join:
    """Further join storms, each into a room of its own and gone before the next; the
    result is the median of all of them, the first included."""
    storms = [first]
    for number, room in enumerate(rooms, start=2):
        await asyncio.sleep(SETTLE)
        swarm = Swarm(running.ws_url(room), running.adapter, running.origin, options.clients)
        try:
            storms.append(await swarm.join(options.join_concurrency, options.deadline))
        finally:
            await swarm.close()
        seconds = storms[-1].seconds
        shown = "failed" if seconds is None else f"{seconds:.2f} s"
        say(f"join storm {number}: {shown}")
    combined = Join.median_of(storms)
    say(f"join storm median of {len(storms)}: {combined.seconds or 0:.2f} s")
    return combined


async def longpoll_flow(running: Running, room: str, options: Options) -> Flow:
    """``options.clients`` long-poll clients, one WebSocket sender, at the fan-out's rate:
    the median of ``options.repeats`` runs, with the same pollers."""
    sender = Swarm(running.ws_url(room), running.adapter, running.origin, 1)
    polls = PollSwarm(running.host, running.port, room, running.origin, options.clients)

    async def one_run() -> Flow:
        recorder = Recorder(options.clients)
        polls.recorder = recorder
        retries = polls.retries
        await sender.send(recorder, options.fanout_messages, options.rate)
        await recorder.settle(quiet=options.quiet, deadline=time.perf_counter() + options.deadline)
        polls.recorder = None
        problem = polls.problem()
        if problem is not None:
            raise RuntimeError(f"a long-poll client stopped: {problem}")
        recorder.refused += polls.retries - retries
        return recorder.flow(options.rate)

    try:
        joined = await sender.join(1, 30)
        if joined.failed:
            raise RuntimeError(f"the long-poll flow's sender could not join: {joined.first_error}")
        await polls.start(options.deadline, options.join_concurrency)
        return await repeated(one_run, options, p99, higher_is_better=False)
    finally:
        await polls.close()
        await sender.close()
