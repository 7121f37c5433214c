"""Finding burned-in text with Tesseract, when it is installed (Debian ``tesseract-ocr``).

The only IO of pixel cleaning: one ``tesseract`` process per image, fed a PGM on stdin, read back
as TSV word boxes. Offline, no model download. Without the binary, pixel cleaning relies on the
device region table alone and quarantines what it cannot cover.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from eucaim.deid.pixels import Box
from eucaim.errors import DeidentificationError

TESSERACT = "tesseract"
_MIN_CONFIDENCE = 30.0  # Tesseract's 0-100 word confidence; low-confidence noise is not text
_UPSCALE_BELOW = 400  # small images are enlarged: Tesseract reads glyphs of 20+ pixels best


def tesseract_available() -> bool:
    """Whether the ``tesseract`` binary is on PATH."""
    return shutil.which(TESSERACT) is not None


def find_text_boxes(image: np.ndarray) -> list[Box]:
    """Word boxes Tesseract finds in an 8-bit grey ``image`` (rows x columns).

    Raises:
        DeidentificationError: Tesseract is missing or failed (reason ``ocr_failed``).
    """
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
        if float(fields[10]) < _MIN_CONFIDENCE:
            continue
        x, y, w, h = (int(v) // scale for v in fields[6:10])
        boxes.append(Box(x, y, max(w, 1), max(h, 1)))
    return boxes
