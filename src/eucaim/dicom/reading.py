"""Read DICOM files strictly: detect non-DICOM, empty, unreadable and truncated files with a reason.

pydicom is lenient by design (a truncated pixel value is returned short, a missing sequence
delimiter only warns); a transfer tool must not be, so every leniency is turned into an
:class:`~eucaim.errors.InvalidDicomError` whose ``reason`` says what is wrong.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError

from eucaim.errors import InvalidDicomError

UNDEFINED_LENGTH = 0xFFFFFFFF
REQUIRED_KEYWORDS = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID")


@dataclass(frozen=True)
class InstanceHeader:
    """The identifiers the transfer engine indexes an instance by (original values)."""

    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    patient_id: str
    modality: str
    study_date: str = ""


def read_dataset(path: Path) -> pydicom.FileDataset:
    """Read a whole Part-10 file, refusing anything incomplete.

    Raises:
        InvalidDicomError: with ``reason`` one of ``unreadable``, ``empty``, ``not_dicom``,
            ``truncated``.
    """
    try:
        if not path.is_file():
            raise InvalidDicomError(
                "not a regular file (a dangling link, a folder or a device)",
                path=path,
                reason="unreadable",
                hint="check the link target or the export",
            )
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidDicomError(f"cannot be read: {exc.strerror}", path=path, reason="unreadable") from exc
    if size == 0:
        raise InvalidDicomError("empty (0 bytes)", path=path, reason="empty")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path)
    except PydicomInvalidDicomError as exc:
        raise InvalidDicomError(
            "not a DICOM Part-10 file (no 'DICM' preamble)",
            path=path,
            reason="not_dicom",
            hint="only DICOM files are transferred; remove it from the source or ignore this line",
        ) from exc
    except OSError as exc:
        raise InvalidDicomError(f"cannot be read: {exc.strerror}", path=path, reason="unreadable") from exc
    except Exception as exc:  # pydicom raises many types on corrupt input; all mean the same here
        raise InvalidDicomError(f"corrupt DICOM: {type(exc).__name__}", path=path, reason="corrupt") from exc
    for warning in caught:
        if "End of file" in str(warning.message) or "delimiter" in str(warning.message):
            raise InvalidDicomError(
                "truncated: the file ends inside an element", path=path, reason="truncated"
            )
    _check_complete(ds, path)
    return ds


def _check_complete(ds: pydicom.Dataset, path: Path) -> None:
    for tag in ds.keys():
        elem = ds.get_item(tag)
        if not isinstance(elem, RawDataElement) or elem.value is None:
            continue
        if elem.length != UNDEFINED_LENGTH and len(elem.value) < elem.length:
            raise InvalidDicomError(
                f"truncated: element {tag} declares {elem.length} bytes, the file holds {len(elem.value)}",
                path=path,
                reason="truncated",
                hint="copy the file again from its source",
            )


def header_of(ds: pydicom.Dataset, path: Path) -> InstanceHeader:
    """Return the identifiers of an instance, or say which required attribute is missing.

    Values are decoded here, lazily, so a damaged element (an unknown VR, bytes that do not
    decode) surfaces now: it becomes a ``corrupt`` problem for this file, never the end of a scan.
    """
    try:
        return _header_of(ds, path)
    except InvalidDicomError:
        raise
    except Exception as exc:  # pydicom raises many types on damaged values; all mean the same here
        raise InvalidDicomError(
            f"corrupt DICOM: an identifying element cannot be decoded ({type(exc).__name__})",
            path=path,
            reason="corrupt",
            hint="export the file again from its source",
        ) from None


def _header_of(ds: pydicom.Dataset, path: Path) -> InstanceHeader:
    for keyword in REQUIRED_KEYWORDS:
        if not str(ds.get(keyword, "") or "").strip():
            raise InvalidDicomError(
                f"no {keyword}",
                path=path,
                reason="missing_attribute",
                hint="an instance cannot be tracked without it; fix the export at the source",
            )
    return InstanceHeader(
        sop_instance_uid=str(ds.SOPInstanceUID).strip(),
        study_instance_uid=str(ds.StudyInstanceUID).strip(),
        series_instance_uid=str(ds.SeriesInstanceUID).strip(),
        sop_class_uid=str(ds.SOPClassUID).strip(),
        patient_id=str(ds.get("PatientID", "") or "").strip(),
        modality=str(ds.get("Modality", "") or "").strip(),
        study_date=str(ds.get("StudyDate", "") or "").strip(),
    )
