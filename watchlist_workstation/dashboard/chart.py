"""A company's sentiment scores over time, drawn as inline SVG on the server.

The page carries no script, so the chart is plain markup: one polyline per score, a dot per
analysis with a tooltip (<title>), time along x and the score (0 to 1) up y. pandas turns the
history into positions; the markup is built here with every text escaped.
"""

from __future__ import annotations

from html import escape

import pandas as pd

from watchlist_workstation.analysis.dataset import SCORE_COLUMNS, format_time, in_order

WIDTH, HEIGHT = 760, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 120, 16, 40
COLORS = {"positive": "#2e7d32", "negative": "#c62828", "neutral": "#607d8b", "mixed": "#ef6c00"}
Y_TICKS = (0.0, 0.25, 0.5, 0.75, 1.0)
X_TICKS = 4  # at most this many time labels, so they never overlap


def _time_label(moment: pd.Timestamp, span: pd.Timedelta) -> str:
    # A span of days reads best as dates, one of hours as date and time, one of minutes to the second.
    if span >= pd.Timedelta(days=3):
        return moment.strftime("%Y-%m-%d")
    if span >= pd.Timedelta(hours=1):
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S")


def history_svg(history: pd.DataFrame, *, title: str) -> str:
    """The SVG for `history` (dataset rows of one company, any order); `title` names it for screen readers."""
    rows = in_order(history)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    times = rows["analyzed_at"]
    first, last = (times.iloc[0], times.iloc[-1]) if len(rows) else (None, None)
    span = (last - first) if len(rows) else pd.Timedelta(0)
    if len(rows) and span > pd.Timedelta(0):
        x = LEFT + (times - first) / span * plot_w
    else:  # one analysis (or several at one instant): a single column in the middle
        x = pd.Series([LEFT + plot_w / 2] * len(rows), dtype="float64")

    def y(values: pd.Series) -> pd.Series:
        return TOP + (1.0 - values.clip(0.0, 1.0)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="history-chart" class="chart" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" data-analyses="{len(rows)}">',
        f"<title>{escape(title)}</title>",
    ]
    # Axes and grid.
    for tick in Y_TICKS:
        ty = TOP + (1.0 - tick) * plot_h
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}" y2="{TOP + plot_h}"/>')
    if len(rows):
        count = min(X_TICKS, len(rows)) if span > pd.Timedelta(0) else 1
        for i in range(count):
            moment = first + span * (i / (count - 1)) if count > 1 else first
            tx = LEFT + (i / (count - 1)) * plot_w if count > 1 else LEFT + plot_w / 2
            anchor = "start" if count > 1 and i == 0 else "end" if count > 1 and i == count - 1 else "middle"
            parts.append(
                f'<text class="tick" x="{tx:.1f}" y="{TOP + plot_h + 18}" text-anchor="{anchor}">'
                f"{escape(_time_label(moment, span))} UTC</text>"
            )
    # One series per score, then its legend entry.
    for index, column in enumerate(SCORE_COLUMNS):
        color = COLORS[column]
        ys = y(rows[column]) if len(rows) else pd.Series([], dtype="float64")
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in zip(x, ys, strict=True))
        parts.append(f'<g class="series" data-score="{column}" data-points="{len(rows)}">')
        if len(rows) > 1:
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        for px, py, (_, row) in zip(x, ys, rows.iterrows(), strict=True):
            tip = f"{column} {row[column]:.3f} at {format_time(row['analyzed_at'])} ({row['sentiment']})"
            parts.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}"><title>{escape(tip)}</title></circle>'
            )
        parts.append("</g>")
        ly = TOP + 10 + index * 20
        lx = LEFT + plot_w + 16
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text class="legend" x="{lx + 18}" y="{ly + 2}">{column}</text>')
    if not len(rows):
        parts.append(
            f'<text class="empty" x="{LEFT + plot_w / 2}" y="{TOP + plot_h / 2}" text-anchor="middle">'
            "no analyses yet</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)
