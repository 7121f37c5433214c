"""The engine, rule family by rule family, on synthetic instances with planted identity."""

from __future__ import annotations

import copy
import warnings

import pytest
from pydicom import Dataset
from pydicom.uid import CTImageStorage

from eucaim.deid.engine import Deidentifier
from eucaim.deid.profile import load_profile
from eucaim.deid.pseudonym import derive_day_offset, derive_patient_pseudonym, derive_uid
from eucaim.errors import DeidentificationError

from .conftest import PHI, SECRET, make_instance


def _shift(date: str, days: int) -> str:
    import datetime as dt

    day = dt.date(int(date[:4]), int(date[4:6]), int(date[6:]))
    return (day + dt.timedelta(days=days)).strftime("%Y%m%d")


def test_patient_identity_becomes_the_keyed_pseudonym(eucaim: Deidentifier, instance: Dataset) -> None:
    out = eucaim.deidentify(instance)
    expected = derive_patient_pseudonym(SECRET, PHI["patient_id"])
    assert out.pseudonym == expected
    assert out.original_patient_id == PHI["patient_id"]
    assert out.dataset.PatientID == expected
    assert str(out.dataset.PatientName) == expected
    assert expected.startswith("EUCAIM-")


def test_pseudonym_format_is_configurable(instance: Dataset) -> None:
    d = Deidentifier(load_profile("eucaim"), SECRET, pseudonym_format="SITE1-{hex}")
    assert d.deidentify(instance).dataset.PatientID.startswith("SITE1-")


def test_pseudonym_format_too_long_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="64"):
        Deidentifier(load_profile("eucaim"), SECRET, pseudonym_format="X" * 60 + "{hex}")


def test_uids_are_remapped_at_every_depth_and_in_file_meta(eucaim: Deidentifier, instance: Dataset) -> None:
    out = eucaim.deidentify(instance).dataset
    assert out.SOPInstanceUID == derive_uid(SECRET, PHI["sop_uid"])
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.StudyInstanceUID == derive_uid(SECRET, PHI["study_uid"])
    assert out.FrameOfReferenceUID == derive_uid(SECRET, PHI["for_uid"])
    ref = out.ReferencedImageSequence[0]
    assert ref.ReferencedSOPInstanceUID == derive_uid(SECRET, PHI["ref_uid"])
    # Class and well-known UIDs are not identifying and must stay valid.
    assert out.SOPClassUID == CTImageStorage
    assert ref.ReferencedSOPClassUID == CTImageStorage
    assert out.file_meta.MediaStorageSOPClassUID == CTImageStorage
    assert out.file_meta.TransferSyntaxUID == instance.file_meta.TransferSyntaxUID


def test_multivalued_uids_are_each_remapped(eucaim: Deidentifier, instance: Dataset) -> None:
    instance.add_new(0x00081160, "IS", [1, 2])  # ReferencedFrameNumber, kept
    instance.RelatedGeneralSOPClassUID = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]
    instance.add_new(0x00209161, "UI", [PHI["deep_uid"], "1.2.840.10008.1.2"])  # ConcatenationUID
    out = eucaim.deidentify(instance).dataset
    assert list(out[0x00209161].value) == [derive_uid(SECRET, PHI["deep_uid"]), "1.2.840.10008.1.2"]
    assert list(out.RelatedGeneralSOPClassUID) == ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]


def test_dates_shift_by_the_patients_offset_in_eucaim(eucaim: Deidentifier, instance: Dataset) -> None:
    out = eucaim.deidentify(instance)
    days = derive_day_offset(SECRET, PHI["patient_id"])
    assert out.day_offset == days
    ds = out.dataset
    assert ds.StudyDate == _shift(PHI["study_date"], days)
    assert ds.AcquisitionDate == _shift(PHI["study_date"], days)  # EUCAIM needs it, shifted
    assert ds.StudyTime == "101500"  # times of day stay
    assert ds.AcquisitionDateTime == _shift(PHI["study_date"], days) + "101500.123456+0100"
    nested = ds.ContributingEquipmentSequence[0]
    assert nested.ContributionDateTime == _shift(PHI["nested_date"], days) + "120000"
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "PatientBirthDate" not in ds or not ds.PatientBirthDate


def test_same_patient_same_offset_other_patient_other_offset(eucaim: Deidentifier) -> None:
    a = eucaim.deidentify(make_instance()).day_offset
    b = eucaim.deidentify(make_instance(sop_uid="1.2.3.9")).day_offset
    c = eucaim.deidentify(make_instance(patient_id="SOMEONE-ELSE")).day_offset
    assert a == b
    assert a != c


def test_basic_profile_removes_or_dummies_dates(basic: Deidentifier, instance: Dataset) -> None:
    ds = basic.deidentify(instance).dataset
    assert ds.StudyDate in ("", None)  # Z
    assert ds.ContentDate == "19000101"  # Z/D resolved by type 1 -> dummy
    assert "AcquisitionDate" not in ds  # X/Z on a type 3 -> removed
    assert "ContributionDateTime" not in ds.ContributingEquipmentSequence[0]
    assert ds.LongitudinalTemporalInformationModified == "REMOVED"


def test_unparseable_date_is_emptied_with_a_warning(eucaim: Deidentifier, instance: Dataset) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns on the invalid value we plant on purpose
        instance.StudyDate = "2019XX03"
    out = eucaim.deidentify(instance)
    assert not out.dataset.StudyDate
    assert any("StudyDate" in w for w in out.warnings)
    assert "2019XX03" not in " ".join(out.warnings)


def test_default_deny_removes_unlisted_public_attributes(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert "SOPAuthorizationComment" not in ds
    assert "InstitutionName" not in ds
    assert "OtherPatientIDs" not in ds
    assert "ImageComments" not in ds  # long free text is removed, never "cleaned"


def test_eucaim_keeps_what_the_node_needs(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert ds.PatientAge == "058Y"
    assert ds.PatientSex == "F"
    assert float(ds.PatientWeight) == 71.5
    assert float(ds.PatientSize) == 1.68
    assert ds.BodyPartExamined == "CHEST"
    assert ds.Modality == "CT"
    assert ds.Manufacturer == "ACME"
    assert ds.ManufacturerModelName == "Scanner 9000"
    assert float(ds.SliceThickness) == 1.25
    assert list(ds.PixelSpacing) == [0.7, 0.7]
    assert ds.PixelData == instance.PixelData
    assert ds.ProtocolName == "CHEST ROUTINE"


def test_descriptors_are_cleaned_of_identifying_values(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert ds.SeriesDescription == "AX LUNG"
    assert ds.StudyDescription == "CT THORAX"


def test_basic_profile_removes_patient_characteristics(basic: Deidentifier, instance: Dataset) -> None:
    ds = basic.deidentify(instance).dataset
    assert "PatientAge" not in ds
    assert "PatientWeight" not in ds
    assert "SeriesDescription" not in ds


def test_private_elements_and_creators_are_removed(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert not [e for e in ds.iterall() if e.tag.is_private]


def test_nested_sequences_are_cleaned_three_deep(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    # ContributingEquipmentSequence is not kept by any rule: default-deny removes it whole.
    assert "ContributingEquipmentSequence" not in ds or all(
        "InstitutionName" not in item for item in ds.ContributingEquipmentSequence
    )
    texts = [str(e.value) for e in ds.iterall() if e.VR in ("PN", "LO", "SH", "DA", "DT", "UI")]
    for value in (PHI["nested_name"], PHI["institution"], PHI["station"], PHI["deep_uid"]):
        assert value not in texts


def test_kept_sequence_items_are_cleaned(eucaim: Deidentifier, instance: Dataset) -> None:
    item = instance.ReferencedImageSequence[0]
    item.PatientName = PHI["name"]  # identity hidden inside a kept sequence
    item.AccessionNumber = PHI["accession"]
    ds = eucaim.deidentify(instance).dataset
    out = ds.ReferencedImageSequence[0]
    assert str(out.get("PatientName", "")) != PHI["name"]
    assert not out.get("AccessionNumber")


def test_declares_deidentification(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethod == "eucaim 1 (eucaim-transfer)"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in ds.DeidentificationMethodCodeSequence]
    assert codes == [
        ("113100", "DCM"),
        ("113104", "DCM"),
        ("113105", "DCM"),
        ("113107", "DCM"),
        ("113108", "DCM"),
        ("113111", "DCM"),
    ]


def test_basic_profile_declares_only_113100(basic: Deidentifier, instance: Dataset) -> None:
    ds = basic.deidentify(instance).dataset
    assert [i.CodeValue for i in ds.DeidentificationMethodCodeSequence] == ["113100"]


def test_file_meta_is_rebuilt_without_source_identity(eucaim: Deidentifier, instance: Dataset) -> None:
    ds = eucaim.deidentify(instance).dataset
    assert "SourceApplicationEntityTitle" not in ds.file_meta


def test_deterministic(eucaim: Deidentifier) -> None:
    a = eucaim.deidentify(make_instance())
    b = Deidentifier(load_profile("eucaim"), SECRET).deidentify(make_instance())
    assert a.dataset == b.dataset
    assert a.audit == b.audit


def test_other_secret_other_pseudonyms_and_uids(eucaim: Deidentifier) -> None:
    a = eucaim.deidentify(make_instance()).dataset
    b = Deidentifier(load_profile("eucaim"), b"another-secret-of-16+").deidentify(make_instance()).dataset
    assert a.PatientID != b.PatientID
    assert a.SOPInstanceUID != b.SOPInstanceUID


def test_audit_names_actions_by_path_never_values(eucaim: Deidentifier, instance: Dataset) -> None:
    out = eucaim.deidentify(instance)
    actions = out.audit["actions"]
    assert isinstance(actions, dict)
    assert actions["PatientName"] == "pseudonym"
    assert actions["SOPAuthorizationComment"] == "remove"
    assert actions["ReferencedImageSequence>ReferencedSOPInstanceUID"] == "uid"
    assert out.audit["profile"] == {
        "name": "eucaim",
        "version": eucaim.profile.version,
        "sha256": eucaim.profile.sha256,
    }
    flat = repr(out.audit)
    for value in PHI.values():
        assert value not in flat


def test_missing_patient_id_uses_the_study(eucaim: Deidentifier, instance: Dataset) -> None:
    del instance.PatientID
    out = eucaim.deidentify(instance)
    assert out.pseudonym.startswith("EUCAIM-")
    assert out.warnings


def test_no_patient_id_and_no_study_fails_closed(eucaim: Deidentifier, instance: Dataset) -> None:
    del instance.PatientID
    del instance.StudyInstanceUID
    with pytest.raises(DeidentificationError) as info:
        eucaim.deidentify(instance)
    assert info.value.reason == "missing_patient_id"


def test_overlays_and_curves_are_removed(eucaim: Deidentifier, instance: Dataset) -> None:
    instance.add_new(0x60000010, "US", 8)
    instance.add_new(0x60003000, "OW", b"\xff" * 8)
    instance.add_new(0x50000020, "CS", "ROI")
    ds = eucaim.deidentify(instance).dataset
    assert not [t for t in ds.keys() if 0x5000 <= (t >> 16) <= 0x60FF]


def test_deidentify_does_not_depend_on_input_order(eucaim: Deidentifier) -> None:
    original = make_instance()
    again = copy.deepcopy(original)
    assert eucaim.deidentify(original).dataset == eucaim.deidentify(again).dataset


def test_eucaim_drops_patient_free_text_that_options_would_keep(
    eucaim: Deidentifier, instance: Dataset
) -> None:
    instance.Occupation = "Teacher"
    instance.Allergies = "Penicillin"
    instance.ReasonForStudy = "follow-up"
    ds = eucaim.deidentify(instance).dataset
    assert "Occupation" not in ds and "Allergies" not in ds and "ReasonForStudy" not in ds
