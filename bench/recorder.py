"""The bookkeeping of one measured flow: when each message was sent, when each copy arrived."""

from __future__ import annotations

import asyncio
import time

from .results import Flow
from .stats import summarize


class Recorder:
    """Counts the deliveries of one flow of numbered messages to ``receivers`` clients.

    A copy that arrives twice at the same client counts once; one that was never sent in
    this flow (a straggler from an earlier one) is passed over.
    """

    def __init__(self, receivers: int) -> None:
        self.receivers = receivers
        self.sent: dict[int, float] = {}
        self.latencies: list[float] = []
        self.seen: dict[int, set[int]] = {}
        self.begun: set[int] = set()
        """The messages of which at least one copy has arrived."""
        self.refused = 0
        self.first_sent = 0.0
        self.last_arrival = 0.0
        self.last_event = 0.0
        """When the last message was sent or the last copy arrived: how quiet it has been."""

    def sending(self, sequence: int) -> None:
        now = time.perf_counter()
        if not self.sent:
            self.first_sent = now
        self.sent[sequence] = now
        self.last_event = now

    def arrived(self, client: int, sequence: int | None, now: float) -> None:
        sent = None if sequence is None else self.sent.get(sequence)
        if sequence is None or sent is None:
            return
        seen = self.seen.setdefault(client, set())
        if sequence in seen:
            return
        seen.add(sequence)
        self.begun.add(sequence)
        self.latencies.append(now - sent)
        self.last_arrival = self.last_event = now

    @property
    def delivered(self) -> int:
        return len(self.latencies)

    @property
    def expected(self) -> int:
        return len(self.sent) * self.receivers

    @property
    def all_begun(self) -> bool:
        """Whether every message sent has begun to arrive, or was refused (and never will)."""
        return len(self.begun) + self.refused >= len(self.sent)

    async def settle(self, *, quiet: float, deadline: float) -> None:
        """Wait until every copy has arrived, nothing more has arrived for ``quiet`` seconds
        since every message began to arrive, or the ``deadline`` (a perf_counter time) has
        passed.

        Until a copy of each message has arrived only the deadline counts: a message none of
        whose copies has come yet is late, not lost. On a busy machine a crowd's first copy
        can come seconds after the send, and a stage that stores before it broadcasts sends
        a burst's messages in groups, each once its transaction is committed: the first
        alone, the rest seconds later when the disk is slow. Copies still missing once every
        message has reached somebody, and nothing more comes, are lost."""
        while self.delivered < self.expected:
            now = time.perf_counter()
            if (self.all_begun and now - self.last_event > quiet) or now > deadline:
                return
            await asyncio.sleep(0.02)

    def flow(self, rate: float | None) -> Flow:
        """What arrived, as a Flow; its time runs from the first send to the last arrival."""
        seconds = self.last_arrival - self.first_sent if self.latencies else 0.0
        return Flow(
            clients=self.receivers,
            messages=len(self.sent),
            rate=rate,
            expected=self.expected,
            delivered=self.delivered,
            seconds=round(seconds, 4),
            latency=summarize(self.latencies),
            refused=self.refused,
        )
