"""The fast de-identification path writes exactly what the reference path wrote, byte for byte.

Two checks. The golden corpus (``golden.py``: pydicom's test files under both profiles, the
synthetic cohort, a highdicom SEG) must give the same output digests as the reference commit.
And the writer must give, for every dataset the engine returns, the bytes pydicom's own
``save_as`` gives for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pydicom
import pydicom.data
import pytest

from eucaim.deid import encode
from eucaim.deid.declare import rebuild_file_meta
from eucaim.deid.files import read_dicom
from eucaim.deid.quiet import pydicom_quiet
from eucaim.errors import DeidentificationError, InvalidDicomError

from .golden import GOLDEN, cases, compute, site_profile


def test_every_golden_output_is_unchanged(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = compute(tmp_path)
    assert sorted(now) == sorted(golden), "the golden corpus changed: regenerate golden_outputs.json"
    changed_input = [name for name in golden if golden[name]["input"] != now[name]["input"]]
    assert changed_input == [], "inputs changed (pydicom or highdicom upgraded?): regenerate"
    changed = {name: now[name]["output"] for name in golden if golden[name]["output"] != now[name]["output"]}
    assert changed == {}, f"{len(changed)} of {len(golden)} outputs differ from the reference"


def _deidentified(tmp_path: Path) -> Iterator[tuple[str, pydicom.Dataset]]:
    """Every dataset the engine returns for the golden corpus (refused inputs left out)."""
    for name, src, deidentifier in cases(tmp_path):
        with pydicom_quiet():
            try:
                yield name, deidentifier.deidentify(read_dicom(src)).dataset
            except (InvalidDicomError, DeidentificationError):
                continue


def _pydicom_bytes(ds: pydicom.Dataset) -> bytes | str:
    buffer = BytesIO()
    try:
        with pydicom_quiet():
            ds.save_as(buffer, enforce_file_format=True)
    except Exception as exc:  # the fast writer must fail where pydicom fails
        return type(exc).__name__
    return buffer.getvalue()


def test_writer_gives_pydicoms_bytes_for_every_engine_output(tmp_path: Path) -> None:
    differ, fast, syntaxes_fast = [], 0, set()
    for name, ds in _deidentified(tmp_path):
        syntax = str(ds.file_meta.TransferSyntaxUID)
        try:
            with pydicom_quiet():
                ours: bytes | str = b"".join(encode._encode_fast(ds))
            fast += 1
            syntaxes_fast.add(syntax)
        except encode._Unsupported:
            with pydicom_quiet():
                ours = encode.encode_part10(ds)
        except Exception as exc:
            ours = type(exc).__name__
        # encode first: save_as changes the dataset it writes (PixelData, file meta).
        if ours != _pydicom_bytes(ds):
            differ.append(name)
    assert differ == []
    # The fast path is the one that ran, for both little endian syntaxes.
    assert fast > 550 and syntaxes_fast == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


@pytest.mark.parametrize(
    ("name", "syntax"),
    [("MR_small_bigendian.dcm", "1.2.840.10008.1.2.2"), ("image_dfl.dcm", "1.2.840.10008.1.2.1.99")],
)
def test_big_endian_and_deflated_files_are_left_to_pydicom(name: str, syntax: str, tmp_path: Path) -> None:
    path = Path(pydicom.data.__file__).parent / "test_files" / name
    with pydicom_quiet():
        ds = site_profile("eucaim", tmp_path).deidentify(read_dicom(path)).dataset
    assert ds.file_meta.TransferSyntaxUID == syntax
    with pytest.raises(encode._Unsupported):
        encode._encode_fast(ds)
    with pydicom_quiet():
        assert encode.encode_part10(ds) == _pydicom_bytes(ds)


def test_folder_deid_writes_each_file_once_in_its_final_place(tmp_path: Path) -> None:
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.files import deidentify_file
    from eucaim.deid.profile import load_profile
    from eucaim.ingest.folder_deid import deidentify_tree

    from .conftest import SECRET, make_instance

    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        make_instance(sop_uid=f"1.2.826.0.1.999111.3{i}").save_as(
            src / f"Doe_{i}.dcm", enforce_file_format=True
        )
    (src / "broken.dcm").write_bytes(b"not dicom at all")
    out = tmp_path / "out"
    result = deidentify_tree(src, out, secret=SECRET, profile="eucaim", workers=1)
    assert result.written == 3
    assert [(Path(p).name, reason) for p, reason, _ in result.problems] == [("broken.dcm", "not_dicom")]
    written = sorted(p for p in out.rglob("*") if p.is_file())
    # Only the final files: no temporary or partial file left anywhere, no source name reused.
    assert len(written) == 3 and all(not p.name.startswith(".") and "Doe" not in str(p) for p in written)
    reference = deidentify_file(
        src / "Doe_0.dcm", tmp_path / "ref.dcm", Deidentifier(load_profile("eucaim"), SECRET)
    )
    expected = out / reference.pseudonym / reference.study_instance_uid / reference.series_instance_uid
    assert (expected / f"{reference.sop_instance_uid}.dcm").read_bytes() == (
        tmp_path / "ref.dcm"
    ).read_bytes()


def _written_by_engine_meta(ds: pydicom.Dataset, syntax: str) -> pydicom.Dataset:
    """``ds`` with the file meta the engine gives every output."""
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = "2.25.1234567"
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    rebuild_file_meta(ds)
    return ds


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"])
@pytest.mark.parametrize(
    ("keyword", "vr", "value"),
    [
        ("PatientName", "PN", "EUCAIM-0123456789ABCDE"),  # odd length: padded with a space
        ("PatientName", "PN", "Yamada^Tarou=山田^太郎"),  # component groups and non-ASCII: pydicom's
        ("OtherPatientNames", "PN", ["A^B", "C^D"]),
        ("ReferringPhysicianName", "PN", None),
        ("StudyDescription", "LO", "Étude thorax"),  # non-ASCII under the default character set
        ("ReferencedSOPInstanceUID", "UI", ["1.2.3", "1.2.34"]),  # multi-valued, \0 padding
        ("StudyDate", "DA", ""),
        ("Rows", "US", 512),
        ("ImageType", "CS", ["ORIGINAL", "PRIMARY"]),
        ("WindowCenter", "DS", "40"),
        ("RedPaletteColorLookupTableData", "OW", b"\x01\x02\x03"),  # odd length: padded with \0
        ("EncapsulatedDocument", "OB", b""),
        ("LossyImageCompressionRatio", "DS", ["10.5", "2"]),
        ("SliceLocation", "DS", 1.5),
        ("PixelSpacing", "DS", [0.5, 0.5]),
        ("RescaleSlope", "DS", None),
        ("FrameTime", "DS", "33.3"),
        ("ContentTime", "TM", "101500.12"),
        ("BitsAllocated", "US", 16),
        ("SmallestImagePixelValue", "SS", -5),
        ("ReferencedFrameNumber", "IS", ["1", "2", "3"]),
    ],
)
def test_writer_matches_pydicom_for_each_kind_of_value(
    keyword: str, vr: str, value: object, syntax: str
) -> None:
    # Read from bytes first, as the engine's datasets are: a dataset built in memory is left to
    # pydicom whole, and this test would then check nothing of ours.
    built = pydicom.Dataset()
    built.SpecificCharacterSet = "ISO_IR 192" if "=" in str(value) else "ISO_IR 100"
    built.ReferencedSeriesSequence = [pydicom.Dataset()]
    encoded = _pydicom_bytes(_written_by_engine_meta(built, syntax))
    assert isinstance(encoded, bytes)
    ds = pydicom.dcmread(BytesIO(encoded))
    rebuild_file_meta(ds)
    ds.add_new(keyword, vr, value)
    ds.ReferencedSeriesSequence[0].add_new(keyword, vr, value)
    with pydicom_quiet():
        fast = b"".join(encode._encode_fast(ds))
    assert fast == _pydicom_bytes(ds)


def test_writer_fails_where_pydicom_fails() -> None:
    ds = _written_by_engine_meta(pydicom.Dataset(), "1.2.840.10008.1.2.1")
    with pydicom_quiet():
        ds.add_new("Rows", "US", 70000)  # does not fit an unsigned short
    with pytest.raises(OSError), pydicom_quiet():
        encode.encode_part10(ds)
    assert _pydicom_bytes(ds) == "OSError"


def test_written_files_are_owner_only_and_a_planted_link_is_not_followed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itertools
    import os
    import stat

    from eucaim.deid import files
    from eucaim.deid.engine import Deidentifier
    from eucaim.deid.profile import load_profile

    from .conftest import SECRET, make_instance

    src = tmp_path / "in.dcm"
    make_instance().save_as(src, enforce_file_format=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    out = tmp_path / "out"
    out.mkdir()
    # The temporary name the next write will use, planted as a link to another file.
    monkeypatch.setattr(files, "_temp_numbers", itertools.count(7))
    (out / f".deid-{os.getpid()}-7.tmp").symlink_to(victim)
    files.deidentify_file(src, out / "x.dcm", Deidentifier(load_profile("eucaim"), SECRET))
    assert victim.read_text() == "keep me"
    assert stat.S_IMODE((out / "x.dcm").stat().st_mode) == 0o600
    assert sorted(p.name for p in out.iterdir()) == ["x.dcm"]
