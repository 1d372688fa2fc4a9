"""The pure parts of ``nox -s bench``: percentiles, ratios and verdicts, the results' shapes,
the chart, and how a stage's processes are told apart; and the bare server's long-polls.

No servers but one: these build results by hand and check what the bench would make of
them. The bare server's loopback test starts it as the bench does, on free ports.
"""

from __future__ import annotations

import asyncio
import http.client
import itertools
import json
import os
import re
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from bench import figures, measure, meter, targets
from bench.adapters import BareAdapter, ChannelsAdapter, StageAdapter, sequence_in, text_for
from bench.collector import collector_paused
from bench.cpuclock import CLOCK, PROCESS_CLOCK, PROCESS_TIMES, CpuClock, process_times
from bench.measure import Pair, ballast, connections_held, crowd_spread, flows, repeated
from bench.options import PEERS, Options, chosen_targets, default_burst, parse
from bench.pollflow import LongPolls
from bench.pollload import HttpConnection
from bench.recorder import Recorder
from bench.report import BELOW_RESOLUTION, table, verdict_lines
from bench.results import (
    AUTOBAHN,
    AUTOBAHN_IN_TWISTED_WEB,
    BURST_RATE,
    CLIENT_BOUND_WORDS,
    POLL_P99,
    TWISTED_WEBSOCKET,
    Flow,
    Join,
    Memory,
    Paired,
    TargetResult,
    run_json,
)
from bench.run import (
    bare_memories,
    goals_note,
    judged_here,
    reference_stages,
    run_target,
    take_turns_with,
    websocket_stages,
    with_bare_memories,
)
from bench.servers import server_process
from bench.stats import Latency, percentile, summarize
from bench.targets import (
    BareTarget,
    ClusterTarget,
    Running,
    StageTarget,
    all_targets,
    chat_process,
    stage_settings,
)
from bench.verdicts import EACH_VS_BARE, judged_stages, verdicts
from bench.wsload import Swarm
from harness.processes import free_port
from harness.services import MissingProgram
from harness.stages import CHATSERVER, DJANGO, REPO_ROOT, Process
from harness.stages import STAGES as REGISTRY

STAGES = ["part2", "part3"]


# -- percentiles ---------------------------------------------------------------------------


def test_percentiles_are_nearest_ranks_of_measured_values() -> None:
    hundred = [float(n) for n in range(100, 0, -1)]  # any order
    assert percentile(hundred, 0.50) == 50
    assert percentile(hundred, 0.99) == 99
    assert percentile(hundred, 1.0) == 100
    assert percentile(hundred, 0.0) == 1
    assert percentile([7.0], 0.99) == 7


def test_percentile_of_nothing_or_out_of_range_is_an_error() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_latencies_are_summarised_in_milliseconds() -> None:
    summary = summarize([0.001 * n for n in range(1, 201)])
    assert summary == Latency(p50=100.0, p99=198.0, max=200.0, count=200)
    assert summarize([]) is None


# -- flows and their bookkeeping -----------------------------------------------------------


def test_a_copy_counts_once_and_a_straggler_not_at_all() -> None:
    recorder = Recorder(receivers=2)
    recorder.sending(1)
    recorder.sending(2)
    at = recorder.sent[2] + 0.01
    recorder.arrived(0, 1, at)
    recorder.arrived(0, 1, at)  # the same copy again
    recorder.arrived(1, 1, at)
    recorder.arrived(0, 2, at)
    recorder.arrived(1, 99, at)  # never sent in this flow
    recorder.arrived(1, None, at)  # a frame without a number
    flow = recorder.flow(rate=None)
    assert (flow.expected, flow.delivered, flow.lost) == (4, 3, 1)
    assert flow.latency is not None and flow.latency.count == 3


def settled_with_copies(recorder: Recorder, message: int, after: float, deadline: float) -> Flow:
    """``recorder``'s flow once it has settled (a quiet time of 0.05 s, at most ``deadline``
    seconds), every receiver's copy of ``message`` arriving ``after`` seconds from now."""

    async def settle() -> Flow:
        async def copies() -> None:
            await asyncio.sleep(after)
            for client in range(recorder.receivers):
                recorder.arrived(client, message, time.perf_counter())

        arriving = asyncio.create_task(copies())
        await recorder.settle(quiet=0.05, deadline=time.perf_counter() + deadline)
        arriving.cancel()
        return recorder.flow(rate=None)

    return asyncio.run(settle())


def one_message(receivers: int) -> Recorder:
    recorder = Recorder(receivers)
    recorder.sending(1)
    return recorder


def test_copies_that_begin_to_arrive_after_the_quiet_time_are_late_not_lost() -> None:
    late = settled_with_copies(one_message(3), 1, after=0.3, deadline=60)
    assert (late.delivered, late.lost) == (3, 0), (
        "bench/recorder.py: the first copies came 0.3 s after the message, past the quiet "
        f"time of 0.05 s, and {late.lost} of 3 were counted lost: on a busy machine a "
        "crowd's first copy may come seconds after the send"
    )
    started = time.perf_counter()
    never = settled_with_copies(one_message(3), 1, after=60, deadline=0.3)
    assert never.lost == 3 and time.perf_counter() - started >= 0.3, "the deadline bounds it"


def test_a_message_none_of_whose_copies_has_come_yet_is_late_not_lost() -> None:
    """As history's burst on a busy disk: the first message is stored and broadcast alone,
    the other 99 together, seconds later, once their transaction is committed."""

    def burst() -> Recorder:
        recorder = one_message(2)
        recorder.sending(2)
        for client in range(2):
            recorder.arrived(client, 1, time.perf_counter())
        return recorder

    late = settled_with_copies(burst(), 2, after=0.3, deadline=60)
    assert (late.delivered, late.lost) == (4, 0), (
        "bench/recorder.py: message 2 began to arrive 0.3 s after message 1's copies, past "
        f"the quiet time of 0.05 s, and {late.lost} of its 2 copies were counted lost"
    )
    started = time.perf_counter()
    never = settled_with_copies(burst(), 2, after=60, deadline=0.3)
    assert never.lost == 2 and time.perf_counter() - started >= 0.3, "the deadline bounds it"

    refused = Recorder(receivers=2)  # a message the server refused never comes
    refused.sending(1)
    refused.sending(2)
    refused.refused = 1
    for client in range(2):
        refused.arrived(client, 1, time.perf_counter() - 1)
    refused.last_event = time.perf_counter() - 1
    started = time.perf_counter()
    asyncio.run(refused.settle(quiet=0.05, deadline=time.perf_counter() + 60))
    assert time.perf_counter() - started < 30, "a refused message is not waited for"


def test_messages_carry_their_number_in_every_format() -> None:
    assert sequence_in(text_for(42)) == 42
    assert sequence_in("hello") is None
    ours = StageAdapter()
    sent = json.loads(ours.outgoing(7))
    echoed = json.dumps({"type": "message", "id": 1, "text": sent["text"]})
    assert ours.incoming(echoed).sequence == 7
    assert ours.incoming('{"type": "welcome", "room": 3}').kind == "welcome"
    assert ours.incoming('{"type": "presence"}').kind == "other"
    peer = ChannelsAdapter()
    assert peer.incoming(peer.outgoing(9)).sequence == 9
    assert peer.path("crowd") == "/ws/chat/crowd/"


def test_the_bare_server_is_sent_frames_shaped_like_the_stage_s_broadcasts() -> None:
    broadcast = json.dumps(
        {"type": "message", "id": 41, "room": 3, "author": "visitor", "text": text_for(41),
         "sent": "2026-11-30T06:00:00.000Z"}
    )  # fmt: skip
    bare = BareAdapter().shaped_like(broadcast)
    sent = bare.outgoing(7)
    assert len(sent) == len(broadcast.replace("41", "7")), "as long as the stage's"
    assert list(json.loads(sent)) == list(json.loads(broadcast)), "the same keys, in order"
    assert bare.incoming(sent).sequence == 7, "the bare server echoes it: still readable"
    unshaped = BareAdapter()
    assert json.loads(unshaped.outgoing(7)) == {"type": "message", "id": 7, "text": text_for(7)}
    assert unshaped.shaped_like(ChannelsAdapter().outgoing(7)) is unshaped
    assert unshaped.shaped_like(None) is unshaped


def test_several_join_storms_give_their_median_or_their_failure() -> None:
    def storm(seconds: float | None) -> Join:
        return Join(100, 50, seconds, failed=0 if seconds else 2, first_error="refused")

    assert Join.median_of([storm(0.3), storm(0.1), storm(0.9)]).seconds == 0.3
    failed = Join.median_of([storm(0.3), storm(None), storm(0.2)])
    assert failed.seconds is None and failed.failed == 2 and failed.runs == [0.3, None, 0.2]


# -- ratios and verdicts --------------------------------------------------------------------


def flow(delivered: int, seconds: float, p99: float, expected: int | None = None) -> Flow:
    latency = Latency(p50=p99 / 2, p99=p99, max=p99, count=delivered)
    return Flow(100, 10, None, expected or delivered, delivered, seconds, latency)


def polls(
    p99: float, cpu_us: float | None, delivered: int = 1000, expected: int | None = None
) -> Flow:
    """A long-poll flow: its p99, and the server's CPU per answer (None: not measured)."""
    made = flow(delivered, 1.0, p99, expected)
    if cpu_us is not None:
        made.answers, made.server_cpu_s = 1000, cpu_us * 1000 / 1e6
    return made


def metered_join(seconds: float | None, us_per_handshake: float, clients: int = 100) -> Join:
    """A join storm whose CPU was read: every process of the target, per handshake."""
    return Join(
        clients, 50, seconds, server_cpu_s=us_per_handshake * clients / 1e6,
        cpu_resolution_s=1e-9, handshakes=clients,
    )  # fmt: skip


def target(name: str, kind: str, join: float, rate: float, **more: object) -> TargetResult:
    result = TargetResult(name, name, kind)
    result.join = Join(clients=100, concurrency=50, seconds=join)
    result.burst = flow(int(rate), 1.0, 50.0)
    result.fanout = flow(1000, 1.0, 10.0)
    result.memory = Memory(before_kib=1000, after_kib=1500, connections=100)
    for key, value in more.items():
        setattr(result, key, value)
    return result


def by_goal(found: list, goal: str, who: str, versus: str | None = None) -> object:
    [verdict] = [
        v for v in found if v.goal == goal and v.target == who and versus in (None, v.versus)
    ]
    return verdict


def test_each_goal_is_judged_from_this_runs_ratios() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)  # 5 KiB per idle connection
    good = target("part3", "stage", join=1.4, rate=950, longpoll=polls(25.0, 150))
    good.join = metered_join(1.4, 120.0)
    good.burst = burst_with_cpu(1.2, {"django": 0.05})  # 12.5 µs per delivery, every process
    good.memory = Memory(before_kib=1000, after_kib=1700, connections=100)  # 7 KiB
    alongside_burst = burst_with_cpu(1.0, {})  # 10 µs per delivery
    good.paired = Paired(metered_join(1.0, 100.0), alongside_burst, polls(20.0, 120))
    good.paired.memory = Memory(before_kib=1000, after_kib=1500, connections=100)  # 5 KiB
    slow = target("part2", "stage", join=2.0, rate=800)
    slow.join, slow.burst = metered_join(2.0, 200.0), burst_with_cpu(2.0, {})
    slow.memory = Memory(before_kib=1000, after_kib=1800, connections=100)  # 8 KiB
    slow.paired = Paired(metered_join(1.0, 100.0), burst_with_cpu(1.0, {}))
    slow.paired.memory = good.paired.memory
    peer = target("channels-memory", "channels", join=3.0, rate=40)
    peer.burst = burst_with_cpu(25.0, {})  # 250 µs per delivery
    peer.paired = Paired(burst=burst_with_cpu(1.0, {}))  # bare alongside: 10 µs, as with part3
    found = verdicts([bare, slow, good, peer])

    join = by_goal(found, "join_cpu_vs_bare", "part3")
    assert (join.ratio, join.wanted, join.word) == (1.2, "<= 1.3x", "met")
    assert by_goal(found, "join_cpu_vs_bare", "part2").word == "not met"
    burst = by_goal(found, "burst_cpu_vs_bare", "part3")
    assert (burst.ratio, burst.word) == (1.25, "met"), "every process counted: 12.5 / 10"
    assert by_goal(found, "burst_cpu_vs_bare", "part2").word == "not met"
    memory = by_goal(found, "memory_vs_bare", "part3")
    assert (memory.ratio, memory.wanted, memory.word) == (1.4, "<= 1.5x", "met")
    assert memory.versus == f"bare {AUTOBAHN_IN_TWISTED_WEB}" and memory.versus in memory.title
    assert by_goal(found, "memory_vs_bare", "part2").word == "not met"
    channels = by_goal(found, "cpu_vs_channels", "part3", "channels-memory")
    assert (channels.ratio, channels.wanted, channels.word) == (20.0, ">= 20x", "met")
    assert by_goal(found, "cpu_vs_channels", "part2", "channels-memory").word == "not met"
    for wall_clock in ("join_vs_bare", "burst_vs_bare", "burst_vs_channels"):
        assert by_goal(found, wall_clock, "part3").word == "for reference", wall_clock
    assert by_goal(found, "join_vs_bare", "part3").ratio == 1.4
    assert by_goal(found, "longpoll_cpu_vs_bare", "part3").ratio == 1.25
    assert by_goal(found, "longpoll_cpu_vs_bare", "part3").word == "met"
    assert by_goal(found, "longpoll_vs_bare", "part3").ratio == 1.25
    assert by_goal(found, "longpoll_vs_bare", "part3").word == "for reference"
    assert by_goal(found, "longpoll_vs_websocket", "part3").ratio == 2.5
    assert by_goal(found, "longpoll_vs_websocket", "part3").word == "for reference"
    assert by_goal(found, "join_cpu_vs_bare", "channels-memory").word == "for reference"
    assert not [v for v in found if v.target == "bare"], "bare is the yardstick, not judged"


def test_a_stage_is_compared_with_the_bare_server_measured_alongside_it() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)  # its own run: on a quiet machine
    busy = target("part3", "stage", join=3.0, rate=500)  # measured while the machine was busy
    busy.join = metered_join(3.0, 130.0)
    busy.paired = Paired(join=metered_join(2.5, 100.0), burst=flow(450, 1.0, 50.0))
    found = verdicts([bare, busy])
    join = by_goal(found, "join_vs_bare", "part3")
    assert (join.versus, join.ratio, join.word) == ("bare alongside", 1.2, "for reference")
    cpu = by_goal(found, "join_cpu_vs_bare", "part3")
    assert (cpu.versus, cpu.ratio, cpu.word) == ("bare alongside", 1.3, "met")
    assert "alongside" in cpu.title
    assert by_goal(found, "burst_vs_bare", "part3").ratio == 1.11
    assert "alongside" in join.title
    own_port = by_goal(found, "join_vs_bare_own_port", "part3")
    assert (own_port.ratio, own_port.word) == (3.0, "for reference")
    alone = target("part3", "stage", join=3.0, rate=500)
    assert by_goal(verdicts([bare, alone]), "join_vs_bare", "part3").ratio == 3.0


def test_the_bare_server_shows_what_hosting_it_in_twisted_web_costs() -> None:
    bare = target("bare", "bare", join=0.5, rate=1000)
    bare.join.runs = [0.4, 0.5, 0.4]
    bare.paired = Paired(Join(100, 50, 0.6, runs=[0.6, 0.6, 0.56]), flow(990, 1.0, 50.0))
    ours = target("part3", "stage", join=0.7, rate=950)
    ours.paired = Paired(Join(100, 50, 0.6), flow(1000, 1.0, 50.0))
    found = verdicts([bare, ours], judged={"part3"})
    hosting = by_goal(found, "twisted_web_hosting", "bare")
    assert (hosting.ratio, hosting.word) == (1.4, "for reference"), "median of 1.5, 1.2, 1.4"
    assert hosting.note == "median of the turns: 1.5, 1.2, 1.4"
    join = by_goal(found, "join_vs_bare", "part3")
    assert join.ratio == 1.17, "compared with the hosted broadcast"
    assert by_goal(found, "join_vs_bare_own_port", "part3").ratio == 1.4
    assert [v.goal for v in found if v.target == "bare"] == ["twisted_web_hosting"]


def test_runs_taken_in_turns_are_compared_turn_by_turn() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=0.6, rate=600)
    ours.join.runs = [0.6, 0.5, 0.7]  # the second turn came in a quiet moment, for both
    ours.burst.runs = [600.0, 900.0, 450.0]
    ours.paired = Paired(Join(100, 50, 0.4, runs=[0.4, 0.4, 0.5]), flow(700, 1.0, 50.0))
    ours.paired.burst.runs = [700.0, 1000.0, 500.0]
    found = verdicts([bare, ours])
    join = by_goal(found, "join_vs_bare", "part3")
    assert join.ratio == 1.4, "the median of 1.5, 1.25 and 1.4, not 0.6 / 0.4"
    assert join.note == "median of the turns: 1.5, 1.25, 1.4"
    burst = by_goal(found, "burst_vs_bare", "part3")
    assert burst.ratio == 0.9, "the median of 0.86, 0.9 and 0.9"
    ours.paired.burst.runs = [700.0, 1000.0]  # not taken in turns: the medians' ratio
    assert by_goal(verdicts([bare, ours]), "burst_vs_bare", "part3").ratio == 0.86


def test_stage_and_channels_measured_at_different_times_meet_through_bare() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=1.0, rate=500)  # a busy moment: bare got 500 too
    ours.paired = Paired(join=Join(100, 50, 1.0), burst=flow(500, 1.0, 50.0))
    peer = target("channels-memory", "channels", join=1.0, rate=50)  # a quiet one
    peer.paired = Paired(join=Join(100, 50, 1.0), burst=flow(1000, 1.0, 50.0))
    verdict = by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3")
    assert (verdict.ratio, verdict.word) == (20.0, "for reference"), "1.0 of bare vs 0.05"
    assert "each vs bare alongside" in verdict.title
    peer.paired = Paired(burst=flow(1066, 1.0, 50.0))  # shares not rounded on the way
    assert by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3").ratio == 21.32
    peer.paired = None
    assert by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3").ratio == 10.0


def test_cpu_of_targets_measured_at_different_times_is_compared_through_bare() -> None:
    """As in a run at 1000 clients: the bare broadcast alongside part3 spent 7.35 µs per
    delivery, and 8.38 alongside history, minutes later, on a busier machine."""
    part3 = target("part3", "stage", join=1.0, rate=1000, burst=burst_with_cpu(0.618, {}))
    part3.paired = Paired(burst=burst_with_cpu(0.735, {}))
    history = target("history", "stage", join=1.0, rate=1000, burst=burst_with_cpu(0.816, {}))
    history.paired = Paired(burst=burst_with_cpu(0.838, {}))
    verdict = by_goal(verdicts([part3, history]), "cpu_vs_part3", "history")
    assert (verdict.ratio, verdict.word) == (1.16, "met"), (
        "bench/verdicts.py: history spent 0.97 of what bare spent alongside it, part3 0.84: "
        f"1.16x, not the 1.32x of 8.16 against 6.18 µs taken minutes apart; got {verdict}"
    )
    assert verdict.title.endswith("each vs bare alongside")
    part3.paired = None  # no bare alongside: the plain ratio, which judges nothing
    verdict = by_goal(verdicts([part3, history]), "cpu_vs_part3", "history")
    assert (verdict.ratio, verdict.word, verdict.judged) == (1.32, "for reference", False), (
        "bench/verdicts.py: figures taken minutes apart, with no bare broadcast alongside part3 "
        f"to compare them through, must not judge a goal; got {verdict}"
    )
    assert "no bare broadcast measured alongside part3" in verdict.note, verdict.note


def test_a_stage_on_twisted_web_websocket_is_judged_against_the_bare_broadcast_on_it() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("twisted_websocket", "stage", join=1.2, rate=760)
    ours.paired = Paired(Join(100, 50, 1.0), flow(800, 1.0, 50.0), websockets=TWISTED_WEBSOCKET)
    peer = target("channels-memory", "channels", join=3.0, rate=40)
    peer.paired = Paired(burst=flow(500, 1.0, 50.0))  # on Autobahn: no share to compare
    found = verdicts([bare, ours, peer])
    burst = by_goal(found, "burst_vs_bare", "twisted_websocket")
    assert burst.ratio == 0.95
    assert burst.versus == "bare twisted.web.websocket alongside" and burst.versus in burst.title
    assert by_goal(found, "join_vs_bare", "twisted_websocket").ratio == 1.2
    library = by_goal(found, "burst_vs_bare_autobahn", "twisted_websocket")
    assert (library.ratio, library.word) == (0.76, "for reference")
    channels = by_goal(found, "burst_vs_channels", "twisted_websocket")
    assert channels.ratio == 19.0 and "through" not in channels.title
    part3 = target("part3", "stage", join=1.2, rate=760, paired=Paired(burst=flow(800, 1, 50)))
    assert not [v for v in verdicts([bare, part3]) if v.goal == "burst_vs_bare_autobahn"]


def test_a_stage_on_twisted_web_websocket_is_judged_on_memory_against_the_bare_on_it() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    bare.memory = Memory(before_kib=1000, after_kib=1430, connections=100)  # Autobahn: 4.3 KiB
    ours = target("twisted_websocket", "stage", join=1.2, rate=760)
    ours.memory = Memory(before_kib=1000, after_kib=2000, connections=100)  # 10 KiB
    ours.paired = Paired(Join(100, 50, 1.0), flow(800, 1.0, 50.0), websockets=TWISTED_WEBSOCKET)
    ours.paired.memory = Memory(before_kib=1000, after_kib=1900, connections=100)  # 9 KiB
    found = verdicts([bare, ours])
    memory = by_goal(found, "memory_vs_bare", "twisted_websocket")
    assert (memory.ratio, memory.word) == (1.11, "met"), "10 KiB against twisted.web's 9"
    assert memory.versus == "bare twisted.web.websocket" and memory.versus in memory.title
    own_port = by_goal(found, "memory_vs_bare_own_port", "twisted_websocket")
    assert (own_port.ratio, own_port.word) == (2.33, "for reference"), "the libraries' gap"
    ours.paired.memory = None
    unread = by_goal(verdicts([bare, ours]), "memory_vs_bare", "twisted_websocket")
    assert (unread.ratio, unread.word) == (None, "not measured"), "never Autobahn's instead"


def test_the_bare_memory_for_each_way_of_serving_is_read_in_a_fresh_process(
    tmp_path: Path,
) -> None:
    options = parse(["--quick", "--clients", "20"], STAGES)
    ways = [AUTOBAHN_IN_TWISTED_WEB, TWISTED_WEBSOCKET]
    memories = bare_memories(ways, options, tmp_path)
    assert list(memories) == ways
    assert all(memory.connections == 20 for memory in memories.values())
    logs = sorted(log.parent.relative_to(tmp_path).as_posix() for log in tmp_path.rglob("bare.log"))
    assert logs == ["bare-memory-1/process-1", "bare-memory-2/process-1"], (
        "one bare process for each way, with --quick"
    )
    part3 = target("part3", "stage", 1.0, 1000, paired=Paired())
    twisted = target("twisted_websocket", "stage", 1.0, 1000)
    twisted.paired = Paired(websockets=TWISTED_WEBSOCKET)
    with_bare_memories([part3, twisted], memories)
    assert part3.paired.memory is memories[AUTOBAHN_IN_TWISTED_WEB]
    assert twisted.paired.memory is memories[TWISTED_WEBSOCKET]
    shown = table([part3, twisted], options)
    assert "bare served alike" in shown


def test_a_stage_on_another_library_meets_channels_through_bare_autobahn_alongside() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)  # a quiet moment, long before
    ours = target("twisted_websocket", "stage", join=1.2, rate=380)  # a busy one
    ours.burst.runs = [380.0, 300.0, 420.0]
    ours.paired = Paired(Join(100, 50, 1.0), flow(400, 1.0, 50.0), websockets=TWISTED_WEBSOCKET)
    ours.paired.common_burst = flow(500, 1.0, 50.0)  # Autobahn's, right after each of ours
    ours.paired.common_burst.runs = [500.0, 500.0, 500.0]
    peer = target("channels-memory", "channels", join=3.0, rate=30)  # a quiet moment too
    peer.paired = Paired(burst=flow(1000, 1.0, 50.0))
    found = verdicts([bare, ours, peer])
    library = by_goal(found, "burst_vs_bare_autobahn", "twisted_websocket")
    assert (library.ratio, library.word) == (0.76, "for reference"), "median of 0.76, 0.6, 0.84"
    assert "alongside" in library.title and library.note.startswith("median of the turns")
    channels = by_goal(found, "burst_vs_channels", "twisted_websocket")
    assert channels.ratio == 25.33, "0.76 of bare Autobahn against 0.03 of it, not 380 / 30"
    assert "each vs bare alongside" in channels.title


def test_a_burst_that_loses_messages_misses_its_goals_however_fast() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000, burst=burst_with_cpu(1.0, {}))
    lossy = target("part3", "stage", join=1.0, rate=990)
    lossy.burst = burst_with_cpu(0.5, {}, delivered=99_990, expected=100_000)
    verdict = by_goal(verdicts([bare, lossy]), "burst_cpu_vs_bare", "part3")
    assert verdict.ratio == 0.5 and verdict.word == "not met"
    assert "lost 10 of 100000" in verdict.note


def test_a_lossy_burst_leaves_the_ratios_no_goal_judges_for_reference() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    lossy = target("twisted_websocket", "stage", join=1.0, rate=990, longpoll=polls(30.0, 150))
    lossy.burst = flow(990, 1.0, 5.0, 1000)
    lossy.paired = Paired(Join(100, 50, 1.0), flow(1000, 1.0, 50.0), polls(25.0, 120))
    lossy.paired.websockets = TWISTED_WEBSOCKET
    found = verdicts([bare, lossy], judged={"twisted_websocket"})
    assert by_goal(found, "burst_cpu_vs_bare", "twisted_websocket").word == "not met"
    for goal in ("burst_vs_bare", "join_vs_bare_own_port", "burst_vs_bare_autobahn"):
        verdict = by_goal(found, goal, "twisted_websocket")
        assert (verdict.word, verdict.judged) == ("for reference", False), (
            f"bench/verdicts.py: {goal} has no goal, yet a lost burst made it {verdict.word!r}"
        )
    assert by_goal(found, "longpoll_cpu_vs_bare", "twisted_websocket").judged


def test_the_long_poll_goal_is_cpu_per_answer_against_bare_twisted_web_alongside() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    bare.longpoll = polls(10.0, 50)  # its own column: never what a stage is held to
    ours = target("part3", "stage", join=1.0, rate=1000, longpoll=polls(300.0, 150))
    ours.paired = Paired(longpoll=polls(100.0, 120))  # 1.25x the work, 3x the wait
    found = verdicts([bare, ours])
    goal = by_goal(found, "longpoll_cpu_vs_bare", "part3")
    assert (goal.versus, goal.ratio, goal.word) == ("bare alongside", 1.25, "met")
    assert goal.wanted == "<= 1.5x"
    waits = by_goal(found, "longpoll_vs_bare", "part3")
    assert (waits.ratio, waits.met, waits.word) == (3.0, None, "for reference")
    ours.paired = Paired(longpoll=polls(300.0, 90))
    assert by_goal(verdicts([bare, ours]), "longpoll_cpu_vs_bare", "part3").word == "not met"
    ours.paired = Paired(longpoll=polls(300.0, 100))  # exactly 1.5x
    assert by_goal(verdicts([bare, ours]), "longpoll_cpu_vs_bare", "part3").word == "met"


def test_long_poll_against_websocket_is_for_reference_whatever_the_ratio() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=1.0, rate=1000, longpoll=polls(300.0, 150))
    ours.paired = Paired(longpoll=polls(250.0, 140))
    found = verdicts([bare, ours])
    reference = by_goal(found, "longpoll_vs_websocket", "part3")
    assert (reference.ratio, reference.met, reference.word) == (30.0, None, "for reference")
    assert by_goal(verdicts([ours]), "longpoll_vs_websocket", "part3").ratio == 30.0
    [line] = [line for line in verdict_lines(found) if "WebSocket" in line]
    assert "goal" not in line and line.endswith("for reference"), line
    ours.fanout = None
    assert by_goal(verdicts([ours]), "longpoll_vs_websocket", "part3").word == "for reference"


def test_a_long_poll_flow_that_loses_messages_misses_its_goal_however_fast() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    lossy = target("part3", "stage", join=1.0, rate=1000, longpoll=polls(5.0, 50, 990, 1000))
    lossy.paired = Paired(longpoll=polls(50.0, 100))
    found = verdicts([bare, lossy])
    goal = by_goal(found, "longpoll_cpu_vs_bare", "part3")
    assert (goal.ratio, goal.word) == (0.5, "not met")
    assert "lost 10 of 1000 long-poll deliveries" in goal.note
    assert by_goal(found, "longpoll_vs_websocket", "part3").word == "for reference"


def test_a_long_poll_without_bare_alongside_is_not_measured() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    bare.longpoll = polls(10.0, 100)
    ours = target("part3", "stage", join=1.0, rate=1000, longpoll=polls(12.0, 120))
    for paired in (None, Paired(join=Join(100, 50, 1.0))):
        ours.paired = paired
        goal = by_goal(verdicts([bare, ours]), "longpoll_cpu_vs_bare", "part3")
        assert (goal.ratio, goal.met, goal.word) == (None, None, "not measured")
    ours.paired = Paired(longpoll=polls(10.0, None))  # no answers counted: no CPU figure
    goal = by_goal(verdicts([bare, ours]), "longpoll_cpu_vs_bare", "part3")
    assert goal.word == "not measured"
    nothing = Paired(longpoll=flow(0, 0.0, 1.0, 1000))
    nothing.longpoll.latency = None  # type: ignore[union-attr]
    ours.paired = nothing
    found = verdicts([bare, ours])
    assert by_goal(found, "longpoll_cpu_vs_bare", "part3").word == "not measured"
    assert by_goal(found, "longpoll_vs_bare", "part3").ratio is None
    ours.paired = None
    assert not [v for v in verdicts([ours]) if v.goal.startswith("longpoll_cpu")], "no bare"


def test_server_cpu_per_long_poll_answer_is_in_microseconds() -> None:
    polls = flow(2000, 1.0, 30.0)
    assert polls.cpu_us_per_answer is None, "not measured: no figure, not zero"
    polls.answers, polls.server_cpu_s = 1800, 0.2286
    assert polls.cpu_us_per_answer == 127.0
    assert polls.to_json()["cpu_us_per_answer"] == 127.0
    polls.answers = 0
    assert polls.cpu_us_per_answer is None
    runs = [flow(2000, 1.0, p99) for p99 in (30.0, 10.0, 20.0)]
    for run, (answers, cpu) in zip(runs, [(1000, 0.15), (1000, 0.09), (1000, 0.09)], strict=True):
        run.answers, run.server_cpu_s = answers, cpu
    median = Flow.median_of(runs, p99_of, higher_is_better=False)
    assert p99_of(median) == 20.0 and median.cpu_us_per_answer == 110.0, "over every run"
    assert median.answers == 3000
    assert Flow.median_of(runs[:1] * 2, p99_of, higher_is_better=False).answers == 2000
    assert Flow.median_of([timed_flow(1.0)] * 2, p99_of, higher_is_better=False).answers is None


def test_the_table_shows_each_long_poll_beside_bare_twisted_web_s() -> None:
    options = parse(["--clients", "100"], STAGES)
    ours = target("part3", "stage", 1.0, 1000, longpoll=flow(1000, 1.0, 40.0))
    ours.longpoll.answers, ours.longpoll.server_cpu_s = 1000, 0.127  # type: ignore[union-attr]
    alongside = flow(1000, 1.0, 32.5)
    alongside.answers, alongside.server_cpu_s = 1000, 0.118
    ours.paired = Paired(longpoll=alongside)
    rows = {  # each row's title and its part3 cell
        line.split("|")[1].strip(): line.split("|")[3].strip()
        for line in table([target("bare", "bare", 1.0, 1000), ours], options).splitlines()
    }
    row = [title for title in rows if title.endswith(", bare twisted.web alongside: p99 ms")]
    assert [rows[title] for title in row] == ["32.5"], rows
    cpu = {title: value for title, value in rows.items() if "CPU per answer" in title}
    assert sorted(cpu.values()) == ["118", "127"], cpu


def test_a_missing_figure_is_not_measured_rather_than_met() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    unmeasured = target("part2", "stage", join=1.0, rate=1000)
    unmeasured.join = None
    verdict = by_goal(verdicts([bare, unmeasured]), "join_cpu_vs_bare", "part2")
    assert (verdict.ratio, verdict.met, verdict.word) == (None, None, "not measured")
    assert verdicts([unmeasured]) == [], "without bare and Channels there is nothing to compare"


def test_clients_that_could_not_join_miss_the_join_goal() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    refused = Join(clients=100, concurrency=50, seconds=None, failed=3, first_error="HTTP 403")
    stage = target("part2", "stage", join=1.0, rate=1000)
    stage.join = refused
    verdict = by_goal(verdicts([bare, stage]), "join_cpu_vs_bare", "part2")
    assert (verdict.ratio, verdict.word) == (None, "not met")
    assert "part2: 3 clients could not join" in verdict.note, verdict.note
    assert by_goal(verdicts([bare, stage]), "memory_vs_bare", "part2").word == "not met"


# -- what the run writes --------------------------------------------------------------------


def test_results_json_has_one_entry_per_target_and_plain_figures() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=1.2, rate=950, settings={"CHAT_RATE": "1000000"})
    unmeasured = TargetResult(
        "channels-redis", "Channels + Redis", "channels", skipped="redis-server is not installed"
    )
    found = verdicts([bare, ours, unmeasured])
    data = run_json(
        started="2026-01-01 00:00:00",
        options={"clients": 100},
        machine={"cpus": 2},
        targets=[bare, ours, unmeasured],
        verdicts=[v.to_json() for v in found],
    )
    data = json.loads(json.dumps(data))  # plain JSON all the way down
    assert data["schema"] == 9
    assert list(data["targets"]) == ["bare", "part3", "channels-redis"]
    part3 = data["targets"]["part3"]
    assert set(part3) == {
        "label", "kind", "settings", "join", "memory", "fanout", "burst", "longpoll", "paired",
        "spread", "alone", "other_load", "error", "skipped",
    }  # fmt: skip
    assert part3["settings"] == {"CHAT_RATE": "1000000"}
    assert part3["burst"]["deliveries_per_s"] == 950.0 and part3["burst"]["lost"] == 0
    assert part3["burst"]["latency"]["p99"] == 50.0
    assert part3["memory"]["per_connection_kib"] == 5.0
    skipped = data["targets"]["channels-redis"]
    assert skipped["burst"] is None and skipped["skipped"] == "redis-server is not installed"
    assert [(v["goal"], v["target"], v["verdict"]) for v in data["verdicts"]] == [
        ("join_vs_bare", "part3", "for reference"),
        ("burst_vs_bare", "part3", "for reference"),
        ("join_cpu_vs_bare", "part3", "not measured"),
        ("burst_cpu_vs_bare", "part3", "not measured"),
        ("memory_vs_bare", "part3", "met"),
    ], "a skipped target has no verdicts; part3's are against bare"


def test_the_table_has_a_column_per_target_and_every_verdict_a_line() -> None:
    options = parse(["--clients", "100"], STAGES)
    results = [target("bare", "bare", 1.0, 1000), target("part2", "stage", 2.0, 900)]
    text = table(results, options)
    header = text.splitlines()[0]
    assert "bare" in header and "part2" in header
    assert "join storm, s (100 clients, median of 3)" in text
    lines = verdict_lines(verdicts(results))
    assert len(lines) == 5 and all("part2" in line for line in lines)


# -- the command line -----------------------------------------------------------------------


def test_targets_come_in_a_fixed_order_and_channels_means_both_layers() -> None:
    assert chosen_targets(["channels", "part3", "bare"], STAGES) == (
        "bare", "part3", "channels-memory", "channels-redis"
    )  # fmt: skip
    assert chosen_targets([], STAGES)[0] == "bare"
    with pytest.raises(ValueError, match="part9"):
        chosen_targets(["part9"], STAGES)


def test_sizes_default_to_a_short_run_and_quick_is_shorter() -> None:
    default = parse([], STAGES)
    quick = parse(["--quick"], STAGES)
    assert default.clients == 200 and default.burst_messages == 200
    assert (default.repeats, quick.repeats) == (3, 1)
    assert (default.join_storms, quick.join_storms) == (3, 3)
    judged = parse(["--clients", "1000"], STAGES)
    assert (judged.repeats, judged.join_storms) == (5, 5), "where the goals are judged"
    assert default.fanout_messages == 10 and quick.fanout_messages == 10
    assert parse(["--seconds", "2"], STAGES).fanout_messages == 20
    assert quick.clients < default.clients and quick.deadline < default.deadline
    assert default_burst(1000) == 100 and default_burst(10) == 200 and default_burst(10**6) == 20
    assert parse(["--results", "elsewhere"], STAGES).results == Path("elsewhere")


# -- repeated flows ---------------------------------------------------------------------------


def timed_flow(p99: float | None, seconds: float = 1.0, lost: int = 0) -> Flow:
    latency = None if p99 is None else Latency(p50=p99 / 2, p99=p99, max=p99, count=100)
    return Flow(10, 10, None, 100, 100 - lost, seconds, latency)


def p99_of(flow: Flow) -> float | None:
    return None if flow.latency is None else flow.latency.p99


def test_the_median_run_is_kept_with_every_runs_figure_and_every_loss() -> None:
    runs = [timed_flow(30.0), timed_flow(10.0, lost=2), timed_flow(20.0)]
    median = Flow.median_of(runs, p99_of, higher_is_better=False)
    assert p99_of(median) == 20.0 and median.runs == [30.0, 10.0, 20.0]
    assert median.lost == 0 and median.lost_anywhere == 2, "a loss in any run must show"
    two = Flow.median_of([timed_flow(10.0), timed_flow(40.0)], p99_of, higher_is_better=False)
    assert p99_of(two) == 40.0, "of two runs, the worse one is kept"
    empty = Flow.median_of(
        [timed_flow(None), timed_flow(50.0), timed_flow(60.0)], p99_of, higher_is_better=False
    )
    assert p99_of(empty) == 60.0, "a run where nothing arrived counts as the worst"
    rates = [timed_flow(1.0, seconds=s) for s in (1.0, 4.0, 2.0)]  # 100, 25, 50 per second
    fastest_first = Flow.median_of(rates, lambda f: f.deliveries_per_s, higher_is_better=True)
    assert fastest_first.deliveries_per_s == 50.0
    assert Flow.median_of([runs[0]], p99_of, higher_is_better=False) is runs[0]


def test_a_flow_runs_as_often_as_asked_unless_one_run_is_long_enough() -> None:
    options = parse(["--repeats", "3"], STAGES)

    def runs_of(durations: list[float]) -> list[float]:
        started: list[float] = []

        async def run() -> Flow:
            started.append(durations[len(started)])
            return timed_flow(10.0 * len(started), seconds=started[-1])

        asyncio.run(repeated(run, options.repeats, p99_of, higher_is_better=False))
        return started

    assert runs_of([1.0, 1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]
    assert runs_of([1.0, 6.0, 1.0]) == [1.0, 6.0], "a run of 5 s or more is not repeated"


def test_the_bare_server_gets_the_target_s_headers_with_every_handshake_and_poll() -> None:
    options = parse(["--clients", "2"], STAGES)
    bare = Running(2, None, BareAdapter(), 22, [], poll_port=3)
    cookies = {"Cookie": "sessionid=abc; csrftoken=def", "X-CSRFToken": "def"}
    pair = Pair(bare, "auth", options, cookies)
    assert pair.crowd.headers == cookies
    assert pair.long_polls().sender.headers == cookies
    assert bare.headers == {}, "the bare server's own run is left as it was"
    assert Pair(bare, "part3", options).crowd.headers == {}


def test_bare_twisted_web_long_polls_take_turns_with_a_stage_s(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[str] = []

    class Polls:
        """Stands for LongPolls: says which room's runs ran, in what order."""

        def __init__(self, running: Running, room: str, options: object) -> None:
            self.room = room

        async def start(self) -> None:
            ran.append(f"start {self.room}")

        async def run(self) -> Flow:
            ran.append(self.room)
            return timed_flow(float(len(ran)))

        async def close(self) -> None:
            ran.append(f"close {self.room}")

    async def websocket_fanout(*_: object) -> Flow:
        ran.append("websocket")
        return timed_flow(5.0)

    monkeypatch.setattr(measure, "LongPolls", Polls)
    monkeypatch.setattr(measure, "flow", websocket_fanout)
    options = parse(["--repeats", "3"], STAGES)
    stage = Running(1, None, StageAdapter(), 11, [], longpoll=True)
    pair = Pair(Running(2, None, BareAdapter(), 22, [], poll_port=3), "part3", options)
    result = TargetResult("part3", "part3", "stage")
    swarm = Swarm(stage.ws_url("crowd"), stage.adapter, None, 1)
    asyncio.run(flows(stage, swarm, "polls", result, options, lambda _: None, pair))

    turns = ["polls", "part3-polls"] * 3
    assert ran == ["websocket", "start polls", "start part3-polls", *turns, *ran[-2:]]
    assert sorted(ran[-2:]) == ["close part3-polls", "close polls"]
    assert result.longpoll is not None and len(result.longpoll.runs) == 3
    result.paired = pair.result(lambda _: None)
    assert result.paired.longpoll is not None and result.paired.longpoll.runs == [5.0, 7.0, 9.0]
    data = run_json(started="", options={}, machine={}, targets=[result], verdicts=[])
    assert data["targets"]["part3"]["paired"]["longpoll"]["runs"] == [5.0, 7.0, 9.0]


# -- which stages the goals are for -----------------------------------------------------------


def test_the_goals_hold_from_part3_on_and_earlier_stages_are_for_reference() -> None:
    parents = {
        "part1": None, "part2": "part1", "part3": "part2", "single_process": "part3",
        "auth": "single_process", "twisted_websocket": "part3",
    }  # fmt: skip
    assert judged_stages(parents) == {"part3", "single_process", "auth", "twisted_websocket"}
    registry = {name: stage.parent for name, stage in REGISTRY.items()}
    assert "part3" in judged_stages(registry) and "part2" not in judged_stages(registry)

    bare = target("bare", "bare", join=1.0, rate=1000)
    early = target("part2", "stage", join=3.0, rate=500)
    late = target("part3", "stage", join=3.0, rate=500)
    early.join = late.join = metered_join(3.0, 300.0)
    bare.join = metered_join(1.0, 100.0)
    found = verdicts([bare, early, late], judged={"part3"})
    assert by_goal(found, "join_cpu_vs_bare", "part2").word == "for reference"
    assert by_goal(found, "join_cpu_vs_bare", "part3").word == "not met"


# -- the stage's processes --------------------------------------------------------------------


def test_the_websocket_process_is_the_chat_server_or_a_stage_s_only_process() -> None:
    def stage_with(*processes: Process) -> object:
        return REGISTRY["part3"].__class__(**{**vars(REGISTRY["part3"]), "processes": processes})

    assert chat_process(REGISTRY["part3"]) == "chatserver"
    single = Process("site", ("{python}", "serve.py"), "PORT")
    assert chat_process(stage_with(single)) == "site"
    with pytest.raises(ValueError, match="cannot tell"):
        chat_process(stage_with(DJANGO, single))
    assert chat_process(stage_with(single, CHATSERVER)) == "chatserver"


# -- the stages as deployed, and the bare server's long-polls ------------------------------------


def test_stages_run_with_debug_off_and_a_secret_key_made_for_the_run() -> None:
    options = parse([], STAGES)
    settings = stage_settings(REGISTRY["part3"], options)
    assert settings["DJANGO_DEBUG"] == "0"
    key = settings["DJANGO_SECRET_KEY"]
    assert len(key) >= 40 and "insecure" not in key
    assert key != stage_settings(REGISTRY["part3"], options)["DJANGO_SECRET_KEY"]
    shown = StageTarget(REGISTRY["part3"], options).shown_settings()
    assert shown["DJANGO_DEBUG"] == "0" and shown["DJANGO_SECRET_KEY"] == "(made for this run)"


@pytest.mark.parametrize("served", [AUTOBAHN, AUTOBAHN_IN_TWISTED_WEB, TWISTED_WEBSOCKET])
def test_the_bare_server_answers_a_parked_poll_with_a_frame_sent_in_its_room(
    tmp_path: Path, served: str
) -> None:
    with BareTarget(parse(["--clients", "1"], STAGES)).running(tmp_path) as bare:
        asyncio.run(parked_polls_answered(bare.on(served)))


@pytest.mark.parametrize("served", [AUTOBAHN_IN_TWISTED_WEB, TWISTED_WEBSOCKET])
def test_the_bare_server_broadcasts_in_twisted_web_too(tmp_path: Path, served: str) -> None:
    options = parse(["--quick", "--clients", "3"], STAGES)
    with BareTarget(options).running(tmp_path) as bare:
        hosted = bare.on(served)
        assert hosted.port != bare.port and hosted.websockets == served
        assert bare.on(AUTOBAHN) is bare and bare.websockets == AUTOBAHN
        measured = asyncio.run(one_burst(hosted, options, messages=5))
        # twisted.web has no resource for this path; Autobahn alone has no paths at all,
        # and answers any plain GET with its status page.
        assert plain_get(bare.host, hosted.port, "/elsewhere")[0] == 404
        status, page = plain_get(bare.host, bare.port, "/elsewhere")
        assert status == 200 and b"Autobahn" in page
    assert (measured.expected, measured.delivered) == (15, 15)


def test_the_bare_server_takes_turns_with_its_own_broadcast_in_twisted_web(tmp_path: Path) -> None:
    options = parse(["--quick", "--clients", "4", "--join-storms", "2"], STAGES)
    result, kept = run_target(BareTarget(options), options, tmp_path / "bare")
    assert result.error is None and kept is None
    assert result.join is not None and len(result.join.runs) == 2
    paired = result.paired
    assert paired is not None and paired.websockets == AUTOBAHN_IN_TWISTED_WEB
    assert paired.join is not None and len(paired.join.runs) == 2, "a storm after each of bare's"
    assert paired.burst is not None and paired.burst.delivered == paired.burst.expected > 0
    assert by_goal(verdicts([result]), "twisted_web_hosting", "bare").ratio is not None


def test_a_stage_on_another_library_has_bursts_of_bare_autobahn_in_turns_too(
    tmp_path: Path,
) -> None:
    options = parse(["--quick", "--clients", "3"], STAGES)

    async def two_turns(bare: Running) -> Paired:
        common = bare.on(AUTOBAHN_IN_TWISTED_WEB)
        pair = Pair(bare.on(TWISTED_WEBSOCKET), "twisted_websocket", options, common=common)
        try:
            await pair.join_crowds(lambda words: pytest.fail(words))
            for _ in range(2):
                await pair.burst()
        finally:
            await pair.close_crowds()
        return pair.result(lambda _: None)

    with BareTarget(options).running(tmp_path) as bare:
        paired = asyncio.run(two_turns(bare))
    assert paired.websockets == TWISTED_WEBSOCKET
    assert paired.burst is not None and paired.common_burst is not None
    assert len(paired.burst.runs) == len(paired.common_burst.runs) == 2
    assert paired.common_burst.delivered == paired.common_burst.expected > 0
    data = run_json(started="", options={}, machine={}, targets=[], verdicts=[])
    assert data["schema"] == 9 and paired.to_json()["common_burst"]["delivered"] > 0


def test_each_target_takes_turns_with_the_bare_broadcast_served_as_it_serves_its_own() -> None:
    options = parse(["--clients", "2"], [*STAGES, "twisted_websocket"])
    bare = Running(1, None, BareAdapter(), 11, [], websockets=AUTOBAHN, web_port=2, twisted_port=3)
    part3 = StageTarget(REGISTRY["part3"], options)
    twisted = StageTarget(REGISTRY["twisted_websocket"], options)
    served = {
        name: (alongside.port, common and common.port)
        for name, (alongside, common) in (
            ("part3", take_turns_with(part3, bare)),
            ("twisted_websocket", take_turns_with(twisted, bare)),
            ("bare", take_turns_with(BareTarget(options), bare)),
        )
    }
    assert served == {"part3": (2, None), "twisted_websocket": (3, 2), "bare": (2, None)}


def plain_get(host: str, port: int, path: str) -> tuple[int, bytes]:
    client = http.client.HTTPConnection(host, port, timeout=5)
    try:
        client.request("GET", path)
        answer = client.getresponse()
        return answer.status, answer.read()
    finally:
        client.close()


def test_a_long_poll_flow_counts_its_answers_and_the_server_cpu_they_cost(
    tmp_path: Path,
) -> None:
    options = parse(["--quick", "--clients", "5", "--rate", "20", "--seconds", "0.25"], STAGES)
    with BareTarget(options).running(tmp_path) as bare:
        measured = asyncio.run(one_long_poll_run(bare, options))
    assert (measured.expected, measured.delivered) == (25, 25)
    assert measured.answers is not None and 5 <= measured.answers <= 25, measured.answers
    assert measured.server_cpu_s is not None and measured.server_cpu_s >= 0


def test_the_bare_long_poll_times_out_and_forbids_caching_as_every_one_must(
    tmp_path: Path,
) -> None:
    host, port, poll_port = "127.0.0.1", free_port("127.0.0.1"), free_port("127.0.0.1")
    argv = [sys.executable, "-m", "bench.bare_server", "--port", str(port)]
    argv += ["--poll-port", str(poll_port), "--poll-timeout", "0.5"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    log = tmp_path / "bare.log"
    with server_process(argv, host=host, port=port, log=log, cwd=REPO_ROOT, env=env):
        client = http.client.HTTPConnection(host, poll_port, timeout=10)
        started = time.monotonic()
        client.request("GET", "/rooms/quiet/messages?after=0")
        answer = client.getresponse()
        waited = time.monotonic() - started
        assert (answer.status, json.loads(answer.read())) == (200, {"cursor": 0, "messages": []})
        assert 0.4 <= waited < 5, f"a quiet poll was answered after {waited:.2f} s, not 0.5"
        assert answer.getheader("Cache-Control") == "no-store"
        client.close()


async def one_burst(running: Running, options: Options, messages: int) -> Flow:
    swarm = Swarm(running.ws_url("burst"), running.adapter, running.origin, options.clients)
    try:
        joined = await swarm.join(options.join_concurrency, 10)
        assert joined.failed == 0, joined.first_error
        return await measure.flow(swarm, options.clients, messages, None, options)
    finally:
        await swarm.close()


async def one_long_poll_run(bare: Running, options: Options) -> Flow:
    polls = LongPolls(bare, "counted", options)
    await polls.start()
    try:
        return await polls.run()
    finally:
        await polls.close()


async def parked_polls_answered(bare: Running) -> None:
    assert bare.poll_port is not None
    here = HttpConnection(bare.host, bare.poll_port, None, {})
    elsewhere = HttpConnection(bare.host, bare.poll_port, None, {})
    path = "/rooms/here/messages"
    assert await here.get(path) == (200, b'{"cursor": 0, "messages": []}')
    parked = asyncio.create_task(here.get(f"{path}?after=0"))
    other = asyncio.create_task(elsewhere.get("/rooms/elsewhere/messages?after=0"))
    async with connect(bare.ws_url("here")) as socket:
        assert json.loads(await socket.recv()) == {"type": "welcome"}
        await asyncio.sleep(0.2)
        assert not parked.done(), "with nothing new, a poll waits"
        await socket.send(bare.adapter.outgoing(7))
        status, body = await asyncio.wait_for(parked, 5)
        answer = json.loads(body)
        assert (status, answer["cursor"]) == (200, 1)
        assert [sequence_in(message["text"]) for message in answer["messages"]] == [7]
        assert await here.get(f"{path}?after=0") == (200, body), "news: at once, same bytes"
        parked = asyncio.create_task(here.get(f"{path}?after=1"))
        await socket.send(bare.adapter.outgoing(8))
        status, body = await asyncio.wait_for(parked, 5)
        assert json.loads(body)["cursor"] == 2
        assert [sequence_in(message["text"]) for message in json.loads(body)["messages"]] == [8]
    await asyncio.sleep(0.2)
    assert not other.done(), "a poll in another room is not answered"
    other.cancel()
    here.close()
    elsewhere.close()


# -- the chart and the command line ------------------------------------------------------------


def test_the_cycle_collector_is_off_while_a_timed_part_runs_and_back_after() -> None:
    import gc

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled(), "a collection pause would land inside the figure"
    assert gc.isenabled(), "left off, the client's memory would grow for the whole run"
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled(), "it was off before: it stays off"
    finally:
        gc.enable()


def test_goals_are_judged_only_for_the_crowd_they_are_set_for() -> None:
    small, full = parse([], STAGES), parse(["--clients", "1000"], STAGES)
    assert small.clients < 1000 and judged_here(small) == set()
    assert {"part3", "auth", "history"} <= judged_here(full) and "part2" not in judged_here(full)
    ours = target("part3", "stage", join=3.0, rate=100)
    ours.join, ours.burst = metered_join(3.0, 300.0), burst_with_cpu(9.0, {})
    bare = target("bare", "bare", join=1.0, rate=1000)
    bare.join, bare.burst = metered_join(1.0, 100.0), burst_with_cpu(1.0, {})
    found = verdicts([bare, ours], judged_here(small))
    assert {verdict.word for verdict in found} == {"for reference"}, found
    assert "--clients 1000" in goals_note([ours], judged_here(small), small)
    assert goals_note([ours], judged_here(full), full) == ""


def test_the_chart_shows_the_targets_that_ran_and_marks_each_goal(tmp_path: Path) -> None:
    from bench import chart

    options = parse(["--clients", "100"], STAGES)
    bare = target("bare", "bare", join=1.0, rate=1000)
    good = target("part3", "stage", join=1.2, rate=950, longpoll=polls(50.0, 200))
    good.join = metered_join(1.2, 120.0)
    good.paired = Paired(metered_join(1.0, 100.0), flow(1000, 1.0, 50.0), polls(25.0, 100))
    good.paired.memory = Memory(before_kib=1000, after_kib=1400, connections=100)  # 4 KiB
    skipped = TargetResult("channels-redis", "Channels + Redis", "channels", skipped="no redis")
    results = [bare, good, skipped]
    found = verdicts(results)
    figure = chart.figure_for(results, found, options, "2026-01-01 00:00:00", 2)
    burst, latency, _join, memory, handshake, client, _goals, cpu = figure.axes
    assert [label.get_text() for label in burst.get_xticklabels()] == ["bare", "part3"]
    assert [label.get_text() for label in cpu.get_xticklabels()] == ["part3"], "long-polls only"
    assert "Load client" in client.get_title(loc="left")
    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert any(text.startswith("\u2713 part3: CPU per handshake") for text in texts), texts
    # Over part3's handshake bar: bare alongside's CPU per handshake and the goal, 1.3x it.
    marks = {(tuple(line.get_ydata()), line.get_linestyle()) for line in handshake.get_lines()}
    assert {((100.0, 100.0), "-"), ((130.0, 130.0), "--")} <= marks, marks
    twisted_web = "\u2717 part3: long-poll CPU per answer vs bare twisted.web alongside 2x"
    assert any(text.startswith(twisted_web) for text in texts), texts
    assert not [text for text in texts if "p99" in text], "p99 ratios are for reference"
    # Over part3's long-poll bar: bare twisted.web's p99 (grey), for reference.
    marks = {(tuple(line.get_ydata()), line.get_linestyle()) for line in latency.get_lines()}
    assert ((25.0, 25.0), "-") in marks, marks
    # Over its CPU bar: bare twisted.web's CPU per answer (grey) and the goal (dashed red).
    marks = {(tuple(line.get_ydata()), line.get_linestyle()) for line in cpu.get_lines()}
    assert {((100.0, 100.0), "-"), ((150.0, 150.0), "--")} <= marks, marks
    # Over its memory bar: the bare served alike, read in a fresh process, and 1.5x it.
    marks = {(tuple(line.get_ydata()), line.get_linestyle()) for line in memory.get_lines()}
    assert {((4.0, 4.0), "-"), ((6.0, 6.0), "--")} <= marks, marks
    assert any("fresh process" in text.get_text() for text in memory.texts), memory.texts
    chart.draw(results, found, options, "2026-01-01 00:00:00", 2, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("clients", [100, 1000])
def test_the_chart_s_notes_cover_neither_one_another_nor_a_legend(clients: int) -> None:
    """Every join storm saturated the client (hatched, with a note) and took turns with bare
    (grey lines, with a note); scale_out's helpers have a legend under the note of the CPU
    per delivery panel. The panels' heights change with the number of goals listed."""
    from bench import chart

    targets, judged = quick_run(clients)
    for measured in targets:
        if measured.join is not None:
            measured.join.client_busy = 0.95
    targets += several_processes_run()[1:]
    options = parse(["--clients", str(clients)], STAGES)
    figure = chart.figure_for(targets, verdicts(targets, judged), options, "", 2)
    figure.canvas.draw()
    join, per_delivery = figure.axes[2], figure.axes[-1]
    for panel in (join, per_delivery):
        notes = [text for text in panel.texts if text.get_text().startswith(("grey", "hatched"))]
        boxes = [note.get_window_extent() for note in notes]
        legend = panel.get_legend()
        boxes += [] if legend is None else [legend.get_window_extent()]
        assert len(boxes) == 2, [note.get_text() for note in notes]
        assert not boxes[0].overlaps(boxes[1]), (
            f"bench/chart.py: in the {clients}-client chart, {panel.get_title(loc='left')!r} "
            f"has notes or a legend over one another: {[note.get_text() for note in notes]}"
        )


def test_by_default_every_target_runs_but_the_stages_no_goal_judges() -> None:
    stages = websocket_stages()
    left_out = reference_stages(stages)
    assert left_out == ["part2"]
    default = parse([], list(stages), left_out).targets
    judged = judged_stages({name: stage.parent for name, stage in REGISTRY.items()})
    assert set(default) == {"bare", *(set(stages) & judged), *PEERS}
    assert "part2" in parse(["--targets", "part2", "part3"], list(stages), left_out).targets


def test_the_help_lists_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse(["--help"], ["part2", "part3", "twisted_websocket"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "bare, part2, part3, twisted_websocket, channels, channels-memory" in shown


# -- the servers' CPU clock -------------------------------------------------------------------

BURNER = """
import sys, threading, time

def burn(seconds):
    started = time.thread_time()
    while time.thread_time() - started < seconds:
        pass

print("ready", flush=True)
for line in iter(sys.stdin.readline, ""):
    worker = threading.Thread(target=burn, args=(float(line),))
    worker.start()
    worker.join()  # the thread that burned has ended: its CPU time must still count
    print("burned", flush=True)
"""


def test_the_servers_cpu_is_read_finely_and_counts_threads_that_have_ended() -> None:
    fine = CLOCK.name == PROCESS_CLOCK
    if sys.platform == "linux":
        assert fine, "on Linux the bench reads each process's own CPU-time clock"
    assert not fine or CLOCK.resolution_s <= 1e-6, f"{CLOCK.resolution_s} s is too coarse"
    # On a clock of ticks (macOS), only a burn of a hundred ticks counts (RESOLUTIONS).
    burns, margin = ((0.005, 0.3), 0.003) if fine else ((100 * CLOCK.resolution_s,), 0.05)
    child = subprocess.Popen(
        [sys.executable, "-c", BURNER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline() == "ready\n"
        for wanted in burns:  # a tick of the process times is 0.01 s
            before = CLOCK.read(child.pid)
            child.stdin.write(f"{wanted}\n")
            child.stdin.flush()
            assert child.stdout.readline() == "burned\n"
            after = CLOCK.read(child.pid)
            assert before is not None and after is not None
            spent = after - before
            assert wanted <= spent < wanted + margin, (
                f"bench/cpuclock.py: a process burned {wanted} s of CPU in a thread that then "
                f"ended, and its clock read {spent:.4f} s"
            )
    finally:
        child.stdin.close()
        child.wait(10)
    assert CLOCK.read(child.pid) is None, "a process that has ended has no clock to read"
    assert CLOCK.seconds([child.pid]) == 0


def test_without_a_process_clock_the_process_times_stand_in_with_their_tick() -> None:
    times = process_times()
    assert times.name == PROCESS_TIMES and 0 < times.resolution_s <= 0.01
    spent = times.read(os.getpid())
    assert spent is not None and spent > 0
    assert times.to_json() == {"name": PROCESS_TIMES, "resolution_s": times.resolution_s}


def test_cpu_too_little_for_its_clock_is_below_resolution_not_a_figure() -> None:
    polls = flow(2000, 1.0, 30.0)
    polls.answers, polls.server_cpu_s, polls.cpu_resolution_s = 1000, 0.3, 0.01  # 30 ticks
    assert polls.cpu_below_resolution and polls.cpu_us_per_answer is None
    assert polls.to_json()["cpu_below_resolution"] is True
    polls.server_cpu_s = 1.0  # 100 ticks: a tick is 1 % of it
    assert not polls.cpu_below_resolution and polls.cpu_us_per_answer == 1000.0
    polls.server_cpu_s, polls.cpu_resolution_s = 0.3, 1e-9
    assert polls.cpu_us_per_answer == 300.0, "the same 0.3 s on a nanosecond clock counts"
    runs = [flow(2000, 1.0, p99) for p99 in (30.0, 10.0, 20.0)]
    for run in runs:
        run.answers, run.server_cpu_s, run.cpu_resolution_s = 1000, 0.4, 0.01
    median = Flow.median_of(runs, p99_of, higher_is_better=False)
    assert median.server_cpu_s == 1.2 and median.cpu_us_per_answer == 400.0, "all runs count"


def test_a_long_poll_below_resolution_is_not_measured_and_says_why() -> None:
    options = parse(["--clients", "100"], STAGES)
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=1.0, rate=1000, longpoll=polls(30.0, 300))
    ours.paired = Paired(longpoll=polls(25.0, 300))
    ours.longpoll.cpu_resolution_s = 0.01  # type: ignore[union-attr]
    goal = by_goal(verdicts([bare, ours]), "longpoll_cpu_vs_bare", "part3")
    assert (goal.ratio, goal.word) == (None, "not measured")
    assert goal.note.startswith("CPU below the clock's resolution: part3;"), goal.note
    cells = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in
             table([bare, ours], options).splitlines()}  # fmt: skip
    cpu = {title: value for title, value in cells.items() if "CPU per answer" in title}
    assert sorted(cpu.values()) == ["300", BELOW_RESOLUTION], cpu


def test_results_json_says_which_clock_read_the_servers_cpu() -> None:
    data = run_json(
        started="", options={}, machine={}, targets=[], verdicts=[], cpu_clock=CLOCK.to_json()
    )
    clock = json.loads(json.dumps(data))["cpu_clock"]
    assert clock == {"name": CLOCK.name, "resolution_s": CLOCK.resolution_s}


# -- chapter 08 quotes the bench ----------------------------------------------------------------

CHAPTER_08 = REPO_ROOT / "tutorial" / "08_whyfore.md"
READS_RESULTS = "reads-results"
"""The tag of chapter 08's cells that read a run's results.json and print its figures."""


def tagged_cells(chapter: Path, tag: str) -> list[str]:
    """The code of ``chapter``'s MyST code cells tagged ``tag``, in order."""
    cells = re.findall(r"^```\{code-cell\}[^\n]*\n(.*?)^```$", chapter.read_text(), re.M | re.S)
    found = []
    for cell in cells:
        options, _, code = cell.partition("\n\n") if cell.startswith(":") else ("", "", cell)
        tags = re.search(r"^:tags: \[(.*)\]$", options, re.M)
        if tags and tag in [name.strip() for name in tags.group(1).split(",")]:
            found.append(code)
    return found


def quoted_by_chapter(
    run: dict, folder: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[str, list[str]]:
    """What chapter 08's cells print and display for ``run``, as if the bench had written it
    into ``folder``: the printed text, and the Markdown displayed."""
    shown: list[str] = []
    display = types.ModuleType("IPython.display")
    display.Markdown = lambda text: shown.append(text) or text  # type: ignore[attr-defined]
    display.Image = lambda **_: None  # type: ignore[attr-defined]
    display.display = lambda *_, **__: None  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    cells = tagged_cells(CHAPTER_08, READS_RESULTS)
    assert len(cells) >= 2, f"{CHAPTER_08.name}: no cells tagged {READS_RESULTS!r}"
    names = {"run": json.loads(json.dumps(run)), "run_folder": folder}
    names |= {"workbook": REPO_ROOT, "sys": sys}
    capsys.readouterr()
    for cell in cells:
        exec(compile(cell, str(CHAPTER_08), "exec"), names)
    return capsys.readouterr().out, shown


def line_about(printed: str, who: str, title: str) -> str:
    [line] = [line for line in printed.splitlines() if line.startswith(f"{who}: {title}")]
    return line


def storm(clients: int, seconds: float, cpu_us: float, runs: list[float | None]) -> Join:
    """A join storm whose CPU was read: ``cpu_us`` µs per handshake, every process."""
    return Join(
        clients, 50, seconds, runs=runs, server_cpu_s=cpu_us * clients / 1e6,
        cpu_resolution_s=1e-9, handshakes=clients,
    )  # fmt: skip


def burst_costing(cpu_us: float, client_busy: float = 0.5) -> Flow:
    """A burst of 100 000 copies whose servers spent ``cpu_us`` µs on each, the load
    client's busiest process ``client_busy`` of a core."""
    made = burst_with_cpu(cpu_us * 100_000 / 1e6, {})
    made.client_busy = client_busy
    return made


ALTERNATIVES = {
    "channels-memory": ("channels", 180.0),
    "socketio": ("socketio", 45.0),
    "socketio-node": ("node", 15.0),
    "ws-node": ("node", 12.0),
}
"""The alternatives of chapter 08's quick run: their kind, and their CPU per delivery in µs."""


def quick_run(clients: int = 100) -> tuple[list[TargetResult], set[str]]:
    """The targets chapter 08 runs: a run whose turns' ratios and ratios of medians disagree,
    part3's long-polls, and part3's burst bound by the client."""
    bare = target("bare", "bare", join=1.0, rate=1000, burst=burst_costing(5.0))
    bare.join = storm(clients, 1.0, 300.0, runs=[1.0, 0.5, 3.85])
    hosted = Join(clients, 50, 2.002, runs=[0.81, 3.2, 2.002])  # turns: 0.81, 6.4, 0.52
    bare.paired = Paired(hosted, flow(990, 1.0, 50.0))
    ours = target("part3", "stage", join=0.7, rate=950, longpoll=polls(25.0, 150))
    ours.join = storm(clients, 0.7, 390.0, runs=[0.7])
    ours.burst = burst_costing(6.0, client_busy=0.95)
    alongside = storm(clients, 0.5, 300.0, runs=[0.5])
    ours.paired = Paired(alongside, burst_costing(5.0), polls(20.0, 120))
    peers = [
        target(name, kind, join=3.0, rate=40, burst=burst_costing(cpu_us))
        for name, (kind, cpu_us) in ALTERNATIVES.items()
    ]
    for peer in peers:  # each in turns with the bare broadcast, which spent what it did with part3
        peer.paired = Paired(burst=burst_costing(5.0))
    return [bare, ours, *peers], (judged_here(parse(["--clients", str(clients)], STAGES)))


def results_of(targets: list[TargetResult], judged: set[str], clients: int) -> dict:
    found = verdicts(targets, judged)
    return run_json(
        started="2026-12-02 12:00:00",
        options={"clients": clients},
        machine={"cpus": 2},
        targets=targets,
        verdicts=[verdict.to_json() for verdict in found],
        cpu_clock={"name": PROCESS_CLOCK, "resolution_s": 1e-9},
    )


def test_chapter_08_prints_the_ratio_the_bench_stored_not_a_ratio_of_medians(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets, judged = quick_run()
    run = results_of(targets, judged, 100)
    stored = by_goal(verdicts(targets, judged), "twisted_web_hosting", "bare")
    assert stored.ratio == 0.81, "the bench's own statistic: the median of the turns' ratios"
    printed, _ = quoted_by_chapter(run, tmp_path, capsys, monkeypatch)
    hosting = line_about(printed, "bare", "join storm time in twisted.web vs on its own port")
    assert ": 0.81x (median of the turns: 0.81, 6.4, 0.52)" in hosting, (
        f"{CHAPTER_08.name} printed {hosting!r}, where the bench stored 0.81x, the median of the "
        "turns' ratios: a cell that reads results.json must print the stored ratio "
        "(bench/figures.py), not divide two figures again"
    )
    assert hosting.endswith(", for reference"), hosting
    channels = line_about(printed, "part3", "CPU per delivery, channels-memory vs")
    assert ": 30x, for reference" in channels, channels
    cpu = line_about(printed, "part3", "long-poll CPU per answer")
    assert ": 1.25x, for reference" in cpu, cpu
    assert "part3 150 \u00b5s, bare twisted.web 120 \u00b5s" in printed
    assert "every ratio below is for reference too" in printed
    assert f"read with the {PROCESS_CLOCK}, to 1 ns" in printed


def test_chapter_08_says_which_ratios_the_bench_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets, judged = quick_run(clients=1000)
    assert "part3" in judged
    printed, _ = quoted_by_chapter(results_of(targets, judged, 1000), tmp_path, capsys, monkeypatch)
    expected = {
        "CPU per handshake vs bare alongside": ": 1.3x, judged, goal <= 1.3x: met",
        "CPU per delivery vs bare alongside": ": 1.2x, judged, goal <= 1.3x: met",
        "CPU per delivery, channels-memory vs": ": 30x, judged, goal >= 20x: met",
        "CPU per delivery, socketio vs": ": 7.5x, judged, goal >= 3x: met",
        "CPU per delivery vs socketio-node": ": 0.4x, judged, goal <= 1x: met",
        "CPU per delivery vs ws-node": "(distance to the limit), for reference",
        "long-poll CPU per answer vs bare twisted.web": ": 1.25x, judged, goal <= 1.5x: met",
        "long-poll p99 vs bare twisted.web alongside": ": 1.25x, for reference",
    }
    for title, ending in expected.items():
        line = line_about(printed, "part3", title)
        assert line.endswith(ending), f"{CHAPTER_08.name} printed {line!r}"
    hosting = line_about(printed, "bare", "join storm time in twisted.web")
    assert hosting.endswith("for reference"), "the yardstick is never judged"
    assert "listed below with their verdicts" in printed


def test_chapter_08_tables_the_alternatives_and_marks_a_client_bound_burst(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets, judged = quick_run()
    run = results_of(targets, judged, 100)
    printed, tables = quoted_by_chapter(run, tmp_path, capsys, monkeypatch)
    rows = {row.split("**")[1]: row for row in tables[0].splitlines() if row.startswith("| **")}
    assert list(rows) == [target.name for target in targets], (
        f"{CHAPTER_08.name}'s first table must have a row for every target that ran"
    )
    for name, (_, cpu_us) in ALTERNATIVES.items():
        cells = [cell.strip() for cell in rows[name].split("|")]
        assert cells[2:4] == [f"{cpu_us:.1f}", "-"], (
            f"{CHAPTER_08.name} showed {rows[name]!r}: {name}'s CPU per delivery is {cpu_us} "
            "\u00b5s, and its join storm's CPU was not read"
        )
    part3 = [cell.strip() for cell in rows["part3"].split("|")]
    assert part3[2:4] == ["6.0", "390"], rows["part3"]
    assert part3[-2] == "95 % (client-bound)", (
        f"{CHAPTER_08.name} showed {rows['part3']!r}: a burst whose client's busiest process "
        "used 95 % of a core measured the client, and its table must say so"
    )
    assert rows["bare"].split("|")[-2].strip() == "50 %", "a client at half a core is not bound"
    ranked = [line.split(":")[0] for line in printed.splitlines() if re.match(r"\d+\. ", line)]
    assert ranked == ["1. bare", "2. part3", "3. ws-node", "4. socketio-node", "5. socketio",
                      "6. channels-memory"], f"{CHAPTER_08.name} ranked them {ranked}"  # fmt: skip


def test_chapter_08_says_a_cpu_figure_is_below_resolution_rather_than_print_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    targets, judged = quick_run()
    for found in (targets[1].longpoll, targets[1].paired.longpoll):  # type: ignore[union-attr]
        assert found is not None and found.server_cpu_s is not None
        found.cpu_resolution_s = 0.01  # the process times' tick: 0.15 s is 15 ticks
    run = results_of(targets, judged, 100)
    run["cpu_clock"] = process_times().to_json()
    printed, tables = quoted_by_chapter(run, tmp_path, capsys, monkeypatch)
    [polls_table] = [table for table in tables if "CPU per poll answer" in table]
    [part3_row] = [row for row in polls_table.splitlines() if row.startswith("| **part3**")]
    below = "below the clock's resolution"
    assert part3_row.endswith(f"| {below} ({below}) |"), (
        f"{CHAPTER_08.name} showed {part3_row!r}: 0.15 s on a clock of 0.01 s is a few ticks, "
        "which its table must call below resolution (results.json's cpu_below_resolution)"
    )
    assert "\u00b5s" not in part3_row.rsplit("|", 2)[1], "no figure for what was not measured"
    cpu = line_about(printed, "part3", "long-poll CPU per answer")
    assert ": - (CPU below the clock's resolution: part3 and bare alongside" in cpu, cpu
    assert f"part3 {below}, bare twisted.web {below}" in printed
    assert f"read with the {PROCESS_TIMES}, to 10 ms" in printed


def test_quoting_a_results_json_from_an_older_bench_says_so() -> None:
    targets, judged = quick_run()
    run = results_of(targets, judged, 100)
    assert figures.ratio_line(run, "join_vs_bare", "part3").startswith("part3: join storm")
    missing = figures.ratio_line(run, "join_vs_bare", "part9")
    assert missing == "part9: join vs bare: not in this run"
    older = {**run, "schema": 4}
    for read in (
        lambda: figures.ratio_line(older, "join_vs_bare", "part3"),
        lambda: figures.figures_standing(older),
        lambda: figures.clock_words(older),
        lambda: figures.verdict_in([], "join_vs_bare", "part3"),  # type: ignore[arg-type]
    ):
        with pytest.raises(ValueError, match="Run the bench again"):
            read()


# -- several chat processes behind a balancer (scale_out) ----------------------------------------


def burst_with_cpu(
    chat_s: float, helpers: dict[str, float], delivered: int = 100_000, expected: int = 0
) -> Flow:
    """A burst whose CPU was read: the chat processes' ``chat_s`` and each helper's."""
    made = flow(delivered, 1.0, 50.0, expected or delivered)
    made.server_cpu_s, made.helper_cpu_s = chat_s, helpers
    made.cpu_deliveries, made.cpu_resolution_s = delivered, 1e-9
    return made


def several_processes_run() -> list[TargetResult]:
    """history alone, scale_out on two processes, the Channels peer with Redis, and bare."""
    bare = target("bare", "bare", join=1.0, rate=1000)
    one = target("history", "stage", join=1.0, rate=1000, burst=burst_with_cpu(2.0, {}))
    one.fanout = flow(10_000, 1.0, 40.0)
    helpers = {"balancer": 2.0, "redis": 0.1, "postgresql": 0.05}
    several = target("scale_out", "stage", join=9.0, rate=100, alone="history")
    several.burst = burst_with_cpu(2.4, helpers)  # 24 µs per delivery: 1.2x history's 20
    several.fanout = flow(10_000, 1.0, 50.0)  # 1.25x history's p99
    peer = target("channels-redis", "channels", join=5.0, rate=40, label="Channels + Redis")
    peer.burst = burst_with_cpu(30.0, {"redis": 10.0})
    for measured in (one, several, peer):  # each in turns with bare, at 10 µs per delivery
        measured.paired = Paired(burst=burst_with_cpu(1.0, {}))
        measured.paired.memory = bare.memory  # the bare served alike, in a fresh process
    return [bare, one, several, peer]


def test_a_stage_of_several_processes_is_judged_on_its_cpu_and_latency_not_wall_clock() -> None:
    bare, one, several, peer = several_processes_run()
    found = verdicts([bare, one, several, peer], judged={"history", "scale_out"})
    cpu = by_goal(found, "cpu_vs_one_process", "scale_out")
    assert (cpu.versus, cpu.ratio, cpu.wanted, cpu.word) == ("history", 1.2, "<= 1.3x", "met")
    p99 = by_goal(found, "p99_vs_one_process", "scale_out")
    assert (p99.ratio, p99.word) == (1.25, "met")
    channels = by_goal(found, "cpu_vs_channels", "scale_out")
    assert (channels.ratio, channels.wanted, channels.word) == (8.79, ">= 10x", "not met"), (
        "Channels + Redis spent 300 + 100 µs per delivery, scale_out 24 in its chat processes "
        "and 21.5 in its balancer, Redis and PostgreSQL: every process counts on both sides "
        f"(400 / 45.5), not only the chat processes' (which would be 12.5x); got {channels}"
    )
    for wall_clock in ("join_vs_bare", "burst_vs_bare", "burst_vs_channels"):
        assert by_goal(found, wall_clock, "scale_out").word == "for reference", wall_clock
    assert by_goal(found, "memory_vs_bare", "history").word == "met", "history keeps its goals"
    assert not [v for v in found if v.target == "history" and v.goal.endswith("one_process")]
    one.burst = None
    assert by_goal(verdicts([one, several]), "cpu_vs_one_process", "scale_out").word == (
        "not measured"
    )


def test_a_target_that_lost_messages_cannot_meet_a_goal() -> None:
    bare, one, several, peer = several_processes_run()
    judged = {"history", "scale_out"}
    several.burst = burst_with_cpu(0.2, {}, delivered=99_999, expected=100_000)  # ratios: great
    found = verdicts([bare, one, several, peer], judged)
    for goal in ("cpu_vs_one_process", "p99_vs_one_process", "cpu_vs_channels"):
        verdict = by_goal(found, goal, "scale_out")
        assert verdict.word == "not met", f"{goal}: scale_out lost a message, yet {verdict}"
        assert "not met: scale_out lost messages" in verdict.note, verdict.note
        assert "scale_out lost 1 of 100000 burst deliveries" in verdict.note, verdict.note

    bare, one, several, peer = several_processes_run()
    one.fanout = flow(9_990, 1.0, 40.0, 10_000)  # history lost some: no fair yardstick
    found = verdicts([bare, one, several, peer], judged)
    assert by_goal(found, "p99_vs_one_process", "scale_out").word == "not met"
    assert "history lost messages" in by_goal(found, "cpu_vs_one_process", "scale_out").note

    bare, one, several, peer = several_processes_run()
    peer.burst = burst_with_cpu(300.0, {"redis": 100.0}, delivered=99_000, expected=100_000)
    stage = target("part3", "stage", join=1.0, rate=3_000_000, burst=burst_with_cpu(1.0, {}))
    stage.paired = Paired(burst=burst_with_cpu(1.0, {}))
    found = verdicts([bare, stage, several, peer], {"part3", "scale_out"})
    burst = by_goal(found, "cpu_vs_channels", "part3")
    assert burst.ratio is not None and burst.ratio >= 20 and burst.word == "not met", (
        f"The Channels peer lost messages: the ratio with it meets no goal, however high ({burst})"
    )
    assert "not met: channels-redis lost messages" in burst.note, burst.note
    assert burst.lost_by == ("channels-redis",)
    assert by_goal(found, "cpu_vs_channels", "scale_out").word == "not met"
    from bench import chart

    options = parse(["--clients", "1000"], STAGES)
    figure = chart.figure_for([bare, stage, several, peer], found, options, "", 2)
    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert any(
        text.startswith("\u2717 part3: CPU per delivery, Channels + Redis vs part3")
        and text.endswith(", but channels-redis lost messages")
        for text in texts
    ), texts
    lines = verdict_lines(found)
    [line] = [
        line for line in lines if line.split()[0] == "part3" and "Channels + Redis vs" in line
    ]
    assert "not met" in line and "channels-redis lost 1000 of 100000" in line, line


def test_the_table_shows_the_balancer_redis_and_postgresql_apart_from_the_chat() -> None:
    targets = several_processes_run()[1:]
    targets[1].spread = {"chat1": 500, "chat2": 500}
    text = table(targets, parse(["--clients", "1000"], STAGES))
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:5]]
             for line in text.splitlines()}  # fmt: skip
    row = {title.split(": ", 1)[-1]: values for title, values in cells.items()}
    assert row["chat processes' CPU per delivery, \u00b5s"] == ["20.00", "24.00", "300.00"]
    assert row["balancer's CPU per delivery, \u00b5s"] == ["-", "20.00", "-"]
    assert row["redis's CPU per delivery, \u00b5s"] == ["-", "1.00", "100.00"]
    assert row["postgresql's CPU per delivery, \u00b5s"] == ["-", "0.50", "-"]
    assert row["every process's CPU per delivery, \u00b5s"] == ["20.00", "45.50", "400.00"]
    assert cells["clients of the crowd per chat process"] == ["-", "chat1 500, chat2 500", "-"]


def test_the_chart_stacks_each_helper_s_cpu_per_delivery_on_the_chat_processes() -> None:
    from bench import chart

    targets = several_processes_run()
    options = parse(["--clients", "1000"], STAGES)
    figure = chart.figure_for(targets, verdicts(targets), options, "2026-01-01 00:00:00", 2)
    cpu = figure.axes[-1]
    assert "CPU per delivery" in cpu.get_title(loc="left")
    assert [label.get_text() for label in cpu.get_xticklabels()] == [
        "history",
        "scale_out",
        "Channels + Redis",
    ], "bare's burst CPU was not read: it has no bar"
    heights = [round(bar.get_height(), 2) for bar in cpu.patches]
    # chat processes, then balancer, redis and postgresql on top of them
    assert heights == [20.0, 24.0, 300.0, 0, 20.0, 0, 0, 1.0, 100.0, 0, 0.5, 0], heights
    totals = [text.get_text() for text in cpu.texts if text.get_gid() != chart.TOP_NOTE]
    assert totals == ["20.0", "45.5", "400.0"], totals


def test_a_run_s_cpu_per_delivery_is_quoted_process_by_process() -> None:
    targets = several_processes_run()
    run = json.loads(json.dumps(results_of(targets, {"scale_out"}, 1000)))
    burst = run["targets"]["scale_out"]["burst"]
    assert figures.cpu_per_delivery(burst) == (
        "chat processes 24.00 \u00b5s, balancer 20.00 \u00b5s, redis 1.00 \u00b5s, "
        "postgresql 0.50 \u00b5s"
    )
    assert figures.cpu_per_delivery(run["targets"]["scale_out"]["fanout"]) == "-"
    line = figures.ratio_line(run, "cpu_vs_one_process", "scale_out")
    assert line.endswith(": 1.2x, judged, goal <= 1.3x: met"), line


def test_runs_of_a_burst_add_up_their_cpu_and_deliveries() -> None:
    runs = [
        burst_with_cpu(s, {"redis": s / 10}, delivered=n) for s, n in ((1.0, 1000), (3.0, 1000))
    ]
    median = Flow.median_of(runs, lambda f: f.deliveries_per_s, higher_is_better=True)
    assert (median.server_cpu_s, median.cpu_deliveries) == (4.0, 2000)
    assert median.helper_cpu_s == {"redis": 0.4} and median.chat_us_per_delivery == 2000.0
    assert median.cpu_runs == [1100.0, 3300.0], "each run's, every process, for the turns"
    assert median.chat_cpu_runs == [1000.0, 3000.0], "each run's, the chat processes'"
    storms = Join.median_of([metered_join(0.5, 100.0), metered_join(0.6, 300.0)])
    assert storms.cpu_runs == [100.0, 300.0] and storms.cpu_us_per_handshake == 200.0


def bursts(*chat_seconds: float, helpers: dict[str, float] | None = None) -> Flow:
    """Bursts of 100 000 deliveries, one per figure in ``chat_seconds`` (the chat processes'
    CPU seconds in it), kept as measure keeps them: the median run, with every run's CPU."""
    runs = [burst_with_cpu(seconds, dict(helpers or {})) for seconds in chat_seconds]
    return Flow.median_of(runs, BURST_RATE.value, higher_is_better=True)


def test_cpu_goals_against_bare_take_the_median_of_the_turns_ratios() -> None:
    """One burst in three spent twice as much, on a virtual machine whose neighbours took the
    cache for a moment: the turns' median ignores it where the sums would miss the goal."""
    ours = target("part3", "stage", join=0.6, rate=900, burst=bursts(0.5, 1.0, 0.5))
    ours.join = Join.median_of([metered_join(0.6, us) for us in (120.0, 400.0, 120.0)])
    ours.longpoll = Flow.median_of(
        [polls(25.0, us) for us in (150.0, 150.0, 450.0)], POLL_P99.value, higher_is_better=False
    )
    ours.paired = Paired(
        join=Join.median_of([metered_join(0.5, 100.0)] * 3),
        burst=bursts(0.5, 0.5, 0.5),
        longpoll=Flow.median_of([polls(20.0, 120.0)] * 3, POLL_P99.value, higher_is_better=False),
    )
    found = verdicts([ours])
    burst = by_goal(found, "burst_cpu_vs_bare", "part3")
    assert (burst.ratio, burst.word) == (1.0, "met"), (
        "bench/verdicts.py: the burst's CPU per delivery must be compared turn by turn (1, 2, "
        f"1: median 1), not as the runs' sums (10 / 7.5 µs = 1.33x); got {burst}"
    )
    assert burst.note == "median of the turns: 1, 2, 1"
    join = by_goal(found, "join_cpu_vs_bare", "part3")
    assert (join.ratio, join.word) == (1.2, "met"), f"median of 1.2, 4, 1.2; got {join}"
    longpoll = by_goal(found, "longpoll_cpu_vs_bare", "part3")
    assert (longpoll.ratio, longpoll.word) == (1.25, "met"), "median of 1.25, 1.25, 3.75"
    assert longpoll.note == "median of the turns: 1.25, 1.25, 3.75"


def test_a_note_gives_the_range_of_many_turns() -> None:
    ours = target("part3", "stage", join=0.6, rate=900, burst=bursts(*[0.5] * 14, 0.9))
    ours.paired = Paired(burst=bursts(*[0.5] * 15))
    verdict = by_goal(verdicts([ours]), "burst_cpu_vs_bare", "part3")
    assert (verdict.ratio, verdict.note) == (1.0, "median of 15 turns, from 1 to 1.8")


def in_turns_with_bare(name: str, ours: list[float], bare: list[float]) -> TargetResult:
    """A stage whose bursts (``ours``, chat CPU seconds each) took turns with the bare
    broadcast's (``bare``)."""
    stage = target(name, "stage", join=1.0, rate=1000, burst=bursts(*ours))
    stage.paired = Paired(burst=bursts(*bare))
    return stage


def test_targets_measured_apart_are_compared_by_their_turns_median_shares_of_bare() -> None:
    """history's second burst of three spent twice what the bare broadcast spent right after
    it; part3's did not: the shares' medians are equal, where the sums make history 1.33x."""
    part3 = in_turns_with_bare("part3", [0.6, 0.6, 0.6], [0.6, 0.6, 0.6])
    history = in_turns_with_bare("history", [0.6, 1.2, 0.6], [0.6, 0.6, 0.6])
    verdict = by_goal(verdicts([part3, history]), "cpu_vs_part3", "history")
    assert (verdict.ratio, verdict.word) == (1.0, "met"), (
        "bench/verdicts.py: each target's CPU per delivery must be its turns' median share of "
        f"the bare broadcast alongside (1, 2, 1: 1), not of the runs' sums (1.33); got {verdict}"
    )
    assert verdict.title.endswith(EACH_VS_BARE)


def test_several_processes_are_compared_with_one_through_the_bare_broadcast() -> None:
    """scale_out ran while the machine was busy and history while it was quiet: the bare
    broadcast alongside each spent as much per delivery as the chat did."""
    history = in_turns_with_bare("history", [0.8, 0.8, 0.8], [0.8, 0.8, 0.8])
    several = in_turns_with_bare("scale_out", [1.2, 1.2, 1.2], [1.2, 1.2, 1.2])
    several.alone, several.burst = "history", bursts(1.2, 1.2, 1.2, helpers={"balancer": 0.2})
    verdict = by_goal(verdicts([history, several]), "cpu_vs_one_process", "scale_out")
    assert (verdict.ratio, verdict.word) == (1.0, "met"), (
        "bench/verdicts.py: the chat processes' CPU per delivery, each as a share of the bare "
        f"broadcast alongside, is 1.0 of history's, not 12 / 8 µs = 1.5x; got {verdict}"
    )
    assert verdict.title.endswith(EACH_VS_BARE)
    history.paired = None
    verdict = by_goal(verdicts([history, several]), "cpu_vs_one_process", "scale_out")
    assert (verdict.ratio, verdict.judged) == (1.5, False), "taken apart, it judges nothing"


def test_bursts_run_three_times_as_often_where_the_goals_are_judged() -> None:
    assert parse(["--clients", "1000"], STAGES).bursts == 15
    assert parse(["--clients", "1000", "--repeats", "1"], STAGES).bursts == 3
    assert parse([], STAGES).bursts == 3, "200 clients: for reference, as many as the repeats"
    assert parse(["--quick"], STAGES).bursts == 1


PARENT_OF_BURNER = """
import subprocess, sys
subprocess.run([sys.executable, "-c", sys.argv[1]])  # the child reads and writes our pipes
"""


def test_a_target_s_cpu_is_its_chat_processes_and_apart_each_helper_with_its_children() -> None:
    """As the scale_out target counts it: chat1 and chat2 together; the balancer, Redis and
    PostgreSQL each apart, PostgreSQL with its backends (children that do the work)."""
    burns = {"chat1": 0.04, "chat2": 0.06, "balancer": 0.02, "redis": 0.03, "postgresql": 0.05}
    children: dict[str, subprocess.Popen[str]] = {}
    try:
        for name in burns:
            script = [PARENT_OF_BURNER, BURNER] if name == "postgresql" else [BURNER]
            children[name] = subprocess.Popen(
                [sys.executable, "-c", *script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
        for child in children.values():
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
        pids = {name: child.pid for name, child in children.items()}
        running = Running(
            1, None, StageAdapter(), pids["chat1"], [],
            chats={name: pids[name] for name in ("chat1", "chat2")},
            helpers={name: pids[name] for name in ("balancer", "redis", "postgresql")},
        )  # fmt: skip
        before = running.cpu_seconds()
        for name, child in children.items():
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(f"{burns[name]}\n")
            child.stdin.flush()
            assert child.stdout.readline() == "burned\n"
        after = running.cpu_seconds()
    finally:
        for child in children.values():
            assert child.stdin is not None
            child.stdin.close()
            child.wait(10)
    spent = {role: after[role] - before[role] for role in after}
    wanted = {"chat": 0.1, "balancer": 0.02, "redis": 0.03, "postgresql": 0.05}
    assert set(spent) == set(wanted)
    for role, seconds in wanted.items():
        assert seconds <= spent[role] < seconds + 0.02, (
            f"bench/targets.py: {role} burned {seconds} s of CPU and Running.cpu_seconds read "
            f"{spent[role]:.4f} s (the chat processes together; each helper with its children)"
        )


class Burst:
    """Stands for a Swarm: every receiver gets every message at once."""

    def __init__(self, receivers: int) -> None:
        self.receivers = receivers
        self.recorder: Recorder | None = None

    async def send(self, recorder: Recorder, messages: int, rate: float | None) -> None:
        for number in range(1, messages + 1):
            recorder.sending(number)
            for client in range(self.receivers):
                recorder.arrived(client, number, time.perf_counter())


class Spender:
    """Stands for a Running: each reading, every process has spent more."""

    def __init__(self) -> None:
        self.readings = iter([{"chat": 1.0, "redis": 5.0}, {"chat": 1.5, "redis": 5.25}])

    def cpu_seconds(self) -> dict[str, float]:
        return next(self.readings)


def test_a_websocket_flow_reads_the_chat_processes_cpu_and_each_helper_s() -> None:
    options = parse(["--quick"], STAGES)
    burst = asyncio.run(measure.flow(Burst(10), 10, 5, None, options, Spender()))  # type: ignore[arg-type]
    assert (burst.delivered, burst.cpu_deliveries, burst.server_cpu_s) == (50, 50, 0.5)
    assert burst.helper_cpu_s == {"redis": 0.25}
    assert burst.chat_us_per_delivery == 10_000.0 and burst.all_us_per_delivery == 15_000.0
    untimed = asyncio.run(measure.flow(Burst(10), 10, 5, None, options))  # type: ignore[arg-type]
    assert untimed.cpu_deliveries is None and untimed.chat_us_per_delivery is None


class Storm:
    """Stands for a Swarm's join storm: ``clients`` join, none fails."""

    def __init__(self, clients: int) -> None:
        self.clients = clients

    async def join(self, concurrency: int, deadline: float) -> Join:
        return Join(self.clients, concurrency, 0.5)


def busy_client(monkeypatch: pytest.MonkeyPatch, spent: float) -> None:
    """Make the load client's process clock read ``spent`` more seconds at each reading."""
    readings = itertools.count(start=0.0, step=spent)
    clock = CpuClock("a clock that counts", 1e-9, lambda pid: next(readings))
    monkeypatch.setattr(meter, "CLOCK", clock)


def test_cpu_per_unit_counts_every_process_of_the_target_and_not_the_load_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    busy_client(monkeypatch, spent=30.0)  # the client works hard; none of it is the server's
    options = parse(["--quick"], STAGES)
    burst = asyncio.run(measure.flow(Burst(10), 10, 5, None, options, Spender()))  # type: ignore[arg-type]
    assert (burst.server_cpu_s, burst.helper_cpu_s) == (0.5, {"redis": 0.25})
    assert burst.all_us_per_delivery == 15_000.0, "chat 0.5 s and Redis 0.25 s for 50 copies"
    assert burst.client_busy is not None and burst.client_bound
    join = asyncio.run(measure.storm(Storm(10), Spender(), options, 10))  # type: ignore[arg-type]
    assert (join.server_cpu_s, join.handshakes) == (0.75, 10)
    assert join.cpu_us_per_handshake == 75_000.0, "chat and Redis together, per handshake"
    assert join.client_bound
    untimed = asyncio.run(measure.flow(Burst(10), 10, 5, None, options))  # type: ignore[arg-type]
    assert untimed.server_cpu_s is None and untimed.client_bound, "the client's share still read"


def test_a_flow_that_saturated_the_load_client_is_client_bound_and_judges_no_goal() -> None:
    from bench import chart

    bare, one, several, peer = several_processes_run()
    several.fanout.client_busy = 0.95  # type: ignore[union-attr]
    several.burst.client_busy = 0.97  # type: ignore[union-attr]
    found = verdicts([bare, one, several, peer], judged={"history", "scale_out"})
    p99 = by_goal(found, "p99_vs_one_process", "scale_out")
    assert (p99.ratio, p99.met, p99.judged, p99.word) == (1.25, None, False, "client-bound"), (
        f"bench/verdicts.py: the load client's busiest core was 95 % busy in the fan-out, so "
        f"its p99 measured the client, yet the goal was judged: {p99}"
    )
    assert "over 85% busy" in p99.note
    assert by_goal(found, "burst_vs_bare", "scale_out").word == "client-bound"
    cpu = by_goal(found, "cpu_vs_one_process", "scale_out")
    assert cpu.word == "met", "CPU per delivery counts the work done, whoever waits"
    options = parse(["--clients", "1000"], STAGES)
    figure = chart.figure_for([bare, one, several, peer], found, options, "", 2)
    burst = figure.axes[0]
    assert [bar.get_hatch() for bar in burst.patches[:4]] == [None, None, "xx", None]
    assert any(CLIENT_BOUND_WORDS in text.get_text() for text in burst.texts)
    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert any(text.startswith("\u25cb scale_out: fan-out p99") for text in texts), texts
    several.fanout.client_busy = 0.85  # type: ignore[union-attr]
    found = verdicts([bare, one, several, peer], judged={"history", "scale_out"})
    assert by_goal(found, "p99_vs_one_process", "scale_out").word == "met", "85 % is not over"

    text = table([one, several], parse(["--clients", "1000"], STAGES))
    cells = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]]
             for line in text.splitlines()}  # fmt: skip
    assert cells["burst of 100: deliveries/s"] == ["100,000", "100,000 (client-bound)"]
    assert cells["burst of 100: load client's busiest core"] == ["-", "97%"]
    runs = [timed_flow(1.0), timed_flow(2.0), timed_flow(3.0)]
    for run, busy in zip(runs, (0.5, 0.9, 0.2), strict=True):
        run.client_busy = busy
    assert Flow.median_of(runs, p99_of, higher_is_better=False).client_busy == 0.9


def test_the_clients_a_process_holds_are_counted_on_its_listening_port() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        accepted = [server.accept()[0] for _ in clients]
        try:
            assert connections_held(os.getpid()) == 3, "the clients' own ends are not held"
        finally:
            for end in (*clients, *accepted):
                end.close()
    assert crowd_spread({"chat1": 10, "chat2": 12}, {"chat1": 510, "chat2": 512}) == {
        "chat1": 500,
        "chat2": 500,
    }
    assert crowd_spread(None, {"chat1": 3}) is None


def test_a_stage_of_several_processes_is_skipped_in_one_line_without_its_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(targets, "missing_programs", lambda names: [MissingProgram("haproxy")])
    cluster = ClusterTarget(REGISTRY["scale_out"], parse([], STAGES))
    reason = cluster.available()
    assert reason is not None and "\n" not in reason
    assert reason.startswith(
        "scale_out needs haproxy, which is not installed: on Debian/Ubuntu `sudo apt-get install"
    )
    assert cluster.alone == "history" and cluster.label == "scale_out (2 processes)"
    made = all_targets(("history", "scale_out"), REGISTRY, parse([], STAGES))
    assert [type(one).__name__ for one in made] == ["StageTarget", "ClusterTarget"]


def test_the_warm_up_is_as_large_as_the_crowd() -> None:
    """A smaller warm-up leaves some of the free memory a process starts with, more in one
    start than the next, for the crowd to use: its memory per connection then moved by a
    quarter from run to run (bench/measure.py's ballast)."""
    assert ballast(parse(["--clients", "1000"], ["part3"])) == 1000
    assert ballast(parse(["--quick"], ["part3"])) == 100


def test_the_bare_broadcast_s_memory_is_the_median_of_its_fresh_processes() -> None:
    """One fresh process in four read a quarter less than the others (bench/run.py's
    FRESH_READINGS): the median leaves it out, a single reading would have taken it."""
    readings = [Memory(80_000, 86_700, 1000), Memory(80_000, 85_000, 1000)]
    readings.append(Memory(80_000, 86_600, 1000))
    assert Memory.median_of(readings).per_connection_kib == 6.6
