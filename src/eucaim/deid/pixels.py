"""Clean Pixel Data: black out boxes in the pixel data, keeping every other pixel as it was.

The pixel bytes are changed in place through a numpy view with the file's own layout (frames,
rows, columns, samples, planar configuration, bit depth, byte order), so for native data the
transfer syntax and every pixel-module attribute stay valid without a decode/re-encode round
trip. Compressed data is decoded to native first and written back as ``pixel_codecs.py``
decides (same syntax when lossless and re-encodable, else uncompressed). Encodings this cannot
handle (native YBR 4:2:2, 1-bit, syntaxes without a decoder) fail closed with
``pixel_encoding_unsupported``. Boxes come from the device region table
(``data/pixel_regions.toml``) and from OCR (``ocr.py``) of the frames ``text_frames.py`` chooses.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pydicom

from eucaim.deid.pixel_codecs import (
    Transcode,
    decode_for_cleaning,
    encode_after_cleaning,
    restore_received,
    unsupported,
)
from eucaim.deid.text_frames import grey, read_clip
from eucaim.errors import DeidentificationError

NATIVE_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
)
_BIG_ENDIAN = "1.2.840.10008.1.2.2"
_SUPPORTED_PHOTOMETRIC = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR"})


@dataclass(frozen=True)
class Box:
    """A rectangle in pixel coordinates: left, top, width, height."""

    x: int
    y: int
    w: int
    h: int


# Finds burned-in text in one 8-bit grey frame; module-level functions keep it picklable.
TextFinder = Callable[[np.ndarray], list[Box]]


@dataclass(frozen=True)
class Region:
    """Boxes known to hold burned-in text on one device's images of one size."""

    manufacturer: str  # regular expression, case-insensitive, matched against Manufacturer
    model: str  # regular expression against ManufacturerModelName
    rows: int
    columns: int
    boxes: tuple[Box, ...]


def load_regions() -> list[Region]:
    """The device region table shipped in the package."""
    text = resources.files("eucaim.deid").joinpath("data", "pixel_regions.toml").read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    return [
        Region(
            manufacturer=str(r["manufacturer"]),
            model=str(r.get("model", ".*")),
            rows=int(r["rows"]),
            columns=int(r["columns"]),
            boxes=tuple(Box(*map(int, b)) for b in r["boxes"]),
        )
        for r in raw.get("region", [])
    ]


def region_boxes(ds: pydicom.Dataset, regions: Iterable[Region]) -> list[Box]:
    """Boxes of every region that matches this instance's device and image size."""
    manufacturer = str(ds.get("Manufacturer", "") or "")
    model = str(ds.get("ManufacturerModelName", "") or "")
    rows, columns = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    boxes: list[Box] = []
    for region in regions:
        if (region.rows, region.columns) != (rows, columns):
            continue
        if re.fullmatch(region.manufacturer, manufacturer, re.IGNORECASE) and re.fullmatch(
            region.model, model, re.IGNORECASE
        ):
            boxes.extend(region.boxes)
    return boxes


def transfer_syntax(ds: pydicom.Dataset) -> str:
    """The instance's TransferSyntaxUID, or "" without file meta."""
    return str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""


def pixel_view(ds: pydicom.Dataset) -> np.ndarray:
    """A writable (frames, rows, columns, samples) view of a copy of the native pixel bytes.

    Raises:
        DeidentificationError: compressed or otherwise unsupported pixel encoding.
    """
    syntax = transfer_syntax(ds)
    if syntax not in NATIVE_SYNTAXES:
        raise unsupported(f"transfer syntax {syntax or 'unknown'} is compressed")
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in _SUPPORTED_PHOTOMETRIC:
        raise unsupported(f"photometric interpretation {photometric or 'missing'}")
    bits = int(ds.get("BitsAllocated", 0) or 0)
    if bits not in (8, 16, 32):
        raise unsupported(f"BitsAllocated {bits}")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    rows, columns = int(ds.Rows), int(ds.Columns)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    dtype = np.dtype(f"{'>' if syntax == _BIG_ENDIAN else '<'}{'i' if signed else 'u'}{bits // 8}")
    data = bytearray(ds.PixelData)
    needed = frames * rows * columns * samples * dtype.itemsize
    if len(data) < needed:
        raise unsupported("pixel data is shorter than its attributes say")
    flat = np.frombuffer(data, dtype=dtype, count=frames * rows * columns * samples)
    if samples > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        return flat.reshape(frames, samples, rows, columns).transpose(0, 2, 3, 1)
    return flat.reshape(frames, rows, columns, samples)


def luminance(view: np.ndarray, frame: int, photometric: str) -> np.ndarray:
    """One frame as 8-bit grey (text bright or dark, as displayed) for OCR."""
    levels = grey(view, frame, photometric)
    low, high = float(levels.min()), float(levels.max())
    scaled = np.zeros_like(levels) if high <= low else (levels - low) * (255.0 / (high - low))
    if photometric == "MONOCHROME1":
        scaled = 255.0 - scaled
    out: np.ndarray = scaled.astype(np.uint8)
    return out


REDACT_PAD = 2  # pixels beyond each box that are blacked out too


def redact(ds: pydicom.Dataset, boxes: Sequence[Box], *, pad: int = REDACT_PAD) -> int:
    """Black out ``boxes`` (grown by ``pad``) in every frame; returns how many boxes were applied.

    Black is the lowest stored value for MONOCHROME2/RGB/YBR and the highest for MONOCHROME1.
    """
    if not boxes:
        return 0
    view = pixel_view(ds)
    rows, columns = view.shape[1], view.shape[2]
    black_pixel = _black_pixel(ds, view)
    applied = 0
    for box in boxes:
        top, left = max(box.y - pad, 0), max(box.x - pad, 0)
        bottom, right = min(box.y + box.h + pad, rows), min(box.x + box.w + pad, columns)
        if top < bottom and left < right:
            view[:, top:bottom, left:right, :] = black_pixel
            applied += 1
    ds.PixelData = bytes(np.ascontiguousarray(_native_order(view, ds)).tobytes())
    return applied


def _black_pixel(ds: pydicom.Dataset, view: np.ndarray) -> np.ndarray:
    """Black within BitsStored (not the container's range, which a 12-bit reader would mask to
    mid-grey): YBR gets neutral chroma, MONOCHROME1 its highest value."""
    bits = int(ds.get("BitsStored", 0) or 0) or view.dtype.itemsize * 8
    bits = min(bits, view.dtype.itemsize * 8)
    signed = view.dtype.kind == "i"
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric.startswith("YBR"):
        return np.array([low, 1 << (bits - 1), 1 << (bits - 1)], dtype=view.dtype)
    return np.full(view.shape[3], high if photometric == "MONOCHROME1" else low, dtype=view.dtype)


def _native_order(view: np.ndarray, ds: pydicom.Dataset) -> np.ndarray:
    """Back to the file's byte layout (planar configuration 1 stores samples plane by plane)."""
    if view.shape[3] > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        return view.transpose(0, 3, 1, 2)
    return view


def clean_burned_in(
    ds: pydicom.Dataset, risk: str, regions: Iterable[Region], text_finder: TextFinder | None
) -> str:
    """Black out the device's known regions and any text ``text_finder`` reads in the frames
    ``text_frames.read_clip`` chooses; set BurnedInAnnotation to NO; return a warning line for
    the audit (boxes, and how many frames OCR read).

    Compressed pixel data is decoded first; if anything was blacked out it is written back as
    ``pixel_codecs`` decides, otherwise it is kept exactly as received.

    Raises:
        DeidentificationError: neither OCR nor a region is available (``burned_in_risk``), the
            encoding cannot be cleaned (``pixel_encoding_unsupported``), or possible text changes
            in more frames than OCR reads (``burned_in_text_unverifiable``).
    """
    boxes = region_boxes(ds, regions)
    if text_finder is None and not boxes:
        raise DeidentificationError(
            f"possible burned-in identity: {risk}; no OCR engine and no known region for this device",
            reason="burned_in_risk",
        )
    syntax = transfer_syntax(ds)
    transcode: Transcode | None = None
    if syntax not in NATIVE_SYNTAXES:
        if "PixelData" not in ds:
            raise unsupported("no PixelData to clean")
        transcode = decode_for_cleaning(ds, syntax)  # fails closed on what it cannot decode
    view = pixel_view(ds)  # fails closed on native encodings that cannot be cleaned
    ocr = "no OCR, device regions only"
    if text_finder is not None:
        photometric = str(ds.get("PhotometricInterpretation", "")).strip()
        finder = text_finder
        reading = read_clip(
            view,
            photometric,
            lambda frame: finder(luminance(view, frame, photometric)),
            known=boxes,
            pad=REDACT_PAD,
        )
        boxes.extend(reading.boxes)
        ocr = reading.note()
    applied = redact(ds, list(dict.fromkeys(boxes)))  # the same box found in several frames counts once
    ds.BurnedInAnnotation = "NO"
    line = f"pixel data cleaned: {applied} box(es) blacked out ({risk}); {ocr}"
    if transcode is None:
        return line
    if applied == 0:
        restore_received(ds, transcode)
        return f"{line}; pixel data kept as received"
    encode_after_cleaning(ds, transcode)
    return f"{line}; {transcode.note()}"
