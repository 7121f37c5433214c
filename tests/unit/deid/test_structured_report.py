"""Clean Structured Content on pydicom's test-SR.dcm: identity goes, structure and numbers stay."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pydicom
import pydicom.data
from pydicom.sequence import Sequence

from eucaim.deid.engine import Deidentifier

SR = Path(pydicom.data.__file__).parent / "test_files" / "test-SR.dcm"


def _value_types(seq: Sequence, acc: Counter[str], *, under_text: bool = False) -> Counter[str]:
    """Value types in the tree; items under a TEXT item are counted apart (they go with it)."""
    for item in seq:
        kind = str(item.get("ValueType"))
        acc[f"under TEXT {kind}" if under_text else kind] += 1
        if "ContentSequence" in item:
            _value_types(item.ContentSequence, acc, under_text=under_text or kind == "TEXT")
    return acc


def _numbers(seq: Sequence) -> list[str]:
    out = []
    for item in seq:
        for measured in item.get("MeasuredValueSequence", []):
            out.append(str(measured.NumericValue))
        if "ContentSequence" in item:
            out.extend(_numbers(item.ContentSequence))
    return out


def test_sr_loses_identity_and_text_keeps_structure_and_measurements(eucaim: Deidentifier) -> None:
    original = pydicom.dcmread(SR)
    before = _value_types(original.ContentSequence, Counter())
    numbers = _numbers(original.ContentSequence)
    ds = eucaim.deidentify(pydicom.dcmread(SR)).dataset
    after = _value_types(ds.ContentSequence, Counter())
    assert before["TEXT"] > 0 and after["TEXT"] == 0  # free text may name anyone: removed with its item
    assert before["under TEXT CODE"] > 0 and after["under TEXT CODE"] == 0
    for kind in ("NUM", "CODE", "CONTAINER", "IMAGE", "SCOORD", "TCOORD", "UIDREF", "DATE"):
        assert after[kind] == before[kind], kind
    assert _numbers(ds.ContentSequence) == numbers
    observers = [str(o.VerifyingObserverName) for o in ds.get("VerifyingObserverSequence", [])]
    assert all("Riesmeier" not in o and "Observer" not in o for o in observers)
    values = [str(e.value) for e in ds.iterall()]
    assert not [v for v in values if "20010213" in v or "20001206" in v]  # every date shifted
    assert "Test^S R" not in values
    assert "113104" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]


def test_presentation_state_text_objects_go_with_their_text(eucaim: Deidentifier) -> None:
    from .conftest import PHI, make_instance

    ds = make_instance()
    text = pydicom.Dataset()
    text.UnformattedTextValue = f"{PHI['name']} biopsy site, called {PHI['physician']}"
    text.BoundingBoxTopLeftHandCorner = [1.0, 1.0]
    text.BoundingBoxBottomRightHandCorner = [50.0, 10.0]
    text.BoundingBoxAnnotationUnits = "PIXEL"
    graphic = pydicom.Dataset()
    graphic.GraphicType = "POINT"
    graphic.GraphicData = [5.0, 5.0]
    graphic.NumberOfGraphicPoints = 1
    graphic.GraphicAnnotationUnits = "PIXEL"
    layer = pydicom.Dataset()
    layer.GraphicLayer = "ANNOTATION"
    layer.TextObjectSequence = Sequence([text])
    layer.GraphicObjectSequence = Sequence([graphic])
    ds.GraphicAnnotationSequence = Sequence([layer])
    out = eucaim.deidentify(ds).dataset
    kept = out.GraphicAnnotationSequence[0]
    assert len(kept.get("TextObjectSequence", [])) == 0  # the text (ST, free) and its box are gone
    assert kept.GraphicObjectSequence[0].GraphicData == [5.0, 5.0]  # the drawing stays
