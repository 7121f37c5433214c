"""The de-identification actions a rule can name, and the dummy values they write."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    """What happens to one element. Unknown names fail when a profile is loaded."""

    KEEP = "keep"  # keep; for a sequence, keep it and clean its items
    REMOVE = "remove"  # PS3.15 X
    EMPTY = "empty"  # PS3.15 Z: present with a zero-length value
    DUMMY = "dummy"  # PS3.15 D: a non-identifying value of the right VR
    UID = "uid"  # PS3.15 U: keyed 2.25 UID, the same everywhere it occurs
    SHIFT = "shift"  # dates moved by the patient's day offset, paired times kept
    CLEAN = "clean"  # PS3.15 C for text: identifying values and ID/date patterns scrubbed
    PSEUDONYM = "pseudonym"  # the patient's keyed pseudonym


# Strictest first: when several options give an element different actions, the first wins.
STRICTNESS: tuple[Action, ...] = (
    Action.REMOVE,
    Action.EMPTY,
    Action.DUMMY,
    Action.CLEAN,
    Action.SHIFT,
    Action.PSEUDONYM,
    Action.UID,
    Action.KEEP,
)

DUMMY_TEXT = "ANONYMIZED"
_DUMMY_BY_VR: dict[str, object] = {
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "AS": "000D",
    "IS": "0",
    "DS": "0",
    "US": 0,
    "SS": 0,
    "UL": 0,
    "SL": 0,
    "UV": 0,
    "SV": 0,
    "FL": 0.0,
    "FD": 0.0,
    "AT": 0,
    "OB": b"",
    "OW": b"",
    "OD": b"",
    "OF": b"",
    "OL": b"",
    "OV": b"",
    "UN": b"",
}


def parse_action(name: str) -> Action:
    """Return the action called ``name``; raise ValueError for an unknown name."""
    try:
        return Action(name.strip().lower())
    except ValueError:
        known = ", ".join(a.value for a in Action)
        raise ValueError(f"unknown action {name!r} (known: {known})") from None


def dummy_value(vr: str) -> object:
    """A non-identifying value valid for ``vr`` (text VRs get ``ANONYMIZED``)."""
    return _DUMMY_BY_VR.get(vr, DUMMY_TEXT)


def strictest(actions: list[Action]) -> Action:
    """The strictest of ``actions`` (see ``STRICTNESS``)."""
    return min(actions, key=STRICTNESS.index)
