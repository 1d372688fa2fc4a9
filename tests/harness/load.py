"""A busy machine on purpose: ``--under-load`` keeps every core busy while the checks run.

The checks promise the same answer on a learner's laptop with a video call and a browser open
as on an idle one. To keep that promise it must be tried: this starts one burner process per
core, at the same priority as everything else (as a video call runs), and stops them when
the run ends. Each burner also stops by itself if the run that started it is gone, so none is
ever left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from .processes import end_process

BURNER = """\
import os
parent = os.getppid()
while os.getppid() == parent:  # the run that started it is still there
    for _ in range(200_000):
        pass
"""
"""A process that keeps one core busy until it is stopped or its parent is gone."""

STOP_TIMEOUT = 5.0


class Burners:
    """One busy process per core, for as long as the run lasts."""

    def __init__(self, count: int | None = None) -> None:
        self.count = count or os.cpu_count() or 1
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        self.running = [
            subprocess.Popen([sys.executable, "-c", BURNER], stdin=subprocess.DEVNULL)
            for _ in range(self.count)
        ]

    def stop(self) -> None:
        for burner in self.running:
            end_process(burner, signal.SIGTERM, STOP_TIMEOUT)
        self.running = []

    def describe(self) -> str:
        return f"under load: {self.count} busy process(es) keep every core busy meanwhile"
