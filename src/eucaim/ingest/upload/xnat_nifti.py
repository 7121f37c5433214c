"""NIfTI images with a JSON sidecar: de-identify them and upload them as a resource of their XNAT session.

De-identification, failing closed:

- the **sidecar** goes through the same :class:`~eucaim.deid.engine.Deidentifier` as the DICOM
  files. A DICOM-JSON sidecar (PS3.18 F.2: keys are tags) is read as a dataset as it is; a BIDS
  sidecar (dcm2niix: keys are DICOM keywords) becomes a dataset of the keys that are DICOM keywords.
  So PatientID becomes the same pseudonym, UIDs the same ``2.25`` UIDs and dates the same shifted
  dates as in the images. BIDS keys that are not DICOM keywords survive only if listed in
  ``BIDS_SAFE_KEYS`` (acquisition parameters); every other key is dropped.
- the **NIfTI header**'s free-text fields (``db_name``, ``descrip``, ``aux_file``) are blanked;
  a file with header extensions (which can carry a whole DICOM header) is refused.
- **file names** become ``<session label>_<keyed token of the original name>`` with the original
  extension, so a name like ``sub-12345_T1w.nii.gz`` leaves no trace; image and sidecar keep one
  token, so they stay paired.

The session is the one the DICOM images of the same study went to (same pseudonym, same
de-identified StudyInstanceUID, :func:`~eucaim.ingest.upload.xnat.session_label`); upload it after
the images. Files are PUT into the session's ``NIFTI`` resource streamed from disk, then XNAT's
MD5 digests are compared with those computed while writing.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.multival import MultiValue

from eucaim.deid.engine import Deidentifier
from eucaim.deid.pseudonym import derive_token
from eucaim.errors import DeidentificationError, UploadError
from eucaim.ingest.upload.xnat import XnatTarget, session_label, subject_label
from eucaim.ingest.upload.xnat_session import check_status

RESOURCE = "NIFTI"
CHUNK = 1024 * 1024
_TAG_KEY = re.compile(r"^[0-9A-Fa-f]{8}$")
# BIDS sidecar keys that are not DICOM keywords and carry acquisition parameters only.
BIDS_SAFE_KEYS = frozenset(
    {
        "AcquisitionMatrixPE", "BandwidthPerPixelPhaseEncode", "ConversionSoftware",
        "ConversionSoftwareVersion", "DerivedVendorReportedEchoSpacing", "DwellTime",
        "EffectiveEchoSpacing", "ImageOrientationPatientDICOM", "InPlanePhaseEncodingDirectionDICOM",
        "MultibandAccelerationFactor", "ParallelReductionFactorInPlane", "PartialFourier",
        "PhaseEncodingAxis", "PhaseEncodingDirection", "ReconMatrixPE", "RepetitionTimeExcitation",
        "ShimSetting", "SkullStripped", "SliceEncodingDirection", "SliceTiming", "TaskName",
        "TotalReadoutTime", "EchoNumber",
    }
)  # fmt: skip
# (offset, length) of the free-text header fields, per header size (NIfTI-1: 348, NIfTI-2: 540).
_TEXT_FIELDS = {348: ((4, 18), (148, 80), (228, 24)), 540: ((240, 80), (320, 24))}


@dataclass(frozen=True)
class PreparedNifti:
    """De-identified files in the outbox, where they go, and the MD5 of each."""

    subject: str
    session: str
    files: tuple[Path, ...]
    md5: dict[str, str]


def nifti_extension(name: str) -> str:
    for ext in (".nii.gz", ".nii"):
        if name.endswith(ext):
            return ext
    raise DeidentificationError(f"{name} is not a single-file NIfTI (.nii or .nii.gz)", reason="not_nifti")


def prepare_nifti(
    nifti: Path,
    sidecar: Path,
    deidentifier: Deidentifier,
    secret: bytes,
    out_dir: Path,
    *,
    patient_id: str | None = None,
    study_uid: str | None = None,
) -> PreparedNifti:
    """De-identify ``nifti`` and its JSON ``sidecar`` into ``out_dir`` (see the module docstring).

    ``patient_id`` and ``study_uid`` are the *original* identifiers, needed only when the sidecar
    lacks PatientID or StudyInstanceUID; they go through the same de-identification.

    Raises:
        DeidentificationError: the files cannot be de-identified safely, or the study is unknown.
    """
    ext = nifti_extension(nifti.name)
    document, is_dicom_json = _read_sidecar(sidecar)
    ds = _as_dataset(document, is_dicom_json)
    if patient_id and "PatientID" not in ds:
        ds.PatientID = patient_id
    if study_uid and "StudyInstanceUID" not in ds:
        ds.StudyInstanceUID = study_uid
    if "PatientID" not in ds or "StudyInstanceUID" not in ds:
        raise DeidentificationError(
            f"{sidecar.name} names no PatientID or StudyInstanceUID, so its XNAT session is unknown; "
            "pass the original patient ID and study UID",
            reason="missing_attribute",
        )
    outcome = deidentifier.deidentify(ds)
    clean = outcome.dataset
    subject = subject_label(outcome.pseudonym)
    label = session_label(subject, str(clean.StudyInstanceUID))
    token = derive_token(secret, "nifti-file", nifti.name.removesuffix(ext))
    out_dir.mkdir(parents=True, exist_ok=True)
    image = out_dir / f"{label}_{token}{ext}"
    meta = out_dir / f"{label}_{token}.json"
    md5 = {image.name: _clean_nifti(nifti, image, compressed=ext == ".nii.gz")}
    payload = clean.to_json_dict() if is_dicom_json else _as_keywords(clean, document)
    data = json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
    meta.write_bytes(data)
    md5[meta.name] = hashlib.md5(data, usedforsecurity=False).hexdigest()
    return PreparedNifti(subject=subject, session=label, files=(image, meta), md5=md5)


def _read_sidecar(path: Path) -> tuple[dict[str, Any], bool]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DeidentificationError(
            f"cannot read the sidecar {path.name} as JSON", reason="unreadable"
        ) from exc
    if not isinstance(document, dict):
        raise DeidentificationError(f"the sidecar {path.name} is not a JSON object", reason="unreadable")
    return document, bool(document) and all(_TAG_KEY.match(k) for k in document)


def _as_dataset(document: dict[str, Any], is_dicom_json: bool) -> pydicom.Dataset:
    if is_dicom_json:
        try:
            return pydicom.Dataset.from_json(document)
        except Exception as exc:  # whatever pydicom cannot read is not sent
            raise DeidentificationError(
                "the DICOM-JSON sidecar is malformed", reason="malformed_element"
            ) from exc
    ds = pydicom.Dataset()
    for key, value in document.items():
        if tag_for_keyword(key) is None or isinstance(value, dict):
            continue
        try:
            setattr(
                ds,
                key,
                [str(v) if isinstance(v, str) else v for v in value] if isinstance(value, list) else value,
            )
        except (TypeError, ValueError, OverflowError):
            continue  # a value that does not fit its DICOM type is dropped, never passed on raw
    return ds


def _plain(value: Any) -> Any:
    if isinstance(value, MultiValue | list):
        return [_plain(v) for v in value]
    if isinstance(value, float | int | bool) or value is None:
        return value
    if isinstance(value, pydicom.valuerep.DSfloat):
        return float(value)
    if isinstance(value, pydicom.valuerep.IS):
        return int(value)
    return str(value)


def _as_keywords(clean: pydicom.Dataset, document: dict[str, Any]) -> dict[str, Any]:
    """A BIDS sidecar again: the de-identified keyword elements plus the safe non-DICOM keys."""
    out: dict[str, Any] = {
        k: v for k, v in document.items() if k in BIDS_SAFE_KEYS and tag_for_keyword(k) is None
    }
    for elem in clean:
        if elem.keyword and elem.VR != "SQ":
            out[elem.keyword] = _plain(elem.value)
    return out


def _clean_nifti(src: Path, dst: Path, *, compressed: bool) -> str:
    """Copy ``src`` to ``dst`` with the header's free text blanked; return the MD5 of what was written."""
    try:
        if compressed:
            # mtime=0 and no file name in the gzip header: same input, same bytes (and MD5).
            with (
                gzip.open(src, "rb") as reader,
                open(dst, "wb") as raw,
                gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as writer,
            ):
                _copy_cleaned(reader, writer, src.name)
        else:
            with open(src, "rb") as plain_reader, open(dst, "wb") as plain_writer:
                _copy_cleaned(plain_reader, plain_writer, src.name)
    except (OSError, EOFError) as exc:
        dst.unlink(missing_ok=True)
        raise DeidentificationError(f"cannot read {src.name} as NIfTI: {exc}", reason="unreadable") from exc
    except DeidentificationError:
        dst.unlink(missing_ok=True)
        raise
    md5 = hashlib.md5(usedforsecurity=False)
    with open(dst, "rb") as written:
        while chunk := written.read(CHUNK):
            md5.update(chunk)
    return md5.hexdigest()


def _copy_cleaned(reader: io.BufferedIOBase, writer: io.BufferedIOBase, name: str) -> None:
    for chunk in _cleaned_chunks(reader, name):
        writer.write(chunk)


def _cleaned_chunks(reader: io.BufferedIOBase, name: str) -> Iterator[bytes]:
    head = bytearray(reader.read(544))
    if len(head) < 352:
        raise DeidentificationError(f"{name} is too short to be a NIfTI image", reason="not_nifti")
    size = next((s for s in (348, 540) for fmt in ("<i", ">i") if struct.unpack(fmt, head[:4])[0] == s), None)
    magic_ok = (size == 348 and head[344:348] == b"n+1\0") or (size == 540 and head[4:8] == b"n+2\0")
    if size is None or not magic_ok or len(head) < size + 4:  # +4: the extension flag
        raise DeidentificationError(
            f"{name} is not a single-file NIfTI-1 or NIfTI-2 image", reason="not_nifti"
        )
    if head[size] != 0:
        raise DeidentificationError(
            f"{name} has NIfTI header extensions, which can hold identifying data; remove them "
            "(e.g. re-convert with dcm2niix without extensions) and try again",
            reason="nifti_extensions",
        )
    for offset, length in _TEXT_FIELDS[size]:
        head[offset : offset + length] = bytes(length)
    yield bytes(head)
    while chunk := reader.read(CHUNK):
        yield chunk


def upload_nifti_xnat(target: XnatTarget, prepared: PreparedNifti) -> dict[str, str]:
    """PUT the prepared files into their session's ``NIFTI`` resource; return name → MD5 verified.

    Raises:
        UploadError: the session does not exist yet (push its DICOM images first), XNAT refused a
            file, or a digest differs from what was sent.
    """
    base = f"data/projects/{quote(target.project, safe='')}/experiments/{quote(prepared.session, safe='')}"
    probe = target.session.request(
        "GET", base, what=f"finding session {prepared.session}", params={"format": "json"}
    )
    if probe.status_code == 404:
        raise UploadError(
            f"XNAT has no session {prepared.session} for these NIfTI files",
            status_code=404,
            hint="push the study's DICOM images first (`eucaim-ingest push`), then upload its NIfTI files",
        )
    check_status(probe, f"finding session {prepared.session}")
    for path in prepared.files:
        size = path.stat().st_size

        def body(path: Path = path, size: int = size) -> tuple[dict[str, str], Iterator[bytes]]:
            return {"Content-Type": "application/octet-stream", "Content-Length": str(size)}, _read(path)

        response = target.session.request(
            "PUT",
            f"{base}/resources/{RESOURCE}/files/{quote(path.name, safe='')}",
            what=f"uploading {path.name}",
            params={"overwrite": "true", "format": "NIFTI" if ".nii" in path.name else "JSON"},
            body=body,
        )
        check_status(response, f"uploading {path.name}", ok=(200, 201))
    listing = target.session.result_set(f"{base}/resources/{RESOURCE}/files", what="listing NIfTI files")
    held = {row.get("Name", ""): row.get("digest", "").lower() for row in listing}
    wrong = [name for name, md5 in prepared.md5.items() if held.get(name) != md5]
    if wrong:
        raise UploadError(
            f"XNAT holds different bytes than were sent for {', '.join(sorted(wrong))}",
            hint="upload again; if it persists, ask the XNAT admin whether a plugin rewrites files",
        )
    return dict(prepared.md5)


def _read(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk
