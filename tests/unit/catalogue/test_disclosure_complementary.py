"""Complementary suppression: no small count in the public view can be recovered by subtraction."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, SubjectFacts, aggregate
from eucaim.catalogue.complementary import Bounds, protect_cells, recovered_bounds
from eucaim.catalogue.disclosure import public_aggregates
from tests.support.disclosure_attack import cell_values, pinned_cells, possible_values


def _cohort(people: list[tuple[str | None, str | None, str]]) -> dict[str, Any]:
    """One CT study per subject: (sex, DICOM age, study date)."""
    series = [SeriesFacts(f"P{n}", f"s{n}", "CT", "CHEST") for n in range(len(people))]
    studies = [StudyFacts(f"P{n}", f"s{n}", sex, age, date) for n, (sex, age, date) in enumerate(people)]
    return aggregate(series, studies)


def _labels(rows: list[dict[str, Any]], measure: str = "subjects") -> dict[str, Any]:
    return {r["label"]: r[measure] for r in rows}


def test_one_small_cell_is_no_longer_the_total_minus_the_others() -> None:
    exact = _cohort([("F", "050Y", "20200101")] * 7 + [("M", "050Y", "20200101")] * 2)
    # Before: F 7, M "<5", subjects 9, so M = 9 - 7 = 2.
    view = public_aggregates(exact, threshold=5)
    assert view["subjects"] == 9
    assert _labels(view["sex"]) == {"Female": ">=5", "Male": "<5"}
    assert pinned_cells(exact, view, threshold=5) == []


def test_two_small_cells_of_a_known_sum_are_both_four_so_the_distribution_is_withheld() -> None:
    exact = _cohort([("F", "050Y", "20200101")] * 4 + [("M", "050Y", "20200101")] * 4)
    unprotected = {**exact, "sex": [{**r, "subjects": "<5", "studies": "<5"} for r in exact["sex"]]}
    assert pinned_cells(exact, unprotected, threshold=5) == [
        "sex.subjects Female = 4", "sex.subjects Male = 4", "sex.studies Female = 4", "sex.studies Male = 4",
    ]  # fmt: skip
    view = public_aggregates(exact, threshold=5)
    assert view["sex"] == [] and view["subjects"] == 8
    assert pinned_cells(exact, view, threshold=5) == []


def test_the_smallest_visible_cell_is_hidden_and_larger_ones_stay_exact() -> None:
    assert protect_cells([10, 12, 1], total=23, threshold=5) == [">=5", 12, "<5"]
    assert protect_cells([30, 1, 1], total=32, threshold=5) == [">=5", "<5", "<5"]  # 1 + 1 = 2 pins both
    assert protect_cells([30, 2, 1], total=33, threshold=5) == [30, "<5", "<5"]  # 3 = 2 + 1 or 1 + 2
    assert protect_cells([6, 7], total=13, threshold=5) == [6, 7]


def test_the_unknown_cell_is_a_complement_like_any_other() -> None:
    people = [("F", "050Y", "20200101")] * 6 + [(None, "050Y", "20200101")] * 6 + [("M", "050Y", "20200101")]
    exact = _cohort(people)
    view = public_aggregates(exact, threshold=5)
    assert _labels(view["sex"]) == {"Female": ">=5", "Unknown": 6, "Male": "<5"}
    assert pinned_cells(exact, view, threshold=5) == []


def test_a_range_unknown_count_does_not_give_away_the_few_known_ages() -> None:
    exact = _cohort([("F", "050Y", "20200101")] * 2 + [("F", None, "20200101")] * 10)
    assert exact["ageYears"]["unknownSubjects"] == 10  # 12 - 10 = 2 subjects with an age
    view = public_aggregates(exact, threshold=5)
    assert view["ageYears"]["suppressed"] is True
    assert view["ageYears"]["unknownSubjects"] == ">=5" and view["ageYears"]["unknownStudies"] == ">=5"
    assert pinned_cells(exact, view, threshold=5) == []


def test_the_unknown_age_bin_and_the_unknown_studies_of_the_range_are_shown_alike() -> None:
    ages = [f"0{40 + n % 2 * 10}Y" for n in range(12)] + [None]
    exact = _cohort([("F", age, "20200101") for age in ages])
    view = public_aggregates(exact, threshold=5)
    unknown_bin = next(r for r in view["ageGroups"] if r["label"] == "Unknown")
    assert unknown_bin["studies"] == view["ageYears"]["unknownStudies"] == "<5"
    assert _labels(view["ageGroups"]) == {"40-44": ">=5", "50-54": 6, "Unknown": "<5"}
    assert pinned_cells(exact, view, threshold=5) == []


def test_series_per_modality_are_protected_against_the_series_total() -> None:
    series = [SeriesFacts(f"P{n}", f"s{n}", "CT") for n in range(7)] + [SeriesFacts("P0", "s0", "PT")]
    exact = aggregate(series, [StudyFacts(f"P{n}", f"s{n}", "F", "050Y") for n in range(7)])
    view = public_aggregates(exact, threshold=5)
    assert _labels(view["modality"], "series") == {
        "Computed Tomography": ">=5",
        "Positron Emission Tomography": "<5",
    }
    assert view["series"] == 8
    assert pinned_cells(exact, view, threshold=5) == []


def test_threshold_one_shows_every_count_exactly() -> None:
    exact = _cohort([("F", "050Y", "20200101")] * 7 + [("M", "050Y", "20200101")] * 2)
    view = public_aggregates(exact, threshold=1)
    assert _labels(view["sex"]) == {"Female": 7, "Male": 2}


def test_the_attack_enumerates_what_the_bounds_formula_gives() -> None:
    """The node's bounds and the test's enumeration are two ways to one answer; they must agree."""
    cells = [range(1, 5), range(5, 21), range(3, 4), range(1, 5)]
    for n in range(len(cells)):
        enumerated = possible_values(cells, n, range(20, 21))
        bounds = recovered_bounds([Bounds(c.start, c.stop - 1) for c in cells], Bounds(20, 20))[n]
        assert enumerated == set(range(bounds.low, bounds.high + 1))


@settings(max_examples=400, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=14), min_size=1, max_size=6),
    threshold=st.sampled_from([2, 3, 5, 10]),
)
def test_protected_cells_leave_no_small_count_exact_and_withhold_only_when_they_must(
    values: list[int], threshold: int
) -> None:
    total = sum(values)
    shown = protect_cells(values, total=total, threshold=threshold)
    public_total: int | str = total if total == 0 or total >= threshold else f"<{threshold}"
    sums = cell_values(public_total, threshold=threshold, ceiling=total)
    if shown is None:
        # Withheld only when hiding every cell still pins a small one.
        hidden = [v if v == 0 else f"<{threshold}" if v < threshold else f">={threshold}" for v in values]
        cells = [cell_values(h, threshold=threshold, ceiling=total) for h in hidden]
        assert any(
            0 < v < threshold and len(possible_values(cells, n, sums)) == 1 for n, v in enumerate(values)
        )
        return
    cells = [cell_values(s, threshold=threshold, ceiling=total) for s in shown]
    for n, (value, text) in enumerate(zip(values, shown, strict=True)):
        assert value in cells[n]
        if 0 < value < threshold:
            assert text == f"<{threshold}"
            assert len(possible_values(cells, n, sums)) > 1, (values, shown)


SUBJECT = st.tuples(
    st.sampled_from(["F", "M", "O", None]),
    st.sampled_from(["034Y", "041Y", "047Y", "063Y", "091Y", None]),
    st.lists(
        st.tuples(
            st.sampled_from(["20190301", "20200611", "20211201", ""]),
            st.lists(st.sampled_from(["CT", "MR", "PT"]), min_size=1, max_size=2),
        ),
        min_size=1,
        max_size=2,
    ),
    st.sampled_from([None, ("C34.1", 2019), ("C50.9", None)]),
)


@settings(max_examples=150, deadline=None)
@given(people=st.lists(SUBJECT, min_size=1, max_size=24), threshold=st.sampled_from([3, 5]))
def test_no_public_distribution_of_a_random_cohort_pins_a_small_count(
    people: list[tuple[Any, ...]], threshold: int
) -> None:
    series, studies, clinical = [], [], []
    for p, (sex, age, its_studies, diagnosis) in enumerate(people):
        for s, (date, modalities) in enumerate(its_studies):
            studies.append(StudyFacts(f"P{p}", f"P{p}.{s}", sex, age, date))
            series += [SeriesFacts(f"P{p}", f"P{p}.{s}", m, "CHEST", "Siemens") for m in modalities]
        if diagnosis is not None:
            clinical.append(SubjectFacts(f"P{p}", diagnosis=diagnosis[0], diagnosis_year=diagnosis[1]))
    exact = aggregate(series, studies, clinical)
    view = public_aggregates(exact, threshold=threshold)
    assert pinned_cells(exact, view, threshold=threshold) == []
