"""The goals the chat servers are measured against, and whether one run met them.

Only ratios are judged, never a figure on its own (seconds, KiB, deliveries/s, µs): those
depend on the machine, and are for reference. Every ratio is taken from figures of the
same run on the same machine, so the noise of a busy laptop mostly cancels out. The goals
are on the servers' CPU per unit of work, every process of a target counted: on a 2-core
machine the load client, not the server, sets the wall-clock figures (join storm seconds,
deliveries per second), so their ratios are printed for reference, and a wall-clock ratio
taken from a flow that saturated the client is marked client-bound and judges nothing.
Goals apply to our stages from GOALS_FROM on; the same ratios for earlier stages and for
the peers are printed for reference, with no verdict, and so are the ratios no goal judges.

A stage of several chat processes behind a balancer (scale_out) has goals of its own, on
CPU per delivery and latency against the same chat as one process and against Channels +
Redis (CLUSTER_GOALS, VERSUS). A goal against bare takes the median of the ratios of the
turns, each a run of the target's and one of the bare broadcast's right after it
(in_turns). A goal against another target than bare compares each one's figure as a share
of the bare broadcast measured in turns with it, the median of its turns' shares
(each_vs_bare); without those turns, the ratio is for reference. A target that lost
messages (or clients that could not join) meets no goal, and neither does a ratio taken
with one.
"""

from __future__ import annotations

import statistics
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .results import (
    ANSWER_CPU,
    AUTOBAHN_IN_TWISTED_WEB,
    BARE,
    BARE_ALONGSIDE,
    BURST_RATE,
    CHATS_DELIVERY_CPU,
    CLIENT_BOUND,
    CLIENT_BOUND_WORDS,
    DELIVERY_CPU,
    FANOUT_P99,
    HANDSHAKE_CPU,
    IDLE_MEMORY,
    JOIN_TIME,
    POLL_P99,
    TWISTED_WEBSOCKET,
    Figure,
    Flow,
    Join,
    Measured,
    TargetResult,
    bare_alongside_words,
)

CHANNELS_REDIS = "channels-redis"
"""The Channels peer with its Redis channel layer: Channels' way to run several processes."""
SOCKETIO = "socketio"
SOCKETIO_REDIS = "socketio-redis"
"""python-socketio with its Redis manager: its way to run several processes."""
SOCKETIO_NODE = "socketio-node"
WS_NODE = "ws-node"
"""The bare broadcast on Node's ws: the limit of a chat on Node, for reference."""

GOALS_FROM = "part3"
"""The goals hold for this stage and every stage built on it. Chapter 03 is where the chat
server learns to take a crowd (one room lookup for a crowd's handshakes, one encoding for
a crowd's polls), so part2, which asks Django once per handshake, is shown for reference."""


GOAL_CLIENTS = 1000
"""The crowd the goals are set for. With fewer clients the same ratios are printed for
reference only: a join storm of a hundred takes a tenth of a second, which a busy moment
can double, and Channels' cost per receiver shows less with fewer receivers."""


def judged_stages(parents: Mapping[str, str | None], first: str = GOALS_FROM) -> set[str]:
    """``first`` and every stage descended from it, given each stage's parent."""

    def descends(name: str | None) -> bool:
        while name is not None:
            if name == first:
                return True
            name = parents.get(name)
        return False

    return {name for name in parents if descends(name)}


@dataclass(frozen=True)
class Goal:
    key: str
    title: str
    limit: float | None
    """None: a ratio shown for reference only, never judged."""
    at_most: bool = True
    """True: the ratio must be at most ``limit``; False: at least ``limit``."""
    wall_clock: bool = False
    """A ratio of wall-clock figures (seconds, deliveries/s, latencies): it judges nothing
    when a flow behind it kept the load client saturated (results.CLIENT_BOUND)."""

    @property
    def wanted(self) -> str:
        if self.limit is None:
            return ""
        return f"{'<=' if self.at_most else '>='} {self.limit:g}x"

    def met_by(self, ratio: float | None) -> bool | None:
        """Whether ``ratio`` meets the goal; None when it could not be measured, or when
        the ratio is for reference."""
        if ratio is None or self.limit is None:
            return None
        return ratio <= self.limit if self.at_most else ratio >= self.limit


JOIN_CPU = Goal("join_cpu_vs_bare", "CPU per handshake vs bare", 1.3)
"""Every process of the stage, per client that joined, against the bare broadcast served as
the stage serves its own (Autobahn in twisted.web for most stages), its storms taken in
turns with the stage's: what the stage adds to the handshake (its room lookup, its
welcome, its login check), not what hosting Autobahn in twisted.web costs."""
BURST_CPU = Goal("burst_cpu_vs_bare", "CPU per delivery vs bare", 1.3)
"""The same in the burst: every process of the stage per copy delivered, against the bare
broadcast's, taken in turns."""
MEMORY = Goal("memory_vs_bare", "memory per idle connection vs bare", 1.5)
"""The chat processes' resident memory per idle client against the bare broadcast's, served
as the stage serves its WebSockets (Paired.memory): what the stage's own state per client
costs, not what one library's connection costs more than another's."""
MEMORY_OWN_PORT = Goal(
    "memory_vs_bare_own_port", "memory per idle connection vs bare Autobahn on its own port",
    None,
)  # fmt: skip
"""The same memory against the bare column's, Autobahn on a port of its own: for reference,
the distance to the least a connection can hold."""
JOIN = Goal("join_vs_bare", "join storm time vs bare", None, wall_clock=True)
"""The wall-clock ratio of the join storms: for reference (JOIN_CPU is the goal)."""
OWN_PORT = Goal(
    "join_vs_bare_own_port", "join storm time vs bare Autobahn on its own port", None,
    wall_clock=True,
)  # fmt: skip
"""The same join storms against the bare column's, Autobahn listening on a port of its own:
for reference, since the two were measured at different times."""
HOSTING = Goal(
    "twisted_web_hosting", "join storm time in twisted.web vs on its own port", None,
    wall_clock=True,
)  # fmt: skip
"""The bare server's own broadcast, served in twisted.web and on a port of its own, taken in
turns: what hosting the WebSockets in a twisted.web Site costs on this machine."""
BURST = Goal("burst_vs_bare", "burst deliveries/s vs bare", None, at_most=False, wall_clock=True)
"""The wall-clock ratio of the bursts: for reference (BURST_CPU is the goal)."""
LONGPOLL = Goal(
    "longpoll_cpu_vs_bare",
    "long-poll CPU per answer vs bare twisted.web alongside",
    1.5,
    at_most=True,
)
"""The long-poll API against the least correct one twisted.web allows (the bare server's),
measured in turns with it: the server's CPU time per answer, which is what our code adds to
twisted.web's own cost of an HTTP request. A thousand pollers at ten messages a second are
ten thousand requests a second, about all one reactor thread answers on a laptop; that
close to saturation a p99 turns a few per cent more work into anything from 1.5 to 2.3
times the wait from one run to the next, so the p99 ratios are shown for reference."""
LONGPOLL_P99 = Goal(
    "longpoll_vs_bare", "long-poll p99 vs bare twisted.web alongside", None, wall_clock=True
)
LONGPOLL_VS_WEBSOCKET = Goal(
    "longpoll_vs_websocket", "long-poll p99 vs WebSocket p99", None, wall_clock=True
)
CHANNELS = Goal(
    "burst_vs_channels", "burst deliveries/s vs Channels", None, at_most=False, wall_clock=True
)
LIBRARY = Goal(
    "burst_vs_bare_autobahn", "burst deliveries/s vs bare Autobahn", None, wall_clock=True
)
"""A stage on another WebSocket library than Autobahn is judged against the bare server's
broadcast on its own library; how it compares with Autobahn's is shown for reference: that
is the libraries' difference, which no change to the stage can close. Where the bare
server's Autobahn broadcast took turns with it (Paired.common_burst), against that."""
LIBRARY_ALONGSIDE = "burst deliveries/s vs bare Autobahn in twisted.web, alongside"
ALONE_CPU = Goal(
    "cpu_vs_one_process", "chat processes' CPU per delivery vs one process", 1.3, at_most=True
)
"""A stage of several chat processes (scale_out) against the same chat as one process
(history), in the burst to the crowd: what the processes together spend per copy they
deliver. Their CPU, not the crowd's deliveries per second: on a 2-core machine the load
client is often the bottleneck, and the CPU counts the work done whoever waits. The
balancer's, Redis's and PostgreSQL's are shown beside it, per delivery too."""
ALONE_P99 = Goal(
    "p99_vs_one_process", "fan-out p99 vs one process", 1.5, at_most=True, wall_clock=True
)
"""The same, in the WebSocket fan-out at a steady rate: one more hop (the balancer) and a
round trip through Redis may cost some latency, not half as much again."""
CHANNELS_CPU = Goal(
    "cpu_vs_channels", "CPU per delivery, every process, Channels vs", 10, at_most=False
)
"""Channels + Redis is the other way to run a chat on several processes: its CPU per copy
delivered in the burst, every one of its processes counted (Daphne's, Redis's), against the
stage's, every one counted too (the chat processes', the balancer's, Redis's,
PostgreSQL's)."""


@dataclass(frozen=True)
class Versus:
    """A goal on a stage's CPU per delivery in the burst, every process counted, against
    that of another target of the same run: one verdict per target named in ``others``
    that ran."""

    goal: Goal
    others: tuple[str, ...]
    stages: tuple[str, ...] = ()
    """The stages it holds for; () for every stage of its kind."""
    theirs_over_ours: bool = False
    """The ratio is theirs / ours (how many times less we spend); else ours / theirs."""
    several: bool = False
    """It holds for the stages of several chat processes (scale_out), not for the others."""
    note: str = ""
    """Said beside each of its ratios."""

    def holds_for(self, target: TargetResult) -> bool:
        kind = (target.alone is not None) == self.several
        return target.kind == "stage" and kind and self.stages in ((), (target.name,))

    def ratio(self, ours: float | None, theirs: float | None) -> float | None:
        return ratio(theirs, ours) if self.theirs_over_ours else ratio(ours, theirs)


PER_DELIVERY = "CPU per delivery"
SOCKETIO_CPU = Goal(
    "cpu_vs_python_socketio", f"{PER_DELIVERY}, python-socketio vs", 3, at_most=False
)
"""python-socketio, the most used Python real-time library after Channels, under uvicorn:
its CPU per copy delivered in the burst, every process counted (uvicorn's, Redis's with its
Redis manager), against the stage's."""
NODE_CPU = Goal("cpu_vs_socketio_node", f"{PER_DELIVERY} vs Socket.IO on Node", 1.0)
"""Socket.IO on Node.js, the stack many would pick instead: the stage's CPU per copy
delivered against Node's, at most as much. (A stage of several processes pays for its
balancer, Redis and PostgreSQL, which the one Node process has no need of: no goal.)"""
NODE_LIMIT = Goal("cpu_vs_ws_node", f"{PER_DELIVERY} vs ws on Node", None)
"""The bare broadcast on Node's ws, which does the least a room chat can do: the stage's CPU
per delivery against it, the distance to the limit, for reference."""
LIMIT_NOTE = "distance to the limit"
VERSUS = (
    Versus(Goal("cpu_vs_part3", f"{PER_DELIVERY} vs part3", 1.2), ("part3",), ("history",)),
    Versus(
        Goal("cpu_vs_channels", f"{PER_DELIVERY}, Channels vs", 20, at_most=False),
        ("channels-memory", CHANNELS_REDIS),
        theirs_over_ours=True,
    ),
    Versus(CHANNELS_CPU, (CHANNELS_REDIS,), theirs_over_ours=True, several=True),
    Versus(SOCKETIO_CPU, (SOCKETIO, SOCKETIO_REDIS), theirs_over_ours=True),
    Versus(SOCKETIO_CPU, (SOCKETIO_REDIS,), theirs_over_ours=True, several=True),
    Versus(NODE_CPU, (SOCKETIO_NODE,)),
    Versus(NODE_LIMIT, (WS_NODE,), note=LIMIT_NOTE),
    Versus(NODE_LIMIT, (WS_NODE,), several=True, note=LIMIT_NOTE),
)
"""The goals against other targets: history spends little more per delivery than part3,
whose broadcast it keeps; every stage a twentieth of what Channels spends and a third of
what python-socketio spends (scale_out: of Channels + Redis, a tenth, and of
python-socketio + Redis, a third, all on several processes); every one-process stage no
more than Socket.IO on Node, the stack many would pick instead; and, for reference, how
far every stage is from Node's bare ws broadcast. A goal against another target is one more
line here."""
CLUSTER_GOALS = (ALONE_CPU, ALONE_P99)
"""The goals of a stage of several chat processes, besides its lines in VERSUS. Its ratios
of wall-clock figures (join storm time, deliveries per second) are for reference: on a
2-core machine the load client, not the servers, sets them."""
ONE_PROCESS_GOALS = (JOIN_CPU, BURST_CPU, LONGPOLL, MEMORY)


def goals_for(target: TargetResult) -> tuple[Goal, ...]:
    """The goals that hold for ``target``'s ratios: a stage of several chat processes has
    goals of its own (CLUSTER_GOALS)."""
    own = CLUSTER_GOALS if target.alone is not None else ONE_PROCESS_GOALS
    return (*own, *(versus.goal for versus in VERSUS if versus.holds_for(target)))


@dataclass(frozen=True)
class Verdict:
    goal: str
    title: str
    target: str
    versus: str
    ratio: float | None
    wanted: str
    met: bool | None
    """None: not measured, client-bound, or a ratio shown for reference only."""
    note: str = ""
    judged: bool = False
    """Whether the goal holds for this target in this run (a stage from GOALS_FROM on, in a
    run of GOAL_CLIENTS, a goal with a limit); else the ratio is for reference, whatever it
    is."""
    lost_by: tuple[str, ...] = ()
    """The targets behind a judged ratio that lost messages: the goal is missed, whatever
    the ratio says."""
    client_bound: bool = False
    """A wall-clock ratio taken from a flow that saturated the load client: it says more
    about the client than the servers, and judges nothing."""

    @property
    def word(self) -> str:
        if self.client_bound:
            return CLIENT_BOUND_WORDS
        if self.met is None:
            reference = self.ratio is not None or not self.judged
            return "for reference" if reference else "not measured"
        return "met" if self.met else "not met"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.word}


def quotient(top: float | None, bottom: float | None) -> float | None:
    """top / bottom; None when either is missing or bottom is 0."""
    if top is None or bottom is None or bottom == 0:
        return None
    return top / bottom


def ratio(top: float | None, bottom: float | None) -> float | None:
    """top / bottom, rounded to 2 places; None when either is missing or bottom is 0."""
    value = quotient(top, bottom)
    return None if value is None else round(value, 2)


EACH_VS_BARE = ", each vs bare alongside"


def each_vs_bare(
    ours: TargetResult, theirs: TargetResult, figure: Figure
) -> tuple[float | None, float | None, str]:
    """``figure`` of the two targets' bursts, to be compared; and EACH_VS_BARE when each is
    a share of the bare broadcast's burst measured in turns with it (served as ``theirs``
    serves its own), else "".

    Two targets are measured minutes apart, perhaps on a machine busier at one time than the
    other: the bare broadcast measured alongside each of them moves with the machine, so
    each as a share of it compares what the two targets do, not when they ran. Each share
    is the median of the turns' shares, where there were turns (share_of_bare)."""
    top, bottom = figure.of(ours), figure.of(theirs)
    if theirs.paired is None:
        return top, bottom, ""
    served = theirs.paired.websockets
    ours_share = share_of_bare(figure, ours, ours.bare_alongside(served))
    theirs_share = share_of_bare(figure, theirs, theirs.bare_alongside(served))
    if top is None or bottom is None or ours_share is None or theirs_share is None:
        return top, bottom, ""
    return ours_share, theirs_share, EACH_VS_BARE


def share_of_bare(figure: Figure, target: TargetResult, bare: TargetResult | None) -> float | None:
    """``figure`` on ``target`` as a share of the bare broadcast's measured in turns with it:
    the median of the turns' shares, or, of a single turn, its share; None where the bare
    broadcast measured nothing alongside."""
    turns = [
        share
        for top, bottom in turn_pairs(figure.runs(target), figure.runs(bare))
        if (share := quotient(top, bottom)) is not None
    ]
    if turns:
        return statistics.median(turns)
    return quotient(figure.of(target), figure.of(bare))


def apart_words(ours: TargetResult, theirs: TargetResult) -> str:
    """Why a goal against another target judges nothing when the two could not be compared
    through the bare broadcast (each_vs_bare): their own figures were taken minutes apart,
    and the machine's load alone moves such a ratio by half."""
    missing = [t.name for t in (ours, theirs) if t.paired is None or t.paired.burst is None]
    who = " and ".join(missing) if missing else f"{ours.name} or {theirs.name}"
    return (
        f"for reference: no bare broadcast measured alongside {who}, so the ratio is of "
        f"figures taken at different times; run bare too (--targets bare ...) to judge it"
    )


def turn_pairs(
    ours: Sequence[float | None], theirs: Sequence[float | None]
) -> list[tuple[float, float]]:
    """Each turn's two figures, ours[i] and theirs[i], the two runs measured one right after
    the other; none at all unless every turn has both.

    The goals take the median of the turns' ratios: a moment when the machine is busier
    slows both runs of a turn alike, or spoils that one turn's ratio only, where the ratio
    of two medians or of two sums would let one side's slow run and the other's quick one,
    minutes apart, decide it. On a shared virtual machine the same server's CPU per delivery
    moves by up to half from one burst to the next (see bench/README.md)."""
    if len(ours) != len(theirs):
        return []
    pairs = zip(ours, theirs, strict=True)
    kept = [(top, bottom) for top, bottom in pairs if top is not None and bottom]
    return kept if len(kept) == len(ours) else []


def turn_ratios(ours: Sequence[float | None], theirs: Sequence[float | None]) -> list[float]:
    """Each turn's ratio, ours[i] / theirs[i] (turn_pairs), rounded to 2 places."""
    return [round(top / bottom, 2) for top, bottom in turn_pairs(ours, theirs)]


def in_turns(figure: Figure, ours: TargetResult, theirs: TargetResult) -> tuple[float | None, str]:
    """The ratio of ``ours`` to ``theirs``, taken in turns, by ``figure``: the median of the
    turns' ratios when there were turns, with a note that lists them, else the plain
    ratio."""
    turns = turn_ratios(figure.runs(ours), figure.runs(theirs))
    if len(turns) < 2:
        return ratio(figure.of(ours), figure.of(theirs)), ""
    return round(statistics.median(turns), 2), turns_words(turns)


def turns_words(turns: Sequence[float]) -> str:
    """The turns' ratios a median was taken of; the middle ones where there are many."""
    shown = [f"{turn:g}" for turn in sorted(turns)] if len(turns) > SHOWN_TURNS else None
    if shown is None:
        return "median of the turns: " + ", ".join(f"{turn:g}" for turn in turns)
    return f"median of {len(turns)} turns, from {shown[0]} to {shown[-1]}"


SHOWN_TURNS = 5
"""A note lists the turns' ratios one by one up to this many; of more, their range."""


def resolution_words(flows: Mapping[str, Flow | None]) -> str:
    """Which of ``flows`` (by whose they are) spent too little CPU for the clock to measure."""
    below = [name for name, flow in flows.items() if flow is not None and flow.cpu_below_resolution]
    if not below:
        return ""
    return f"CPU below the clock's resolution: {' and '.join(below)}; run longer or more clients"


def spoiled(target: TargetResult) -> bool:
    """Whether ``target`` failed in a way that misses every goal, whatever the ratios:
    clients that could not join, or messages lost in any flow."""
    failed = target.join is not None and target.join.failed > 0
    return failed or lost_in_any_flow(target) > 0


def lost_in_any_flow(target: TargetResult) -> int:
    flows = (target.fanout, target.burst, target.longpoll)
    return sum(flow.lost_anywhere for flow in flows if flow is not None)


def lost_everywhere_note(target: TargetResult) -> str:
    """What ``target`` lost, clients that could not join and flow by flow, in words; ""
    when it lost nothing."""
    join = target.join
    refused = f"{target.name}: {join.failed} clients could not join" if join and join.failed else ""
    flows = {"fan-out": target.fanout, "burst": target.burst, "long-poll": target.longpoll}
    lost = (lost_words(target.name, what, flow) for what, flow in flows.items())
    return "; ".join(words for words in (refused, *lost) if words)


def lost_verdict_words(lost: Sequence[TargetResult]) -> str:
    """Why a goal is missed whatever its ratio: who lost messages or clients."""
    names = " and ".join(target.name for target in lost)
    return f"not met: {names} lost messages or clients, and a goal is only met with none lost"


def lost_words(name: str, what: str, flow: Flow | None) -> str:
    if flow is None or not flow.lost_anywhere:
        return ""
    if flow.runs_lost is None:
        return f"{name} lost {flow.lost} of {flow.expected} {what} deliveries"
    return f"{name} lost {flow.runs_lost} {what} deliveries in {len(flow.runs)} runs"


def alongside_words(target: TargetResult) -> str:
    """ "bare alongside", or with how it was served when that is not as our stages do."""
    served = AUTOBAHN_IN_TWISTED_WEB if target.paired is None else target.paired.websockets
    return bare_alongside_words(served)


def titled(goal: Goal, versus: str) -> str:
    """A goal against bare, titled with the bare server it was taken with."""
    return goal.title.removesuffix(" vs bare") + f" vs {versus}"


def client_bound_words() -> str:
    return (
        f"{CLIENT_BOUND_WORDS}: the load client's busiest core was over "
        f"{CLIENT_BOUND:.0%} busy, so the ratio measures the client"
    )


@dataclass(frozen=True)
class Comparison:
    """A ratio taken for a goal on one target, before it is judged (judge)."""

    goal: Goal
    target: TargetResult
    versus: str
    """Whom the target is compared with, as the verdict names it."""
    value: float | None
    note: str = ""
    title: str = ""
    """What was compared, where the goal's own title does not say it all."""
    against: TargetResult | None = None
    """The other target the ratio is taken with, if not the bare server: a ratio with a
    target that failed misses its goal too."""
    measured: tuple[Measured | None, ...] = ()
    """What the ratio was taken from: a flow that saturated the load client leaves a
    wall-clock goal unjudged."""
    apart: str = ""
    """Why the ratio, of figures taken at different times, judges nothing (apart_words)."""


def compare(
    goal: Goal,
    figure: Figure,
    ours: TargetResult,
    theirs: TargetResult | None,
    versus: str,
    title: str = "",
    *,
    turns: bool = False,
    note: str = "",
    against: TargetResult | None = None,
) -> Comparison:
    """``goal``'s ratio of ``figure`` on ``ours`` to ``figure`` on ``theirs``, with ``note``
    beside it. ``turns``: the two were measured in turns, and the ratio is the median of
    the turns' ratios (in_turns), which the note then lists first."""
    if turns and theirs is not None:
        value, listed = in_turns(figure, ours, theirs)
        note = "; ".join(words for words in (listed, note) if words)
    else:
        value = ratio(figure.of(ours), figure.of(theirs))
    measured = (figure.measured(ours), figure.measured(theirs))
    return Comparison(goal, ours, versus, value, note, title, against, measured)


def against_bare(target: TargetResult, bare: TargetResult | None) -> Iterator[Comparison]:
    """``target`` against the bare broadcast measured in turns with it, served alike, or,
    where it took no turns, against the bare column. A stage that took turns is compared
    with the bare column too (Autobahn on a port of its own), for reference."""
    alongside = target.bare_alongside()
    yardstick = alongside or bare
    if target.kind == BARE or yardstick is None:
        return
    versus = BARE if alongside is None else alongside_words(target)
    taken_in_turns = alongside is not None
    for goal, figure in (
        (JOIN, JOIN_TIME), (BURST, BURST_RATE), (JOIN_CPU, HANDSHAKE_CPU), (BURST_CPU, DELIVERY_CPU)
    ):  # fmt: skip
        title = titled(goal, versus)
        yield compare(goal, figure, target, yardstick, versus, title, turns=taken_in_turns)
    served = BARE if alongside is None else alongside.label
    yield compare(MEMORY, IDLE_MEMORY, target, yardstick, served, titled(MEMORY, served))
    if bare is None or alongside is None or target.kind != "stage":
        return
    yield compare(MEMORY_OWN_PORT, IDLE_MEMORY, target, bare, BARE)
    yield compare(OWN_PORT, JOIN_TIME, target, bare, BARE)
    if target.paired is not None and target.paired.websockets == TWISTED_WEBSOCKET:
        common = target.bare_alongside(AUTOBAHN_IN_TWISTED_WEB)
        if common is not None:  # taken in turns with the target's bursts
            yield compare(
                LIBRARY, BURST_RATE, target, common, BARE_ALONGSIDE, LIBRARY_ALONGSIDE, turns=True
            )
        else:
            yield compare(LIBRARY, BURST_RATE, target, bare, BARE)


def hosting(bare: TargetResult | None) -> Iterator[Comparison]:
    """The bare server's own join storms, in twisted.web against on a port of its own, taken
    in turns: what hosting the WebSockets in a twisted.web Site costs."""
    hosted = None if bare is None else bare.bare_alongside()
    if bare is None or hosted is None:
        return
    value, note = in_turns(JOIN_TIME, hosted, bare)
    measured = (hosted.join, bare.join)
    yield Comparison(HOSTING, bare, BARE, value, note, measured=measured)


def long_polls(target: TargetResult, bare: TargetResult | None) -> Iterator[Comparison]:
    """``target``'s long-poll against bare twisted.web's, measured in turns with it, and
    against its own WebSocket fan-out."""
    if target.longpoll is None:
        return
    if bare is not None or target.paired is not None:
        alongside = target.bare_alongside()
        bare_polls = None if alongside is None else alongside.longpoll
        below = resolution_words({target.name: target.longpoll, BARE_ALONGSIDE: bare_polls})
        yield compare(
            LONGPOLL, ANSWER_CPU, target, alongside, BARE_ALONGSIDE, turns=True, note=below
        )
        yield compare(LONGPOLL_P99, POLL_P99, target, alongside, BARE_ALONGSIDE)
    value = ratio(POLL_P99.of(target), FANOUT_P99.of(target))
    measured = (target.longpoll, target.fanout)
    yield Comparison(
        LONGPOLL_VS_WEBSOCKET, target, f"{target.name} WebSocket", value, measured=measured
    )


def against_others(
    target: TargetResult, by_name: Mapping[str, TargetResult]
) -> Iterator[Comparison]:
    """A stage against the other targets of the run: Channels' bursts, the goals of VERSUS,
    and, for a stage of several chat processes, the same chat as one process."""
    if target.kind != "stage":
        return
    for peer in (other for other in by_name.values() if other.kind == "channels"):
        ours, theirs, through = each_vs_bare(target, peer, BURST_RATE)
        title = f"burst deliveries/s vs {peer.label}" + through
        measured = (target.burst, peer.burst)
        yield Comparison(
            CHANNELS, target, peer.name, ratio(ours, theirs), "", title, peer, measured
        )
    for versus in VERSUS:
        for other in (by_name.get(name) for name in versus.others):
            if other is None or not versus.holds_for(target):
                continue
            who = f"{other.label} vs {target.name}" if versus.theirs_over_ours else ""
            title = f"{PER_DELIVERY}, {who}" if who else f"{PER_DELIVERY} vs {other.label}"
            yield through_bare(versus.goal, DELIVERY_CPU, target, other, title, versus)
    one = None if target.alone is None else by_name.get(target.alone)
    if one is not None:
        title = f"chat processes' CPU per delivery vs {one.name} alone"
        yield through_bare(ALONE_CPU, CHATS_DELIVERY_CPU, target, one, title)
        title = f"fan-out p99 vs {one.name} alone"
        yield compare(ALONE_P99, FANOUT_P99, target, one, one.name, title, against=one)


def through_bare(
    goal: Goal,
    figure: Figure,
    target: TargetResult,
    other: TargetResult,
    title: str,
    versus: Versus | None = None,
) -> Comparison:
    """``goal``'s ratio of ``figure`` on ``target`` to ``figure`` on ``other``, each as a
    share of the bare broadcast measured in turns with it (each_vs_bare); without those
    turns, a ratio of figures taken at different times, which judges nothing. ``versus``:
    the line of VERSUS the goal comes from, which says which way round the ratio is."""
    ours, theirs, through = each_vs_bare(target, other, figure)
    value = versus.ratio(ours, theirs) if versus is not None else ratio(ours, theirs)
    apart = "" if through or value is None else apart_words(target, other)
    note = "" if versus is None else versus.note
    return Comparison(goal, target, other.name, value, note, title + through, other, apart=apart)


def judge(comparison: Comparison, judged: Collection[str] | None) -> Verdict:
    """The verdict on ``comparison``: met or not where its goal holds for its target in this
    run (``judged``: the stages the goals hold for; None: every stage), else for reference."""
    goal, target, apart = comparison.goal, comparison.target, comparison.apart
    flows = [part for part in comparison.measured if isinstance(part, (Flow, Join))]
    bound = goal.wall_clock and any(flow.client_bound for flow in flows)
    applies = target.kind == "stage" and (judged is None or target.name in judged)
    holds = applies and goal in goals_for(target) and goal.limit is not None
    holds = holds and not bound and not apart
    met = goal.met_by(comparison.value) if holds else None
    sides = (target, comparison.against)
    lost = [side for side in sides if side is not None and spoiled(side)]
    notes = [comparison.note]
    if holds and lost:
        met = False
        notes += [*map(lost_everywhere_note, lost), lost_verdict_words(lost)]
    if bound:
        notes.append(client_bound_words())
    if apart and applies and goal.limit is not None:
        notes.append(apart)
    return Verdict(
        goal.key, comparison.title or goal.title, target.name, comparison.versus,
        comparison.value, goal.wanted, met, "; ".join(dict.fromkeys(n for n in notes if n)),
        holds, tuple(side.name for side in lost) if holds else (), bound,
    )  # fmt: skip


def verdicts(
    targets: Sequence[TargetResult], judged: Collection[str] | None = None
) -> list[Verdict]:
    """Every goal for every target it applies to, in the order of ``targets``: against the
    bare broadcast, what hosting in twisted.web costs the bare one, the long-polls, then
    against the other targets.

    ``judged`` names the stages the goals hold for (None: every stage); the ratios of the
    other stages are given for reference, like the peers'. A target that was skipped (not
    run on this machine) is left out.
    """
    targets = [target for target in targets if target.skipped is None]
    by_name = {target.name: target for target in targets}
    bare = by_name.get(BARE)
    comparisons = [
        *(taken for target in targets for taken in against_bare(target, bare)),
        *hosting(bare),
        *(taken for target in targets for taken in long_polls(target, bare)),
        *(taken for target in targets for taken in against_others(target, by_name)),
    ]
    return [judge(comparison, judged) for comparison in comparisons]
