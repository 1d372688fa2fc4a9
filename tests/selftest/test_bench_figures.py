"""The pure parts of ``nox -s bench``: percentiles, ratios and verdicts, the results' shapes,
the chart, and how a stage's processes are told apart.

No servers: these build results by hand and check what the bench would make of them.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bench.adapters import ChannelsAdapter, StageAdapter, sequence_in, text_for
from bench.measure import repeated
from bench.options import chosen_targets, default_burst, parse
from bench.recorder import Recorder
from bench.report import table, verdict_lines
from bench.results import Flow, Join, Memory, Paired, TargetResult, run_json
from bench.stats import Latency, percentile, summarize
from bench.targets import chat_process
from bench.verdicts import judged_stages, verdicts
from harness.stages import CHATSERVER, DJANGO, Process
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
    bare = target("bare", "bare", join=1.0, rate=1000)
    good = target("part3", "stage", join=1.4, rate=950, longpoll=flow(1000, 1.0, 25.0))
    slow = target("part2", "stage", join=2.0, rate=800)
    peer = target("channels-memory", "channels", join=3.0, rate=40)
    found = verdicts([bare, slow, good, peer])

    assert by_goal(found, "join_vs_bare", "part3").ratio == 1.4
    assert by_goal(found, "join_vs_bare", "part3").word == "met"
    assert by_goal(found, "join_vs_bare", "part2").word == "not met"
    assert by_goal(found, "burst_vs_bare", "part3").ratio == 0.95
    assert by_goal(found, "burst_vs_bare", "part2").word == "not met"
    assert by_goal(found, "longpoll_vs_websocket", "part3").ratio == 2.5
    assert by_goal(found, "longpoll_vs_websocket", "part3").word == "met"
    assert by_goal(found, "burst_vs_channels", "part3", "channels-memory").ratio == 23.75
    assert by_goal(found, "burst_vs_channels", "part2", "channels-memory").word == "met"
    assert by_goal(found, "join_vs_bare", "channels-memory").word == "for reference"
    assert not [v for v in found if v.target == "bare"], "bare is the yardstick, not judged"


def test_a_stage_is_compared_with_the_bare_server_measured_alongside_it() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)  # its own run: on a quiet machine
    busy = target("part3", "stage", join=3.0, rate=500)  # measured while the machine was busy
    busy.paired = Paired(join=Join(100, 50, 2.5), burst=flow(450, 1.0, 50.0))
    found = verdicts([bare, busy])
    join = by_goal(found, "join_vs_bare", "part3")
    assert (join.versus, join.ratio, join.word) == ("bare alongside", 1.2, "met")
    assert by_goal(found, "burst_vs_bare", "part3").ratio == 1.11
    assert "alongside" in join.title
    alone = target("part3", "stage", join=3.0, rate=500)
    assert by_goal(verdicts([bare, alone]), "join_vs_bare", "part3").ratio == 3.0


def test_stage_and_channels_measured_at_different_times_meet_through_bare() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    ours = target("part3", "stage", join=1.0, rate=500)  # a busy moment: bare got 500 too
    ours.paired = Paired(join=Join(100, 50, 1.0), burst=flow(500, 1.0, 50.0))
    peer = target("channels-memory", "channels", join=1.0, rate=50)  # a quiet one
    peer.paired = Paired(join=Join(100, 50, 1.0), burst=flow(1000, 1.0, 50.0))
    verdict = by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3")
    assert (verdict.ratio, verdict.word) == (20.0, "met"), "1.0 of bare against 0.05 of bare"
    assert "each vs bare alongside" in verdict.title
    peer.paired = Paired(burst=flow(1066, 1.0, 50.0))  # shares not rounded on the way
    assert by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3").ratio == 21.32
    peer.paired = None
    assert by_goal(verdicts([bare, ours, peer]), "burst_vs_channels", "part3").ratio == 10.0


def test_a_burst_that_loses_messages_misses_its_goals_however_fast() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    lossy = target("part3", "stage", join=1.0, rate=990, burst=flow(990, 1.0, 5.0, 1000))
    verdict = by_goal(verdicts([bare, lossy]), "burst_vs_bare", "part3")
    assert verdict.ratio == 0.99 and verdict.word == "not met"
    assert "lost 10 of 1000" in verdict.note


def test_a_missing_figure_is_not_measured_rather_than_met() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    unmeasured = target("part2", "stage", join=1.0, rate=1000)
    unmeasured.join = None
    verdict = by_goal(verdicts([bare, unmeasured]), "join_vs_bare", "part2")
    assert (verdict.ratio, verdict.met, verdict.word) == (None, None, "not measured")
    assert verdicts([unmeasured]) == [], "without bare and Channels there is nothing to compare"


def test_clients_that_could_not_join_miss_the_join_goal() -> None:
    bare = target("bare", "bare", join=1.0, rate=1000)
    refused = Join(clients=100, concurrency=50, seconds=None, failed=3, first_error="HTTP 403")
    stage = target("part2", "stage", join=1.0, rate=1000)
    stage.join = refused
    verdict = by_goal(verdicts([bare, stage]), "join_vs_bare", "part2")
    assert (verdict.ratio, verdict.word) == (None, "not met")


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
    assert data["schema"] == 1
    assert list(data["targets"]) == ["bare", "part3", "channels-redis"]
    part3 = data["targets"]["part3"]
    assert set(part3) == {
        "label", "kind", "settings", "join", "memory", "fanout", "burst", "longpoll", "paired",
        "other_load", "error", "skipped",
    }  # fmt: skip
    assert part3["settings"] == {"CHAT_RATE": "1000000"}
    assert part3["burst"]["deliveries_per_s"] == 950.0 and part3["burst"]["lost"] == 0
    assert part3["burst"]["latency"]["p99"] == 50.0
    assert part3["memory"]["per_connection_kib"] == 5.0
    skipped = data["targets"]["channels-redis"]
    assert skipped["burst"] is None and skipped["skipped"] == "redis-server is not installed"
    assert [(v["goal"], v["target"], v["verdict"]) for v in data["verdicts"]] == [
        ("join_vs_bare", "part3", "met"),
        ("burst_vs_bare", "part3", "met"),
    ], "a skipped target has no verdicts; part3's two against bare are met"


def test_the_table_has_a_column_per_target_and_every_verdict_a_line() -> None:
    options = parse(["--clients", "100"], STAGES)
    results = [target("bare", "bare", 1.0, 1000), target("part2", "stage", 2.0, 900)]
    text = table(results, options)
    header = text.splitlines()[0]
    assert "bare" in header and "part2" in header
    assert "join storm, s (100 clients, median of 3)" in text
    lines = verdict_lines(verdicts(results))
    assert len(lines) == 2 and all("part2" in line for line in lines)


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
    assert default.fanout_messages == 20 and quick.fanout_messages == 10
    assert quick.clients < default.clients and quick.deadline < default.deadline
    assert default_burst(1000) == 40 and default_burst(10) == 400 and default_burst(10**6) == 20
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

        asyncio.run(repeated(run, options, p99_of, higher_is_better=False))
        return started

    assert runs_of([1.0, 1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]
    assert runs_of([1.0, 6.0, 1.0]) == [1.0, 6.0], "a run of 5 s or more is not repeated"


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
    found = verdicts([bare, early, late], judged={"part3"})
    assert by_goal(found, "join_vs_bare", "part2").word == "for reference"
    assert by_goal(found, "join_vs_bare", "part3").word == "not met"


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


# -- the chart and the command line ------------------------------------------------------------


def test_the_chart_shows_the_targets_that_ran_and_marks_each_goal(tmp_path: Path) -> None:
    from bench import chart

    options = parse(["--clients", "100"], STAGES)
    bare = target("bare", "bare", join=1.0, rate=1000)
    good = target("part3", "stage", join=1.2, rate=950, longpoll=flow(1000, 1.0, 50.0))
    skipped = TargetResult("channels-redis", "Channels + Redis", "channels", skipped="no redis")
    results = [bare, good, skipped]
    found = verdicts(results)
    figure = chart.figure_for(results, found, options, "2026-01-01 00:00:00", 2)
    burst, *_ = figure.axes
    assert [label.get_text() for label in burst.get_xticklabels()] == ["bare", "part3"]
    texts = [text.get_text() for axes in figure.axes for text in axes.texts]
    assert any(text.startswith("\u2713 part3: join storm") for text in texts), texts
    assert any(text.startswith("\u2717 part3: long-poll p99") for text in texts), texts
    chart.draw(results, found, options, "2026-01-01 00:00:00", 2, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_help_lists_every_target(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        parse(["--help"], ["part2", "part3", "twisted_websocket"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "bare, part2, part3, twisted_websocket, channels, channels-memory" in shown
