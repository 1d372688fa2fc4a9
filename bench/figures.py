"""Figures quoted from a run's results.json, in the bench's own terms.

Whoever quotes a run (chapter 08, a person at the prompt) takes each ratio the bench stored
with its verdict, never divides two figures again: where runs took turns, the bench takes
the median of the turns' ratios, and no ratio of two medians gives that back. Each quoted
ratio says whether the bench judged it or gives it for reference, and a CPU figure too
small for the clock that measured it is said to be so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .verdicts import GOAL_CLIENTS

Run = Mapping[str, Any]
"""A run's results.json, loaded."""

FOR_REFERENCE = "for reference"
JUDGED = "judged"

READABLE_FROM = 5
"""The oldest results.json (results.SCHEMA) that says whether each verdict was judged and
which clock read the servers' CPU."""


def checked(run: Run) -> Run:
    """``run``, if it is a results.json these functions can read; else a plain error."""
    schema = run.get("schema") if isinstance(run, Mapping) else None
    if not isinstance(schema, int) or schema < READABLE_FROM:
        raise ValueError(
            f"this results.json has schema {schema}, from an older bench: it does not say "
            f"which ratios were judged. Run the bench again (nox -s bench) to quote it."
        )
    return run


def verdict_in(
    run: Run, goal: str, target: str, versus: str | None = None
) -> Mapping[str, Any] | None:
    """The verdict the run stored for ``goal`` on ``target`` (against ``versus``, where a
    target has one per peer); None when the run has none."""
    for verdict in checked(run)["verdicts"]:
        ours = verdict["goal"] == goal and verdict["target"] == target
        if ours and versus in (None, verdict["versus"]):
            return verdict
    return None


def standing(verdict: Mapping[str, Any]) -> str:
    """Whether the bench judged the ratio, and what it found: "judged, goal <= 1.5x: met",
    or "for reference"; "not measured" where there is no ratio."""
    if verdict["judged"]:
        return f"{JUDGED}, goal {verdict['wanted']}: {verdict['verdict']}"
    return FOR_REFERENCE if verdict["ratio"] is not None else f"{FOR_REFERENCE}: not measured"


def ratio_line(run: Run, goal: str, target: str, versus: str | None = None) -> str:
    """One ratio as the bench stored it: whose, the bench's title for it, the ratio with the
    bench's note on it, and its standing."""
    verdict = verdict_in(run, goal, target, versus)
    if verdict is None:
        return f"{target}: {goal.replace('_', ' ')}: not in this run"
    ratio = "-" if verdict["ratio"] is None else f"{verdict['ratio']:g}x"
    note = f" ({verdict['note']})" if verdict["note"] else ""
    return f"{target}: {verdict['title']}: {ratio}{note}, {standing(verdict)}"


def cpu_per_answer(flow: Mapping[str, Any] | None) -> str:
    """A long-poll flow's server CPU per answer in µs, or why there is no figure."""
    if flow is None:
        return "-"
    if flow.get("cpu_below_resolution"):
        return "below the clock's resolution"
    figure = flow["cpu_us_per_answer"]
    return "-" if figure is None else f"{figure:,.0f} \u00b5s"


def cpu_per_delivery(flow: Mapping[str, Any] | None) -> str:
    """A WebSocket flow's CPU per delivery in µs: the chat processes' together, then each
    further process's (the balancer's, Redis's, PostgreSQL's), or why there is no figure."""
    if flow is None or flow.get("cpu_deliveries") is None:
        return "-"
    shares = {"chat processes": flow["chat_us_per_delivery"], **flow["helper_us_per_delivery"]}
    return ", ".join(f"{who} {microseconds(value)}" for who, value in shares.items())


def microseconds(value: float | None) -> str:
    """A CPU figure per delivery; None is one too small for the clock."""
    return "below the clock's resolution" if value is None else f"{value:,.2f} \u00b5s"


def clock_words(run: Run) -> str:
    """Which clock measured the servers' CPU time, and how finely."""
    clock = checked(run)["cpu_clock"]
    if clock is None:
        return "the servers' CPU time was read with a clock this results.json does not name"
    resolution = duration(clock["resolution_s"])
    return f"the servers' CPU time was read with the {clock['name']}, to {resolution}"


def duration(seconds: float) -> str:
    """A short time in the unit that suits it: "1 ns", "10 ms"."""
    for unit, size in (("s", 1.0), ("ms", 1e-3), ("\u00b5s", 1e-6)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds / 1e-9:g} ns"


def figures_standing(run: Run) -> str:
    """What a run's figures are: for reference, since only ratios are judged, and only in a
    run of GOAL_CLIENTS clients or more."""
    clients = checked(run)["options"]["clients"]
    first = (
        f"Every figure in the table is {FOR_REFERENCE}: the bench judges only ratios of "
        "figures taken in the same run"
    )
    if clients >= GOAL_CLIENTS:
        return f"{first}, listed below with their verdicts."
    return (
        f"{first}, and only in a run of {GOAL_CLIENTS} clients or more. This one had "
        f"{clients}, so every ratio below is {FOR_REFERENCE} too."
    )
