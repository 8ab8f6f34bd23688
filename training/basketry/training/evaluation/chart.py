"""A small horizontal grouped bar chart as standalone SVG (no plotting library needed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

COLOURS = ("#1f6fb2", "#f28e2b", "#59a14f", "#b07aa1")
LABEL_WIDTH = 230
BAR_HEIGHT = 11
GROUP_GAP = 9
PLOT_WIDTH = 420
MARGIN = 12


@dataclass(frozen=True)
class Bars:
    """One group of bars: a label, whether to emphasise it, and one value per series."""

    label: str
    values: Sequence[float]
    emphasised: bool = False


def bar_chart_svg(title: str, series: Sequence[str], groups: Sequence[Bars]) -> str:
    """SVG text: one row of bars per group, one bar per series, values printed at bar ends."""
    if not groups or not series:
        raise ValueError("a chart needs at least one group and one series")
    top = MARGIN + 34
    group_height = len(series) * BAR_HEIGHT + GROUP_GAP
    height = top + len(groups) * group_height + MARGIN
    width = LABEL_WIDTH + PLOT_WIDTH + 70
    peak = max((max(group.values) for group in groups), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 10}" font-size="13" font-weight="bold">'
        f"{escape(title)}</text>",
    ]
    for i, name in enumerate(series):
        x = LABEL_WIDTH + i * 120
        parts.append(
            f'<rect x="{x}" y="{MARGIN + 18}" width="10" height="10" '
            f'fill="{COLOURS[i % len(COLOURS)]}"/>'
            f'<text x="{x + 14}" y="{MARGIN + 27}">{escape(name)}</text>'
        )
    for row, group in enumerate(groups):
        y = top + row * group_height
        weight = ' font-weight="bold"' if group.emphasised else ""
        label_y = y + len(series) * BAR_HEIGHT / 2 + 4
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{label_y:.1f}" text-anchor="end"{weight}>'
            f"{escape(group.label)}</text>"
        )
        for i, value in enumerate(group.values):
            bar_width = max(value, 0.0) / peak * PLOT_WIDTH
            bar_y = y + i * BAR_HEIGHT
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{bar_y}" width="{bar_width:.1f}" '
                f'height="{BAR_HEIGHT - 1}" fill="{COLOURS[i % len(COLOURS)]}"/>'
                f'<text x="{LABEL_WIDTH + bar_width + 4:.1f}" y="{bar_y + BAR_HEIGHT - 2}" '
                f'font-size="9">{value:.4f}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts)
