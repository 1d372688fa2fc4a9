"""What the board shows, worked out from every report received: plain data, sent as JSON.

For each learner, their latest report: at which stage they are, how many checks pass, and
the check they fail first, with since when (the first of their latest reports in a row to
fail on it). The failing learners are grouped by that check, the biggest group first.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.report import Report
from harness.stages import STAGES


@dataclass(frozen=True)
class Received:
    report: Report
    at: datetime


def readable(check: str) -> str:
    """test_two_windows_see_each_other -> "two windows see each other"."""
    return check.removeprefix("test_").replace("_", " ")


def learners(received: list[Received]) -> list[dict[str, Any]]:
    """Each learner's latest report, with since when they fail on its check (oldest first)."""
    runs: dict[str, list[Received]] = {}
    for each in sorted(received, key=lambda r: r.at):
        runs.setdefault(each.report.name, []).append(each)
    found = []
    for name, theirs in runs.items():
        latest = theirs[-1].report
        since = theirs[-1].at
        for earlier in reversed(theirs):
            if earlier.report.check != latest.check or not earlier.report.failed:
                break
            since = earlier.at
        found.append(
            {
                "name": name,
                "stage": latest.stage,
                "passed": latest.passed,
                "failed": latest.failed,
                "check": latest.check,
                "message": latest.message,
                "since": since.isoformat(),
                "last": theirs[-1].at.isoformat(),
            }
        )
    return found


def board_state(received: list[Received], now: datetime) -> dict[str, Any]:
    everyone = learners(received)
    on_stage: dict[str, list[dict[str, Any]]] = {name: [] for name in STAGES}
    for learner in sorted(everyone, key=lambda learner: learner["name"].lower()):
        on_stage[learner["stage"]].append(learner)
    stages = [
        {"stage": name, "chapter": stage.chapter[:2], "learners": on_stage[name]}
        for name, stage in STAGES.items()
        if on_stage[name] or not stage.branch
    ]
    stuck: dict[str, list[dict[str, Any]]] = {}
    for learner in everyone:
        if learner["failed"] and learner["check"]:
            stuck.setdefault(learner["check"], []).append(learner)
    groups = [
        {
            "check": check,
            "readable": readable(check),
            "message": Counter(p["message"] for p in people).most_common(1)[0][0],
            "people": [
                {"name": p["name"], "stage": p["stage"], "since": p["since"]}
                for p in sorted(people, key=lambda p: p["since"])
            ],
        }
        for check, people in stuck.items()
    ]
    groups.sort(key=lambda group: (-len(group["people"]), group["people"][0]["since"]))
    return {
        "now": now.isoformat(),
        "reports": len(received),
        "learners": len(everyone),
        "stages": stages,
        "groups": groups,
    }
