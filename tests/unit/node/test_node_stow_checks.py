"""Per-instance STOW decisions: header reading, de-identification gate, study match, re-sends."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from eucaim.dicomweb.multipart import SpooledPart
from eucaim.dicomweb.status import FailureReason
from eucaim.node.dicomweb.header import UnreadableInstance, read_instance_header
from eucaim.node.dicomweb.stow import check_against_stored, check_instance, check_part_envelope
from tests.support.node_server import deidentified_instance


@pytest.fixture
def instance(tmp_path: Path) -> Path:
    deidentified_instance(
        tmp_path / "i.dcm", modality="MR", BodyPartExamined="BRAIN", Manufacturer="ACME", NumberOfFrames=1
    )
    return tmp_path / "i.dcm"


def test_header_carries_identity_and_index_values(instance: Path) -> None:
    header = read_instance_header(instance)
    assert header.sop_class_uid == "1.2.840.10008.5.1.4.1.1.4"
    assert header.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert header.patient_identity_removed == "YES"
    assert header.study_values["patient_id"] == "EUCAIM-0001"
    assert header.study_values["patient_age"] == "054Y"
    assert header.series_values["modality"] == "MR"
    assert header.series_values["body_part_examined"] == "BRAIN"
    assert header.instance_values["rows"] == 8 and header.instance_values["number_of_frames"] == 1


def _cut_point(path: Path, where: str) -> int:
    """Return the length to keep so the file ends at ``where``."""
    ds = pydicom.dcmread(path)
    size = path.stat().st_size
    pixel_value_at = ds.get_item(0x7FE00010).value_tell
    return {
        "in-pixels": size - 1,
        "in-pixels-more": size - 40,
        "in-a-uid": ds.get_item(0x0020000D).value_tell + 10,
        "in-the-pixel-element-header": pixel_value_at - 8,  # explicit VR OW header is 12 bytes
    }[where]


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("in-pixels", "truncated"),
        ("in-pixels-more", "truncated"),
        ("in-a-uid", "truncated"),
        ("in-the-pixel-element-header", "truncated"),
    ],
)
def test_cut_files_are_refused(instance: Path, tmp_path: Path, where: str, reason: str) -> None:
    short = tmp_path / "short.dcm"
    short.write_bytes(instance.read_bytes()[: _cut_point(instance, where)])
    with pytest.raises(UnreadableInstance) as caught:
        read_instance_header(short)
    assert caught.value.reason == reason
    if reason == "truncated":
        assert caught.value.identity.sop_instance_uid is not None  # still named in the response


def test_not_dicom_and_missing_uids(tmp_path: Path) -> None:
    text = tmp_path / "t.txt"
    text.write_bytes(b"hello" * 100)
    with pytest.raises(UnreadableInstance) as not_dicom:
        read_instance_header(text)
    assert not_dicom.value.reason == "not_dicom"
    ds = deidentified_instance(tmp_path / "x.dcm")
    del ds.SeriesInstanceUID
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    with pytest.raises(UnreadableInstance, match="SeriesInstanceUID") as missing:
        read_instance_header(tmp_path / "x.dcm")
    assert missing.value.reason == "missing_attribute"


@pytest.mark.parametrize(("value", "refused"), [("YES", False), ("NO", True), (None, True)])
def test_identity_removed_gate(tmp_path: Path, value: str | None, refused: bool) -> None:
    deidentified_instance(tmp_path / "i.dcm", identity_removed=value)
    failure = check_instance(read_instance_header(tmp_path / "i.dcm"), url_study_uid=None)
    assert (failure is not None) == refused
    if failure is not None:
        assert failure.failure_reason == FailureReason.NOT_DEIDENTIFIED


def test_study_in_url_must_match(instance: Path) -> None:
    header = read_instance_header(instance)
    assert check_instance(header, url_study_uid=header.study_instance_uid) is None
    failure = check_instance(header, url_study_uid="1.2.3")
    assert failure is not None and failure.failure_reason == FailureReason.PROCESSING_FAILURE


def test_resend_rules(instance: Path) -> None:
    header = read_instance_header(instance)
    assert check_against_stored(header, stored_sha256=None, received_sha256="a") is None
    assert check_against_stored(header, stored_sha256="a", received_sha256="a") is None
    failure = check_against_stored(header, stored_sha256="a", received_sha256="b")
    assert failure is not None and failure.failure_reason == FailureReason.DUPLICATE_SOP_INSTANCE


def test_envelope_checks(tmp_path: Path) -> None:
    part = SpooledPart(index=1, path=tmp_path / "p", headers={"content-type": "text/plain"}, complete=True)
    failure = check_part_envelope(part)
    assert failure is not None and failure.comment == "part 2 is text/plain, not application/dicom"
    untyped = SpooledPart(index=0, path=tmp_path / "p", complete=True)
    assert check_part_envelope(untyped) is None
    cut = SpooledPart(index=0, path=tmp_path / "p", complete=False)
    failure = check_part_envelope(cut, spool_error="body ended")
    assert failure is not None and failure.comment == "part 1 is incomplete: body ended"
