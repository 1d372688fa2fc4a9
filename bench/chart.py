"""The run's results as one PNG: per target, the servers' CPU per unit of work with their
goals, the wall-clock figures (marked where the load client was saturated), memory, and
how busy each flow kept the load client."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed

import matplotlib.figure
import matplotlib.pyplot as plt
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.container import BarContainer
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from .options import Options
from .results import (
    ANSWER_CPU,
    BURST_RATE,
    CLIENT_BOUND,
    CLIENT_BOUND_WORDS,
    DELIVERY_CPU,
    HANDSHAKE_CPU,
    IDLE_MEMORY,
    JOIN_TIME,
    POLL_P99,
    Figure,
    Flow,
    Join,
    Measured,
    TargetResult,
)
from .verdicts import (
    BURST,
    BURST_CPU,
    EACH_VS_BARE,
    GOAL_CLIENTS,
    GOALS_FROM,
    JOIN,
    JOIN_CPU,
    LONGPOLL,
    MEMORY,
    Goal,
    Verdict,
)

COLOURS = {"bare": "#9aa0a6", "channels": "#e8710a", "socketio": "#12b5cb", "node": "#e52592"}
ALONGSIDE = "#5f6368"
"""The bare server measured alongside a target: darker than its own bars, to show on them."""
STAGE_COLOURS = ["#1a73e8", "#185abc", "#4285f4", "#0b3d91", "#7baaf7"]
INK = "#202124"
GOAL = "#d93025"
VERDICT_COLOURS = {
    "met": "#188038", "not met": GOAL, "not measured": "#5f6368", CLIENT_BOUND_WORDS: "#5f6368"
}  # fmt: skip
VERDICT_MARKS = {
    "met": "\u2713",
    "not met": "\u2717",
    "not measured": "?",
    CLIENT_BOUND_WORDS: "\u25cb",
}


def colours(targets: Sequence[TargetResult]) -> list[str]:
    shades = iter(STAGE_COLOURS * 4)
    return [COLOURS.get(t.kind) or next(shades) for t in targets]


def label_bars(axes: Axes, bars: BarContainer, values: Sequence[float | None], digits: int) -> None:
    for bar, value in zip(bars, values, strict=True):
        text = "n/a" if value is None else f"{value:,.{digits}f}"
        axes.annotate(
            text,
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontsize=8,
            color=INK,
        )


OURS = f"goal from {GOALS_FROM} on"
"""How a goal's dashed line is named where it holds for our stages from GOALS_FROM on."""
BARE_ALIKE = "bare served alike, alongside"


def panel(
    axes: Axes,
    targets: Sequence[TargetResult],
    figure: Figure,
    goal: Goal,
    judged: Collection[str],
    title: str,
    unit: str,
    digits: int = 0,
    words: str = OURS,
    bare_words: str = BARE_ALIKE,
) -> None:
    """A bar of ``figure`` per target, with ``goal``'s marks (goal_marks); where the goal is
    on wall-clock figures, the bars of flows that saturated the load client hatched."""
    values = [figure.of(target) for target in targets]
    names = [target.label for target in targets]
    bars = axes.bar(names, [v or 0 for v in values], color=colours(targets), width=0.65)
    label_bars(axes, bars, values, digits)
    style(axes, title, unit)
    goal_marks(axes, targets, figure, goal, judged, words, bare_words)
    if goal.wall_clock:
        client_bound_marks(axes, targets, figure.part)


def goal_line(axes: Axes, value: float | None, words: str) -> None:
    """A dashed line across the panel at a goal, named at its right end."""
    if not value:
        return
    axes.axhline(value, color=GOAL, linestyle="--", linewidth=1)
    axes.annotate(
        words,
        (1, value),
        xycoords=("axes fraction", "data"),
        xytext=(-2, 3),
        textcoords="offset points",
        ha="right",
        fontsize=8,
        color=GOAL,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none"},
    )


TOP_NOTE = "top note"
"""The gid of a panel's notes, stacked one a line in its top right corner."""
NOTE_LINE = 11
"""Points from one note's line to the next (8-point type)."""
HEADROOM = 0.18
"""The room above a panel's tallest bar, as a share of the axis: for the figure over it."""


def top_note(axes: Axes, words: str) -> None:
    """A note in red in the panel's top right corner, on the line under the notes already
    there, with room left above the bars for each line (so that no note covers another, or
    a bar's figure)."""
    line = sum(1 for text in axes.texts if text.get_gid() == TOP_NOTE)
    axes.annotate(
        words,
        (1, 1),
        xycoords="axes fraction",
        xytext=(-2, -2 - NOTE_LINE * line),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8,
        color=GOAL,
        gid=TOP_NOTE,
    )
    axes.margins(y=HEADROOM + 0.08 * line)


def client_bound_marks(
    axes: Axes, targets: Sequence[TargetResult], pick: Callable[[TargetResult], Measured | None]
) -> None:
    """Hatch the bars of the flows that saturated the load client, and say so under the
    title: their wall-clock figures measure the client."""
    bound = False
    for bar, target in zip(axes.patches, targets, strict=False):
        measured = pick(target)
        if isinstance(measured, (Flow, Join)) and measured.client_bound:
            bar.set_hatch("xx")
            bar.set_edgecolor("white")
            bound = True
    if bound:
        top_note(
            axes,
            f"hatched: {CLIENT_BOUND_WORDS}, the load client's busiest core over "
            f"{CLIENT_BOUND:.0%}: a figure of the client",
        )


def goal_marks(
    axes: Axes,
    targets: Sequence[TargetResult],
    figure: Figure,
    goal: Goal,
    judged: Collection[str],
    words: str = OURS,
    bare_words: str = BARE_ALIKE,
) -> None:
    """``goal`` for each judged stage's bar, from the bare server measured alongside it: a
    grey line at the bare server's ``figure`` and a dashed red one at the goal's limit (the
    grey line alone for a stage shown for reference). On the bare column's own bar, the grey
    line is its broadcast served in twisted.web: the difference is what that hosting costs.
    Without any such pairing, one line across the panel at the limit times the bare column.
    With no limit (a figure no goal judges), the grey lines alone. ``bare_words``: what the
    grey lines are, as the panel's note says it."""
    factor = goal.limit
    paired = [(i, t) for i, t in enumerate(targets) if t.kind in ("stage", "bare") and t.paired]
    if not paired:
        ceiling = next((figure.of(t) for t in targets if t.kind == "bare"), None)
        if factor is not None:
            goal_line(axes, ceiling and factor * ceiling, f"{words}: {factor:g} x bare")
        return
    for position, target in paired:
        value = figure.of(target.bare_alongside())
        if not value:
            continue
        left, right = position - 0.4, position + 0.4
        axes.plot([left, right], [value, value], color=ALONGSIDE, lw=2.5)
        if target.name in judged and factor is not None:
            limit = factor * value
            axes.plot([left, right], [limit, limit], color=GOAL, ls="--", lw=1.2)
    dashed = "" if factor is None else f"; dashed: {words}, {factor:g} x it"
    top_note(axes, f"grey lines: {bare_words}{dashed}")


def plain_numbers(value: float, _position: object) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


def style(axes: Axes, title: str, unit: str) -> None:
    axes.set_title(title, loc="left", fontsize=11, color=INK, fontweight="bold")
    axes.set_ylabel(unit, color=INK)
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="y", color="#e8eaed", linewidth=0.8)
    axes.set_axisbelow(True)
    axes.tick_params(axis="x", labelrotation=30, labelsize=9)
    axes.margins(y=HEADROOM)


def percentile_of(flow: Flow | None, name: str) -> float | None:
    if flow is None or flow.latency is None:
        return None
    value: float = getattr(flow.latency, name)
    return value


def latency_panel(axes: Axes, targets: Sequence[TargetResult], options: Options) -> None:
    """p50 and p99 of the steady fan-out per target, and the long-poll p99 beside them,
    with the bare twisted.web long-poll p99 measured alongside marked over it (for
    reference: the long-poll goal is on CPU per answer, in a panel of its own)."""
    width = 0.27
    positions = range(len(targets))
    series: list[tuple[Callable[[TargetResult], float | None], float | None]] = [
        (lambda t: percentile_of(t.fanout, "p50"), 0.45),
        (lambda t: percentile_of(t.fanout, "p99"), 1.0),
        (lambda t: percentile_of(t.longpoll, "p99"), None),
    ]
    shown = series if any(t.longpoll for t in targets) else series[:2]
    marked = False
    for position, target in zip(positions, targets, strict=True):
        # The bare long-poll p99 as a grey line over the long-poll bar.
        bare = POLL_P99.of(target.bare_alongside())
        if target.longpoll is None or not bare:
            continue
        span = [position + width / 2, position + 3 * width / 2]
        axes.plot(span, [bare, bare], color=COLOURS["bare"], lw=2.5)
        marked = True
    for offset, (pick, alpha) in zip((-width, 0, width), shown, strict=False):
        values = [pick(t) or 0 for t in targets]
        bars = axes.bar(
            [p + offset for p in positions],
            values,
            width=width,
            color=colours(targets) if alpha else "#ffffff",
            alpha=alpha or 1.0,
            edgecolor=colours(targets),
            hatch=None if alpha else "///",
            linewidth=1,
        )
        for bar, value in zip(bars, values, strict=True):
            if value:
                axes.annotate(
                    plain_numbers(round(value, 1), None),
                    (bar.get_x() + bar.get_width() / 2, value),
                    xytext=(0, 2),
                    textcoords="offset points",
                    ha="center",
                    fontsize=7,
                    color=INK,
                )
    legend = [
        Patch(facecolor="#5f6368", alpha=0.45, label="WebSocket p50"),
        Patch(facecolor="#5f6368", label="WebSocket p99"),
        Patch(facecolor="#ffffff", edgecolor="#5f6368", hatch="///", label="long-poll p99"),
    ]
    handles: list[Artist] = list(legend[: len(shown)])
    if marked:  # the bare long-poll, marked over the long-poll bars
        bare = "bare twisted.web long-poll p99, alongside"
        handles.append(Line2D([], [], color=COLOURS["bare"], lw=2.5, label=bare))
    columns = 2 if marked else 1  # four entries: two columns keep them above the bars
    axes.legend(handles=handles, frameon=False, fontsize=8, loc="upper left", ncols=columns)
    axes.set_xticks(list(positions), [t.label for t in targets])
    axes.set_yscale("log")
    axes.yaxis.set_major_formatter(FuncFormatter(plain_numbers))
    axes.yaxis.set_minor_formatter(FuncFormatter(lambda _v, _p: ""))
    style(axes, f"Fan-out latency at {options.rate:g} msg/s (lower is better)", "ms (log scale)")
    axes.margins(y=0.25)


HELPER_SHADES = ["#fbbc04", "#34a853", "#a142f4", "#80868b"]
"""The helper processes' parts of a CPU bar (balancer, redis, postgresql, ...), in turn."""


def delivery_cpu(target: TargetResult) -> dict[str, float]:
    """The burst's CPU per delivery of ``target``, µs: its chat processes' ("chat") and each
    helper's; empty where it was not measured or is below the clock's resolution."""
    burst = target.burst
    if burst is None or burst.chat_us_per_delivery is None:
        return {}
    parts = {"chat": burst.chat_us_per_delivery}
    for role in burst.helper_cpu_s:
        parts[role] = burst.helper_us_per_delivery(role) or 0.0
    return parts


def delivery_panel(axes: Axes, targets: Sequence[TargetResult]) -> None:
    """Each target's CPU per delivery in the burst, stacked: its chat processes' (its own
    colour) and on top each helper's (balancer, Redis, PostgreSQL), the total above. On a
    log scale, so that our stages' bars show beside Channels'."""
    names = [target.label for target in targets]
    roles = list(dict.fromkeys(role for t in targets for role in delivery_cpu(t) if role != "chat"))
    shades = dict(zip(roles, HELPER_SHADES * 2, strict=False))
    chat = [delivery_cpu(t)["chat"] for t in targets]
    axes.bar(names, chat, color=colours(targets), width=0.65)
    bottoms = list(chat)
    for role in roles:
        values = [delivery_cpu(t).get(role, 0.0) for t in targets]
        axes.bar(names, values, bottom=bottoms, color=shades[role], width=0.65, label=role)
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for position, total in enumerate(bottoms):
        axes.annotate(
            f"{total:,.1f}",
            (position, total),
            xytext=(0, 3),
            textcoords="offset points",
            ha="center",
            fontsize=8,
            color=INK,
        )
    if roles:
        helpers = [Patch(facecolor=shades[role], label=role) for role in roles]
        chats = Patch(facecolor="#5f6368", label="chat processes (the target's colour)")
        below_note = (NOTE_LINE + 4) / 8  # in the legend's font sizes, whatever the panel's height
        axes.legend(
            handles=[chats, *helpers], frameon=False, fontsize=8, loc="upper left",
            borderaxespad=below_note,
        )  # fmt: skip
    axes.set_yscale("log")  # Channels spends tens of times what our stages do
    axes.yaxis.set_major_formatter(FuncFormatter(plain_numbers))
    axes.yaxis.set_minor_formatter(FuncFormatter(lambda _v, _p: ""))
    style(axes, "Burst: CPU per delivery, all processes (lower is better)", "\u00b5s (log scale)")
    # Room below the shortest bar, to see it, and above the tallest, for its total.
    axes.set_ylim(min(value for value in chat if value > 0) / 4, max(bottoms) * 6)


FLOWS: tuple[tuple[str, Callable[[TargetResult], Flow | Join | None]], ...] = (
    ("join storm", lambda t: t.join),
    ("fan-out", lambda t: t.fanout),
    ("burst", lambda t: t.burst),
    ("long-poll", lambda t: t.longpoll),
)
FLOW_SHADES = ["#dadce0", "#9aa0a6", "#5f6368", "#ffffff"]


def client_panel(axes: Axes, targets: Sequence[TargetResult]) -> None:
    """How busy each flow kept the load client's busiest process, per target, with the line
    above which a flow is client-bound."""
    width = 0.2
    positions = range(len(targets))
    for number, ((name, pick), shade) in enumerate(zip(FLOWS, FLOW_SHADES, strict=True)):
        values = [busy_percent(pick(target)) for target in targets]
        offset = (number - 1.5) * width
        axes.bar(
            [p + offset for p in positions], [v or 0 for v in values], width=width,
            color=shade, edgecolor="#5f6368", linewidth=0.6, label=name,
        )  # fmt: skip
    goal_line(axes, 100 * CLIENT_BOUND, f"{CLIENT_BOUND_WORDS} above {CLIENT_BOUND:.0%}")
    axes.set_xticks(list(positions), [t.label for t in targets])
    axes.set_ylim(0, 125)
    axes.legend(frameon=False, fontsize=8, loc="upper left", ncols=4)
    style(axes, "Load client: its busiest core during each flow", "% of a core")


def busy_percent(measured: Flow | Join | None) -> float | None:
    if measured is None or measured.client_busy is None:
        return None
    return round(100 * measured.client_busy, 1)


def short(title: str) -> str:
    """A verdict's title, short enough for half the chart's width."""
    return title.replace(EACH_VS_BARE, " (through bare)")


def pretty(wanted: str) -> str:
    """'<= 1.5x' as '\u2264 1.5x'."""
    return wanted.replace("<=", "\u2264").replace(">=", "\u2265")


def standing(verdict: Verdict) -> str:
    """The goal, or why it was not judged."""
    if verdict.client_bound:
        return f"{CLIENT_BOUND_WORDS}: not judged"
    return f"goal {pretty(verdict.wanted)}"


def lost_words(verdict: Verdict) -> str:
    """Why a goal whose ratio looks good is missed: who lost messages."""
    if not verdict.lost_by:
        return ""
    return f", but {' and '.join(verdict.lost_by)} lost messages"


def listed(found: Sequence[Verdict]) -> list[Verdict]:
    """The verdicts the goals panel lists: the goals judged, and those a client-bound flow
    kept from being judged."""
    return [
        verdict for verdict in found if verdict.judged or (verdict.client_bound and verdict.wanted)
    ]


LINE_LENGTH = 80
"""Characters of a goal's line that fit in half the chart's width at the usual type size."""


def goal_lines(judged: Sequence[Verdict]) -> list[str]:
    return [
        f"{VERDICT_MARKS[verdict.word]} {verdict.target}: {short(verdict.title)} "
        f"{'not measured' if verdict.ratio is None else f'{verdict.ratio:g}x'} "
        f"({standing(verdict)}){lost_words(verdict)}"
        for verdict in judged
    ]


def goal_columns(lines: Sequence[str]) -> int:
    """Two columns of goals, or one of the chart's whole width when a line is too long for
    half of it."""
    return 2 if max((len(line) for line in lines), default=0) <= LINE_LENGTH else 1


def goals_panel(axes: Axes, found: Sequence[Verdict], clients: int) -> None:
    """The verdicts on our stages, one line each, marked met or not met."""
    axes.axis("off")
    judged = listed(found)
    axes.set_title(
        "Goals, as ratios of this run's figures (runs taken in turns with bare: the median "
        "of the turns' ratios)", loc="left", fontsize=11, color=INK, fontweight="bold",
    )  # fmt: skip
    if not judged:
        why = (
            f"none judged: the goals are set for {GOAL_CLIENTS} clients, and this run had "
            f"{clients}; the grey lines are the bare server, measured alongside"
            if clients < GOAL_CLIENTS
            else "none judged: a goal needs bare or Channels, and a stage"
        )
        axes.text(0, 0.8, why, color=INK)
        return
    lines = goal_lines(judged)
    columns = goal_columns(lines)
    rows = math.ceil(len(lines) / columns)
    # Long lines get a smaller type, not an overlap.
    size = min(9.5, 9.5 * LINE_LENGTH * 2 / columns / max(len(line) for line in lines))
    for index, verdict in enumerate(judged):
        column, row = divmod(index, rows)
        axes.text(
            column / columns,
            1 - (row + 1) / (rows + 0.5),
            lines[index],
            transform=axes.transAxes,
            fontsize=size,
            color=VERDICT_COLOURS[verdict.word],
        )


def load_words(targets: Sequence[TargetResult], cpus: int) -> str:
    """How busy other programs kept the machine, as the footer says it."""
    loads = [target.other_load for target in targets if target.other_load is not None]
    if not loads:
        return ""
    low, high = min(loads), max(loads)
    shown = f"{low:g}" if low == high else f"{low:g} to {high:g}"
    return f"   other programs meanwhile: {shown} of {cpus} cores busy"


def draw(
    targets: Sequence[TargetResult],
    found: Sequence[Verdict],
    options: Options,
    started: str,
    cpus: int,
    path: Path,
) -> None:
    """Write the chart for ``targets`` (those that ran) and the verdicts to ``path``."""
    figure = figure_for(targets, found, options, started, cpus)
    figure.savefig(path)
    plt.close(figure)


def figure_for(
    targets: Sequence[TargetResult],
    found: Sequence[Verdict],
    options: Options,
    started: str,
    cpus: int,
) -> matplotlib.figure.Figure:
    """The chart as a matplotlib Figure: six panels (seven or eight, with long-polls and CPU
    per delivery) and the goals under them."""
    targets = [target for target in targets if target.skipped is None]
    lines = goal_lines(listed(found))
    goals_height = 0.6 + 0.25 * math.ceil(len(lines) / goal_columns(lines))
    polled = [target for target in targets if target.longpoll is not None]
    counted = [target for target in targets if delivery_cpu(target)]
    rows = [4, 4, 4, 4] if polled or counted else [4, 4, 4]
    figure = plt.figure(figsize=(13, 4.25 * len(rows) + goals_height), dpi=110)
    grid = figure.add_gridspec(len(rows) + 1, 2, height_ratios=[*rows, goals_height])
    burst, latency = figure.add_subplot(grid[0, 0]), figure.add_subplot(grid[0, 1])
    join, memory = figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1])
    handshake, client = figure.add_subplot(grid[2, 0]), figure.add_subplot(grid[2, 1])
    goals_panel(figure.add_subplot(grid[len(rows), :]), found, options.clients)
    charts: tuple[Axes, ...] = (burst, latency, join, memory, handshake, client)
    if polled:
        cpu = figure.add_subplot(grid[3, 0] if counted else grid[3, :])
        charts += (cpu,)
    if counted:
        per_delivery = figure.add_subplot(grid[3, 1] if polled else grid[3, :])
        delivery_panel(per_delivery, counted)
        charts += (per_delivery,)
    judged = {verdict.target for verdict in found if verdict.judged}
    title = f"Burst of {options.burst_messages} messages: deliveries/s (higher is better)"
    panel(burst, targets, BURST_RATE, BURST, judged, title, "deliveries per second")
    burst.yaxis.set_major_formatter(FuncFormatter(plain_numbers))
    latency_panel(latency, targets, options)
    title = f"Join storm: {options.clients} clients ready (lower is better)"
    panel(join, targets, JOIN_TIME, JOIN, judged, title, "seconds", digits=2)
    title = "Idle memory per connection, server RSS (lower is better)"
    fresh = "bare served alike, in a fresh process"
    panel(memory, targets, IDLE_MEMORY, MEMORY, judged, title, "KiB", digits=1, bare_words=fresh)
    title = "Join storm: CPU per handshake, all processes (lower is better)"
    panel(handshake, targets, HANDSHAKE_CPU, JOIN_CPU, judged, title, "\u00b5s", digits=1)
    client_panel(client, targets)
    if counted:
        goal_marks(per_delivery, counted, DELIVERY_CPU, BURST_CPU, judged)
    if polled:
        title = f"Long-poll at {options.rate:g} msg/s: server CPU per answer (lower is better)"
        panel(cpu, polled, ANSWER_CPU, LONGPOLL, judged, title, "\u00b5s", words="goal")
    for axes in charts:
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")  # rotated names end under their bars
    figure.suptitle(
        f"Chat servers under load: {options.clients} clients in one room, one sender "
        f"({started}, {cpus} CPUs, client and servers on one machine)",
        fontsize=13,
        color=INK,
        x=0.01,
        ha="left",
    )
    figure.text(
        0.01,
        0.005,
        "grey: bare broadcast (the yardstick)   blue: our stages   "
        "orange: Django Channels + Daphne   cyan: python-socketio + uvicorn   pink: Node.js"
        + load_words(targets, cpus),
        fontsize=9,
        color="#5f6368",
    )
    figure.tight_layout(rect=(0, 0.02, 1, 0.97))
    return figure
