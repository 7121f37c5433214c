"""Which frames of a clip OCR reads: first, middle and last, and every frame whose possible text is new.

Tesseract takes a few tenths of a second per reading and reads each frame twice, so reading every
frame of a 30-frame ultrasound clip costs around 20 seconds and a 300-frame one minutes. Reading
only the first, middle and last frame misses text shown in the others: an annotation typed mid-clip,
a name shown for a few frames.

So every frame is screened first, with numpy, for *possible text*: pixels in the upper half of the
clip's brightness range (overlay text is drawn bright) with a pixel at least a quarter of the range
darker within two pixels (strokes are thin: the background shows between them, where a bright band
of tissue is bright across), that moreover either

- have a near-black pixel (lowest eighth of the range) within those two pixels: text on a dark
  margin or with a dark outline; or
- keep their value (within 8 of 255 levels) in the nearest earlier or later frame that is not an
  exact copy: overlay text stays put while tissue moves and its speckle changes.

A frame is read as well when ``NEW_TEXT_PIXELS`` of its possible-text pixels within one
16 x 32 window (about a short word) are new: neither inside a box already found or configured (those
are blacked out in every frame anyway) nor possible text (give or take a pixel) in a frame already
read. Counting in a window, not over the frame, keeps the scattered speckle and tissue edges that
pass the screen from reading every frame: a 3-letter word 10 pixels high gives over 50 such pixels
in one window, an 8-pixel one about 25, the heart wall of pydicom's echo clip at most 29 (one extra
reading), synthetic speckle 11.

A clip whose possible text keeps changing would need more than ``MAX_EXTRA_FRAMES`` such readings;
rather than pass frames nobody read, it fails closed with ``burned_in_text_unverifiable``. The
screen is deliberately eager: an extra reading costs under a second, a missed name leaks. What it
cannot see: text darker than half the clip's brightest pixel, and text shown in one frame only
(or in exact copies of one frame) over bright image with no near-black around its letters.

Pure: frames are read through the ``read_frame`` callback, which is where Tesseract runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from eucaim.errors import DeidentificationError

if TYPE_CHECKING:
    from eucaim.deid.pixels import Box

MAX_EXTRA_FRAMES = 12  # readings beyond first/middle/last before the clip is quarantined
NEW_TEXT_PIXELS = 24  # in one window of _WINDOW pixels; fewer are not a word
_WINDOW = (16, 32)  # rows, columns: about one short word of small overlay text
_BRIGHT = 128  # of 255 on the clip's own scale
_NEAR_BLACK = 32
_CONTRAST = 64  # how much darker the darkest pixel nearby must be
_STILL = 8
_NEAR = 2  # how close that darker pixel must be

REASON = "burned_in_text_unverifiable"


@dataclass(frozen=True)
class ClipReading:
    """What OCR read in a clip: the boxes it found and which frames it read."""

    boxes: tuple[Box, ...]
    frames: int
    read: tuple[int, ...]  # frame indexes, in the order they were read
    changed: int  # how many of them were read because their possible text was new

    def note(self) -> str:
        """The audit's words for it, e.g. ``OCR read 4 of 30 frames (first, middle, last, and 1
        where possible text changed)``."""
        if self.frames == 1:
            return "OCR read the frame"
        keys = len(self.read) - self.changed
        which = "first and last" if keys == 2 else "first, middle, last"
        if self.changed:
            which += f", and {self.changed} where possible text changed"
        return f"OCR read {len(self.read)} of {self.frames} frames ({which})"


def key_frames(count: int) -> list[int]:
    """The frames always read: first, middle and last (fewer for clips of one or two frames)."""
    return sorted({0, count // 2, count - 1})


def grey(view: np.ndarray, frame: int, photometric: str) -> np.ndarray:
    """One frame of a (frames, rows, columns, samples) view as float grey levels (luma for RGB,
    the first sample otherwise), not yet scaled or inverted."""
    image = view[frame].astype(np.float64)
    if photometric == "RGB":
        out: np.ndarray = image @ np.array([0.299, 0.587, 0.114])
        return out
    first: np.ndarray = image[..., 0]
    return first


def read_clip(
    view: np.ndarray,
    photometric: str,
    read_frame: Callable[[int], list[Box]],
    *,
    known: Sequence[Box] = (),
    pad: int = 2,
    max_extra: int = MAX_EXTRA_FRAMES,
) -> ClipReading:
    """Read the key frames with ``read_frame``, then every frame with new possible text.

    Args:
        view: the pixels, (frames, rows, columns, samples).
        read_frame: OCR of one frame (by index); returns the word boxes found.
        known: boxes blacked out whatever OCR finds (the device's regions).
        pad: how far beyond each box ``redact`` blacks out.

    Raises:
        DeidentificationError: more than ``max_extra`` frames beyond the key frames would need
            reading (reason ``burned_in_text_unverifiable``); whatever ``read_frame`` raises.
    """
    count = view.shape[0]
    order = key_frames(count)
    boxes = [box for frame in order for box in read_frame(frame)]
    if count <= len(order):
        return ClipReading(tuple(boxes), count, tuple(order), 0)
    screen = _Screen(view, photometric)
    seen = np.zeros(view.shape[1:3], dtype=bool)
    for frame in order:
        seen |= _spread(screen.possible_text(frame), 1)
    hidden = _box_mask([*known, *boxes], seen.shape, pad)
    for frame in range(count):
        if frame in order:
            continue
        possible = screen.possible_text(frame)
        if _densest(possible & ~seen & ~hidden, _WINDOW) < NEW_TEXT_PIXELS:
            continue
        if len(order) - len(key_frames(count)) >= max_extra:
            raise DeidentificationError(
                f"possible burned-in text changes in more frames than OCR reads: {len(order)} of "
                f"{count} frames read and frame {frame + 1} still shows new text-like pixels; "
                "review the clip by hand, or add its device's text regions to pixel_regions.toml",
                reason=REASON,
            )
        order.append(frame)
        found = read_frame(frame)
        boxes.extend(found)
        hidden |= _box_mask(found, seen.shape, pad)
        seen |= _spread(possible, 1)
    return ClipReading(tuple(boxes), count, tuple(order), len(order) - len(key_frames(count)))


class _Screen:
    """The clip on one 0-255 grey scale (its darkest to its brightest pixel, MONOCHROME1
    inverted), frame by frame, with exact repeats of a frame skipped when looking for stillness."""

    def __init__(self, view: np.ndarray, photometric: str) -> None:
        self._view = view
        self._sign = -1.0 if photometric == "MONOCHROME1" else 1.0
        self._photometric = photometric
        lows, highs = [], []
        for frame in range(view.shape[0]):
            levels = self._sign * grey(view, frame, photometric)
            lows.append(float(levels.min()))
            highs.append(float(levels.max()))
        self._low, self._high = min(lows), max(highs)
        # run[f]: the first frame of the run of exact copies that f belongs to
        self._run = [0] * view.shape[0]
        for frame in range(1, view.shape[0]):
            same = np.array_equal(view[frame], view[frame - 1])
            self._run[frame] = self._run[frame - 1] if same else frame
        self._cache: dict[int, np.ndarray] = {}

    def possible_text(self, frame: int) -> np.ndarray:
        """Bright, thin pixels next to near-black, or still in the nearest different frame."""
        levels = self._levels(frame)
        bright = levels >= _BRIGHT
        if not bright.any():
            return bright
        darkest = _darkest(levels, _NEAR)
        thin = bright & (levels.astype(np.int16) - darkest >= _CONTRAST)
        marks = darkest <= _NEAR_BLACK
        for other in self._neighbours(frame):
            marks |= np.abs(levels.astype(np.int16) - self._levels(other)) <= _STILL
        out: np.ndarray = thin & marks
        return out

    def _neighbours(self, frame: int) -> list[int]:
        start = self._run[frame]
        end = frame
        while end + 1 < len(self._run) and self._run[end + 1] == start:
            end += 1
        return [f for f in (start - 1, end + 1) if 0 <= f < len(self._run)]

    def _levels(self, frame: int) -> np.ndarray:
        if frame not in self._cache:
            if len(self._cache) > 4:  # frames are screened in order: keep the nearest ones only
                self._cache.pop(max(self._cache, key=lambda f: abs(f - frame)))
            scale = 255.0 / (self._high - self._low) if self._high > self._low else 0.0
            levels = (self._sign * grey(self._view, frame, self._photometric) - self._low) * scale
            self._cache[frame] = levels.astype(np.uint8)
        return self._cache[frame]


def _spread(mask: np.ndarray, radius: int) -> np.ndarray:
    """``mask`` grown by ``radius`` pixels in every direction (a square neighbourhood)."""
    out = mask.copy()
    for axis in (0, 1):
        grown = out.copy()
        size = out.shape[axis]
        for step in range(1, min(radius, size - 1) + 1):
            ahead = [slice(None), slice(None)]
            behind = [slice(None), slice(None)]
            ahead[axis], behind[axis] = slice(step, None), slice(None, -step)
            grown[tuple(ahead)] |= out[tuple(behind)]
            grown[tuple(behind)] |= out[tuple(ahead)]
        out = grown
    return out


def _darkest(levels: np.ndarray, radius: int) -> np.ndarray:
    """The lowest level within ``radius`` pixels (a square neighbourhood) of each pixel."""
    out = levels.copy()
    for axis in (0, 1):
        shrunk = out.copy()
        size = out.shape[axis]
        for step in range(1, min(radius, size - 1) + 1):
            ahead = [slice(None), slice(None)]
            behind = [slice(None), slice(None)]
            ahead[axis], behind[axis] = slice(step, None), slice(None, -step)
            np.minimum(shrunk[tuple(ahead)], out[tuple(behind)], out=shrunk[tuple(ahead)])
            np.minimum(shrunk[tuple(behind)], out[tuple(ahead)], out=shrunk[tuple(behind)])
        out = shrunk
    return out


def _densest(mask: np.ndarray, window: tuple[int, int]) -> int:
    """The most ``True`` pixels in any ``window`` (rows, columns) of ``mask`` (an integral image)."""
    rows, columns = min(window[0], mask.shape[0]), min(window[1], mask.shape[1])
    total = np.pad(mask.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (
        total[rows:, columns:] - total[:-rows, columns:] - total[rows:, :-columns] + total[:-rows, :-columns]
    )
    return int(sums.max())


def _box_mask(boxes: Sequence[Box], shape: tuple[int, ...], pad: int) -> np.ndarray:
    """True where ``redact`` blacks out ``boxes`` grown by ``pad``."""
    mask = np.zeros(shape[:2], dtype=bool)
    for box in boxes:
        mask[
            max(box.y - pad, 0) : max(box.y + box.h + pad, 0),
            max(box.x - pad, 0) : max(box.x + box.w + pad, 0),
        ] = True
    return mask
