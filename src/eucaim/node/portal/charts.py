"""Charts of aggregated statistics drawn as SVG on the server: bars for categories, a band for ranges.

Pure functions: rows in, markup out. Every chart carries its title and a text description of all
its values (``role="img"`` with ``<title>``/``<desc>``), so a screen reader gets the figures too.
A suppressed count (``"<5"``) is drawn as a hatched bar reaching the threshold, labelled as text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from markupsafe import Markup

WIDTH = 440
LABEL_W = 190  # "Magnetic Resonance" at the chart font fits whole
VALUE_W = 50
ROW_H = 26
BAR_H = 18


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the number it is drawn to, and the text shown (``"<5"`` when suppressed)."""

    label: str
    length: float
    shown: str
    suppressed: bool = False


def bars_from_rows(rows: Sequence[Mapping[str, Any]], measure: str) -> list[Bar]:
    """Return bars from aggregate term rows (``{"label", "studies": 12 | "<5", ...}``)."""
    out: list[Bar] = []
    for row in rows:
        value = row.get(measure, 0)
        if isinstance(value, str) and value.startswith("<"):
            out.append(Bar(str(row["label"]), float(value[1:]) - 1, value, suppressed=True))
        elif isinstance(value, str) and value.startswith(">="):  # hidden to protect a small count
            out.append(Bar(str(row["label"]), float(value[2:]), value, suppressed=True))
        else:
            out.append(Bar(str(row["label"]), float(value or 0), str(value or 0)))
    return out


def _spoken(bar: Bar, suppressed_text: str) -> str:
    """Return a bar's value for the description: "fewer than 5" only where that is what it means."""
    return suppressed_text or bar.shown if bar.suppressed and bar.shown.startswith("<") else bar.shown


def bar_chart(ident: str, title: str, bars: Sequence[Bar], *, suppressed_text: str = "") -> Markup:
    """Return a horizontal bar chart; ``ident`` makes its element ids unique on the page."""
    n = ident
    top = max((b.length for b in bars), default=0.0) or 1.0
    height = max(len(bars), 1) * ROW_H + 8
    span = WIDTH - LABEL_W - VALUE_W
    desc = "; ".join(f"{b.label}: {_spoken(b, suppressed_text)}" for b in bars)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="chart-{n}-t" aria-describedby="chart-{n}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{n}-t">{escape(title)}</title><desc id="chart-{n}-d">{escape(desc)}</desc>',
        f'<defs><pattern id="hatch-{n}" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" class="bar-bg"/>'
        '<line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>',
    ]
    for i, b in enumerate(bars):
        y = 4 + i * ROW_H
        w = max(2.0, span * b.length / top)
        fill = f' fill="url(#hatch-{n})"' if b.suppressed else ""
        label = b.label if len(b.label) <= 21 else b.label[:20] + "…"
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + 14}" class="chart-label" text-anchor="end">'
            f"{escape(label)}</text>"
            f'<rect x="{LABEL_W}" y="{y}" width="{w:.1f}" height="{BAR_H}" rx="2" '
            f'class="{"bar-suppressed" if b.suppressed else "bar"}"{fill}/>'
            f'<text x="{LABEL_W + w + 6:.1f}" y="{y + 14}" class="chart-value">{escape(b.shown)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def range_chart(
    ident: str, title: str, low: float | None, high: float | None, *, axis: tuple[float, float], note: str
) -> Markup:
    """Return a band from ``low`` to ``high`` on an axis, with ``note`` (unknowns, withholding) below."""
    n = ident
    a0, a1 = axis
    span = WIDTH - 40
    desc = (
        f"{title}: {low:g} to {high:g}. {note}"
        if low is not None and high is not None
        else f"{title}. {note}"
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} 70" role="img" '
        f'aria-labelledby="chart-{n}-t" aria-describedby="chart-{n}-d" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{n}-t">{escape(title)}</title><desc id="chart-{n}-d">{escape(desc)}</desc>',
        f'<line x1="20" y1="30" x2="{20 + span}" y2="30" class="axis"/>',
    ]
    for tick in _ticks(a0, a1):
        x = 20 + span * (tick - a0) / (a1 - a0)
        parts.append(
            f'<line x1="{x:.1f}" y1="26" x2="{x:.1f}" y2="34" class="axis"/>'
            f'<text x="{x:.1f}" y="50" class="chart-tick" text-anchor="middle">{tick:g}</text>'
        )
    if low is not None and high is not None:
        x0 = 20 + span * (max(low, a0) - a0) / (a1 - a0)
        x1 = 20 + span * (min(high, a1) - a0) / (a1 - a0)
        parts.append(
            f'<rect x="{x0:.1f}" y="20" width="{max(x1 - x0, 3):.1f}" height="20" rx="3" class="bar"/>'
        )
        parts.append(
            f'<text x="{(x0 + x1) / 2:.1f}" y="15" class="chart-value" text-anchor="middle">'
            f"{low:g}–{high:g}</text>"
        )
    parts.append(f'<text x="20" y="66" class="chart-note">{escape(note)}</text></svg>')
    return Markup("".join(parts))


def _ticks(a0: float, a1: float) -> list[float]:
    step = 10.0 if a1 - a0 <= 120 else 20.0
    if a1 - a0 <= 20:
        step = 2.0
    first = step * -(-a0 // step)
    ticks = []
    value = first
    while value <= a1:
        ticks.append(value)
        value += step
    return ticks


def year_axis(low: float | None, high: float | None) -> tuple[float, float]:
    """Return an axis of years around a range (a decade's span at least)."""
    if low is None or high is None:
        return (2000.0, 2030.0)
    start = float(int(low) - 2)
    end = max(float(int(high) + 2), start + 10)
    return (start, end)
