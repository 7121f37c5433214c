"""Finding burned-in text with Tesseract, when it is installed (Debian ``tesseract-ocr``).

The only IO of pixel cleaning: ``tesseract`` processes fed a PGM on stdin, read back as TSV word
boxes. Offline, no model download. Without the binary, pixel cleaning relies on the device region
table alone and quarantines what it cannot cover.

Each image is read twice: as it is, and reduced to its bright pixels. Overlay text is drawn at
full intensity, and on a speckled ultrasound background Tesseract misses whole words in the first
reading that it finds in the second; dark text on a light page is found by the first. The union
of both is blacked out: a missed word leaks, an extra box only hides a little of the image.

A word is kept when Tesseract is at least somewhat sure of it, or when it reads two or more
letters or digits however unsure: over ultrasound speckle a name comes back as ``SMITHANNA`` with
confidence 15, and a toolbar's "Sector" as ``Sent`` with 16, while speckle read as text comes back
as single marks (``*``, ``.``, ``7``).

Which frames of a clip are read is decided in ``text_frames.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

from eucaim.deid.pixels import Box
from eucaim.errors import DeidentificationError

TESSERACT = "tesseract"
_MIN_CONFIDENCE = 30.0  # Tesseract's 0-100 word confidence; low-confidence noise is not text...
_MIN_WORD = 2  # ...unless it reads as this many letters or digits: then it is kept whatever its confidence
_BRIGHT = 128  # second reading: pixels at least half as bright as the brightest become text
_UPSCALE_BELOW = 400  # small images are enlarged: Tesseract reads glyphs of 20+ pixels best
# One thread per Tesseract: de-identification already runs a worker per core, and Tesseract's
# OpenMP threads only fight them (a reading took 0.25-0.3 s instead of 0.55 s on a busy 2-core
# machine; the words and boxes are byte-identical).
_SINGLE_THREAD = {"OMP_THREAD_LIMIT": "1"}


def tesseract_available() -> bool:
    """Whether the ``tesseract`` binary is on PATH."""
    return shutil.which(TESSERACT) is not None


def find_text_boxes(image: np.ndarray) -> list[Box]:
    """Word boxes Tesseract finds in an 8-bit grey ``image`` (rows x columns), in the image as
    it is or in its bright pixels (sorted, without duplicates).

    Raises:
        DeidentificationError: Tesseract is missing or failed (reason ``ocr_failed``).
    """
    bright = np.where(image >= _BRIGHT, 255, 0).astype(np.uint8)
    return sorted(set(_read_words(image)) | set(_read_words(bright)), key=lambda b: (b.y, b.x, b.h, b.w))


def _read_words(image: np.ndarray) -> list[Box]:
    """One Tesseract run: the boxes of the words it reads with some confidence."""
    scale = 2 if max(image.shape) < _UPSCALE_BELOW else 1
    if scale > 1:
        image = np.kron(image, np.ones((scale, scale), dtype=np.uint8))
    rows, columns = image.shape
    pgm = b"P5\n%d %d\n255\n" % (columns, rows) + np.ascontiguousarray(image, dtype=np.uint8).tobytes()
    try:
        run = subprocess.run(
            [TESSERACT, "stdin", "stdout", "--psm", "11", "tsv"],
            input=pgm,
            capture_output=True,
            env={**os.environ, **_SINGLE_THREAD},
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DeidentificationError(
            f"OCR could not run ({type(exc).__name__})", reason="ocr_failed"
        ) from None
    if run.returncode != 0:
        raise DeidentificationError(f"OCR failed with exit code {run.returncode}", reason="ocr_failed")
    boxes = []
    for line in run.stdout.decode("utf-8", "replace").splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 12 or fields[0] != "5" or not fields[11].strip():
            continue
        if float(fields[10]) < _MIN_CONFIDENCE and not _is_word(fields[11]):
            continue
        x, y, w, h = (int(v) // scale for v in fields[6:10])
        boxes.append(Box(x, y, max(w, 1), max(h, 1)))
    return boxes


def _is_word(text: str) -> bool:
    """Whether Tesseract's reading has at least ``_MIN_WORD`` letters or digits."""
    return sum(character.isalnum() for character in text) >= _MIN_WORD
