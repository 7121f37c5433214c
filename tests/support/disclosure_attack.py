"""The subtraction attack on the public catalogue, written apart from the node's own code.

A reader of the public view knows each cell's possible values from its text alone (``"<5"`` is 1
to 4, ``">=5"`` is 5 up to the total, ``None`` anything, a number itself) and that the cells of a
distribution sum to its public total when they partition the population (at least the total when
they overlap, as a study with two modalities does). Enumerating every sum the other cells can
reach gives every value a hidden cell can still take; a small hidden count left with one possible
value is disclosed. Used by the unit, property and HTTP tests alike.
"""

from __future__ import annotations

from typing import Any

TERM_KEYS = ("modality", "bodyPart", "manufacturer", "sex", "diagnosis", "ageGroups", "acquisitionYears")
MEASURES = ("subjects", "studies", "series")
RANGE_UNKNOWNS = (
    ("ageYears", "unknownSubjects", "subjects"),
    ("ageYears", "unknownStudies", "studies"),
    ("acquisitionYear", "unknownStudies", "studies"),
    ("diagnosisYear", "unknownSubjects", "subjects"),
)


def cell_values(text: Any, *, threshold: int, ceiling: int) -> range:
    """Return what a cell's public text allows it to be."""
    if text is None:
        return range(0, ceiling + 1)
    if isinstance(text, int):
        return range(text, text + 1)
    if text == f"<{threshold}":
        return range(1, threshold)
    if text == f">={threshold}":
        return range(threshold, max(threshold, ceiling) + 1)
    raise AssertionError(f"the public view shows a count as {text!r}")


def possible_values(cells: list[range], index: int, sums: range) -> set[int]:
    """Return every value cell ``index`` can take while all cells together sum to a value in ``sums``."""
    reachable = {0}
    for n, cell in enumerate(cells):
        if n != index:
            reachable = {r + v for r in reachable for v in cell if r + v < sums.stop}
    return {v for v in cells[index] if any(v + r in sums for r in reachable)}


def _total_values(public_total: Any, *, threshold: int, partition: bool, ceiling: int) -> range:
    known = cell_values(public_total, threshold=threshold, ceiling=ceiling)
    return known if partition else range(known.start, ceiling + 1)


def pinned_cells(exact: dict[str, Any], public: dict[str, Any], *, threshold: int) -> list[str]:
    """Return every small count the attack recovers exactly from ``public`` (empty when none).

    ``exact`` (the node's own aggregates) is used only to tell the attacker whether a distribution
    partitions its population, and to check that the public text is true of every cell.
    """
    found: list[str] = []
    for key in TERM_KEYS:
        rows, exact_rows = public.get(key) or [], exact.get(key) or []
        if not rows:
            continue  # withheld: nothing to subtract from
        assert [r["label"] for r in rows] == [r["label"] for r in exact_rows]
        for measure in MEASURES:
            if measure not in exact_rows[0]:
                continue
            truth = [int(r[measure]) for r in exact_rows]
            found += _attack(
                f"{key}.{measure}", [r["label"] for r in rows], [r[measure] for r in rows], truth,
                public_total=public[measure], exact_total=int(exact[measure]), threshold=threshold,
            )  # fmt: skip
    for range_key, count_key, measure in RANGE_UNKNOWNS:
        rng, exact_rng = public.get(range_key) or {}, exact.get(range_key) or {}
        if count_key not in exact_rng:
            continue
        total, unknown = int(exact[measure]), int(exact_rng[count_key])
        known_text = _known_text(rng, count_key, threshold=threshold)
        found += _attack(
            f"{range_key}.{count_key}", ["known", "unknown"], [known_text, rng[count_key]],
            [total - unknown, unknown], public_total=public[measure], exact_total=total, threshold=threshold,
        )  # fmt: skip
    return found


def _known_text(rng: dict[str, Any], count_key: str, *, threshold: int) -> Any:
    """Return what a range's flag says of its (never shown) known count, as a cell text.

    The flag is about subjects: withheld means 1 to ``threshold - 1`` subjects with a value, shown
    means at least ``threshold`` of them, no bounds and no flag means none; of studies it says only
    whether there are any.
    """
    if rng.get("min") is None and not rng.get("suppressed"):
        return 0
    if count_key != "unknownSubjects":
        return None
    return f"<{threshold}" if rng.get("suppressed") else f">={threshold}"


def _attack(
    what: str,
    labels: list[str],
    texts: list[Any],
    truth: list[int],
    *,
    public_total: Any,
    exact_total: int,
    threshold: int,
) -> list[str]:
    # A cell is at most the largest total the public text allows, not the exact one.
    ceiling = cell_values(public_total, threshold=threshold, ceiling=exact_total).stop - 1
    cells = [cell_values(t, threshold=threshold, ceiling=ceiling) for t in texts]
    for label, cell, value in zip(labels, cells, truth, strict=True):
        assert value in cell, f"{what} {label}: the public text is not true of {value}"
    sums = _total_values(
        public_total,
        threshold=threshold,
        partition=sum(truth) == exact_total,
        ceiling=sum(c.stop for c in cells),
    )
    found = []
    for n, (label, text, value) in enumerate(zip(labels, texts, truth, strict=True)):
        if isinstance(text, int) or not 0 < value < threshold:
            continue
        possible = possible_values(cells, n, sums)
        assert value in possible, f"{what} {label}: the attack's model excludes the true value"
        if len(possible) == 1:
            found.append(f"{what} {label} = {value}")
    return found
