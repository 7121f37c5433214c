"""Clean Pixel Data on compressed pixel data: decode, black out, write back without leaking.

Lossless syntaxes come back bit-exact outside the boxes (RLE and JPEG-LS in their own syntax,
JPEG 2000 Lossless uncompressed); lossy ones come back uncompressed, equal to the decoded input
outside the boxes and still declared lossy. Whatever cannot be decoded or re-encoded is refused.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate
from pydicom.pixels import compress
from pydicom.uid import (
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    UltrasoundMultiFrameImageStorage,
)

import eucaim.deid.pixel_codecs as pixel_codecs
from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.pixels import Box
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError

from .conftest import PHI, SECRET, make_instance

EXPLICIT_LE = "1.2.840.10008.1.2.1"
BOX = Box(20, 8, 40, 12)
PAD = 2  # redact() grows every box by two pixels


def _mask(shape: tuple[int, ...], box: Box = BOX) -> np.ndarray:
    """True on the pixels redact() blacks out in a (frames?, rows, columns, samples?) array."""
    rows, columns = (shape[-3], shape[-2]) if len(shape) >= 3 and shape[-1] == 3 else shape[-2:]
    mask = np.zeros((rows, columns), dtype=bool)
    mask[max(box.y - PAD, 0) : box.y + box.h + PAD, max(box.x - PAD, 0) : box.x + box.w + PAD] = True
    return mask


def _frames(arr: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """pixel_array with a frame axis even for one frame."""
    return arr if int(ds.get("NumberOfFrames", 1) or 1) > 1 else arr[np.newaxis]


@pytest.fixture
def pixel_profile(tmp_path: Path) -> str:
    path = tmp_path / "pixels.toml"
    path.write_text('name = "px"\nversion = "1"\nbase = "eucaim"\noptions = ["clean-pixel-data"]\n')
    return str(path)


def _deidentifier(profile: str, finder: Callable[[np.ndarray], list[Box]] | None = None) -> Deidentifier:
    return Deidentifier(load_profile(profile), SECRET, text_finder=finder or (lambda image: [BOX]))


def _us_frames(frames: int = 3, rows: int = 64, columns: int = 96) -> np.ndarray:
    """A colour ultrasound-like clip: a speckled gradient that differs per frame and channel."""
    rng = np.random.default_rng(7)
    base = np.add.outer(np.arange(rows), np.arange(columns)) % 200
    clip = np.stack(
        [np.stack([base + 20 * f + 10 * c for c in range(3)], axis=-1) for f in range(frames)]
    ) + rng.integers(0, 40, size=(frames, rows, columns, 3))
    return np.clip(clip, 1, 255).astype(np.uint8)  # never 0: the box must be the only black


def _us_instance(frames: np.ndarray) -> pydicom.FileDataset:
    """A multi-frame RGB ultrasound instance (native) carrying the planted PHI of make_instance."""
    ds = make_instance()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    ds.NumberOfFrames = frames.shape[0]
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    for keyword in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
        if keyword in ds:
            del ds[keyword]
    ds.PixelData = frames.tobytes()
    return ds


def _save(ds: pydicom.Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def _run(src: Path, tmp_path: Path, profile: str, **kw: object) -> tuple[pydicom.Dataset, list[str]]:
    dst = tmp_path / f"out-{src.name}"
    outcome = deidentify_file(src, dst, _deidentifier(profile, **kw))  # type: ignore[arg-type]
    return pydicom.dcmread(dst), [str(w) for w in outcome.audit["warnings"]]  # type: ignore[attr-defined]


def _copy_at_risk(name: str, tmp_path: Path) -> Path:
    """pydicom's test file, flagged BurnedInAnnotation YES (and given UIDs if it lacks them)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    ds.BurnedInAnnotation = "YES"
    ds.PatientID = ds.get("PatientID") or PHI["patient_id"]
    for keyword, uid in (("StudyInstanceUID", PHI["study_uid"]), ("SeriesInstanceUID", PHI["series_uid"])):
        if keyword not in ds:
            setattr(ds, keyword, uid)
    return _save(ds, tmp_path / name)


# -- lossless: same syntax (or uncompressed), bit-exact outside the boxes ------------------------


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless])
def test_lossless_multiframe_ultrasound_keeps_its_syntax_and_every_other_pixel(
    syntax: str, tmp_path: Path, pixel_profile: str
) -> None:
    frames = _us_frames()
    ds = _us_instance(frames)
    compress(ds, syntax, generate_instance_uid=False)
    out, warnings = _run(_save(ds, tmp_path / "us.dcm"), tmp_path, pixel_profile)
    assert out.file_meta.TransferSyntaxUID == syntax
    assert (out.PhotometricInterpretation, out.PlanarConfiguration, out.NumberOfFrames) == ("RGB", 0, 3)
    cleaned = out.pixel_array
    mask = _mask(cleaned.shape)
    assert (cleaned[:, mask] == 0).all()  # every frame, every channel
    assert np.array_equal(cleaned[:, ~mask], frames[:, ~mask])  # bit-exact elsewhere
    assert out.BurnedInAnnotation == "NO"
    assert "LossyImageCompression" not in out
    assert any(f"re-encoded as {pydicom.uid.UID(syntax).name}" in w for w in warnings)


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("SC_rgb_rle_2frame.dcm", RLELossless),
        ("SC_rgb_rle_16bit_2frame.dcm", RLELossless),
        ("MR_small_RLE.dcm", RLELossless),  # signed 16-bit
        ("MR_small_jpeg_ls_lossless.dcm", JPEGLSLossless),  # signed 16-bit
        ("examples_jpeg2k.dcm", EXPLICIT_LE),  # US, YBR_RCT: no J2K encoder, written uncompressed
        ("MR_small_jp2klossless.dcm", EXPLICIT_LE),
    ],
)
def test_pydicom_lossless_files_round_trip_exactly_outside_the_boxes(
    name: str, syntax: str, tmp_path: Path, pixel_profile: str
) -> None:
    src = _copy_at_risk(name, tmp_path)
    before = pydicom.dcmread(src)
    expected = _frames(before.pixel_array, before)
    out, _ = _run(src, tmp_path, pixel_profile)
    assert out.file_meta.TransferSyntaxUID == syntax
    cleaned = _frames(out.pixel_array, out)
    assert cleaned.shape == expected.shape
    mask = _mask(cleaned.shape)
    black = -(1 << (int(out.BitsStored) - 1)) if out.PixelRepresentation == 1 else 0
    assert (cleaned[:, mask] == black).all()
    assert np.array_equal(cleaned[:, ~mask], expected[:, ~mask])
    assert str(out.get("LossyImageCompression", "00")) == "00"


# -- lossy: decoded, cleaned, written uncompressed, still declared lossy --------------------------


def test_jpeg_baseline_ybr422_ultrasound_is_written_uncompressed_as_decoded(
    tmp_path: Path, pixel_profile: str
) -> None:
    src = Path(get_testdata_file("examples_ybr_color.dcm"))  # US, 30 frames, YBR_FULL_422 JPEG
    before = pydicom.dcmread(src)
    assert before.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    decoded = before.pixel_array  # what a viewer shows: RGB
    out, warnings = _run(src, tmp_path, pixel_profile)
    assert out.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert (out.PhotometricInterpretation, out.PlanarConfiguration) == ("RGB", 0)
    assert (out.SamplesPerPixel, out.BitsAllocated, out.BitsStored, out.HighBit) == (3, 8, 8, 7)
    assert out.NumberOfFrames == 30
    assert not out["PixelData"].is_undefined_length
    assert len(out.PixelData) == 30 * 240 * 320 * 3
    # Still lossy, with the producer's ratio and method kept.
    assert out.LossyImageCompression == "01"
    assert out.get("LossyImageCompressionRatio") == before.get("LossyImageCompressionRatio")
    assert out.get("LossyImageCompressionMethod") == before.get("LossyImageCompressionMethod")
    cleaned = out.pixel_array
    mask = _mask(cleaned.shape)
    assert (cleaned[:, mask] == 0).all()
    assert np.array_equal(cleaned[:, ~mask], decoded[:, ~mask])
    assert any(
        "lossy JPEG Baseline (Process 1) decoded and written as Explicit VR Little Endian" in w
        for w in warnings
    )


def test_lossy_input_without_a_declaration_is_declared_lossy(tmp_path: Path, pixel_profile: str) -> None:
    frames = _us_frames(frames=2)
    ds = _us_instance(frames)
    compress(ds, JPEGLSNearLossless, jls_error=3, generate_instance_uid=False)
    assert "LossyImageCompression" not in ds
    src = _save(ds, tmp_path / "near.dcm")
    decoded = pydicom.dcmread(src).pixel_array
    assert not np.array_equal(decoded, frames)  # really lossy
    out, _ = _run(src, tmp_path, pixel_profile)
    assert out.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert out.LossyImageCompression == "01"
    assert out.LossyImageCompressionMethod == "ISO_14495_1"
    assert float(out.LossyImageCompressionRatio) > 1
    cleaned = out.pixel_array
    mask = _mask(cleaned.shape)
    assert (cleaned[:, mask] == 0).all() and np.array_equal(cleaned[:, ~mask], decoded[:, ~mask])


def test_near_lossless_declared_lossless_by_its_producer_stays_exact(
    tmp_path: Path, pixel_profile: str
) -> None:
    frames = _us_frames(frames=2)
    ds = _us_instance(frames)
    compress(ds, JPEGLSNearLossless, jls_error=0, generate_instance_uid=False)  # NEAR 0: lossless
    ds.LossyImageCompression = "00"
    out, warnings = _run(_save(ds, tmp_path / "near0.dcm"), tmp_path, pixel_profile)
    assert out.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert out.LossyImageCompression == "00" and "LossyImageCompressionMethod" not in out
    cleaned = out.pixel_array
    mask = _mask(cleaned.shape)
    assert (cleaned[:, mask] == 0).all() and np.array_equal(cleaned[:, ~mask], frames[:, ~mask])
    assert not any("lossy" in w for w in warnings)


def test_lossy_output_is_deterministic(tmp_path: Path, pixel_profile: str) -> None:
    src = Path(get_testdata_file("SC_rgb_dcmtk_+eb+cy+np.dcm"))
    deidentifier = _deidentifier(pixel_profile)
    deidentify_file(src, tmp_path / "a.dcm", deidentifier)
    deidentify_file(src, tmp_path / "b.dcm", deidentifier)
    assert (tmp_path / "a.dcm").read_bytes() == (tmp_path / "b.dcm").read_bytes()


def test_nothing_to_black_out_keeps_the_pixel_data_as_received(tmp_path: Path, pixel_profile: str) -> None:
    src = Path(get_testdata_file("examples_ybr_color.dcm"))
    out, warnings = _run(src, tmp_path, pixel_profile, finder=lambda image: [])
    before = pydicom.dcmread(src)
    assert out.file_meta.TransferSyntaxUID == JPEGBaseline8Bit
    assert out.PhotometricInterpretation == "YBR_FULL_422"
    assert out.PixelData == before.PixelData
    assert out.BurnedInAnnotation == "NO"
    assert any("0 box(es) blacked out" in w and "kept as received" in w for w in warnings)


# -- burned-in text through OCR, in a JPEG ultrasound as scanners write it -----------------------


def _jpeg_ultrasound_with_text(text: str) -> pydicom.FileDataset:
    frames = []
    for f in range(2):
        image = Image.fromarray(_us_frames(frames=1, rows=240, columns=320)[0] // 3)
        ImageDraw.Draw(image).text(
            (16, 12 + 4 * f), text, fill=(255, 255, 255), font=ImageFont.load_default(size=18)
        )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=92, subsampling=1)  # 4:2:2 chroma, as ultrasound sends it
        frames.append(buffer.getvalue())
    ds = _us_instance(np.zeros((2, 240, 320, 3), dtype=np.uint8))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.LossyImageCompression, ds.LossyImageCompressionMethod, ds.LossyImageCompressionRatio = (
        "01",
        "ISO_10918_1",
        "12",
    )
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def test_ocr_finds_and_blacks_out_text_burned_into_a_jpeg_ultrasound(
    tmp_path: Path, pixel_profile: str
) -> None:
    from eucaim.deid.ocr import find_text_boxes, tesseract_available
    from eucaim.deid.pixels import luminance

    assert tesseract_available(), "Debian tesseract-ocr is required for this test"
    src = _save(_jpeg_ultrasound_with_text("DOE JOHN 1961-04-13"), tmp_path / "us.dcm")
    before = pydicom.dcmread(src).pixel_array
    assert find_text_boxes(luminance(before, 0, "RGB"))  # the text is really readable
    dst = tmp_path / "out.dcm"
    deidentify_file(src, dst, Deidentifier(load_profile(pixel_profile), SECRET))  # real Tesseract
    out = pydicom.dcmread(dst)
    assert out.file_meta.TransferSyntaxUID == EXPLICIT_LE
    cleaned = out.pixel_array
    for frame in range(2):
        text = luminance(before, frame, "RGB")[:40] >= 200  # the glyphs' pixels, top banner
        assert text.sum() > 200
        assert (cleaned[frame, :40][text] == 0).all()  # every glyph pixel is black now
        rows, columns = np.nonzero(text)
        # Tesseract "reads" speckle as tiny words too, but nothing is left where the text was.
        for box in find_text_boxes(luminance(cleaned, frame, "RGB")):
            assert (
                box.y > rows.max()
                or box.y + box.h < rows.min()
                or box.x > columns.max()
                or box.x + box.w < columns.min()
            )
    assert (cleaned == before)[..., 0].mean() > 0.8  # the image itself is still there
    assert b"DOE JOHN" not in dst.read_bytes()


# -- fail closed --------------------------------------------------------------------------------


def _refused(src: Path, tmp_path: Path, profile: str) -> str:
    dst = tmp_path / "never.dcm"
    with pytest.raises(DeidentificationError) as info:
        deidentify_file(src, dst, _deidentifier(profile))
    assert info.value.reason == "pixel_encoding_unsupported"
    assert not dst.exists()
    assert "convert it to an uncompressed transfer syntax" in str(info.value)
    return str(info.value)


def test_a_syntax_without_an_installed_decoder_is_refused(tmp_path: Path, pixel_profile: str) -> None:
    message = _refused(Path(get_testdata_file("SC_rgb_jpeg_gdcm.dcm")), tmp_path, pixel_profile)
    assert JPEGLosslessSV1.name in message and "no decoder" in message


def test_data_the_decoder_rejects_is_refused(tmp_path: Path, pixel_profile: str) -> None:
    src = _copy_at_risk("JPGExtended.dcm", tmp_path)  # 12-bit JPEG: pillow cannot decode it
    message = _refused(src, tmp_path, pixel_profile)
    assert JPEGExtended12Bit.name in message and "could not decode" in message


def test_a_corrupt_jpeg_is_refused_not_passed(tmp_path: Path, pixel_profile: str) -> None:
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_dcmtk_+eb+cy+np.dcm"))
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xe0" + b"\x00" * 64])
    ds["PixelData"].is_undefined_length = True
    _refused(_save(ds, tmp_path / "corrupt.dcm"), tmp_path, pixel_profile)


def test_an_image_the_encoder_refuses_is_refused(tmp_path: Path, pixel_profile: str) -> None:
    message = _refused(Path(get_testdata_file("SC_rgb_rle_32bit.dcm")), tmp_path, pixel_profile)
    assert "re-encoded as RLE Lossless" in message


def test_an_unknown_syntax_is_refused(tmp_path: Path, pixel_profile: str) -> None:
    ds = pydicom.dcmread(get_testdata_file("SC_rgb_rle.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: video, not an image codec
    message = _refused(_save(ds, tmp_path / "mpeg.dcm"), tmp_path, pixel_profile)
    assert "MPEG2" in message


def test_a_missing_encoder_is_refused_before_decoding(
    tmp_path: Path, pixel_profile: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    class _Missing:
        is_available = False

    monkeypatch.setattr(pixel_codecs, "get_encoder", lambda uid: _Missing())  # pyjpegls not installed
    message = _refused(_copy_at_risk("MR_small_jpeg_ls_lossless.dcm", tmp_path), tmp_path, pixel_profile)
    assert "no JPEG-LS Lossless Image Compression encoder" in message


# -- still valid objects ------------------------------------------------------------------------


def _dciodvfy_errors(path: Path) -> set[str]:
    """dciodvfy's error lines, values and item numbers stripped (as in test_conformance)."""
    dciodvfy = shutil.which("dciodvfy")
    assert dciodvfy is not None, "dciodvfy (Debian dicom3tools) is required for this test"
    run = subprocess.run(
        [dciodvfy, "-new", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    return {
        re.sub(r"\[\d+\]", "[]", re.sub(r"<([^/>][^>]*)?>", "<>", line.strip()))
        for line in (run.stdout + run.stderr).splitlines()
        if line.startswith("Error")
    }


def test_cleaned_compressed_files_have_no_new_dciodvfy_errors(tmp_path: Path, pixel_profile: str) -> None:
    sources = [
        Path(get_testdata_file("examples_ybr_color.dcm")),  # US JPEG Baseline YBR_FULL_422 -> RGB
        Path(get_testdata_file("examples_jpeg2k.dcm")),  # US JPEG 2000 Lossless YBR_RCT -> RGB
        Path(get_testdata_file("SC_rgb_dcmtk_+eb+cy+np.dcm")),
        Path(get_testdata_file("SC_rgb_rle_2frame.dcm")),
        _copy_at_risk("MR_small_jpeg_ls_lossless.dcm", tmp_path),
        _save(_jpeg_ultrasound_with_text("DOE JOHN"), tmp_path / "us-jpeg.dcm"),
    ]
    for syntax in (RLELossless, JPEGLSLossless, JPEGLSNearLossless):
        ds = _us_instance(_us_frames())
        compress(ds, syntax, generate_instance_uid=False)
        sources.append(_save(ds, tmp_path / f"us-{syntax}.dcm"))
    deidentifier = _deidentifier(pixel_profile)
    regressions = {}
    for i, src in enumerate(sources):
        dst = tmp_path / "out" / f"{i}.dcm"
        outcome = deidentify_file(src, dst, deidentifier)
        assert any("1 box(es) blacked out" in str(w) for w in outcome.audit["warnings"])  # type: ignore[attr-defined]
        new = _dciodvfy_errors(dst) - _dciodvfy_errors(src)
        if new:
            regressions[src.name] = sorted(new)
    assert regressions == {}
