"""Age-band and acquisition-year histograms: exact counts, suppression per bin, withheld with their range."""

from __future__ import annotations

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, SubjectFacts, age_band, aggregate
from eucaim.catalogue.disclosure import public_aggregates


def _rows(rows: list[dict]) -> list[tuple[str, object, object]]:
    return [(r["label"], r["subjects"], r["studies"]) for r in rows]


def test_ages_fall_in_five_year_bands_with_an_open_top_band() -> None:
    assert [age_band(a) for a in (0, 4, 5, 44, 45, 89, 90, 104)] == [
        (0, 4), (0, 4), (5, 9), (40, 44), (45, 49), (85, 89), (90, None), (90, None),
    ]  # fmt: skip


def test_histograms_count_subjects_and_studies_per_bin_in_order_with_unknown_last() -> None:
    series = [SeriesFacts("A", "a1"), SeriesFacts("A", "a2"), SeriesFacts("B", "b1"), SeriesFacts("C", "c1")]
    studies = [
        StudyFacts("A", "a1", age="041Y", date="20210101"),
        StudyFacts("A", "a2", age="046Y", date="20190101"),  # one subject, two bands: counted in both
        StudyFacts("B", "b1", age="093Y", date="20190505"),
        StudyFacts("C", "c1"),  # no age, no date
    ]
    agg = aggregate(series, studies)
    assert _rows(agg["ageGroups"]) == [("40-44", 1, 1), ("45-49", 1, 1), ("90+", 1, 1), ("Unknown", 1, 1)]
    assert _rows(agg["acquisitionYears"]) == [("2019", 2, 2), ("2021", 1, 1), ("Unknown", 1, 1)]
    # The clinical age at diagnosis wins over DICOM for every study of its subject.
    clinical = aggregate(series, studies, [SubjectFacts("A", age_at_diagnosis=62.9)])
    assert _rows(clinical["ageGroups"])[0] == ("60-64", 1, 2)


def _cohort(n: int) -> dict:
    series = [SeriesFacts(f"S{i}", f"s{i}", "CT") for i in range(n)]
    studies = [
        StudyFacts(f"S{i}", f"s{i}", age=f"{41 + (i % 2) * 30:03d}Y", date=f"20{19 + i % 2}0101")
        for i in range(n)
    ]
    studies[0] = StudyFacts("S0", "s0")  # one unknown of each
    return aggregate(series, studies)


def test_public_bins_are_suppressed_like_every_other_count() -> None:
    view = public_aggregates(_cohort(12), threshold=5)
    # 12 - 5 - 6 would give the Unknown bin away: both others are hidden as well (complementary).
    hidden = [("40-44", ">=5", ">=5"), ("70-74", ">=5", ">=5"), ("Unknown", "<5", "<5")]
    assert _rows(view["ageGroups"]) == hidden
    assert _rows(view["acquisitionYears"]) == [("2019", *hidden[0][1:]), ("2020", *hidden[1][1:]), hidden[2]]
    assert public_aggregates(_cohort(12), threshold=7)["ageGroups"][0]["subjects"] == "<7"


def test_bins_are_withheld_when_their_range_is() -> None:
    view = public_aggregates(_cohort(4), threshold=5)
    assert view["ageYears"]["suppressed"] and view["acquisitionYear"]["suppressed"]
    assert view["ageGroups"] == [] and view["acquisitionYears"] == []
    exact = public_aggregates(_cohort(4), threshold=1)
    assert [r["label"] for r in exact["ageGroups"]] == ["40-44", "70-74", "Unknown"]
