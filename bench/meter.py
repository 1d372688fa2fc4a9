"""What a timed part of a measurement cost: the target's CPU time, process by process, and
how busy it kept the load client.

The servers' CPU per unit of work is what tells them apart: it counts the work done, not
the waiting, and the load client's speed does not set it. The client's own share says
whether the wall-clock figures of the same part (seconds, deliveries per second,
latencies) measured the server at all: a client whose busiest process used a whole core
was the bottleneck (results.CLIENT_BOUND).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .cpuclock import CLOCK
from .targets import Running


def client_pids() -> tuple[int, ...]:
    """The load client's processes: the bench's own, which runs every client."""
    return (os.getpid(),)


@dataclass(frozen=True)
class Spent:
    target_s: Mapping[str, float]
    """CPU seconds by process role (targets.CHAT_CPU, then each helper's); empty when no
    target was metered."""
    client_busy: float | None
    """The busiest client process's CPU seconds per second of wall-clock time."""

    @property
    def total_s(self) -> float:
        """Every metered process's CPU seconds together."""
        return round(sum(self.target_s.values()), 6)


class Meter:
    """Started at the beginning of a timed part; ``spent()`` at its end."""

    def __init__(self, running: Running | None) -> None:
        """``running``: the target whose processes' CPU to read; None for the client's
        share alone."""
        self.running = running
        self.target = {} if running is None else running.cpu_seconds()
        self.client = {pid: CLOCK.read(pid) for pid in client_pids()}
        self.started = time.perf_counter()

    def spent(self) -> Spent:
        wall = time.perf_counter() - self.started
        now = {} if self.running is None else self.running.cpu_seconds()
        target = {role: round(now[role] - before, 6) for role, before in self.target.items()}
        busy = [
            (spent or 0.0) - before
            for pid, before in self.client.items()
            if before is not None and (spent := CLOCK.read(pid)) is not None
        ]
        share = round(max(busy) / wall, 3) if busy and wall > 0 else None
        return Spent(target, share)
