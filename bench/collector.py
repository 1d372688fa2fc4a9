"""Python's cycle collector kept out of the timed parts of a measurement.

The load client is one Python process that handles hundreds of thousands of frames in a
run. Every so often the cycle collector stops it to look through all that it holds; in
a burst, where the client is the slower side, those pauses were a quarter of what the
client could receive, and they hid how the servers differ. So each timed part starts
with a collection and runs with the collector off; it comes back on as the part ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Collect now, then keep the cycle collector off until the block ends."""
    was_on = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
