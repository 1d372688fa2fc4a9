"""How busy other programs kept the machine while a target was measured.

The client and the servers share the machine with whatever else runs on it, and on a
shared or busy machine that moves the figures more than anything the servers do. So the
bench measures it: all the CPU time the machine spent, less what the bench's own client
and the target's processes (and the processes they started) spent, per second of the
measurement.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import psutil

from .cpuclock import CLOCK


def busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since it started, all cores together."""
    times = psutil.cpu_times()
    idle = times.idle + getattr(times, "iowait", 0.0)
    return sum(times) - idle


class OtherLoad:
    """Started when a target's measurement starts; ``cores()`` at its end says how many
    cores other programs kept busy meanwhile, on average."""

    def __init__(self, pids: Iterable[int]) -> None:
        self.pids = {psutil.Process().pid, *pids}  # each counted once
        self.started = time.monotonic()
        self.busy = busy_seconds()
        self.ours = CLOCK.family_seconds(self.pids)

    def cores(self) -> float | None:
        elapsed = time.monotonic() - self.started
        if elapsed <= 0:
            return None
        others = (busy_seconds() - self.busy) - (CLOCK.family_seconds(self.pids) - self.ours)
        return round(max(others, 0.0) / elapsed, 2)
