"""Write the broken inputs a scanner meets in real exports, one file per failure mode.

Each key of ``write_malformed_examples`` names one way a file can fail, and its docstring says how
pydicom (3.x) reacts, so scanner and quarantine tests can assert the exact behaviour.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
from pydicom import dcmread
from pydicom.dataset import Dataset

from eucaim.dicom.synthetic_instances import build_instance, make_pixels
from eucaim.dicom.synthetic_people import make_patients
from eucaim.dicom.synthetic_plan import plan_studies

_NOT_DICOM = (
    b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
    b"% Informe radiologico exportado por error con extension .dcm\n%%EOF\n"
)


def _valid_instance() -> Dataset:
    rng = random.Random(7)
    patient = make_patients(rng, 1)[0]
    study = plan_studies(rng, 7, patient, (4, 4))[0]
    series = study.series[0]
    pixels = make_pixels(np.random.default_rng(7), 64, 0, 4, study.modality)
    return build_instance(study, series, 0, pixels)


def _to_bytes(ds: Dataset, *, enforce_file_format: bool = True) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=enforce_file_format)
    return buffer.getvalue()


def write_malformed_examples(out_dir: Path) -> dict[str, Path]:
    """Write one broken file per failure mode into ``out_dir`` and return them by name.

    - ``not_dicom``: ``report.dcm``, a PDF-like text file. ``pydicom.dcmread`` raises
      ``pydicom.errors.InvalidDicomError`` (no ``DICM`` prefix).
    - ``truncated``: ``truncated.dcm``, a valid CT file cut off half-way through its Pixel Data.
      ``dcmread`` succeeds silently (no warning): the header is intact and ``PixelData`` is just
      half as long as Rows x Columns x 2. ``ds.pixel_array`` raises ``ValueError`` ("number of bytes
      of pixel data is less than expected"). A scanner that only reads headers will not notice.
    - ``unreadable``: ``unreadable.dcm``, a dangling symbolic link. Even root cannot open it
      (``FileNotFoundError``); ``Path.is_file()`` is ``False`` but directory listings do show it, so a
      scanner must report it rather than silently pass over it.
    - ``no_sop_uid``: ``no_sop_uid.dcm``, a Part-10 file whose dataset lacks SOPInstanceUID (0008,0018)
      and whose file meta lacks MediaStorageSOPInstanceUID (0002,0003). ``dcmread`` succeeds; the
      UID is simply absent.
    - ``empty``: ``empty.dcm``, 0 bytes. ``dcmread`` raises ``InvalidDicomError``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "not_dicom": out_dir / "report.dcm",
        "truncated": out_dir / "truncated.dcm",
        "unreadable": out_dir / "unreadable.dcm",
        "no_sop_uid": out_dir / "no_sop_uid.dcm",
        "empty": out_dir / "empty.dcm",
    }
    paths["not_dicom"].write_bytes(_NOT_DICOM)
    ds = _valid_instance()
    whole = _to_bytes(ds)
    pixel_bytes = len(ds.PixelData)
    paths["truncated"].write_bytes(whole[: len(whole) - pixel_bytes // 2])
    link = paths["unreadable"]
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(out_dir / "does-not-exist" / "exported-image.dcm")
    # Read back what was written, so preamble and full file meta are there, then drop the UID.
    written = dcmread(io.BytesIO(whole))
    del written.SOPInstanceUID
    del written.file_meta.MediaStorageSOPInstanceUID
    paths["no_sop_uid"].write_bytes(_to_bytes(written, enforce_file_format=False))
    paths["empty"].write_bytes(b"")
    return paths
