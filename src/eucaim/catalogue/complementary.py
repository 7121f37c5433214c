"""Complementary (secondary) suppression: hide more cells until no small count can be subtracted out.

Primary suppression shows a count from 1 to ``threshold - 1`` as ``"<5"``. That alone does not
protect it when the distribution's total is public: with one hidden cell, the total minus the
visible cells is that cell; with several, the sum of the hidden cells is known and their bounds
may leave only one value (two ``"<5"`` cells in a total of 8 are both 4). Statistical agencies
answer this with complementary suppression, done here the same way: hide further cells, the
smallest visible ones first (the ``Unknown`` cell included), until every hidden small count can
still take at least two values given everything shown.

A complementary cell is shown as ``">=5"``: it is true, and it tells a reader nothing an attacker
who knows this rule would not infer anyway (a hidden cell that is not ``"<5"`` is at least 5).
When even hiding every cell leaves a small count exact (a total of 6 split 1 and 5), the caller
withholds the whole distribution: :func:`protect_cells` returns ``None``.

The attack is :func:`recovered_bounds`: one sum constraint over cells known to lie in intervals.
For one linear equation over boxes, the bounds it gives each cell are exactly what any reasoning
from that equation can reach, so a cell it cannot pin cannot be pinned by subtraction either.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

Count = int | str


@dataclass(frozen=True)
class Bounds:
    """What can be known of a count: every value from ``low`` to ``high`` (inclusive) is possible."""

    low: int
    high: int

    @property
    def is_exact(self) -> bool:
        """True when only one value is possible: the count is disclosed."""
        return self.low >= self.high


def primary_text(threshold: int) -> str:
    """Return how a small count (1 to ``threshold - 1``) is shown: ``"<5"``."""
    return f"<{threshold}"


def complementary_text(threshold: int) -> str:
    """Return how a count hidden only to protect a small one is shown: ``">=5"``."""
    return f">={threshold}"


def shown_bounds(shown: Count, *, threshold: int, ceiling: int) -> Bounds:
    """Return what a reader knows of one cell from its public text alone.

    ``ceiling`` is the largest value the cell can have (the most its distribution can sum to).
    """
    if isinstance(shown, int):
        return Bounds(shown, shown)
    if shown == primary_text(threshold):
        return Bounds(1, threshold - 1)
    if shown == complementary_text(threshold):
        return Bounds(threshold, max(threshold, ceiling))
    raise ValueError(f"not a public count: {shown!r}")


def recovered_bounds(cells: Sequence[Bounds], total: Bounds) -> list[Bounds]:
    """Return each cell's bounds once ``sum(cells)`` is known to lie within ``total`` (the attack).

    Each cell is at least the total's low end minus the most all other cells can hold, and at most
    its high end minus the least they can hold, and never outside its own bounds.
    """
    most = sum(c.high for c in cells)
    least = sum(c.low for c in cells)
    return [
        Bounds(max(c.low, total.low - (most - c.high)), min(c.high, total.high - (least - c.low)))
        for c in cells
    ]


def protect_cells(
    values: Sequence[int], *, total: int, threshold: int, hidden: Collection[int] = ()
) -> list[Count] | None:
    """Return the public text of each cell of a distribution, or ``None`` when it must be withheld.

    Args:
        values: the exact counts, in their order (an ``Unknown`` cell is one of them).
        total: the exact count of the population the cells partition (subjects, studies, series);
            it is public, as a number or ``"<5"``. When the cells overlap (a study with two
            modalities counts under both) their sum exceeds it, and the attacker is assumed to
            know that sum exactly, which is more than the public view tells.
        hidden: indices of cells the public view never shows (the number of subjects with a
            known age, next to the unknown count); they are protected like shown ones, and the
            text returned for them is ignored by the caller.
    """
    suppressed = {i for i, v in enumerate(values) if 0 < v < threshold}
    suppressed |= {i for i in hidden if values[i] >= threshold}  # hidden, and known to be large
    while True:
        shown = [_text(v, i in suppressed, threshold) for i, v in enumerate(values)]
        if not _any_small_exact(values, shown, total=total, threshold=threshold):
            return shown
        candidates = [(v, i) for i, v in enumerate(values) if i not in suppressed and v > 0]
        if not candidates:
            return None
        suppressed.add(min(candidates)[1])


def _text(value: int, suppressed: bool, threshold: int) -> Count:
    if not suppressed:
        return value
    return primary_text(threshold) if value < threshold else complementary_text(threshold)


def _any_small_exact(values: Sequence[int], shown: Sequence[Count], *, total: int, threshold: int) -> bool:
    """Return True when the attack pins a hidden count below the threshold to one value."""
    whole = sum(values)
    if whole == total:  # the cells partition the population: their sum is the public total
        public_total: Count = total if total == 0 or total >= threshold else primary_text(threshold)
        known = shown_bounds(public_total, threshold=threshold, ceiling=total)
    else:
        known = Bounds(whole, whole)
    cells = [shown_bounds(s, threshold=threshold, ceiling=known.high) for s in shown]
    recovered = recovered_bounds(cells, known)
    return any(
        isinstance(s, str) and v < threshold and b.is_exact
        for v, s, b in zip(values, shown, recovered, strict=True)
    )
