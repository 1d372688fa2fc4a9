"""The bench's command line: sizes, targets and where the results go."""

from __future__ import annotations

import argparse
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .verdicts import (
    BARE,
    CHANNELS_REDIS,
    GOAL_CLIENTS,
    SOCKETIO,
    SOCKETIO_NODE,
    SOCKETIO_REDIS,
    WS_NODE,
)

CHANNELS_MEMORY = "channels-memory"
CHANNELS = (CHANNELS_MEMORY, CHANNELS_REDIS)
PYTHON_SOCKETIO = (SOCKETIO, SOCKETIO_REDIS)
NODE = (SOCKETIO_NODE, WS_NODE)
PEERS = (*CHANNELS, *PYTHON_SOCKETIO, *NODE)
"""The alternatives to our stages, in the order they run."""
GROUPS = {"channels": CHANNELS, SOCKETIO: PYTHON_SOCKETIO}
"""Names that mean several targets: both of Channels' layers, both of python-socketio's
client managers (in memory, and on Redis)."""
OTHERS = (BARE, *PEERS)


@dataclass(frozen=True)
class Options:
    clients: int
    rate: float
    """Messages per second in the fan-out (and long-poll fan-out) flow."""
    seconds: float
    """How long the fan-out flows send for."""
    burst_messages: int
    join_concurrency: int
    join_storms: int
    """Join storms to take the median of: the first one's clients stay for the flows."""
    repeats: int
    """Runs of each judged flow (burst, long-poll) to take the median of; a run that lasts
    five seconds or more is not repeated. The WebSocket fan-out runs once."""
    quiet: float
    """Seconds without a delivery, once every message has begun to arrive, after which a
    flow's missing copies count as lost."""
    deadline: float
    """Most seconds a flow may take to arrive, however busy the server still is: two
    minutes at full size, since Channels' bursts of 100 000 deliveries take more than one
    on a 2-core machine that other programs keep busy, and copies still on their way are
    late, not lost."""
    targets: tuple[str, ...]
    results: Path
    quick: bool

    @property
    def rooms(self) -> int:
        """Rooms a target needs: warm-up, long-poll, and one per join storm."""
        return 2 + self.join_storms

    @property
    def bursts(self) -> int:
        """Runs of the burst to take the median of: BURSTS_PER_REPEAT times ``repeats`` where
        the goals are judged, else ``repeats``. On a shared virtual machine one server's CPU
        per delivery moves by up to half from one burst to the next, its own code the same,
        so a goal of 1.2x takes more turns to judge than five (bench/README.md)."""
        judged = self.clients >= GOAL_CLIENTS
        return self.repeats * BURSTS_PER_REPEAT if judged else self.repeats

    @property
    def fanout_messages(self) -> int:
        return max(1, round(self.rate * self.seconds))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "results": str(self.results)}


BURSTS_PER_REPEAT = 3
"""See Options.bursts."""


def default_burst(clients: int) -> int:
    """Enough messages that a burst is some 100 000 deliveries, 20 to 200 of them: a shorter
    burst is over in half a second, and one pause of the client's moves it by a third. A
    smaller crowd gets fewer deliveries, so that Channels' bursts stay under a minute."""
    return min(max(100_000 // max(clients, 1), 20), 200)


def turns(clients: int) -> int:
    """How many join storms and runs of each flow to take the median of: five where the
    goals are judged, since a machine that is busy for a moment spoils one turn in five,
    not the verdict; three in a smaller run, which is for reference and should be quick."""
    return 5 if clients >= GOAL_CLIENTS else 3


def chosen_targets(
    asked: Sequence[str], stages: Sequence[str], unjudged: Collection[str] = ()
) -> tuple[str, ...]:
    """The targets to run, in a fixed order: bare first (the ceiling), then the stages, then
    the alternatives (PEERS). A name in GROUPS means each of its targets ("socketio": both
    python-socketio targets). Asked for none, all of them but the ``unjudged`` stages,
    which no goal judges: they run when named."""
    known = (BARE, *stages, *PEERS)
    wanted: set[str] = set()
    for name in asked or [name for name in known if name not in unjudged]:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in known:
            wanted.add(name)
        else:
            raise ValueError(
                f"there is no target called {name!r}; the targets are: "
                f"{', '.join(dict.fromkeys((*known, *GROUPS)))}"
            )
    return tuple(name for name in known if name in wanted)


def but(unjudged: Collection[str]) -> str:
    return f" but {', '.join(unjudged)}, which no goal judges" if unjudged else ""


def parse(argv: Sequence[str], stages: Sequence[str], unjudged: Collection[str] = ()) -> Options:
    """The options in ``argv``; ``unjudged``: the stages left out unless named."""
    parser = argparse.ArgumentParser(
        prog="nox -s bench --",
        description="Load the chat servers of the WebSocket stages, a bare Autobahn server "
        "and the alternatives (Django Channels, python-socketio, Socket.IO and ws on Node), "
        "one after another, and compare them.",
    )
    parser.add_argument("--clients", type=int, help="clients in the room (default 200)")
    parser.add_argument(
        "--targets",
        nargs="+",
        default=[],
        metavar="NAME",
        help=f"what to load (default all{but(unjudged)}): "
        f"{', '.join((BARE, *stages, 'channels', *CHANNELS, *PYTHON_SOCKETIO, *NODE))} "
        "(socketio: both python-socketio targets)",
    )
    parser.add_argument("--rate", type=float, help="fan-out messages per second (default 10)")
    parser.add_argument("--seconds", type=float, help="fan-out duration (default 1)")
    parser.add_argument("--burst-messages", type=int, help="burst size (default: ~100k deliveries)")
    parser.add_argument(
        "--join-concurrency", type=int, default=50, help="handshakes in flight at once (50)"
    )
    parser.add_argument(
        "--join-storms",
        type=int,
        help=f"join storms to take the median of (5 with {GOAL_CLIENTS} clients or more, else 3)",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        help="runs of the burst and long-poll flows to take the median of "
        f"(default 5 with {GOAL_CLIENTS} clients or more, else 3; 1 with --quick), and "
        f"with {GOAL_CLIENTS} clients or more, {BURSTS_PER_REPEAT} times as many bursts; "
        "the WebSocket fan-out runs once",
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path("bench-results"),
        help="where each run's folder goes (default bench-results/)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="100 clients and short flows: half a minute"
    )
    given = parser.parse_args(list(argv))
    try:
        targets = chosen_targets(given.targets, stages, unjudged)
    except ValueError as problem:
        parser.error(str(problem))
    clients = given.clients or (100 if given.quick else 200)
    if clients < 1:
        parser.error("--clients must be at least 1")
    return Options(
        clients=clients,
        rate=given.rate or 10.0,
        seconds=given.seconds or 1.0,
        burst_messages=given.burst_messages or (50 if given.quick else default_burst(clients)),
        join_concurrency=max(given.join_concurrency, 1),
        join_storms=max(given.join_storms or turns(clients), 1),
        repeats=max(given.repeats or (1 if given.quick else turns(clients)), 1),
        quiet=1.0 if given.quick else 2.0,
        deadline=15.0 if given.quick else 120.0,
        targets=targets,
        results=given.results,
        quick=given.quick,
    )
