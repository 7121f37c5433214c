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
"""

from __future__ import annotations

from typing import Any

AGE_BAND = 5
COUNT_KEYS = frozenset({"subjects", "studies", "series", "instances", "unknownSubjects", "unknownStudies"})
RANGE_KEYS = ("ageYears", "acquisitionYear", "diagnosisYear")
TERM_KEYS = ("modality", "bodyPart", "manufacturer", "sex", "diagnosis", "ageGroups", "acquisitionYears")
# histogram key -> the range whose withholding withholds it
HISTOGRAM_RANGES = {"ageGroups": "ageYears", "acquisitionYears": "acquisitionYear"}

Count = int | str


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
        out[key] = [
            {k: (suppress_count(v, threshold) if k in COUNT_KEYS else v) for k, v in row.items()}
            for row in aggregates.get(key, [])
        ]
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
    return out


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
