"""Aggregation of known cohorts: subjects vs studies, every series read, age 0, unknowns, clinical wins."""

from __future__ import annotations

from eucaim.catalogue.aggregation import SeriesFacts, StudyFacts, SubjectFacts, age_in_years, aggregate


def _rows(agg: dict, key: str) -> dict[str, dict]:
    return {row["label"]: row for row in agg[key]}


def test_subjects_and_studies_are_counted_separately_and_every_series_is_read() -> None:
    # Subject A has two studies (a PET/CT and an MR), subject B one CT study with two CT series.
    series = [
        SeriesFacts("A", "a1", "CT", "CHEST", "SIEMENS Healthineers", 100, 1000),
        SeriesFacts("A", "a1", "PT", "CHEST", "GE MEDICAL SYSTEMS", 50, 500),
        SeriesFacts("A", "a2", "MR", "Brain", "Philips", 20, 200),
        SeriesFacts("B", "b1", "CT", "CHEST", "Siemens", 10, 100),
        SeriesFacts("B", "b1", "CT", "ABDOMEN", "TOSHIBA", 10, 100),
    ]
    studies = [
        StudyFacts("A", "a1", "F", "054Y", "20190301"),
        StudyFacts("A", "a2", "F", "055Y", "20200401"),
        StudyFacts("B", "b1", "M", "061Y", "20210101"),
    ]
    agg = aggregate(series, studies)
    assert (agg["subjects"], agg["studies"], agg["series"], agg["instances"], agg["sizeBytes"]) == (
        2, 3, 5, 190, 1900,
    )  # fmt: skip
    modality = _rows(agg, "modality")
    ct = modality["Computed Tomography"]
    assert (ct["code"], ct["system"], ct["subjects"], ct["studies"], ct["series"]) == ("CT", "DCM", 2, 2, 3)
    assert modality["Positron Emission Tomography"]["studies"] == 1
    assert modality["Magnetic Resonance"]["subjects"] == 1
    # The second series of B's study is read too: its body part and maker are counted.
    assert _rows(agg, "bodyPart")["Abdomen"]["series"] == 1
    assert _rows(agg, "bodyPart")["Brain"]["code"] == "12738006"
    makers = _rows(agg, "manufacturer")
    assert makers["Siemens"]["subjects"] == 2 and makers["Siemens"]["series"] == 2
    assert set(makers) == {"Siemens", "GE", "Philips", "Canon"}
    sex = _rows(agg, "sex")
    assert sex["Female"]["subjects"] == 1 and sex["Female"]["studies"] == 2
    assert sex["Male"] == {
        "label": "Male",
        "code": "248153007",
        "system": "SNOMED-CT",
        "subjects": 1,
        "studies": 1,
    }
    assert agg["ageYears"] == {"min": 54, "max": 61, "unknownSubjects": 0, "unknownStudies": 0}
    assert agg["acquisitionYear"] == {"min": 2019, "max": 2021, "unknownStudies": 0}


def test_age_zero_is_an_age_and_an_unknown_upper_bound_is_none() -> None:
    assert age_in_years("000D") == 0.0
    assert age_in_years("006M") == 0.5
    assert age_in_years("") is None and age_in_years("54") is None and age_in_years(None) is None
    newborn = aggregate([SeriesFacts("N", "n1", "US")], [StudyFacts("N", "n1", "M", "000D", "20200101")])
    assert newborn["ageYears"] == {"min": 0, "max": 0, "unknownSubjects": 0, "unknownStudies": 0}
    unknown = aggregate([SeriesFacts("U", "u1", "CT")], [StudyFacts("U", "u1", None, None, None)])
    assert unknown["ageYears"] == {"min": None, "max": None, "unknownSubjects": 1, "unknownStudies": 1}
    assert unknown["acquisitionYear"] == {"min": None, "max": None, "unknownStudies": 1}


def test_missing_values_are_counted_as_unknown_and_listed_last() -> None:
    series = [
        SeriesFacts(f"S{n}", f"s{n}", None if n % 3 == 0 else "CT", None, "" if n % 2 else "Acme Imaging")
        for n in range(6)
    ]
    studies = [StudyFacts(f"S{n}", f"s{n}", "X" if n == 0 else "F", "040Y") for n in range(6)]
    agg = aggregate(series, studies)
    assert [r["label"] for r in agg["modality"]] == ["Computed Tomography", "Unknown"]
    assert agg["modality"][-1]["studies"] == 2
    assert _rows(agg, "bodyPart") == {
        "Unknown": {
            "label": "Unknown",
            "code": None,
            "system": None,
            "subjects": 6,
            "studies": 6,
            "series": 6,
        }
    }
    assert _rows(agg, "manufacturer")["Other"]["studies"] == 3  # a maker outside the table
    assert _rows(agg, "manufacturer")["Unknown"]["studies"] == 3
    assert _rows(agg, "sex")["Unknown"]["subjects"] == 1  # "X" is no sex DICOM defines


def test_clinical_values_win_over_dicom_for_the_subjects_that_have_them() -> None:
    series = [SeriesFacts("A", "a1", "MR"), SeriesFacts("B", "b1", "MR"), SeriesFacts("C", "c1", "MR")]
    studies = [StudyFacts("A", "a1", "M", "050Y"), StudyFacts("B", "b1", "F", "030Y"), StudyFacts("C", "c1")]
    clinical = [
        SubjectFacts("A", sex="female", age_at_diagnosis=48.7, diagnosis="8500/3", diagnosis_year=2015),
        SubjectFacts("C", sex=None, age_at_diagnosis=0.0, diagnosis="Control"),
        SubjectFacts("Z", sex="male", age_at_diagnosis=99),  # not in the dataset: ignored
    ]
    agg = aggregate(series, studies, clinical)
    assert agg["clinicalSubjects"] == 2
    assert _rows(agg, "sex")["Female"]["subjects"] == 2  # A from clinical, B from DICOM
    assert "Male" not in _rows(agg, "sex")
    assert _rows(agg, "sex")["Unknown"]["subjects"] == 1  # C: neither says
    assert agg["ageYears"] == {"min": 0, "max": 48, "unknownSubjects": 0, "unknownStudies": 0}
    assert set(_rows(agg, "diagnosis")) == {"8500/3", "Control", "Unknown"}
    assert agg["diagnosisYear"] == {"min": 2015, "max": 2015, "unknownSubjects": 2}


def test_a_study_without_a_study_row_still_counts_and_the_output_names_no_key() -> None:
    agg = aggregate([SeriesFacts("PSEUDO-1", "1.2.3.4", "CT")], [])
    assert agg["subjects"] == 1 and agg["studies"] == 1
    assert "PSEUDO-1" not in repr(agg) and "1.2.3.4" not in repr(agg)
