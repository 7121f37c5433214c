"""Shifting DICOM DA and DT values by a whole number of days, keeping their precision."""

from __future__ import annotations

import datetime as _dt
import re

_DA = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_DA_LEGACY = re.compile(r"^(\d{4})\.(\d{2})\.(\d{2})$")  # ACR-NEMA style, still seen in old files
_DT = re.compile(r"^(\d{4})(\d{2})?(\d{2})?([0-9.]*)([+-]\d{4})?$")


def shift_da(value: str, days: int) -> str | None:
    """Shift one DA value (or a ``from-to`` range) by ``days``; None if it is not a valid date."""
    text = value.strip()
    if not text:
        return ""
    if "-" in text:
        parts = text.split("-")
        shifted = [shift_da(p, days) if p else "" for p in parts]
        if len(parts) != 2 or any(s is None for s in shifted):
            return None
        return "-".join(s or "" for s in shifted)
    match = _DA.match(text) or _DA_LEGACY.match(text)
    if match is None:
        return None
    try:
        day = _dt.date(int(match[1]), int(match[2]), int(match[3]))
        moved = day + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    # Not strftime: it does not zero-pad years before 1000 on every platform.
    return f"{moved.year:04d}{moved.month:02d}{moved.day:02d}"


def shift_dt(value: str, days: int) -> str | None:
    """Shift one DT value by ``days``, keeping its precision, time and UTC offset; None if invalid."""
    text = value.strip()
    if not text:
        return ""
    match = _DT.match(text)
    if match is None:
        return None
    year, month, day, rest, offset = match[1], match[2], match[3], match[4], match[5] or ""
    if day is not None and month is None:
        return None
    try:
        base = _dt.date(int(year), int(month or 1), int(day or 1))
        # A year or year-month value is shifted from its first day and keeps its precision.
        moved = base + _dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return None
    out = f"{moved.year:04d}"
    if month is not None:
        out += f"{moved.month:02d}"
    if day is not None:
        out += f"{moved.day:02d}"
    return out + rest + offset
