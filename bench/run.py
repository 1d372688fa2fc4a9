"""Run the bench: each target in turn, then the table, the verdicts, the JSON and the chart."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from harness.processes import StageError
from harness.stages import REPO_ROOT, STAGES, Stage

from . import chart, report
from .measure import measure
from .options import Options, parse
from .results import TargetResult, run_json, write_json
from .servers import ServerError
from .targets import Target, all_targets
from .verdicts import Verdict, verdicts


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def websocket_stages() -> dict[str, Stage]:
    return {name: stage for name, stage in STAGES.items() if "websocket" in stage.features}


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


def run_target(target: Target, options: Options, workdir: Path) -> TargetResult:
    result = TargetResult(target.name, target.label, target.kind, target.settings)
    result.skipped = target.available()
    if result.skipped is not None:
        say(f"[{target.name}] skipped: {result.skipped}")
        return result
    settings = ", ".join(f"{key}={value}" for key, value in target.settings.items())
    say(f"[{target.name}] starting with {settings}")

    def progress(text: str) -> None:
        say(f"[{target.name}] {text}")

    workdir.mkdir(parents=True)
    try:
        with target.running(workdir) as running:
            result.settings = dict(target.settings)
            asyncio.run(measure(running, result, options, progress))
    except (StageError, ServerError) as problem:
        result.error = str(problem)
        progress(f"could not start: {result.error}")
    except Exception as problem:  # one target that breaks must not stop the others
        result.error = f"{type(problem).__name__}: {problem}"
        progress(f"stopped: {result.error}")
    return result


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
    )
    write_json(folder / "results.json", data)
    text = report.table(results, options) + "\n\n" + "\n".join(report.verdict_lines(found))
    (folder / "table.md").write_text(text + "\n")
    chart.draw(results, options, started, os.cpu_count() or 1, folder / "chart.png")


def summary(results: list[TargetResult], found: list[Verdict], options: Options) -> str:
    """The table, what could not be measured, and the verdicts, as printed at the end."""
    lines = ["", report.table(results, options), ""]
    lines += [f"not measured fully: {problem}" for problem in report.problems(results)]
    lines += [f"skipped: {t.label}: {t.skipped}" for t in results if t.skipped]
    lines.append("Goals, as ratios of this run's figures:")
    lines += report.verdict_lines(found) or ["  (none: a goal needs bare or Channels, and a stage)"]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    stages = websocket_stages()
    options = parse(argv, list(stages))
    more_files()
    started = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    folder = (REPO_ROOT / options.results / started.replace(" ", "_").replace(":", "")).resolve()
    clock = time.monotonic()
    say(
        f"bench: {options.clients} clients, fan-out {options.fanout_messages} messages at "
        f"{options.rate:g}/s, burst of {options.burst_messages}, join {options.join_concurrency} "
        f"at a time (median of {options.join_storms} storms); "
        f"targets: {', '.join(options.targets)}"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="chat-bench-") as scratch:
        for target in all_targets(options.targets, stages, options):
            results.append(run_target(target, options, Path(scratch) / target.name))
    found = verdicts(results)
    save(folder, results, found, options, started)

    print(summary(results, found, options))
    took = time.monotonic() - clock
    shown = folder.relative_to(REPO_ROOT) if folder.is_relative_to(REPO_ROOT) else folder
    print(f"\nResults in {shown}/ (results.json, table.md, chart.png); took {took:.0f} s.")
    return 0 if not report.problems(results) else 1
