"""Disclosure control: the public view of a dataset's aggregates, with small counts suppressed.

Every count from 1 to ``threshold - 1`` becomes the text ``"<threshold"`` (``"<5"`` by default);
0 and larger counts stay exact. A range (age, years) is one person's value at its ends, so it is
withheld (``None`` bounds, ``"suppressed": true``) when fewer subjects than the threshold have it.
Size in bytes is not a count of people and stays. The ends of the public age range are widened
to whole 5-year bands (``[30, 74]`` for ages 32 to 72), so they no longer give the exact age of
the youngest and the oldest subject; years are shown as they are.

The histograms (subjects per age band, studies per acquisition year) are term counts like the
others, each bin suppressed on its own; and when their range is withheld they are withheld too
(an empty list), since a bin's label would otherwise show what the withheld range hides.

A hidden count must also stay hidden from subtraction: with the total public, one ``"<5"`` cell
is the total minus the others. So every distribution, and every range's unknown count beside its
never-shown known count, goes through complementary suppression
(:mod:`eucaim.catalogue.complementary`): more cells hidden as ``">=5"``, the distribution
withheld (``[]``, or ``None`` for an unknown count) when nothing else protects it. Only the
public view is built here; the holder's and validator's views use the exact aggregates.
"""

from __future__ import annotations

from typing import Any

from eucaim.catalogue.complementary import Count, protect_cells

AGE_BAND = 5
COUNT_KEYS = frozenset({"subjects", "studies", "series", "instances", "unknownSubjects", "unknownStudies"})
RANGE_KEYS = ("ageYears", "acquisitionYear", "diagnosisYear")
TERM_KEYS = ("modality", "bodyPart", "manufacturer", "sex", "diagnosis", "ageGroups", "acquisitionYears")
# histogram key -> the range whose withholding withholds it
HISTOGRAM_RANGES = {"ageGroups": "ageYears", "acquisitionYears": "acquisitionYear"}
MEASURES = ("subjects", "studies", "series")


def suppress_count(value: int, threshold: int) -> Count:
    """Return ``value``, or ``"<threshold"`` when it is small but not zero."""
    return f"<{threshold}" if 0 < value < threshold else value


def public_aggregates(aggregates: dict[str, Any], *, threshold: int) -> dict[str, Any]:
    """Return the aggregates as the catalogue shows them; ``threshold`` 1 disables suppression."""
    subjects = int(aggregates.get("subjects", 0))
    out: dict[str, Any] = {"suppressionThreshold": threshold}
    for key in ("subjects", "studies", "series", "instances"):
        out[key] = suppress_count(int(aggregates.get(key, 0)), threshold)
    out["sizeBytes"] = int(aggregates.get("sizeBytes", 0))
    for key in TERM_KEYS:
        out[key] = public_rows(aggregates.get(key, []), totals=aggregates, threshold=threshold)
    for key in RANGE_KEYS:
        rng = dict(aggregates.get(key) or {})
        known = _known_subjects(rng, subjects)
        withheld = 0 < known < threshold
        low, high = (None, None) if withheld else (rng.get("min"), rng.get("max"))
        if key == "ageYears" and low is not None and high is not None:
            low, high = _band(int(low), int(high))
        out[key] = {
            "min": low,
            "max": high,
            "suppressed": withheld,
            **{k: suppress_count(int(v), threshold) for k, v in rng.items() if k in COUNT_KEYS},
        }
    for key, range_key in HISTOGRAM_RANGES.items():
        if out[range_key]["suppressed"]:
            out[key] = []
    for range_key in RANGE_KEYS:
        out[range_key].update(_public_unknowns(aggregates, out, range_key, threshold=threshold))
    return out


def public_rows(
    rows: list[dict[str, Any]], *, totals: dict[str, Any], threshold: int
) -> list[dict[str, Any]]:
    """Return a distribution's rows with small counts and their complements hidden; ``[]`` to withhold.

    Each measure (subjects, studies, series) is one distribution over its public total, protected
    on its own (:func:`protect_cells`); when one cannot be protected the rows go, labels and all,
    since a label with counts missing would still be read as a count of at least one.
    """
    out = [dict(row) for row in rows]
    for measure in MEASURES:
        if not any(measure in row for row in rows):
            continue
        values = [int(row.get(measure, 0)) for row in rows]
        shown = protect_cells(values, total=int(totals.get(measure, 0)), threshold=threshold)
        if shown is None:
            return []
        for row, text in zip(out, shown, strict=True):
            if measure in row:
                row[measure] = text
    return out


def _public_unknowns(
    aggregates: dict[str, Any], out: dict[str, Any], range_key: str, *, threshold: int
) -> dict[str, Count | None]:
    """Return a range's unknown counts as shown: never more exact than their complement allows.

    The unknown count and the known one (never shown) sum to the total, so a small known count
    would be the total minus a visible unknown: the unknown is then hidden too (``">=5"``), or
    withheld (``None``) when even that pins it. An unknown count that is also the histogram's
    ``Unknown`` studies bin (the same studies) is shown alike in both places, the stricter of the
    two, so that neither undoes the other; ``out``'s histogram is updated (or withheld) to match.
    """
    rng = aggregates.get(range_key) or {}
    shown: dict[str, Count | None] = {}
    for key, measure in (("unknownSubjects", "subjects"), ("unknownStudies", "studies")):
        if key not in rng:
            continue
        total, unknown = int(aggregates.get(measure, 0)), int(rng[key])
        pair = protect_cells([total - unknown, unknown], total=total, threshold=threshold, hidden=[0])
        shown[key] = None if pair is None else pair[1]
        if measure == "studies":
            shown[key] = _align_unknown_bin(aggregates, out, range_key, unknown, shown[key])
    return shown


def _align_unknown_bin(
    aggregates: dict[str, Any], out: dict[str, Any], range_key: str, unknown: int, shown: Count | None
) -> Count | None:
    """Show the histogram's Unknown studies bin and the range's unknown studies alike; return it."""
    key = next((h for h, r in HISTOGRAM_RANGES.items() if r == range_key), None)
    if key is None or not out.get(key):
        return shown
    exact = [r for r in aggregates.get(key, []) if _is_unknown(r)]
    public = [r for r in out[key] if _is_unknown(r)]
    if not exact or not public or int(exact[0].get("studies", -1)) != unknown:
        return shown
    stricter = _stricter(shown, public[0]["studies"])
    if stricter is None:
        out[key] = []
    else:
        public[0]["studies"] = stricter
    return stricter


def _is_unknown(row: dict[str, Any]) -> bool:
    return row.get("label") == "Unknown" and row.get("code") is None


def _stricter(a: Count | None, b: Count | None) -> Count | None:
    """Return whichever of two public texts of one count discloses less (withheld, then hidden)."""
    if a is None or b is None:
        return None
    return a if isinstance(a, str) else b


def _known_subjects(rng: dict[str, Any], subjects: int) -> int:
    """Return how many subjects a range rests on (an upper estimate where only studies are counted)."""
    if "unknownSubjects" in rng:
        return subjects - int(rng["unknownSubjects"])
    if rng.get("min") is None:
        return 0
    return subjects


def _band(low: int, high: int) -> tuple[int, int]:
    """Return the smallest range of whole ``AGE_BAND``-year bands that holds ``low`` to ``high``."""
    return low - low % AGE_BAND, high - high % AGE_BAND + AGE_BAND - 1
