"""The measurements on one started target, in order: warm-up, join storm, idle memory,
fan-out at a steady rate and (where the target long-polls) long-poll fan-out, then burst.

Each flow a goal judges (long-poll, burst) runs ``options.repeats`` times (the burst
``options.bursts`` times) and the median run is kept: on a machine that other programs
share, any one run may be hit by a pause that says nothing about the server. A run that
lasts LONG_ENOUGH seconds averages such pauses out, and is not repeated. The WebSocket
fan-out, which no goal judges, runs once. Every timed part (a join storm, a run of a flow)
reads what each process of the target spent on it, and how busy it kept the load client
(meter.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

import psutil

from .adapters import BareAdapter
from .collector import collector_paused
from .cpuclock import CLOCK
from .meter import Meter
from .options import Options
from .pollflow import LongPolls
from .recorder import Recorder
from .results import (
    AUTOBAHN_IN_TWISTED_WEB,
    BURST_RATE,
    POLL_P99,
    Flow,
    Join,
    Memory,
    Paired,
    TargetResult,
    bare_alongside_words,
)
from .targets import CHAT_CPU, Running
from .wsload import Swarm

Say = Callable[[str], None]
SETTLE = 0.1
"""Seconds to let a server catch its breath between measurements (each of which ends once
the server has done its part: every copy arrived, every poller asking again)."""
BALLAST = 50
"""The fewest warm-up clients; as many as the crowd when that is more."""
IDLE = 1.0
"""Seconds of quiet before idle memory is read, as in a room of people reading."""
LONG_ENOUGH = 5.0
"""Seconds after which one run of a flow is long enough on its own."""


def rss_kib(pids: tuple[int, ...]) -> int:
    """The resident memory of the processes ``pids`` together."""
    return sum(psutil.Process(pid).memory_info().rss for pid in pids) // 1024


def connections_held(pid: int) -> int:
    """The TCP connections process ``pid`` has accepted on the ports it listens on, and
    holds open: behind a balancer, one per client."""
    connections = psutil.Process(pid).net_connections(kind="tcp")
    listening = {c.laddr.port for c in connections if c.status == psutil.CONN_LISTEN}
    return sum(
        1 for c in connections if c.status == psutil.CONN_ESTABLISHED and c.laddr.port in listening
    )


def spread(running: Running) -> dict[str, int] | None:
    """How many clients each chat process holds, where there are several; else None."""
    if not running.chats:
        return None
    return {name: connections_held(pid) for name, pid in running.chats.items()}


def crowd_spread(
    before: dict[str, int] | None, after: dict[str, int] | None
) -> dict[str, int] | None:
    """The clients each chat process took on between ``before`` and ``after``."""
    if before is None or after is None:
        return None
    return {name: count - before.get(name, 0) for name, count in after.items()}


def spread_words(held: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in held.items())


async def flow(
    swarm: Swarm,
    receivers: int,
    messages: int,
    rate: float | None,
    options: Options,
    running: Running | None = None,
) -> Flow:
    """Send ``messages`` from the swarm's first client and wait for the copies to arrive;
    with ``running``, the target's, read what its processes spent meanwhile."""
    recorder = Recorder(receivers)
    swarm.recorder = recorder
    meter = Meter(running)
    try:
        with collector_paused():
            await swarm.send(recorder, messages, rate)
            deadline = time.perf_counter() + options.deadline
            await recorder.settle(quiet=options.quiet, deadline=deadline)
    finally:
        swarm.recorder = None
    spent = meter.spent()
    result = recorder.flow(rate)
    result.client_busy = spent.client_busy
    if running is not None:
        helpers = dict(spent.target_s)
        result.server_cpu_s = helpers.pop(CHAT_CPU)
        result.helper_cpu_s = helpers
        result.cpu_deliveries = result.delivered
        result.cpu_resolution_s = CLOCK.resolution_s
    return result


async def storm(swarm: Swarm, running: Running, options: Options, deadline: float) -> Join:
    """Join every client of ``swarm`` to ``running``, and read what every process of the
    target spent on their handshakes meanwhile."""
    meter = Meter(running)
    join = await swarm.join(options.join_concurrency, deadline)
    spent = meter.spent()
    join.server_cpu_s, join.cpu_resolution_s = spent.total_s, CLOCK.resolution_s
    join.handshakes, join.client_busy = join.clients - join.failed, spent.client_busy
    return join


async def storm_into(running: Running, room: str, options: Options, deadline: float) -> Join:
    """A join storm of a crowd of its own into ``room``, which leaves before it returns."""
    swarm = Swarm.on(running, room, options.clients)
    try:
        return await storm(swarm, running, options, deadline)
    finally:
        await swarm.close()


def seconds_words(join: Join) -> str:
    return "failed" if join.seconds is None else f"{join.seconds:.2f} s"


async def repeated(
    run: Callable[[], Awaitable[Flow]],
    times: int,
    figure: Callable[[Flow], float | None],
    higher_is_better: bool,
) -> Flow:
    """The median of up to ``times`` runs of a flow, by ``figure``."""
    runs: list[Flow] = []
    while len(runs) < times:
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
    cpu = result.cpu_us_per_answer
    spent = "" if cpu is None else f", server CPU {cpu:,.0f} \u00b5s per answer"
    if result.cpu_below_resolution:
        spent = ", server CPU below the clock's resolution"
    return (
        f"{result.deliveries_per_s or 0:,.0f} deliveries/s, {shown}{lost}{spent}{cpu_words(result)}"
    )


def cpu_words(result: Flow) -> str:
    """A WebSocket flow's CPU per delivery: the chat processes', then each helper's."""
    if result.cpu_deliveries is None:
        return ""
    shares = {"chat": result.chat_us_per_delivery}
    shares |= {role: result.helper_us_per_delivery(role) for role in result.helper_cpu_s}
    shown = ", ".join(
        f"{role} {'below resolution' if value is None else f'{value:,.2f}'}"
        for role, value in shares.items()
    )
    return f"; CPU per delivery, \u00b5s: {shown}"


def ballast(options: Options) -> int:
    """How many warm-up clients: as many as the crowd (BALLAST at least).

    A process starts with free memory of its own, a megabyte or two more in one start than
    in the next, as its allocator happens to keep or give back what its imports left. A
    crowd that finds some of it grows the process less than one that finds none, and the
    same server read 6.3 KiB per connection in one run and 8.2 in the next. A warm-up as
    large as the crowd uses all of it up, so that what the crowd adds is its own."""
    return max(BALLAST, options.clients)


async def warm_up(warm: Swarm, options: Options) -> str | None:
    """Join the warm-up clients and let them hear three messages; why they could not join,
    or None. The server does its one-time work (imports, threads, a database connection)
    and fills the free space its allocator starts with, so that the memory a crowd adds
    next is the crowd's own."""
    warmed = await warm.join(options.join_concurrency, options.deadline)
    if warmed.failed:
        return f"the warm-up clients could not join: {warmed.first_error}"
    await flow(warm, warm.size, 3, None, options)
    await asyncio.sleep(SETTLE)
    return None


async def idle_memory(running: Running, before_kib: int, clients: int) -> Memory:
    """What ``clients`` that just joined hold of the chat processes' memory, read after
    IDLE seconds of quiet; ``before_kib``: their memory before the clients came."""
    await asyncio.sleep(IDLE)
    return Memory(before_kib, rss_kib(running.chat_pids), clients)


async def fresh_memory(running: Running, options: Options, say: Say) -> Memory | None:
    """The idle memory per connection of a crowd, warm-up first, in ``running``, a process
    that has held no crowd yet; None, said why, when the clients could not join.

    Memory a process grows for a crowd says little once it has held another one: its
    allocator hands the next crowd what the last one freed. So the bare broadcast's memory
    per connection, for each way of serving it, is read in a bare process of its own."""
    warm_room, _, crowd_room, *_ = running.rooms
    warm = Swarm.on(running, warm_room, ballast(options))
    crowd = Swarm.on(running, crowd_room, options.clients)
    try:
        problem = await warm_up(warm, options)
        if problem is not None:
            say(problem)
            return None
        before = rss_kib(running.chat_pids)
        joined = await crowd.join(options.join_concurrency, options.deadline)
        if joined.failed:
            failed = f"{joined.failed} of {options.clients} clients could not join"
            say(f"{failed}: {joined.first_error}")
            return None
        return await idle_memory(running, before, options.clients)
    finally:
        await crowd.close()
        await warm.close()


async def measure(
    running: Running,
    result: TargetResult,
    options: Options,
    say: Say,
    yardstick: Running | None = None,
    common: Running | None = None,
) -> None:
    """Fill ``result`` in, saying what happens as it goes; stops at the first failure.

    ``yardstick``, when given, is the bare server, still running, serving its broadcast
    the way the target serves its WebSockets (for the bare server itself: in twisted.web):
    its join storms and bursts, and its twisted.web long-polls where the target
    long-polls, are measured in turn with the target's own, so that the two are compared
    on a machine in the same state (``result.paired``), and two targets measured at
    different times can be compared through it. ``common``, for a target served otherwise
    than Autobahn in twisted.web, is the bare server's broadcast served that way: its bursts
    take their turns too, so that the target can be compared with Autobahn's targets.
    """
    warm_room, poll_room, crowd_room, *more_rooms = running.rooms
    # The warm-up clients (warm_up) stay in their room until the end.
    warm = Swarm.on(running, warm_room, ballast(options))
    swarm = Swarm.on(running, crowd_room, options.clients)
    pair = None
    if yardstick is not None:
        pair = Pair(yardstick, result.name, options, running.headers, common)
    try:
        result.error = await warm_up(warm, options)
        if result.error is not None:
            return
        before = rss_kib(running.chat_pids)
        held = spread(running)

        result.join = await storm(swarm, running, options, options.deadline)
        if result.join.seconds is None:
            result.error = (
                f"{result.join.failed} of {options.clients} clients could not join: "
                f"{result.join.first_error}"
            )
            say(f"join storm failed: {result.error}")
            return
        say(f"join storm 1: {options.clients} clients ready in {result.join.seconds:.2f} s")
        result.memory = await idle_memory(running, before, options.clients)
        say(f"idle memory: {result.memory.per_connection_kib} KiB per connection")
        result.spread = crowd_spread(held, spread(running))
        if result.spread is not None:
            say(f"clients held by each chat process: {spread_words(result.spread)}")
        if pair is not None:
            await pair.storm(say)

        await flows(running, swarm, poll_room, result, options, say, pair)

        await asyncio.sleep(SETTLE)
        if pair is not None:
            await pair.join_crowds(say)

        async def burst() -> Flow:
            messages = options.burst_messages
            ours = await flow(swarm, options.clients, messages, None, options, running)
            if pair is not None:
                await asyncio.sleep(SETTLE)
                await pair.burst()
            return ours

        result.burst = await repeated(
            burst, options.bursts, BURST_RATE.value, higher_is_better=True
        )
        words = latency_words(result.burst) + runs_words(result.burst, " deliveries/s")
        say(f"burst of {options.burst_messages}: {words}")
    finally:
        await swarm.close()
        await warm.close()
        if pair is not None:
            await pair.close_crowds()
    if result.join is not None and result.join.seconds is not None and more_rooms:
        result.join = await more_storms(running, result.join, more_rooms, options, say, pair)
    if pair is not None:
        result.paired = pair.result(say)


async def flows(
    running: Running,
    swarm: Swarm,
    poll_room: str,
    result: TargetResult,
    options: Options,
    say: Say,
    pair: Pair | None = None,
) -> None:
    """The fan-out at a steady rate over WebSocket, once (no goal judges its p99: it is
    shown beside the long-polls'), then, where the target long-polls, the long-poll
    fan-out, each of its runs followed by one of the bare twisted.web server's when
    ``pair`` is given. The median runs go into ``result`` and ``pair``."""
    rate = options.rate
    messages = options.fanout_messages
    result.fanout = await flow(swarm, options.clients, messages, rate, options, running)
    say(f"fan-out at {rate:g}/s: {latency_words(result.fanout)}")
    if pair is not None:
        pair.shape_like(swarm.sample)
    if not running.longpoll:
        return
    polls = LongPolls(running, poll_room, options)
    bare = None if pair is None else pair.long_polls()
    sides = [side for side in (polls, bare) if side is not None]

    async def in_turns() -> Flow:
        ours = await polls.run()
        if pair is not None and bare is not None:
            await asyncio.sleep(SETTLE)
            pair.longpolls.append(await bare.run())
        return ours

    try:
        await asyncio.sleep(SETTLE)
        for side in sides:
            await side.start()
        result.longpoll = await repeated(
            in_turns, options.repeats, POLL_P99.value, higher_is_better=False
        )
    finally:
        for side in sides:
            await side.close()
    words = latency_words(result.longpoll) + runs_words(result.longpoll, " ms p99")
    say(f"long-poll fan-out at {rate:g}/s: {words}")
    alongside = None if pair is None else pair.longpoll()
    if alongside is not None:
        words = latency_words(alongside) + runs_words(alongside, " ms p99")
        say(f"  bare twisted.web alongside: {words}")


class Pair:
    """The bare server's join storms, bursts and long-polls, measured in turn with a
    target's."""

    def __init__(
        self,
        yardstick: Running,
        name: str,
        options: Options,
        headers: Mapping[str, str] | None = None,
        common: Running | None = None,
    ) -> None:
        """``headers``: the target's, a logged-in page's cookies say: sent to the bare
        server too, which ignores them, so that both handshakes and polls are as long to
        write and to read. ``common``: see measure."""
        self.yardstick = yardstick = replace(yardstick, headers=dict(headers or {}))
        self.name = name
        self.options = options
        self.words = bare_alongside_words(yardstick.websockets)
        self.crowd = self.crowd_on(yardstick, "crowd")
        self.common = common
        self.common_crowd = None if common is None else self.crowd_on(common, "common")
        self.storms: list[Join] = []
        self.bursts: list[Flow] = []
        self.common_bursts: list[Flow] = []
        self.longpolls: list[Flow] = []

    def crowd_on(self, served: Running, room: str) -> Swarm:
        room = f"{self.name}-{room}"
        return Swarm.on(served, room, self.options.clients, self.yardstick.headers)

    def crowds(self) -> list[Swarm]:
        return [crowd for crowd in (self.crowd, self.common_crowd) if crowd is not None]

    async def join_crowds(self, say: Say) -> None:
        """The crowds the bursts go to, in rooms of their own."""
        for crowd in self.crowds():
            joined = await crowd.join(self.options.join_concurrency, self.options.deadline)
            if joined.failed:
                say(f"{self.words}: {joined.failed} clients could not join: {joined.first_error}")

    async def close_crowds(self) -> None:
        for crowd in self.crowds():
            await crowd.close()

    async def storm(self, say: Say) -> None:
        room = f"{self.name}-storm{len(self.storms) + 1}"
        await asyncio.sleep(SETTLE)
        self.storms.append(await storm_into(self.yardstick, room, self.options, 60))
        say(f"  {self.words}: {seconds_words(self.storms[-1])}")

    def shape_like(self, frame: str | bytes | None) -> None:
        """From now on, send the bare server frames shaped like ``frame``, a broadcast of
        the target's: the bare server's then cost the client as much to read."""
        adapter = self.yardstick.adapter
        if isinstance(adapter, BareAdapter):
            self.yardstick = replace(self.yardstick, adapter=adapter.shaped_like(frame))
            for crowd in self.crowds():
                crowd.adapter = self.yardstick.adapter

    async def burst(self) -> None:
        """One burst to the crowd, and then, where there is one, to the common crowd."""
        options = self.options
        messages = options.burst_messages
        crowd, bare = self.crowd, self.yardstick
        self.bursts.append(await flow(crowd, options.clients, messages, None, options, bare))
        if self.common_crowd is not None:
            await asyncio.sleep(SETTLE)
            crowd, bare = self.common_crowd, self.common
            common = await flow(crowd, options.clients, messages, None, options, bare)
            self.common_bursts.append(common)

    def long_polls(self) -> LongPolls:
        """The bare twisted.web long-poll flow, as many clients at the same rate; its runs
        go into ``longpolls``."""
        return LongPolls(self.yardstick, f"{self.name}-polls", self.options)

    def longpoll(self) -> Flow | None:
        if not self.longpolls:
            return None
        return Flow.median_of(self.longpolls, POLL_P99.value, higher_is_better=False)

    def result(self, say: Say) -> Paired:
        def median(bursts: list[Flow]) -> Flow | None:
            if not bursts:
                return None
            return Flow.median_of(bursts, BURST_RATE.value, higher_is_better=True)

        paired = Paired(
            websockets=self.yardstick.websockets,
            join=Join.median_of(self.storms) if self.storms else None,
            burst=median(self.bursts),
            longpoll=self.longpoll(),
            common_burst=median(self.common_bursts),
        )
        join = (
            "-"
            if paired.join is None or paired.join.seconds is None
            else f"{paired.join.seconds:.2f} s"
        )
        burst = "-" if paired.burst is None else f"{paired.burst.deliveries_per_s or 0:,.0f}"
        say(f"{self.words}: join storm median {join}, burst {burst} deliveries/s")
        if paired.common_burst is not None:
            common = paired.common_burst.deliveries_per_s or 0
            say(f"  and bare {AUTOBAHN_IN_TWISTED_WEB} alongside: burst {common:,.0f} deliveries/s")
        return paired


async def more_storms(
    running: Running,
    first: Join,
    rooms: list[str],
    options: Options,
    say: Say,
    pair: Pair | None = None,
) -> Join:
    """Further join storms, each into a room of its own and gone before the next; the
    result is the median of all of them, the first included. With ``pair``, each is
    followed by one of the bare server's."""
    storms = [first]
    for number, room in enumerate(rooms, start=2):
        await asyncio.sleep(SETTLE)
        storms.append(await storm_into(running, room, options, options.deadline))
        say(f"join storm {number}: {seconds_words(storms[-1])}")
        if pair is not None:
            await pair.storm(say)
    combined = Join.median_of(storms)
    say(f"join storm median of {len(storms)}: {seconds_words(combined)}")
    return combined
