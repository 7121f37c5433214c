"""The figures of a dataset page: which aggregate feeds which chart, with its table fallback."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup

from eucaim.node.portal.charts import bar_chart, bars_from_rows, range_chart, year_axis
from eucaim.node.portal.messages import text

# (aggregate key, title key, what is counted)
CATEGORIES = (
    ("modality", "chart.modality", "studies"),
    ("bodyPart", "chart.body_part", "studies"),
    ("sex", "chart.sex", "subjects"),
    ("manufacturer", "chart.manufacturer", "studies"),
    ("diagnosis", "chart.diagnosis", "subjects"),
)
# Histograms, drawn instead of the matching range when the aggregates carry bins (rows shaped
# like the categories': {"label": "40-44", "subjects": 7 | "<5"}); aggregates computed before the
# bins existed, or whose range is withheld (no bins then), get the range.
HISTOGRAMS = (
    ("ageGroups", "chart.age_groups", "subjects", "ageYears"),
    ("acquisitionYears", "chart.acquisition_years", "studies", "acquisitionYear"),
)
RANGES = (
    ("ageYears", "chart.age", (0.0, 100.0)),
    ("acquisitionYear", "chart.acquisition", None),
    ("diagnosisYear", "chart.diagnosis_year", None),
)


@dataclass(frozen=True)
class Figure:
    """One chart and the rows of its table fallback."""

    key: str
    title: str
    svg: Markup
    rows: list[tuple[str, str]]
    note: str = ""


# Dates are shifted back per subject at de-identification, so the years shown are not the real ones.
NOTES = {"acquisitionYears": "chart.shifted_years", "acquisitionYear": "chart.shifted_years"}


def _note(key: str) -> str:
    return text(NOTES[key]) if key in NOTES else ""


def figures(aggregates: Mapping[str, Any] | None, *, threshold: int) -> list[Figure]:
    """Return the charts of a dataset's aggregates (public, suppressed ones or a validator's exact ones)."""
    if not aggregates:
        return []
    out: list[Figure] = []
    suppressed = text("chart.suppressed", threshold=threshold)
    for key, title_key, measure in CATEGORIES:
        rows = aggregates.get(key) or []
        if not rows:
            continue
        title = text(title_key)
        bars = bars_from_rows(rows, measure)
        table = [(b.label, b.shown) for b in bars]
        out.append(Figure(key, title, bar_chart(key, title, bars, suppressed_text=suppressed), table))
    binned = set()
    for key, title_key, measure, replaces in HISTOGRAMS:
        rows = aggregates.get(key) or []
        if rows:
            title = text(title_key)
            bars = bars_from_rows(rows, measure)
            svg = bar_chart(key, title, bars, suppressed_text=suppressed)
            out.append(Figure(key, title, svg, [(b.label, b.shown) for b in bars], _note(key)))
            binned.add(replaces)
    for key, title_key, axis in RANGES:
        rng = aggregates.get(key) or {}
        if not rng or key in binned:
            continue
        low, high = rng.get("min"), rng.get("max")
        if key == "diagnosisYear" and low is None and not rng.get("suppressed"):
            continue  # no clinical dates at all: nothing worth a chart
        notes = []
        if rng.get("suppressed"):
            notes.append(text("chart.withheld", threshold=threshold))
        elif low is None:
            notes.append(text("chart.no_values"))
        unknown = rng.get("unknownSubjects", rng.get("unknownStudies"))
        if unknown not in (None, 0):
            notes.append(text("chart.unknown", count=unknown))
        note = "; ".join(notes)
        title = text(title_key)
        svg = range_chart(key, title, low, high, axis=axis or year_axis(low, high), note=note)
        shown = (
            text("chart.range", low=f"{low:g}", high=f"{high:g}")
            if low is not None and high is not None
            else note
        )
        out.append(
            Figure(
                key,
                title,
                svg,
                [(title, shown)] + ([("", note)] if note and low is not None else []),
                _note(key),
            )
        )
    return out
