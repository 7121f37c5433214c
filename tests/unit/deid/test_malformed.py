"""Malformed input is refused or quarantined with a reason: never a crash, never passed on as is."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile
from eucaim.dicom.synthetic_malformed import write_malformed_examples
from eucaim.errors import DeidentificationError, EucaimError, InvalidDicomError

from .conftest import PHI, SECRET, make_instance

EUCAIM = Deidentifier(load_profile("eucaim"), SECRET)


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("not_dicom", "not_dicom"),
        ("truncated", "truncated"),
        ("unreadable", "unreadable"),
        ("no_sop_uid", "missing_attribute"),
        ("empty", "empty"),
    ],
)
def test_scanner_failure_modes_are_refused(tmp_path: Path, kind: str, reason: str) -> None:
    src = write_malformed_examples(tmp_path / "in")[kind]
    dst = tmp_path / "out" / "x.dcm"
    with pytest.raises(InvalidDicomError) as info:
        deidentify_file(src, dst, EUCAIM)
    assert info.value.path == src
    assert info.value.reason == reason
    assert src.name in str(info.value)  # says what failed, on which file
    assert not dst.exists()


def _raw(tag: int, vr: str, value: bytes) -> RawDataElement:
    return RawDataElement(Tag(tag), vr, len(value), value, 0, False, True)


@pytest.mark.parametrize(
    ("tag", "vr", "value"),
    [
        (0x00080018, "UI", b"1.2.abc.\x00\x00"),  # invalid SOPInstanceUID characters
        (0x00080020, "DA", b"2019-99-99"),  # impossible date
        (0x0008002A, "DT", b"yesterday"),
        (0x00101010, "AS", b"fifty"),
        (0x00181030, "LO", PHI["name"].encode() * 3000),  # huge value in a cleaned descriptor
        (0x00100010, "UN", PHI["name"].encode()),  # explicit UN on a public tag: still a name
    ],
)
def test_invalid_values_are_handled_not_passed_through(
    tmp_path: Path, tag: int, vr: str, value: bytes
) -> None:
    ds = make_instance()
    ds[tag] = _raw(tag, vr, value)
    src = tmp_path / "in.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the invalid values planted on purpose
        ds.save_as(src, enforce_file_format=True)
    dst = tmp_path / "out.dcm"
    try:
        deidentify_file(src, dst, EUCAIM)
    except DeidentificationError as exc:
        assert exc.reason
        assert not dst.exists()
        return
    data = dst.read_bytes()
    if vr in ("UI", "DA", "DT", "UN") or tag == 0x00181030:
        assert value.strip(b"\x00") not in data  # remapped, shifted/emptied or scrubbed
    assert PHI["name"].encode() not in data


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_bytes_never_crash(data: st.DataObject) -> None:
    import io

    buffer = io.BytesIO()
    make_instance().save_as(buffer, enforce_file_format=True)
    original = bytearray(buffer.getvalue())
    header_end = len(original) - 128  # the 128 pixel bytes at the end; damage the header
    for _ in range(data.draw(st.integers(min_value=1, max_value=6))):
        position = data.draw(st.integers(min_value=128, max_value=header_end - 1))
        original[position] = data.draw(st.integers(min_value=0, max_value=255))
    if data.draw(st.booleans()):
        original = original[: data.draw(st.integers(min_value=0, max_value=len(original)))]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        src.write_bytes(bytes(original))
        try:
            deidentify_file(src, dst, EUCAIM)
        except EucaimError:
            assert not dst.exists()
