"""Clean Pixel Data on native pixels: text blacked out in place, encoding kept, bad encodings refused.

Compressed pixel data: ``test_pixels_compressed.py``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.uid import ExplicitVRBigEndian, JPEGBaseline8Bit, UltrasoundImageStorage

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.ocr import find_text_boxes
from eucaim.deid.pixels import Box, Region, luminance, pixel_view, redact, region_boxes
from eucaim.deid.profile import load_profile
from eucaim.errors import DeidentificationError

from .conftest import SECRET, make_instance

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract-ocr is not installed"
)


def _text_image(text: str, size: int = 256) -> np.ndarray:
    image = Image.new("L", (size, size), 0)
    ImageDraw.Draw(image).text((12, 12), text, fill=255, font=ImageFont.load_default(size=16))
    return np.array(image)


def _ultrasound(pixels: np.ndarray) -> pydicom.Dataset:
    ds = make_instance()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelData = pixels.astype(np.uint8).tobytes()
    return ds


@pytest.fixture
def pixel_profile(tmp_path: Path) -> str:
    path = tmp_path / "pixels.toml"
    path.write_text('name = "px"\nversion = "1"\nbase = "eucaim"\noptions = ["clean-pixel-data"]\n')
    return str(path)


@needs_tesseract
def test_burned_in_text_is_found_and_blacked_out(tmp_path: Path, pixel_profile: str) -> None:
    pixels = _text_image("DOE JOHN 1961-04-13")
    assert find_text_boxes(pixels)  # the test image really has readable text
    src = tmp_path / "us.dcm"
    _ultrasound(pixels).save_as(src, enforce_file_format=True)
    outcome = deidentify_file(src, tmp_path / "out.dcm", Deidentifier(load_profile(pixel_profile), SECRET))
    out = pydicom.dcmread(tmp_path / "out.dcm")
    assert out.BurnedInAnnotation == "NO"
    assert out.file_meta.TransferSyntaxUID == pydicom.dcmread(src).file_meta.TransferSyntaxUID
    cleaned = out.pixel_array
    assert cleaned.shape == pixels.shape
    assert find_text_boxes(cleaned.astype(np.uint8)) == []
    assert cleaned[10:30, 10:180].max() == 0  # where the text was
    assert "113101" in [i.CodeValue for i in out.DeidentificationMethodCodeSequence]
    assert any("pixel data cleaned" in str(w) for w in outcome.audit["warnings"])  # type: ignore[attr-defined]


def test_without_ocr_or_region_the_instance_is_quarantined(pixel_profile: str) -> None:
    deidentifier = Deidentifier(load_profile(pixel_profile), SECRET, text_finder=None)
    with pytest.raises(DeidentificationError) as info:
        deidentifier.deidentify(_ultrasound(_text_image("DOE")))
    assert info.value.reason == "burned_in_risk"


def test_compressed_pixels_that_do_not_decode_are_refused_not_passed(pixel_profile: str) -> None:
    ds = _ultrasound(_text_image("DOE"))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit  # but the bytes are native: no JPEG stream
    deidentifier = Deidentifier(
        load_profile(pixel_profile), SECRET, text_finder=lambda image: [Box(0, 0, 4, 4)]
    )
    with pytest.raises(DeidentificationError) as info:
        deidentifier.deidentify(ds)
    assert info.value.reason == "pixel_encoding_unsupported"
    assert "JPEG Baseline (Process 1)" in str(info.value)  # says which encoding, and what to do:
    assert "convert it to an uncompressed transfer syntax" in str(info.value)


def test_region_table_matches_device_and_size() -> None:
    ds = _ultrasound(np.zeros((64, 80)))
    ds.Manufacturer, ds.ManufacturerModelName = "ACME Medical", "Sono 9000"
    regions = [
        Region("acme.*", "sono 9000", 64, 80, (Box(0, 0, 80, 8),)),
        Region("acme.*", "sono 9000", 480, 640, (Box(0, 0, 640, 40),)),  # other size
        Region("other", ".*", 64, 80, (Box(1, 1, 1, 1),)),  # other maker
    ]
    assert region_boxes(ds, regions) == [Box(0, 0, 80, 8)]


def test_redact_planar_rgb_keeps_layout_and_other_pixels() -> None:
    ds = _ultrasound(np.zeros((4, 6)))
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 1
    planes = np.stack([np.full((4, 6), 50), np.full((4, 6), 100), np.full((4, 6), 150)]).astype(np.uint8)
    ds.PixelData = planes.tobytes()  # R plane, then G, then B
    assert redact(ds, [Box(0, 0, 2, 2)], pad=0) == 1
    out = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(3, 4, 6)
    assert (out[:, :2, :2] == 0).all()
    assert (out[0, 2:, :] == 50).all() and (out[2, :, 2:] == 150).all()


def test_redact_monochrome1_uses_the_brightest_value_as_black() -> None:
    ds = _ultrasound(np.full((4, 4), 10))
    ds.PhotometricInterpretation = "MONOCHROME1"
    redact(ds, [Box(0, 0, 1, 1)], pad=0)
    assert np.frombuffer(ds.PixelData, dtype=np.uint8)[0] == 255


def test_redact_big_endian_16_bit_multiframe() -> None:
    ds = make_instance()
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    ds.NumberOfFrames = 2
    ds.PixelData = np.full((2, 8, 8), 1000, dtype=">u2").tobytes()
    redact(ds, [Box(0, 0, 2, 2)], pad=0)
    out = np.frombuffer(ds.PixelData, dtype=">u2").reshape(2, 8, 8)
    assert (out[:, :2, :2] == 0).all() and (out[:, 2:, :] == 1000).all()


def test_luminance_stretches_to_8_bit() -> None:
    ds = make_instance()
    view = pixel_view(ds)
    grey = luminance(view, 0, "MONOCHROME2")
    assert grey.dtype == np.uint8 and grey.min() == 0 and grey.max() == 255


def test_redact_12_bit_signed_uses_the_lowest_12_bit_value() -> None:
    # The container's minimum (-32768) would read back as 0, mid-grey, in a 12-bit viewer.
    ds = make_instance()
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, 1
    ds.PixelData = np.full((8, 8), 100, dtype="<i2").tobytes()
    redact(ds, [Box(0, 0, 2, 2)], pad=0)
    out = np.frombuffer(ds.PixelData, dtype="<i2").reshape(8, 8)
    assert (out[:2, :2] == -2048).all() and (out[2:, :] == 100).all()
