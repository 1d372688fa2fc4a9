"""Run the bench: each target in turn, then the table, the verdicts, the JSON and the chart."""

from __future__ import annotations

import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import uvloop

from harness.processes import StageError
from harness.services import ServiceError
from harness.stages import REPO_ROOT, STAGES, Stage

from . import chart, packages, report
from .cpuclock import CLOCK
from .load import OtherLoad
from .measure import fresh_memory, measure
from .options import Options, parse
from .results import AUTOBAHN_IN_TWISTED_WEB, Memory, TargetResult, run_json, write_json
from .servers import ServerError
from .targets import BareTarget, Running, Target, all_targets
from .verdicts import GOAL_CLIENTS, GOALS_FROM, Verdict, judged_stages, verdicts


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def websocket_stages() -> dict[str, Stage]:
    return {name: stage for name, stage in STAGES.items() if "websocket" in stage.features}


def goal_stages() -> set[str]:
    """The stages the goals hold for: GOALS_FROM and every stage built on it."""
    return judged_stages({name: stage.parent for name, stage in STAGES.items()})


def reference_stages(stages: dict[str, Stage]) -> list[str]:
    """The stages that no goal judges (part2): left out of the run unless asked for."""
    judged = goal_stages()
    return [name for name in stages if name not in judged]


def more_files() -> None:
    """Every client is a file descriptor: allow as many as the system lets us (and the
    servers, which inherit the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def run_target(
    target: Target,
    options: Options,
    workdir: Path,
    yardstick: Running | None = None,
    keep: ExitStack | None = None,
) -> tuple[TargetResult, Running | None]:
    """Start ``target``, measure it and stop it, or, with ``keep``, leave it running until
    ``keep`` closes and return it as well. ``yardstick``: the bare server, still running,
    to measure in turn with the target (see measure and take_turns_with)."""
    result = TargetResult(target.name, target.label, target.kind, target.shown_settings())
    result.alone = target.alone
    result.skipped = target.available()
    if result.skipped is not None:
        say(f"[{target.name}] skipped: {result.skipped}")
        return result, None
    settings = ", ".join(f"{key}={value}" for key, value in target.shown_settings().items())
    say(f"[{target.name}] starting with {settings}")

    def progress(text: str) -> None:
        say(f"[{target.name}] {text}")

    workdir.mkdir(parents=True)
    clock = time.monotonic()
    kept = None
    try:
        with ExitStack() as stack:
            running = stack.enter_context(target.running(workdir))
            result.settings = target.shown_settings()
            bare = running if target.kind == "bare" else yardstick
            alongside, common = (None, None) if bare is None else take_turns_with(target, bare)
            if alongside is not None:
                progress(f"takes turns with the bare broadcast served as {alongside.websockets}")
            ours = (*running.pids, *([alongside.pid] if alongside else []))
            others = OtherLoad(ours)
            try:
                uvloop.run(measure(running, result, options, progress, alongside, common))
            finally:
                result.other_load = others.cores()
                progress(report.other_load_words(result.other_load, os.cpu_count() or 1))
            if keep is not None and result.error is None:
                keep.enter_context(stack.pop_all())  # it stops when ``keep`` closes
                kept = running
    except (StageError, ServerError, ServiceError) as problem:
        result.error = str(problem)
        progress(f"could not start: {result.error}")
    except Exception as problem:  # one target that breaks must not stop the others
        result.error = f"{type(problem).__name__}: {problem}"
        progress(f"stopped: {result.error}")
    progress(f"done in {time.monotonic() - clock:.0f} s")
    return result, kept


def served_as(target: Target) -> str:
    """How the bare broadcast ``target`` is compared with is served: as the target serves
    its own WebSockets (the bare server's own, on a port of its own, in twisted.web: what
    that hosting costs)."""
    return AUTOBAHN_IN_TWISTED_WEB if target.kind == "bare" else target.websockets


def take_turns_with(target: Target, bare: Running) -> tuple[Running, Running | None]:
    """The bare broadcast ``target`` is measured in turns with (served_as); and, for a
    target served otherwise than Autobahn in twisted.web, that one too, for its bursts
    (see measure)."""
    served = served_as(target)
    common = None if served == AUTOBAHN_IN_TWISTED_WEB else bare.on(AUTOBAHN_IN_TWISTED_WEB)
    return bare.on(served), common


def bare_memories(ways: Sequence[str], options: Options, scratch: Path) -> dict[str, Memory]:
    """The bare broadcast's idle memory per connection, served each of ``ways``, each read
    in a fresh bare process (measure.fresh_memory); a way whose crowd could not join, or
    whose process could not start, is left out, said why."""
    found: dict[str, Memory] = {}
    for number, served in enumerate(ways, start=1):
        memory = bare_memory(served, options, scratch / f"bare-memory-{number}")
        if memory is not None:
            found[served] = memory
    return found


FRESH_READINGS = 3
"""Fresh bare processes whose readings a way of serving takes the median of (one with
--quick). A fresh process starts with more free memory in one start than in the next, and
a crowd that finds some grows it less: of four single readings of the bare broadcast in a
twisted.web Site, three read 6.5 to 6.7 KiB per connection and one 5.0."""


def bare_memory(served: str, options: Options, workdir: Path) -> Memory | None:
    """One of bare_memories: the median of FRESH_READINGS fresh bare processes, each
    started in a folder of ``workdir`` and stopped."""

    def progress(text: str) -> None:
        say(f"[bare {served}, a fresh process] {text}")

    readings = []
    for number in range(1, (1 if options.repeats == 1 else FRESH_READINGS) + 1):
        folder = workdir / f"process-{number}"
        folder.mkdir(parents=True)
        try:
            with BareTarget(options).running(folder) as running:
                memory = uvloop.run(fresh_memory(running.on(served), options, progress))
        except (ServerError, OSError) as problem:
            progress(f"could not start: {problem}")
            return None
        if memory is None:
            return None
        progress(f"idle memory: {memory.per_connection_kib} KiB per connection")
        readings.append(memory)
    median = Memory.median_of(readings)
    if len(readings) > 1:
        progress(f"median of {len(readings)}: {median.per_connection_kib} KiB per connection")
    return median


def with_bare_memories(results: Sequence[TargetResult], memories: Mapping[str, Memory]) -> None:
    """Give each target's bare broadcast alongside the memory of the bare served alike."""
    for result in results:
        if result.paired is not None:
            result.paired.memory = memories.get(result.paired.websockets)


def save(
    folder: Path, results: list[TargetResult], found: list[Verdict], options: Options, started: str
) -> None:
    """Write results.json, table.md and chart.png into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = run_json(
        started=started,
        options=options.to_json(),
        machine=machine(),
        targets=results,
        verdicts=[verdict.to_json() for verdict in found],
        cpu_clock=CLOCK.to_json(),
    )
    write_json(folder / "results.json", data)
    lines = [report.table(results, options), report.flows_note(options), ""]
    text = "\n".join([*lines, *report.verdict_lines(found)])
    (folder / "table.md").write_text(text + "\n")
    chart.draw(results, found, options, started, os.cpu_count() or 1, folder / "chart.png")


def keep_logs(scratch: Path, logs: Path) -> None:
    """Copy the servers' logs (every ``*.log`` under ``scratch``, by target) into ``logs``:
    what a server said while it refused or lost messages is the first thing to read."""
    for log in scratch.rglob("*.log"):
        kept = logs / log.relative_to(scratch)
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, kept)


def judged_here(options: Options) -> set[str]:
    """The stages this run's goals hold for: from GOALS_FROM on, and none at all when the
    crowd is smaller than the one the goals are set for."""
    return goal_stages() if options.clients >= GOAL_CLIENTS else set()


def goals_note(results: list[TargetResult], judged: set[str], options: Options) -> str:
    if options.clients < GOAL_CLIENTS:
        return (
            f"  The goals are set for {GOAL_CLIENTS} clients and this run had "
            f"{options.clients}: every ratio is for reference. Judge them with "
            f"nox -s bench -- --clients {GOAL_CLIENTS}."
        )
    earlier = [t.name for t in results if t.kind == "stage" and t.name not in judged]
    if not earlier:
        return ""
    return (
        f"  The goals hold from {GOALS_FROM} on (its chapter tunes the chat server for "
        f"crowds); {', '.join(earlier)}: for reference."
    )


def summary(
    results: list[TargetResult], found: list[Verdict], options: Options, judged: set[str]
) -> str:
    """The table, what could not be measured, and the verdicts, as printed at the end."""
    lines = ["", report.table(results, options), report.flows_note(options), ""]
    lines += [f"not measured fully: {problem}" for problem in report.problems(results)]
    lines += [f"skipped: {t.label}: {t.skipped}" for t in results if t.skipped]
    lines.append("Goals, as ratios of this run's figures:")
    lines += report.verdict_lines(found) or ["  (none: a goal needs bare or Channels, and a stage)"]
    lines += [note for note in [goals_note(results, judged, options)] if note]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    stages = websocket_stages()
    options = parse(argv, list(stages), reference_stages(stages))
    more_files()
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    folder = (REPO_ROOT / options.results / started.replace(" ", "_").replace(":", "")).resolve()
    clock = time.monotonic()
    say(
        f"bench: {options.clients} clients, fan-out {options.fanout_messages} messages at "
        f"{options.rate:g}/s, burst of {options.burst_messages}, join {options.join_concurrency} "
        f"at a time (median of {options.join_storms} storms), each flow's median of "
        f"{options.repeats} run{'s' if options.repeats > 1 else ''} "
        f"({options.bursts} of the burst); "
        f"targets: {', '.join(options.targets)}; servers' CPU time read with the {CLOCK.name} "
        f"({CLOCK.resolution_s:g} s resolution)"
    )
    if warning := packages.click_warning():
        say(warning)
    results = []
    yardstick: Running | None = None
    memories: dict[str, Memory] = {}
    targets = all_targets(options.targets, stages, options)
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as scratch:
        with ExitStack() as keep:
            for target in targets:
                workdir = Path(scratch) / target.name
                if target.kind == "bare":  # first: it stays up, measured alongside stages
                    result, yardstick = run_target(target, options, workdir, keep=keep)
                    if yardstick is not None:
                        say("[bare] stays up, to be measured in turn with each stage")
                        ways = list(dict.fromkeys(served_as(t) for t in targets))
                        memories = bare_memories(ways, options, Path(scratch))
                else:
                    result, _ = run_target(target, options, workdir, yardstick)
                results.append(result)
        keep_logs(Path(scratch), folder / "logs")
    with_bare_memories(results, memories)
    judged = judged_here(options)
    found = verdicts(results, judged)
    save(folder, results, found, options, started)

    print(summary(results, found, options, judged))
    took = time.monotonic() - clock
    shown = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
    print(f"\nResults in {shown}/ (results.json, table.md, chart.png, logs/); took {took:.0f} s.")
    return 0 if not report.problems(results) else 1
