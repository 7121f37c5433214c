"""Property: identifying values planted anywhere (any depth, VR, private block, file meta) never
survive in the written bytes, under either built-in profile."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pydicom
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.sequence import Sequence

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile

from .conftest import SECRET, make_instance

DEIDENTIFIERS = {name: Deidentifier(load_profile(name), SECRET) for name in ("eucaim", "ps315-basic")}

# Sequences to nest plants in: kept and cleaned (U, D, allow-listed), removed, and private.
SEQUENCES = [0x00081140, 0x52009229, 0x0040A730, 0x00082112, 0x00101002, 0x00400275, 0x00081115]
# (tag, VR, kind): kind says which marker the element gets.
PLANTS = [
    (0x00100010, "PN", "name"),
    (0x00080090, "PN", "name"),
    (0x00081070, "PN", "name"),
    (0x0040A123, "PN", "name"),
    (0x00101005, "PN", "name"),
    (0x00100020, "LO", "id"),
    (0x00101000, "LO", "id"),
    (0x00080050, "SH", "id"),
    (0x00200010, "SH", "id"),
    (0x00080080, "LO", "text"),
    (0x00081010, "SH", "short"),
    (0x00081030, "LO", "desc"),  # StudyDescription: cleaned, must lose the planted name
    (0x0008103E, "LO", "desc"),
    (0x00181030, "LO", "desc"),  # ProtocolName
    (0x00180024, "SH", "desc"),  # SequenceName: kept acquisition text, still scrubbed
    (0x00080104, "LO", "text"),  # CodeMeaning outside a code item context
    (0x00204000, "LT", "text"),
    (0x001021B0, "LT", "text"),
    (0x01000424, "LT", "text"),  # unlisted public attribute
    (0x00100030, "DA", "date"),
    (0x00080020, "DA", "date"),
    (0x00080022, "DA", "date"),
    (0x00080012, "DA", "date"),
    (0x0040A121, "DA", "date"),
    (0x0008002A, "DT", "datetime"),
    (0x0040A120, "DT", "datetime"),
    (0x0020000D, "UI", "uid"),
    (0x00081155, "UI", "uid"),
    (0x00200052, "UI", "uid"),
    (0x0040A124, "UI", "uid"),
    (0x00083010, "UI", "uid"),
    (0x00209161, "UI", "uid"),
]

letters = st.text(alphabet="BCDFGHJKLMNPQRSTVWXZ", min_size=9, max_size=9)
plant = st.tuples(
    st.sampled_from(PLANTS),
    st.lists(st.sampled_from(SEQUENCES), max_size=3),
    st.booleans(),  # inside a private block instead
)


def _marker(kind: str, n: int, name: tuple[str, str], pid: str, day: int) -> str:
    if kind == "name":
        return f"{name[0]}^{name[1]}"
    if kind == "id":
        return f"{pid}{n}"
    if kind == "short":
        return name[0][:16]
    if kind == "desc":
        return f"T1 AX {name[1]}"
    if kind == "text":
        return f"seen by {name[0]} {pid}"
    if kind == "date":
        return f"1933{(day % 12) + 1:02d}{(day % 27) + 1:02d}"
    if kind == "datetime":
        return f"1933{(day % 12) + 1:02d}{(day % 27) + 1:02d}101010"
    return f"1.2.826.0.1.31337.{day}.{n}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    last=letters,
    first=letters,
    pid=letters,
    day=st.integers(min_value=0, max_value=10_000),
    plants=st.lists(plant, min_size=1, max_size=8),
    profile=st.sampled_from(sorted(DEIDENTIFIERS)),
    meta_ae=letters,
)
def test_planted_values_never_survive(
    last: str, first: str, pid: str, day: int, plants: list[object], profile: str, meta_ae: str
) -> None:
    ds = make_instance(patient_id=pid)
    ds.PatientName = f"{last}^{first}"
    ds.file_meta.SourceApplicationEntityTitle = meta_ae
    markers = {last, first, pid, meta_ae}
    for n, entry in enumerate(plants):
        (tag, vr, kind), path, private = entry  # type: ignore[misc]
        value = _marker(kind, n, (last, first), pid, day)
        markers.add(value if kind in ("uid", "date", "datetime", "id") else "")
        target: pydicom.Dataset = ds
        for seq_tag in path:
            if seq_tag not in target:
                target.add_new(seq_tag, "SQ", Sequence([pydicom.Dataset()]))
            elif not target[seq_tag].value:
                target[seq_tag].value = [pydicom.Dataset()]
            target = target[seq_tag].value[0]
        if private:
            block = target.private_block(0x0029, "PLANTED CREATOR", create=True)
            block.add_new(0x10 + n, vr, value)
        else:
            target.add_new(tag, vr, value)
    markers.discard("")
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.dcm", Path(tmp) / "out.dcm"
        ds.save_as(src, enforce_file_format=True)
        deidentify_file(src, dst, DEIDENTIFIERS[profile])
        data = dst.read_bytes()
    survivors = [m for m in markers if m.encode() in data or m.upper().encode() in data]
    assert survivors == []
