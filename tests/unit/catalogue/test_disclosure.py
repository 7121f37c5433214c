"""Suppression of small cells in the public view."""

from __future__ import annotations

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, aggregate
from eucaim.catalogue.disclosure import public_aggregates, suppress_count


def _cohort(n_subjects: int) -> dict:
    series = [
        SeriesFacts(f"S{n}", f"s{n}", "CT" if n else "MR", "CHEST", "Siemens", 2, 10)
        for n in range(n_subjects)
    ]
    studies = [StudyFacts(f"S{n}", f"s{n}", "F", f"{40 + n:03d}Y", "20200101") for n in range(n_subjects)]
    return aggregate(series, studies)


def test_counts_from_one_to_threshold_minus_one_are_suppressed() -> None:
    assert [suppress_count(v, 5) for v in (0, 1, 4, 5, 6)] == [0, "<5", "<5", 5, 6]
    assert suppress_count(9, 10) == "<10"


def test_public_view_suppresses_every_small_cell_but_keeps_large_ones() -> None:
    view = public_aggregates(_cohort(8), threshold=5)
    assert (view["subjects"], view["studies"], view["instances"]) == (8, 8, 16)
    rows = {r["label"]: r for r in view["modality"]}
    # 7 is hidden too, or 8 - 7 would give the small cell away (complementary suppression).
    assert rows["Computed Tomography"]["studies"] == ">=5"
    assert rows["Magnetic Resonance"] == {
        "label": "Magnetic Resonance", "code": "MR", "system": "DCM", "subjects": "<5", "studies": "<5",
        "series": "<5",
    }  # fmt: skip
    assert view["ageYears"] == {
        "min": 40,
        "max": 49,  # 47 widened to the end of its 5-year band
        "suppressed": False,
        "unknownSubjects": 0,
        "unknownStudies": 0,
    }


def test_ranges_of_few_subjects_are_withheld_and_threshold_one_shows_all() -> None:
    small = public_aggregates(_cohort(3), threshold=5)
    assert small["subjects"] == "<5"
    assert small["ageYears"]["min"] is None and small["ageYears"]["suppressed"] is True
    assert small["acquisitionYear"]["max"] is None
    exact = public_aggregates(_cohort(3), threshold=1)
    assert exact["subjects"] == 3 and exact["ageYears"]["min"] == 40


def test_public_age_range_is_widened_to_five_year_bands() -> None:
    series = [SeriesFacts(f"S{n}", f"s{n}", "CT") for n in range(6)]
    studies = [
        StudyFacts(f"S{n}", f"s{n}", "F", age)
        for n, age in enumerate(["032Y", "045Y", "000D", "072Y", "050Y", "044Y"])
    ]
    view = public_aggregates(aggregate(series, studies), threshold=5)
    assert (view["ageYears"]["min"], view["ageYears"]["max"]) == (0, 74)
