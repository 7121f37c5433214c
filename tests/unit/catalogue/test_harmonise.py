"""Harmonisation tables: modality, body part, manufacturer and sex to coded terms."""

from __future__ import annotations

from eucaim.catalogue.harmonise import (
    Term,
    body_part_term,
    find_terms,
    manufacturer_term,
    modality_term,
    sex_term,
)


def test_values_map_to_codes_and_labels() -> None:
    assert modality_term(" ct ") == Term("Computed Tomography", "CT", "DCM")
    assert modality_term("XC") == Term("XC", "XC", "DCM")
    assert modality_term(None).is_unknown
    assert body_part_term("head neck") == Term("Head and Neck", "774007", "SNOMED-CT")
    assert body_part_term("Thorax") == body_part_term("CHEST")
    assert body_part_term("FOOT") == Term("Foot")
    assert sex_term("female") == sex_term("F") == Term("Female", "248152002", "SNOMED-CT")
    assert sex_term("unknown").is_unknown and sex_term("").is_unknown


def test_manufacturers_are_grouped_by_substring() -> None:
    assert manufacturer_term("SIEMENS Healthineers").label == "Siemens"
    assert manufacturer_term("GE MEDICAL SYSTEMS").label == "GE"
    assert manufacturer_term("ge").label == "GE"
    assert manufacturer_term("Toshiba").label == "Canon"
    assert manufacturer_term("Generic Scanner Co").label == "Other"  # 'ge' inside a word is not GE
    assert manufacturer_term("  ").is_unknown


def test_search_values_find_terms_by_code_label_or_raw_value() -> None:
    assert "computed tomography" in find_terms("modality", "CT")
    assert "computed tomography" in find_terms("modality", "computed tomography")
    assert "chest" in find_terms("bodyPart", "51185008")
    assert "female" in find_terms("sex", "F")
