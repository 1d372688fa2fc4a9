"""The run's results as text: a table with a column per target, and the goals' verdicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .options import Options
from .results import Flow, TargetResult
from .verdicts import Verdict, bare_longpoll, cpu_per_answer, p99

Cell = Callable[[TargetResult], str]
BELOW_RESOLUTION = "below resolution"
"""Shown for a CPU figure too small for the clock that measured it (cpuclock.RESOLUTIONS)."""


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def flow_cells(pick: Callable[[TargetResult], Flow | None], title: str) -> list[tuple[str, Cell]]:
    def cell(figure: Callable[[Flow], str]) -> Cell:
        def shown(target: TargetResult) -> str:
            found = pick(target)
            return "-" if found is None else figure(found)

        return shown

    def lost(flow: Flow) -> str:
        if flow.runs_lost is not None:
            return f"{flow.runs_lost} in {len(flow.runs)} runs" if flow.runs_lost else "0"
        return f"{flow.lost} of {flow.expected}" if flow.lost else "0"

    def latency(name: str) -> Callable[[Flow], str]:
        return lambda f: "-" if f.latency is None else number(getattr(f.latency, name))

    return [
        (f"{title}: deliveries/s", cell(lambda f: number(f.deliveries_per_s, 0))),
        (f"{title}: p50 ms", cell(latency("p50"))),
        (f"{title}: p99 ms", cell(latency("p99"))),
        (f"{title}: max ms", cell(latency("max"))),
        (f"{title}: lost", cell(lost)),
    ]


def other_load_words(cores: float | None, cpus: int) -> str:
    """The progress line about the rest of the machine's load."""
    if cores is None:
        return "how busy other programs kept the machine could not be measured"
    warning = ": expect noisy figures" if cores >= 0.25 * cpus else ""
    return f"other programs kept {cores:g} of {cpus} cores busy meanwhile{warning}"


def helper_roles(targets: Sequence[TargetResult]) -> list[str]:
    """The targets' helper processes whose CPU the bursts read (balancer, redis, ...), in
    the order first met."""
    roles: dict[str, None] = {}
    for target in targets:
        if target.burst is not None:
            roles.update(dict.fromkeys(target.burst.helper_cpu_s))
    return list(roles)


def per_delivery(figure: Callable[[Flow], float | None]) -> Cell:
    """A cell of the burst's CPU per delivery, by ``figure``."""

    def shown(target: TargetResult) -> str:
        burst = target.burst
        if burst is None or burst.server_cpu_s is None:
            return "-"
        value = figure(burst)
        return BELOW_RESOLUTION if value is None else number(value, 2)

    return shown


def cpu_rows(title: str, roles: Sequence[str]) -> list[tuple[str, Cell]]:
    """The burst's CPU per delivery: the chat processes', each helper's (a target without
    that helper shows "-"), and all of them together."""

    def helper(role: str) -> Cell:
        cell = per_delivery(lambda burst: burst.helper_us_per_delivery(role))
        return lambda target: (
            cell(target) if target.burst and role in target.burst.helper_cpu_s else "-"
        )

    return [
        (
            f"{title}: chat processes' CPU per delivery, \u00b5s",
            per_delivery(lambda b: b.chat_us_per_delivery),
        ),
        *((f"{title}: {role}'s CPU per delivery, \u00b5s", helper(role)) for role in roles),
        (
            f"{title}: every process's CPU per delivery, \u00b5s",
            per_delivery(lambda b: b.all_us_per_delivery),
        ),
    ]


def spread(target: TargetResult) -> str:
    if target.spread is None:
        return "-"
    return ", ".join(f"{name} {count}" for name, count in target.spread.items())


def rows(options: Options, roles: Sequence[str] = ()) -> list[tuple[str, Cell]]:
    """The table's rows; ``roles``: the helper processes whose CPU per delivery is shown."""

    def join(target: TargetResult) -> str:
        return "-" if target.join is None else number(target.join.seconds, 2)

    def memory(target: TargetResult) -> str:
        return "-" if target.memory is None else number(target.memory.per_connection_kib)

    def other_load(target: TargetResult) -> str:
        return number(target.other_load, 2)

    def cpu(pick: Callable[[TargetResult], Flow | None]) -> Cell:
        def shown(target: TargetResult) -> str:
            found = pick(target)
            if found is not None and found.cpu_below_resolution:
                return BELOW_RESOLUTION
            return "-" if found is None else number(cpu_per_answer(found), 0)

        return shown

    def bare_p99(target: TargetResult) -> str:
        found = p99(bare_longpoll(target))
        return "-" if found is None else number(found)

    rate = f"{options.rate:g}/s"
    longpoll = f"long-poll fan-out {rate}"
    return [
        (f"join storm, s ({options.clients} clients, median of {options.join_storms})", join),
        ("idle memory per connection, KiB", memory),
        ("clients of the crowd per chat process", spread),
        *flow_cells(lambda t: t.fanout, f"fan-out {rate}"),
        *flow_cells(lambda t: t.burst, f"burst of {options.burst_messages}"),
        *cpu_rows(f"burst of {options.burst_messages}", roles),
        *flow_cells(lambda t: t.longpoll, longpoll),
        (f"{longpoll}: server CPU per answer, \u00b5s", cpu(lambda t: t.longpoll)),
        ("long-poll, bare twisted.web alongside: p99 ms", bare_p99),
        ("long-poll, bare twisted.web alongside: CPU per answer, \u00b5s", cpu(bare_longpoll)),
        ("other programs' load meanwhile, cores", other_load),
    ]


def table(targets: Sequence[TargetResult], options: Options) -> str:
    """A Markdown table: a row per figure, a column per target that ran (the skipped ones
    are listed apart)."""
    targets = [target for target in targets if target.skipped is None]
    header = ["", *(target.label for target in targets)]
    made = rows(options, helper_roles(targets))
    body = [[title, *(cell(target) for target in targets)] for title, cell in made]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "| " + " | ".join([first, *rest]) + " |"

    rule = "| " + " | ".join(["-" * widths[0], *("-" * (w - 1) + ":" for w in widths[1:])]) + " |"
    return "\n".join([line(header), rule, *(line(cells) for cells in body)])


def flows_note(options: Options) -> str:
    """What the flows' figures are, under the table."""
    if options.repeats == 1:
        return "Each flow ran once."
    return (
        f"The burst's and long-poll's figures are those of their median run of "
        f"{options.repeats} (by deliveries/s and p99), bare twisted.web's long-poll taking "
        "turns with each stage's; a run of 5 s or more is not repeated. Lost counts all runs. "
        "The WebSocket fan-out, which no goal judges, ran once."
    )


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
