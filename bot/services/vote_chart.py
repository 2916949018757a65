"""The results bar chart (PNG). matplotlib is imported on first use: it costs ~0.5 s and most
processes never draw a chart. Call off the event loop (``asyncio.to_thread``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction

_BAR = "#3b6fb6"
_WINNER = "#2e8b57"


def render_vote_chart(
    title: str,
    labels: Sequence[str],
    counts: Sequence[Fraction | int],
    *,
    winners: Sequence[int] = (),
    first_preferences: bool = False,
) -> bytes:
    """Horizontal bars, one per option, the count and share at the end of each bar."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    values = [float(c) for c in counts]
    total = sum(values) or 1.0
    names = [label if len(label) <= 40 else label[:39] + "…" for label in labels]
    height = 1.2 + 0.45 * len(names)
    figure = Figure(figsize=(8, height), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    positions = list(range(len(names)))[::-1]
    colours = [_WINNER if i in winners else _BAR for i in range(len(names))]
    axes.barh(positions, values, color=colours)
    axes.set_yticks(positions, names)
    for position, value in zip(positions, values, strict=True):
        axes.text(value, position, f" {value:g} ({value * 100 / total:.0f}%)", va="center")
    axes.set_xlim(0, max([*values, 1.0]) * 1.25)
    axes.set_xlabel("first preferences" if first_preferences else "votes")
    axes.set_title(title[:80])
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
