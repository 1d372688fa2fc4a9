"""The run's results as text: a table with a column per target, and the goals' verdicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .options import Options
from .results import Flow, TargetResult
from .verdicts import Verdict

Cell = Callable[[TargetResult], str]


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def flow_cells(pick: Callable[[TargetResult], Flow | None], title: str) -> list[tuple[str, Cell]]:
    def cell(figure: Callable[[Flow], str]) -> Cell:
        def shown(target: TargetResult) -> str:
            found = pick(target)
            return "-" if found is None else figure(found)

        return shown

    def latency(name: str) -> Callable[[Flow], str]:
        return lambda f: "-" if f.latency is None else number(getattr(f.latency, name))

    return [
        (f"{title}: deliveries/s", cell(lambda f: number(f.deliveries_per_s, 0))),
        (f"{title}: p50 ms", cell(latency("p50"))),
        (f"{title}: p99 ms", cell(latency("p99"))),
        (f"{title}: max ms", cell(latency("max"))),
        (f"{title}: lost", cell(lambda f: f"{f.lost} of {f.expected}" if f.lost else "0")),
    ]


def rows(options: Options) -> list[tuple[str, Cell]]:
    def join(target: TargetResult) -> str:
        return "-" if target.join is None else number(target.join.seconds, 2)

    def memory(target: TargetResult) -> str:
        return "-" if target.memory is None else number(target.memory.per_connection_kib)

    rate = f"{options.rate:g}/s"
    return [
        (f"join storm, s ({options.clients} clients, median of {options.join_storms})", join),
        ("idle memory per connection, KiB", memory),
        *flow_cells(lambda t: t.fanout, f"fan-out {rate}"),
        *flow_cells(lambda t: t.burst, f"burst of {options.burst_messages}"),
        *flow_cells(lambda t: t.longpoll, f"long-poll fan-out {rate}"),
    ]


def table(targets: Sequence[TargetResult], options: Options) -> str:
    """A Markdown table: a row per figure, a column per target."""
    header = ["", *(target.label for target in targets)]
    body = [[title, *(cell(target) for target in targets)] for title, cell in rows(options)]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def problems(targets: Sequence[TargetResult]) -> list[str]:
    return [f"{target.label}: {target.error}" for target in targets if target.error]


def verdict_lines(found: Sequence[Verdict]) -> list[str]:
    """One line per ratio: who, what was compared, the ratio, the goal and the verdict; the
    Channels peer's ratios come last, for reference."""
    ordered = sorted(found, key=lambda verdict: verdict.word == "for reference")
    width = max((len(verdict.title) for verdict in found), default=0)
    lines = []
    for verdict in ordered:
        shown = "-" if verdict.ratio is None else f"{verdict.ratio:g}x"
        wanted = "" if verdict.word == "for reference" else f"goal {verdict.wanted}"
        note = f"  ({verdict.note})" if verdict.note else ""
        lines.append(
            f"  {verdict.target:<16} {verdict.title:<{width}} {shown:>8}  {wanted:<10} "
            f"{verdict.word}{note}"
        )
    return lines
