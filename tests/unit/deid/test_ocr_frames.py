"""OCR of clips: text shown in only some frames is read and blacked out, or the clip is quarantined.

Real Tesseract throughout (Debian ``tesseract-ocr``); the clips are synthetic ultrasound (speckled
sector on black) with Pillow text, and pydicom's real 30-frame echo clip.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from pydicom.data import get_testdata_file
from pydicom.uid import UltrasoundMultiFrameImageStorage

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.ocr import find_text_boxes, tesseract_available
from eucaim.deid.pixels import Box, clean_burned_in, luminance, pixel_view, redact
from eucaim.deid.profile import load_profile
from eucaim.deid.text_frames import MAX_EXTRA_FRAMES, read_clip
from eucaim.errors import DeidentificationError

from .conftest import SECRET, make_instance

ROWS, COLUMNS = 240, 320
NAME = "SMITH ANNA"  # a fake patient's name, shown only in frames 5-7


@pytest.fixture(autouse=True)
def _tesseract() -> None:
    assert tesseract_available(), "Debian tesseract-ocr is required for these tests"


@pytest.fixture
def pixel_profile(tmp_path: Path) -> str:
    path = tmp_path / "pixels.toml"
    path.write_text('name = "px"\nversion = "1"\nbase = "eucaim"\noptions = ["clean-pixel-data"]\n')
    return str(path)


def _speckle(frames: int, seed: int = 3) -> np.ndarray:
    """An ultrasound-like clip: a sector of blurred speckle (bright spots up to 200) on black,
    different in every frame, and a depth scale of white dots down the right edge."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:ROWS, :COLUMNS]
    sector = ((xx - COLUMNS / 2) ** 2 + (yy + 40) ** 2 < (ROWS + 10) ** 2) & (
        np.abs(xx - COLUMNS / 2) < (yy + 40) * 0.8
    )
    clip = []
    for _ in range(frames):
        noise = np.clip(rng.gamma(2.0, 30.0, size=(ROWS, COLUMNS)), 0, 255).astype(np.uint8)
        blurred = np.array(Image.fromarray(noise).filter(ImageFilter.GaussianBlur(1.2)), dtype=float)
        clip.append(np.clip(blurred * 1.5 * sector, 0, 200).astype(np.uint8))
    out = np.stack(clip)
    out[:, 10::20, COLUMNS - 6 : COLUMNS - 4] = 255
    return out


def _draw(frame: np.ndarray, text: str, xy: tuple[int, int], size: int = 18) -> np.ndarray:
    image = Image.fromarray(frame)
    ImageDraw.Draw(image).text(xy, text, fill=255, font=ImageFont.load_default(size=size))
    return np.array(image)


def _clip_instance(clip: np.ndarray) -> pydicom.FileDataset:
    """A native 8-bit multi-frame ultrasound instance carrying make_instance's planted PHI."""
    ds = make_instance()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.Modality = "US"
    ds.NumberOfFrames = clip.shape[0]
    ds.Rows, ds.Columns = clip.shape[1:3]
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit, ds.PixelRepresentation = 7, 0
    for keyword in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
        if keyword in ds:
            del ds[keyword]
    ds.PixelData = clip.tobytes()
    return ds


def _words(image: np.ndarray) -> str:
    """Every word Tesseract reads in an 8-bit image, as is and in its bright pixels (upper case)."""
    text = []
    for variant in (image, np.where(image >= 128, 255, 0).astype(np.uint8)):
        big = np.kron(variant, np.ones((2, 2), dtype=np.uint8))
        pgm = b"P5\n%d %d\n255\n" % (big.shape[1], big.shape[0]) + big.tobytes()
        run = subprocess.run(
            ["tesseract", "stdin", "stdout", "--psm", "11"], input=pgm, capture_output=True, check=True
        )
        text.append(run.stdout.decode("utf-8", "replace").upper())
    return " ".join(text)


def _recording(frames_read: list[int], view: np.ndarray) -> Callable[[int], list[Box]]:
    """Real OCR of one frame of ``view``, noting which frames were read."""

    def read(frame: int) -> list[Box]:
        frames_read.append(frame)
        return find_text_boxes(luminance(view, frame, "MONOCHROME2"))

    return read


# -- text in some frames only -------------------------------------------------------------------


@pytest.mark.parametrize(
    "where",
    [(10, 212), (110, 120)],  # on the black margin below the sector; over the speckled image
    ids=["margin", "over-image"],
)
def test_a_name_shown_only_in_frames_5_to_7_is_blacked_out_there(
    where: tuple[int, int], tmp_path: Path, pixel_profile: str
) -> None:
    background = _speckle(20)
    clip = background.copy()
    for frame in (5, 6, 7):
        clip[frame] = _draw(background[frame], NAME, where)
    glyphs = clip[5] != background[5]
    rows, columns = np.nonzero(glyphs)
    top, bottom, left, right = rows.min(), rows.max() + 1, columns.min(), columns.max() + 1
    assert "SMITH" in _words(clip[5])  # the name is really readable in frame 5...
    for key in (0, 10, 19):  # ...and absent from the first, middle and last frame
        assert "SMITH" not in _words(clip[key])

    src = tmp_path / "clip.dcm"
    _clip_instance(clip).save_as(src, enforce_file_format=True)
    dst = tmp_path / "out.dcm"
    outcome = deidentify_file(src, dst, Deidentifier(load_profile(pixel_profile), SECRET))

    cleaned = pydicom.dcmread(dst).pixel_array
    for frame in (5, 6, 7):
        assert (cleaned[frame, top:bottom, left:right] == 0).all()  # the whole name's box is black
        words = _words(cleaned[frame])
        assert "SMITH" not in words and "ANNA" not in words
    changed = cleaned != clip
    assert (cleaned[changed] == 0).all()  # nothing but black boxes: every other pixel is as it was
    warnings = [str(w) for w in outcome.audit["warnings"]]  # type: ignore[attr-defined]
    assert any(
        "OCR read 4 of 20 frames (first, middle, last, and 1 where possible text changed)" in w
        for w in warnings
    ), warnings


def test_text_that_changes_in_every_frame_beyond_the_cap_is_quarantined(
    tmp_path: Path, pixel_profile: str
) -> None:
    # A caption in a new place in every frame: each frame holds text no frame read so far had.
    rng = np.random.default_rng(5)
    clip = rng.integers(0, 24, size=(20, ROWS, COLUMNS), dtype=np.uint8)
    for frame in range(20):
        x, y = 8 + 78 * (frame % 4), 6 + 46 * (frame // 4)
        clip[frame] = _draw(clip[frame], f"ID {4711 + frame}", (x, y), size=16)
    src = tmp_path / "clip.dcm"
    _clip_instance(clip).save_as(src, enforce_file_format=True)
    dst = tmp_path / "never.dcm"
    with pytest.raises(DeidentificationError) as info:
        deidentify_file(src, dst, Deidentifier(load_profile(pixel_profile), SECRET))
    assert info.value.reason == "burned_in_text_unverifiable"
    unread = [f for f in range(20) if f not in (0, 10, 19)][MAX_EXTRA_FRAMES]  # the first one over
    assert (
        f"{3 + MAX_EXTRA_FRAMES} of 20 frames read and frame {unread + 1} still shows new text-like"
        in str(info.value)
    )
    assert "review the clip by hand" in str(info.value)
    assert not dst.exists()  # nothing half-cleaned is written


def test_a_configured_region_where_text_changes_needs_no_more_reading() -> None:
    # The same kind of moving caption, but inside the device's known region: blacked out anyway.
    rng = np.random.default_rng(5)
    clip = rng.integers(0, 24, size=(20, ROWS, COLUMNS), dtype=np.uint8)
    for frame in range(20):
        clip[frame] = _draw(clip[frame], f"ID {4711 + frame}", (8 + 12 * frame, 200), size=16)
    view = clip[..., np.newaxis]
    frames_read: list[int] = []
    band = Box(0, 190, COLUMNS, 50)
    reading = read_clip(view, "MONOCHROME2", _recording(frames_read, view), known=[band])
    assert frames_read == [0, 10, 19]
    assert reading.note() == "OCR read 3 of 20 frames (first, middle, last)"
    # Without the region, the frames between are read until the caption is covered.
    frames_read.clear()
    read_clip(view, "MONOCHROME2", _recording(frames_read, view))
    assert len(frames_read) > 3


# -- what does not need more reading ------------------------------------------------------------


def test_a_constant_overlay_is_cleaned_exactly_as_before() -> None:
    clip = np.stack([_draw(frame, "DOE JOHN 1961-04-13", (12, 8)) for frame in _speckle(20)])
    ds = _clip_instance(clip)
    expected = _clip_instance(clip)  # the old rule: first, middle and last frame only
    view = pixel_view(expected)
    boxes = [b for f in (0, 10, 19) for b in find_text_boxes(luminance(view, f, "MONOCHROME2"))]
    assert boxes  # the overlay is really read
    redact(expected, list(dict.fromkeys(boxes)))

    line = clean_burned_in(ds, "modality US", [], find_text_boxes)

    assert ds.PixelData == expected.PixelData
    assert line.endswith("; OCR read 3 of 20 frames (first, middle, last)")


@pytest.mark.parametrize("copies", [1, 2], ids=["as-recorded", "every-frame-twice"])
def test_a_real_echo_clip_is_read_in_a_few_frames_not_quarantined(copies: int) -> None:
    # pydicom's 30-frame echo: a beating heart (bright walls and valves) under a fixed overlay.
    # Stored twice over (as scanners store 15 frames/s at 30), a copy of a frame is not tissue
    # standing still: without skipping copies the heart wall passes for still text in 5 frames.
    ds = pydicom.dcmread(get_testdata_file("examples_ybr_color.dcm"))
    view = np.repeat(ds.pixel_array, copies, axis=0)
    frames_read: list[int] = []

    def read(frame: int) -> list[Box]:
        frames_read.append(frame)
        return find_text_boxes(luminance(view, frame, "RGB"))

    reading = read_clip(view, "RGB", read)
    last = 30 * copies - 1
    assert frames_read[:3] == [0, (last + 1) // 2, last]
    assert len(frames_read) <= 3 + 2, frames_read  # one or two where the heart wall stood still
    assert reading.boxes  # its overlay ("MI 0.9", "TIS 0.7", ...) is found


def test_a_name_flashed_in_one_frame_on_the_dark_margin_is_read() -> None:
    background = _speckle(20)
    clip = background.copy()
    clip[7] = _draw(background[7], NAME, (10, 212))
    view = clip[..., np.newaxis]
    frames_read: list[int] = []
    reading = read_clip(view, "MONOCHROME2", _recording(frames_read, view))
    assert frames_read == [0, 10, 19, 7]
    assert any(box.y >= 200 for box in reading.boxes)  # the name's box


def test_monochrome1_16_bit_text_shown_mid_clip_is_read() -> None:
    # MONOCHROME1: low stored values are displayed bright; the text is stored as 0.
    background = _speckle(12)
    clip = background.copy()
    for frame in (4, 5):
        clip[frame] = _draw(background[frame], NAME, (10, 212))
    stored = (4095 - clip.astype(np.uint16) * 16)[..., np.newaxis]
    frames_read: list[int] = []

    def read(frame: int) -> list[Box]:
        frames_read.append(frame)
        return find_text_boxes(luminance(stored, frame, "MONOCHROME1"))

    reading = read_clip(stored, "MONOCHROME1", read)
    assert frames_read == [0, 6, 11, 4]
    assert (
        reading.note() == "OCR read 4 of 12 frames (first, middle, last, and 1 where possible text changed)"
    )
    assert any(box.y >= 200 for box in reading.boxes)  # the name's box


def test_single_and_two_frame_images_are_read_whole() -> None:
    one = _speckle(1)[..., np.newaxis]
    assert read_clip(one, "MONOCHROME2", lambda frame: []).note() == "OCR read the frame"
    two = _speckle(2)[..., np.newaxis]
    reading = read_clip(two, "MONOCHROME2", lambda frame: [])
    assert reading.read == (0, 1)
    assert reading.note() == "OCR read 2 of 2 frames (first and last)"
