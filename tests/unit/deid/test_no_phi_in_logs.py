"""No identifying value reaches a log record or a warning, at any level, even for invalid values.

pydicom logs invalid values verbatim ("Invalid value for VR DA: 'DOE JOHN'"); the engine must
keep that from happening while it reads, cleans and writes a file.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file

from .conftest import PHI, make_instance


def _instance_with_invalid_phi_values() -> pydicom.Dataset:
    ds = make_instance()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the invalid values are planted on purpose
        ds.StudyDate = PHI["name"]  # DA holding a name
        # IS holding a name (kept group 0020): pydicom refuses to set it, so plant the raw bytes.
        value = PHI["name_part"].encode()
        ds[0x00200011] = RawDataElement(Tag(0x00200011), "IS", len(value), value, 0, False, True)
        ds.PatientAge = PHI["accession"]  # AS holding an accession number
    return ds


def test_reading_cleaning_and_writing_log_no_phi(
    tmp_path: Path, eucaim: Deidentifier, caplog: pytest.LogCaptureFixture
) -> None:
    src = tmp_path / "in.dcm"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _instance_with_invalid_phi_values().save_as(src, enforce_file_format=True)
    caplog.clear()  # planting the values above logged them; only the engine's run is judged
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        outcome = deidentify_file(src, tmp_path / "out.dcm", eucaim)
    assert caught == []
    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    for value in PHI.values():
        assert value not in logged
    assert PHI["patient_id"] not in " ".join(outcome.audit["warnings"])  # type: ignore[arg-type]
    assert logging.getLogger("pydicom").disabled is False  # restored afterwards
    # The name typed into a kept numeric attribute does not reach the output either.
    assert PHI["name_part"].encode() not in (tmp_path / "out.dcm").read_bytes()
    assert any(str(w).startswith("SeriesNumber") for w in outcome.audit["warnings"])  # type: ignore[attr-defined]
