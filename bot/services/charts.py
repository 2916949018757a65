"""PNG charts of the markers (matplotlib's Agg canvas, no pyplot global state).

One panel per marker kind: the value history as a step line up to now, the target as a
horizontal line, the deadline as a vertical line, and the projection at the current pace dashed
from now to the deadline. Rendering takes ~100 ms: call it off the event loop
(``await asyncio.to_thread(render_markers_chart, report)``).
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from bot.services.markers import MarkerProgress, MarkersReport, Series

MAX_POINTS = 1000
_HISTORY = "#3b6fb6"
_TARGET = "#c0392b"
_PROJECTION = "#7f8c8d"


def thin(series: Series, max_points: int = MAX_POINTS) -> Series:
    """At most ``max_points`` points of a step series, keeping the first and last."""
    if len(series) <= max_points:
        return series
    step = len(series) / (max_points - 1)
    picked = [series[int(i * step)] for i in range(max_points - 1)]
    return (*picked, series[-1])


def _panel_title(p: MarkerProgress) -> str:
    if p.target is None:
        return f"{p.title}: {p.current:,} (no target set)"
    return f"{p.title}: {p.current:,} of {p.target:,} ({p.percent or 0:.0f}%)"


def chart_panels(report: MarkersReport) -> list[MarkerProgress]:
    """The markers that have a target; every kind if none has one yet."""
    with_target = [p for p in report.markers if p.target is not None]
    return with_target or list(report.markers)


def render_markers_chart(report: MarkersReport) -> bytes:
    """A PNG with one panel per marker, all on the same time axis."""
    # matplotlib (with numpy, ~40 MB resident) loads with the first chart, not with the bot
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    now = report.now
    panels = chart_panels(report)
    firsts = [p.history[0][0] for p in panels if p.history]
    start = min(firsts) if firsts else now - timedelta(days=30)
    start = min(start, now - timedelta(days=7))
    end = max([now, *(p.deadline for p in panels if p.deadline)])
    figure = Figure(figsize=(8, 0.6 + 2.3 * len(panels)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(panels), 1, squeeze=False)
    for ax, p in zip((row[0] for row in axes), panels, strict=True):
        history = thin(p.history)
        xs: list[datetime] = [start, *(t for t, _ in history), now]
        ys: list[float] = [0, *(v for _, v in history), p.current]
        ax.step(xs, ys, where="post", color=_HISTORY, linewidth=1.8, label="value")
        top = max(ys)
        if p.target is not None:
            ax.axhline(p.target, color=_TARGET, linewidth=1.2, label=f"target {p.target:,}")
            top = max(top, p.target)
        if p.deadline is not None:
            ax.axvline(p.deadline, color=_TARGET, linestyle=":", linewidth=1.2, label="deadline")
            projected = p.value_at_deadline(now)
            if projected is not None:
                ax.plot(
                    [now, p.deadline],
                    [p.current, projected],
                    linestyle="--",
                    color=_PROJECTION,
                    linewidth=1.5,
                    label="at current pace",
                )
                top = max(top, min(projected, 2 * max(top, 1)))
        ax.set_xlim(start, end + (end - start) * 0.03 + timedelta(days=1))
        ax.set_ylim(0, top * 1.1 + 1)
        locator = AutoDateLocator()  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
        ax.set_title(_panel_title(p), fontsize=10, loc="left")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
