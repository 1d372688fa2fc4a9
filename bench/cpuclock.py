"""The CPU time the servers' processes spend, read with the finest clock the system offers.

The usual process times (psutil's, from /proc/<pid>/stat on Linux) count in clock ticks,
hundredths of a second: a hundred pollers hearing ten messages cost the server a few tenths
of a second, which such a clock rounds to a few ticks, so every server came out at the same
figure. POSIX gives each process a CPU-time clock of its own (clock_getcpuclockid), which
Linux keeps in nanoseconds and which, unlike summing the threads in /proc/<pid>/task, still
counts the threads that have ended (a thread pool's, say). Where it cannot be read, the
process times stand in, and the clock's name and resolution go into results.json, so that a
figure too small for its clock is said to be so rather than printed.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import psutil

PROCESS_CLOCK = "POSIX process CPU-time clock"
PROCESS_TIMES = "psutil process times"

RESOLUTIONS = 100
"""A figure of CPU time counts only when it is at least this many times the clock's
resolution: a tick either way is then at most 1 % of it."""


@dataclass(frozen=True)
class CpuClock:
    """A clock that reads the CPU seconds a process has spent so far, all its threads."""

    name: str
    resolution_s: float
    read: Callable[[int], float | None]
    """The CPU seconds process ``pid`` has spent so far; None when it is gone."""

    def seconds(self, pids: Iterable[int]) -> float:
        """CPU seconds spent so far by the processes ``pids`` (those still running)."""
        return sum(spent for spent in map(self.read, pids) if spent is not None)

    def family_seconds(self, pids: Iterable[int]) -> float:
        """As ``seconds``, with the living children of each process counted too, once each:
        PostgreSQL serves each connection in a child process of its own."""
        return self.seconds(family(pids))

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "resolution_s": self.resolution_s}


def family(pids: Iterable[int]) -> set[int]:
    """``pids`` and the processes they started, and those started, that are still running."""
    found: set[int] = set()
    for pid in pids:
        try:
            children = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            continue
        found.add(pid)
        found.update(child.pid for child in children)
    return found


def below_resolution(seconds: float, resolution_s: float) -> bool:
    """Whether ``seconds`` of CPU, read on a clock of ``resolution_s``, is too little to count
    (see RESOLUTIONS)."""
    return seconds < RESOLUTIONS * resolution_s


def process_times_seconds(pid: int) -> float | None:
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return None
    return times.user + times.system


def tick_seconds() -> float:
    """How finely the process times count: one clock tick where the system says, else a
    hundredth of a second, the common tick."""
    try:
        return 1 / os.sysconf("SC_CLK_TCK")
    except (AttributeError, ValueError, OSError):
        return 0.01


def process_times() -> CpuClock:
    return CpuClock(PROCESS_TIMES, tick_seconds(), process_times_seconds)


def process_clock() -> CpuClock | None:
    """Each process's own CPU-time clock, or None where the C library or the system has none
    (macOS has no clock_getcpuclockid)."""
    try:
        getcpuclockid = ctypes.CDLL(None, use_errno=True).clock_getcpuclockid
    except (OSError, AttributeError):
        return None

    def clock_of(pid: int) -> int | None:
        clock = ctypes.c_int()  # clockid_t
        return None if getcpuclockid(pid, ctypes.byref(clock)) != 0 else clock.value

    def read(pid: int) -> float | None:
        clock = clock_of(pid)
        if clock is None:
            return None
        try:
            return time.clock_gettime(clock)
        except OSError:  # the process ended since
            return None

    own = clock_of(os.getpid())
    try:
        if own is None or read(os.getpid()) is None:
            return None
        return CpuClock(PROCESS_CLOCK, time.clock_getres(own), read)
    except (OSError, AttributeError):
        return None


def finest() -> CpuClock:
    """The finest CPU clock this system offers for other processes."""
    return process_clock() or process_times()


CLOCK = finest()
"""The clock the bench reads the servers' CPU time with."""
