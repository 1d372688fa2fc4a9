"""The run's results as text: a table with a column per target, and the goals' verdicts."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .options import Options
from .results import (
    ANSWER_CPU,
    CHATS_DELIVERY_CPU,
    CLIENT_BOUND,
    CLIENT_BOUND_WORDS,
    DELIVERY_CPU,
    HANDSHAKE_CPU,
    IDLE_MEMORY,
    POLL_P99,
    Figure,
    Flow,
    Join,
    TargetResult,
)
from .verdicts import Verdict

Cell = Callable[[TargetResult], str]
BELOW_RESOLUTION = "below resolution"
"""Shown for a CPU figure too small for the clock that measured it (cpuclock.RESOLUTIONS)."""


def number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def wall_clock(shown: str, measured: Flow | Join) -> str:
    """A wall-clock figure, marked when the load client was saturated while it was taken."""
    return f"{shown} ({CLIENT_BOUND_WORDS})" if measured.client_bound and shown != "-" else shown


def cpu_cell(figure: Figure, digits: int = 2, *, alongside: bool = False) -> Cell:
    """A cell of CPU per unit of work: ``figure`` of the target or, ``alongside``, of the
    bare server measured in turns with it. "-" where the CPU was not read, BELOW_RESOLUTION
    where it was too little for the clock."""

    def shown(target: TargetResult) -> str:
        found = figure.measured(target.bare_alongside() if alongside else target)
        if not isinstance(found, (Flow, Join)) or found.server_cpu_s is None:
            return "-"
        value = figure.value(found)
        return BELOW_RESOLUTION if value is None else number(value, digits)

    return shown


def busy(measured: Flow | Join | None) -> str:
    """The load client's busiest process, in per cent of a core."""
    if measured is None or measured.client_busy is None:
        return "-"
    return f"{measured.client_busy:.0%}"


def flow_cells(
    pick: Callable[[TargetResult], Flow | None], title: str, per_delivery: bool = True
) -> list[tuple[str, Cell]]:
    """The rows of one flow; ``per_delivery``: with its CPU per delivery (a long-poll flow
    has its CPU per answer in a row of its own)."""

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
        return lambda f: wall_clock(
            "-" if f.latency is None else number(getattr(f.latency, name)), f
        )

    cpu = f"{title}: every process's CPU per delivery, \u00b5s"
    return [
        (f"{title}: deliveries/s", cell(lambda f: wall_clock(number(f.deliveries_per_s, 0), f))),
        (f"{title}: p50 ms", cell(latency("p50"))),
        (f"{title}: p99 ms", cell(latency("p99"))),
        (f"{title}: max ms", cell(latency("max"))),
        (f"{title}: lost", cell(lost)),
        *([(cpu, cpu_cell(Figure(pick, DELIVERY_CPU.value)))] if per_delivery else []),
        (f"{title}: load client's busiest core", cell(busy)),
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


def cpu_rows(title: str, roles: Sequence[str]) -> list[tuple[str, Cell]]:
    """The burst's CPU per delivery: the chat processes', each helper's (a target without
    that helper shows "-"), and all of them together."""

    def helper(role: str) -> Cell:
        def with_it(target: TargetResult) -> Flow | None:
            return target.burst if target.burst and role in target.burst.helper_cpu_s else None

        return cpu_cell(Figure(with_it, lambda flow: flow.helper_us_per_delivery(role)))

    unit = "CPU per delivery, \u00b5s"
    return [
        (f"{title}: chat processes' {unit}", cpu_cell(CHATS_DELIVERY_CPU)),
        *((f"{title}: {role}'s {unit}", helper(role)) for role in roles),
        (f"{title}: every process's {unit}", cpu_cell(DELIVERY_CPU)),
    ]


def spread(target: TargetResult) -> str:
    if target.spread is None:
        return "-"
    return ", ".join(f"{name} {count}" for name, count in target.spread.items())


def rows(options: Options, roles: Sequence[str] = ()) -> list[tuple[str, Cell]]:
    """The table's rows; ``roles``: the helper processes whose CPU per delivery is shown."""

    def join(target: TargetResult) -> str:
        found = target.join
        return "-" if found is None else wall_clock(number(found.seconds, 2), found)

    def memory(target: TargetResult) -> str:
        return number(IDLE_MEMORY.of(target))

    def bare_memory(target: TargetResult) -> str:
        return number(IDLE_MEMORY.of(target.bare_alongside()))

    def other_load(target: TargetResult) -> str:
        return number(target.other_load, 2)

    def answered(target: TargetResult) -> Flow | None:
        """The long-poll flow, where its pollers were answered."""
        found = target.longpoll
        return found if found is not None and found.answers else None

    def bare_p99(target: TargetResult) -> str:
        return number(POLL_P99.of(target.bare_alongside()))

    answer_cpu = Figure(answered, ANSWER_CPU.value)

    rate = f"{options.rate:g}/s"
    longpoll = f"long-poll fan-out {rate}"
    return [
        (f"join storm, s ({options.clients} clients, median of {options.join_storms})", join),
        ("join storm: every process's CPU per handshake, \u00b5s", cpu_cell(HANDSHAKE_CPU, 1)),
        (
            "join storm, bare alongside: CPU per handshake, \u00b5s",
            cpu_cell(HANDSHAKE_CPU, 1, alongside=True),
        ),
        ("join storm: load client's busiest core", lambda t: busy(t.join)),
        ("idle memory per connection, KiB", memory),
        ("idle memory, bare served alike (a fresh process): per connection, KiB", bare_memory),
        ("clients of the crowd per chat process", spread),
        *flow_cells(lambda t: t.fanout, f"fan-out {rate}"),
        *flow_cells(lambda t: t.burst, f"burst of {options.burst_messages}", per_delivery=False),
        *cpu_rows(f"burst of {options.burst_messages}", roles),
        (
            "burst, bare alongside: CPU per delivery, \u00b5s",
            cpu_cell(DELIVERY_CPU, alongside=True),
        ),
        *flow_cells(lambda t: t.longpoll, longpoll, per_delivery=False),
        (f"{longpoll}: server CPU per answer, \u00b5s", cpu_cell(answer_cpu, 0)),
        ("long-poll, bare twisted.web alongside: p99 ms", bare_p99),
        (
            "long-poll, bare twisted.web alongside: CPU per answer, \u00b5s",
            cpu_cell(answer_cpu, 0, alongside=True),
        ),
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
    cpu = (
        f"CPU per unit of work counts every process of the target, over every run; the "
        "goals compare it turn by turn. "
        f"{CLIENT_BOUND_WORDS}: the load client's busiest core was over {CLIENT_BOUND:.0%} "
        "busy (in the busiest run), so the wall-clock figure measures the client."
    )
    if options.bursts == 1:
        return f"Each flow ran once. {cpu}"
    runs = str(options.bursts)
    if options.repeats != options.bursts:
        runs += f" and {options.repeats}"
    return (
        f"The burst's and long-poll's figures are those of their median run of {runs} "
        "(by deliveries/s and p99), the bare "
        "broadcast's bursts and bare twisted.web's long-poll taking "
        "turns with each stage's; a run of 5 s or more is not repeated. Lost counts all runs. "
        f"The WebSocket fan-out, which no goal judges, ran once. {cpu}"
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
