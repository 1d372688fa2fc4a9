"""What one bench run measured, target by target, and its JSON form (results.json).

The JSON has one object per target under "targets", keyed by its name, and the verdicts
under "verdicts"; figures are plain numbers (milliseconds, seconds, KiB, per second), and a
measurement that was not taken is null.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from .cpuclock import below_resolution
from .stats import Latency

SCHEMA = 9
"""Raised when the JSON's shape changes, so that readers of older files can tell."""

AUTOBAHN = "Autobahn"
"""Autobahn's factory listening on a port of its own: the bare server's main port."""
AUTOBAHN_IN_TWISTED_WEB = "Autobahn in twisted.web"
"""Autobahn's WebSocketResource in a twisted.web Site, as our stages serve their WebSockets
(the port is shared with the long-poll API, and in single_process with Django's pages), and
as Daphne serves Channels': twisted.web parses every handshake before Autobahn does."""
TWISTED_WEBSOCKET = "twisted.web.websocket"
"""Twisted's own WebSocket module, the twisted_websocket stage's."""
BARE = "bare"
"""The bare broadcast server's name among the targets, and its kind."""
BARE_ALONGSIDE = "bare alongside"
CLIENT_BOUND = 0.85
"""The share of a core above which the load client's busiest process is saturated: a flow
it kept that busy measured the client as much as the server, so its wall-clock figures
(seconds, deliveries per second, latencies) are marked "client-bound" and judge no goal."""
CLIENT_BOUND_WORDS = "client-bound"


def client_bound(busy: float | None) -> bool:
    return busy is not None and busy > CLIENT_BOUND


def busiest(shares: Iterable[float | None]) -> float | None:
    """The highest of the client's shares of a core that were measured; None if none was."""
    return max((share for share in shares if share is not None), default=None)


def bare_alongside_words(served: str) -> str:
    """How the bare server measured in turns with a target is named: "bare alongside" when
    it serves its broadcast as most targets do (AUTOBAHN_IN_TWISTED_WEB), else with how."""
    return BARE_ALONGSIDE if served == AUTOBAHN_IN_TWISTED_WEB else f"bare {served} alongside"


@dataclass
class Flow:
    """One sender, many receivers in one room: what was sent, what arrived, and how fast."""

    clients: int
    """Receivers in the room (the sender is one of them where the server echoes to it)."""
    messages: int
    """Messages sent."""
    rate: float | None
    """Messages per second the sender kept to; None for "as fast as it could"."""
    expected: int
    delivered: int
    """Distinct (message, receiver) pairs that arrived."""
    seconds: float
    """From the first message sent to the last delivery."""
    latency: Latency | None
    refused: int = 0
    """Error answers the sender got (a rate limit, say): each is a message not broadcast."""
    runs: list[float | None] = field(default_factory=list)
    """When this is the median of several runs of the flow: each run's figure that picked
    it (p99 or deliveries/s), in the order they ran."""
    runs_lost: int | None = None
    """When this is the median of several runs: the copies lost in all of them together."""
    answers: int | None = None
    """Long-poll flows: the answers the pollers were sent, each with one message or more;
    when this is the median of several runs, all runs' together."""
    server_cpu_s: float | None = None
    """Long-poll flows: the CPU seconds the target's processes spent on the flow; of several
    runs, all of them."""
    cpu_resolution_s: float | None = None
    """The resolution of the clock ``server_cpu_s`` was read with (cpuclock.CLOCK); None:
    not said, as in results written before it was."""
    cpu_deliveries: int | None = None
    """WebSocket flows: the copies delivered while the CPU was read, ``server_cpu_s`` then
    being the chat processes' alone; of several runs, all of them."""
    helper_cpu_s: dict[str, float] = field(default_factory=dict)
    """WebSocket flows: the CPU seconds each further process of the target spent meanwhile
    (balancer, redis, postgresql, django), apart from the chat processes'; of several
    runs, all of them."""
    client_busy: float | None = None
    """The load client's busiest process: CPU seconds it spent per second of the flow (1.0
    is a whole core); of several runs, the busiest run's."""
    cpu_runs: list[float | None] = field(default_factory=list)
    """When this is the median of several runs: each run's CPU per unit of work in µs,
    every process of the target counted (per copy delivered, or per poll answer), in the
    order they ran, so that goals can compare them turn by turn."""
    chat_cpu_runs: list[float | None] = field(default_factory=list)
    """The same, the chat processes' alone, per copy delivered (WebSocket flows)."""

    @property
    def lost(self) -> int:
        return self.expected - self.delivered

    @property
    def lost_anywhere(self) -> int:
        """Copies lost in this flow, or in any of the runs it is the median of."""
        return self.lost if self.runs_lost is None else self.runs_lost

    @classmethod
    def median_of(
        cls, flows: list[Flow], figure: Callable[[Flow], float | None], *, higher_is_better: bool
    ) -> Flow:
        """The run whose ``figure`` is the median, with every run's figure in ``runs``; of an
        even number, the worse of the middle two. A run that measured nothing is the worst."""
        if len(flows) == 1:
            return flows[0]
        worst = float("-inf") if higher_is_better else float("inf")

        def goodness(flow: Flow) -> float:
            value = figure(flow)
            shown = worst if value is None else value
            return -shown if higher_is_better else shown

        ordered = sorted(flows, key=goodness)
        chosen = ordered[len(ordered) // 2]
        measured = [
            flow
            for flow in flows
            if (flow.answers or flow.cpu_deliveries) and flow.server_cpu_s is not None
        ]
        helpers: dict[str, float] = {}
        for flow in measured:
            for role, spent in flow.helper_cpu_s.items():
                helpers[role] = round(helpers.get(role, 0.0) + spent, 6)
        return replace(
            chosen,
            runs=[figure(flow) for flow in flows],
            runs_lost=sum(flow.lost for flow in flows),
            answers=sum(flow.answers or 0 for flow in measured) if measured else None,
            server_cpu_s=round(sum(flow.server_cpu_s or 0 for flow in measured), 6)
            if measured
            else None,
            cpu_deliveries=sum(flow.cpu_deliveries or 0 for flow in measured)
            if any(flow.cpu_deliveries for flow in measured)
            else None,
            helper_cpu_s=helpers,
            client_busy=busiest(flow.client_busy for flow in flows),
            cpu_runs=[flow.cpu_per_unit for flow in flows],
            chat_cpu_runs=[flow.chat_us_per_delivery for flow in flows],
        )

    @property
    def client_bound(self) -> bool:
        return client_bound(self.client_busy)

    @property
    def deliveries_per_s(self) -> float | None:
        return round(self.delivered / self.seconds, 1) if self.seconds > 0 else None

    @property
    def cpu_below_resolution(self) -> bool:
        """Whether the server's CPU time was too little for its clock to measure (see
        cpuclock.RESOLUTIONS): then there is no figure per answer, rather than a rounded one."""
        if self.server_cpu_s is None or self.cpu_resolution_s is None:
            return False
        return below_resolution(self.server_cpu_s, self.cpu_resolution_s)

    @property
    def cpu_us_per_answer(self) -> float | None:
        """Microseconds of the server's CPU per long-poll answer, over every run: steadier
        than a p99 on a busy machine, since it counts the work done, not the waiting. None
        when not measured, or below the clock's resolution."""
        if not self.answers or self.server_cpu_s is None or self.cpu_below_resolution:
            return None
        return round(self.server_cpu_s / self.answers * 1e6, 1)

    def us_per_delivery(self, seconds: float | None) -> float | None:
        """Microseconds of ``seconds`` of CPU (the chat processes', a helper's) per copy
        delivered, over every run; None when not measured, or below the clock's resolution."""
        if not self.cpu_deliveries or seconds is None or self.cpu_resolution_s is None:
            return None
        if below_resolution(seconds, self.cpu_resolution_s):
            return None
        return round(seconds / self.cpu_deliveries * 1e6, 2)

    @property
    def chat_us_per_delivery(self) -> float | None:
        """The chat processes' CPU per copy delivered, all of them together."""
        return self.us_per_delivery(self.server_cpu_s)

    @property
    def all_us_per_delivery(self) -> float | None:
        """The CPU of every process of the target per copy delivered: the chat processes'
        and every helper's, the balancer, Redis and PostgreSQL included."""
        if self.server_cpu_s is None:
            return None
        return self.us_per_delivery(self.server_cpu_s + sum(self.helper_cpu_s.values()))

    @property
    def cpu_per_unit(self) -> float | None:
        """Every process's CPU per unit of work, µs: per copy delivered in a WebSocket
        flow, per answer in a long-poll flow."""
        return self.cpu_us_per_answer if self.answers else self.all_us_per_delivery

    def helper_us_per_delivery(self, role: str) -> float | None:
        return self.us_per_delivery(self.helper_cpu_s.get(role))

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "chat_us_per_delivery": self.chat_us_per_delivery,
            "all_us_per_delivery": self.all_us_per_delivery,
            "helper_us_per_delivery": {
                role: self.helper_us_per_delivery(role) for role in self.helper_cpu_s
            },
            "lost": self.lost,
            "lost_anywhere": self.lost_anywhere,
            "deliveries_per_s": self.deliveries_per_s,
            "cpu_us_per_answer": self.cpu_us_per_answer,
            "cpu_below_resolution": self.cpu_below_resolution,
            "client_bound": self.client_bound,
        }


@dataclass
class Join:
    """A join storm: clients connecting to one room until every one is ready to chat."""

    clients: int
    concurrency: int
    """Handshakes in flight at once, at most."""
    seconds: float | None
    """Until the last client was ready; None if not all of them got there."""
    failed: int = 0
    first_error: str | None = None
    runs: list[float | None] = field(default_factory=list)
    """Each storm's time, when ``seconds`` is the median of several."""
    server_cpu_s: float | None = None
    """The CPU seconds every process of the target spent on the storm; of several, all."""
    cpu_resolution_s: float | None = None
    """The resolution of the clock ``server_cpu_s`` was read with."""
    handshakes: int = 0
    """The handshakes ``server_cpu_s`` paid for: the clients of every storm counted."""
    client_busy: float | None = None
    """The load client's busiest process: CPU seconds per second of the storm (of several
    storms, the busiest one's)."""
    cpu_runs: list[float | None] = field(default_factory=list)
    """Each storm's CPU per handshake in µs, when this is the median of several."""

    @classmethod
    def median_of(cls, storms: list[Join]) -> Join:
        """One result for several storms of the same size: the median time, or None (and
        the first failure) if any storm had clients that could not join; the CPU of all."""
        times = [storm.seconds for storm in storms]
        failed = [storm for storm in storms if storm.seconds is None]
        metered = [storm for storm in storms if storm.server_cpu_s is not None]
        return cls(
            clients=storms[0].clients,
            concurrency=storms[0].concurrency,
            seconds=None if failed else statistics.median(t for t in times if t is not None),
            failed=max(storm.failed for storm in storms),
            first_error=failed[0].first_error if failed else None,
            runs=times,
            server_cpu_s=round(sum(s.server_cpu_s or 0 for s in metered), 6) if metered else None,
            cpu_resolution_s=storms[0].cpu_resolution_s,
            handshakes=sum(storm.handshakes for storm in metered),
            client_busy=busiest(storm.client_busy for storm in storms),
            cpu_runs=[storm.cpu_us_per_handshake for storm in storms],
        )

    @property
    def cpu_us_per_handshake(self) -> float | None:
        """Microseconds of the target's CPU, every process, per client that joined; None when
        not measured, or below the clock's resolution."""
        if not self.handshakes or self.server_cpu_s is None or self.cpu_resolution_s is None:
            return None
        if below_resolution(self.server_cpu_s, self.cpu_resolution_s):
            return None
        return round(self.server_cpu_s / self.handshakes * 1e6, 1)

    @property
    def client_bound(self) -> bool:
        return client_bound(self.client_busy)

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "cpu_us_per_handshake": self.cpu_us_per_handshake,
            "client_bound": self.client_bound,
        }


@dataclass
class Memory:
    """The server process's resident memory before and after the join storm's clients."""

    before_kib: int
    after_kib: int
    connections: int

    @property
    def per_connection_kib(self) -> float | None:
        if self.connections <= 0:
            return None
        return round((self.after_kib - self.before_kib) / self.connections, 1)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "per_connection_kib": self.per_connection_kib}

    @classmethod
    def median_of(cls, readings: Sequence[Memory]) -> Memory:
        """The reading whose memory per connection is the median; of an even number, the
        higher of the middle two."""
        ordered = sorted(readings, key=lambda memory: memory.per_connection_kib or 0.0)
        return ordered[len(ordered) // 2]


@dataclass
class Paired:
    """The bare server's figures, measured in turn with a target's own: its join storms,
    bursts and (where the target long-polls) its twisted.web long-polls, taken one after
    the other with the target's, on the same busy or idle machine. The goals compare a
    stage with these rather than with the bare column. The bare column has them too: its
    broadcast in twisted.web, in turns with the one on its own port, shows what the
    hosting costs."""

    join: Join | None = None
    burst: Flow | None = None
    longpoll: Flow | None = None
    websockets: str = AUTOBAHN_IN_TWISTED_WEB
    """How the bare server's WebSockets were served: as the target serves its own (the same
    library, under the same web server), so that a goal measures what the target adds, not
    what one library or one way of hosting it costs more than another."""
    common_burst: Flow | None = None
    """For a target served otherwise (twisted.web.websocket): the bursts of the bare
    broadcast served as most targets are (AUTOBAHN_IN_TWISTED_WEB), each right after one of
    ``burst``, so that the target can be compared with them (Channels, say) through it."""
    memory: Memory | None = None
    """The bare broadcast served as ``websockets`` says: its idle memory per connection for
    a crowd as large, read in a bare process of its own that had held no crowd before (not
    in turns: memory does not move with the machine's load, and a process that has held a
    crowd lends the next one what the last one freed)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "websockets": self.websockets,
            "memory": None if self.memory is None else self.memory.to_json(),
            "join": None if self.join is None else self.join.to_json(),
            "burst": None if self.burst is None else self.burst.to_json(),
            "longpoll": None if self.longpoll is None else self.longpoll.to_json(),
            "common_burst": None if self.common_burst is None else self.common_burst.to_json(),
        }


@dataclass
class TargetResult:
    """Everything measured on one target; a measurement not taken stays None."""

    name: str
    label: str
    kind: str
    """"stage" (ours), "bare" (the bare Autobahn server) or "channels" (the peer)."""
    settings: dict[str, str] = field(default_factory=dict)
    join: Join | None = None
    memory: Memory | None = None
    fanout: Flow | None = None
    burst: Flow | None = None
    longpoll: Flow | None = None
    paired: Paired | None = None
    """The bare server measured alongside (see Paired); None when it was not."""
    spread: dict[str, int] | None = None
    """A target of several chat processes: how many of the crowd's clients each one held,
    by its name, after the first join storm."""
    alone: str | None = None
    """A target of several chat processes: the target that runs the same code as one
    process (scale_out's: history), which its CPU and latency are judged against."""
    other_load: float | None = None
    """Cores that other programs on the machine kept busy while this target was measured,
    on average: the bench's own client and the target's processes left out."""
    error: str | None = None
    """Why the target could not be measured (fully), in plain words."""
    skipped: str | None = None
    """Why the target was not run at all on this machine (redis-server missing, say)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "settings": self.settings,
            "join": None if self.join is None else self.join.to_json(),
            "memory": None if self.memory is None else self.memory.to_json(),
            "fanout": None if self.fanout is None else self.fanout.to_json(),
            "burst": None if self.burst is None else self.burst.to_json(),
            "longpoll": None if self.longpoll is None else self.longpoll.to_json(),
            "paired": None if self.paired is None else self.paired.to_json(),
            "spread": self.spread,
            "alone": self.alone,
            "other_load": self.other_load,
            "error": self.error,
            "skipped": self.skipped,
        }

    def bare_alongside(self, served: str | None = None) -> TargetResult | None:
        """The bare server's figures measured in turns with this target's, as a TargetResult
        of their own, its broadcast served as ``served`` says: by default as this target
        serves its own WebSockets (Paired.websockets); AUTOBAHN_IN_TWISTED_WEB, for a target
        served otherwise, gives the bursts of Paired.common_burst. None where the bare
        server took no such turns."""
        paired = self.paired
        if paired is None:
            return None
        if served in (None, paired.websockets):
            found = TargetResult(BARE, f"bare {paired.websockets}", BARE)
            found.join, found.burst, found.longpoll = paired.join, paired.burst, paired.longpoll
            found.memory = paired.memory
            return found
        if served == AUTOBAHN_IN_TWISTED_WEB and paired.common_burst is not None:
            found = TargetResult(BARE, f"bare {AUTOBAHN_IN_TWISTED_WEB}", BARE)
            found.burst = paired.common_burst
            return found
        return None


Measured = Flow | Join | Memory
"""A part of a target's results that figures are read off."""


@dataclass(frozen=True)
class Figure:
    """One figure of a target's results, as the table, the goals and the chart read it: the
    part it is read off (a flow, the join storms, the memory) and its value there. Both
    sides of a ratio, the flow that may have saturated the client, and a bare server's
    figure alongside are then read the same way."""

    part: Callable[[TargetResult], Measured | None]
    value: Callable[[Any], float | None]
    """The figure, given what ``part`` found."""
    each: Callable[[Any], list[float | None]] | None = None
    """The figure in each run of what ``part`` found, in the order they ran, where it
    keeps them: what the goals compare turn by turn (verdicts.in_turns)."""

    def measured(self, target: TargetResult | None) -> Measured | None:
        """The part of ``target``'s results the figure is read off; None if not measured."""
        return None if target is None else self.part(target)

    def of(self, target: TargetResult | None) -> float | None:
        """The figure on ``target``; None where it was not measured."""
        found = self.measured(target)
        return None if found is None else self.value(found)

    def runs(self, target: TargetResult | None) -> list[float | None]:
        """The figure in each run on ``target``; [] where there was one run, or none."""
        found = self.measured(target)
        return [] if found is None or self.each is None else list(self.each(found))


def p99(flow: Flow) -> float | None:
    return None if flow.latency is None else flow.latency.p99


def cpu_runs(part: Flow | Join) -> list[float | None]:
    return part.cpu_runs


def runs(part: Flow | Join) -> list[float | None]:
    """Each run's figure that picked the median (Flow.runs, Join.runs)."""
    return part.runs


JOIN_TIME = Figure(lambda t: t.join, lambda join: join.seconds, runs)
HANDSHAKE_CPU = Figure(lambda t: t.join, lambda join: join.cpu_us_per_handshake, cpu_runs)
IDLE_MEMORY = Figure(lambda t: t.memory, lambda memory: memory.per_connection_kib)
FANOUT_P99 = Figure(lambda t: t.fanout, p99)
BURST_RATE = Figure(lambda t: t.burst, lambda burst: burst.deliveries_per_s, runs)
CHATS_DELIVERY_CPU = Figure(
    lambda t: t.burst, lambda burst: burst.chat_us_per_delivery, lambda burst: burst.chat_cpu_runs
)
"""The chat processes' CPU per copy delivered in the burst, all of them together."""
DELIVERY_CPU = Figure(lambda t: t.burst, lambda burst: burst.all_us_per_delivery, cpu_runs)
"""Every process's CPU per copy delivered in the burst: the chat processes' and helpers'."""
POLL_P99 = Figure(lambda t: t.longpoll, p99, runs)
ANSWER_CPU = Figure(lambda t: t.longpoll, lambda poll: poll.cpu_us_per_answer, cpu_runs)


def run_json(
    *,
    started: str,
    options: dict[str, Any],
    machine: dict[str, Any],
    targets: list[TargetResult],
    verdicts: list[dict[str, Any]],
    cpu_clock: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The whole run as one JSON object; ``cpu_clock``: the clock the servers' CPU time was
    read with, its name and resolution (cpuclock.CpuClock.to_json)."""
    return {
        "schema": SCHEMA,
        "started": started,
        "options": options,
        "machine": machine,
        "cpu_clock": cpu_clock,
        "targets": {target.name: target.to_json() for target in targets},
        "verdicts": verdicts,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
