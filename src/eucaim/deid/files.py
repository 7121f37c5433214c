"""De-identifying one DICOM file to another: read fully, clean, write atomically.

This is what the pipeline's worker processes call; everything it needs travels as arguments, so
it pickles cleanly (build the ``Deidentifier`` once per process from profile name and secret).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError as PydicomInvalidDicomError
from pydicom.uid import UID

from eucaim.deid.encode import encode_part10_parts
from eucaim.deid.engine import Deidentifier, DeidOutcome
from eucaim.deid.quiet import pydicom_quiet
from eucaim.errors import DeidentificationError, InvalidDicomError

# Unique per process and call. Created exclusively, never through a symlink, owner-only (as
# mkstemp did); a stale file left by a dead process with the same PID is removed first.
_temp_numbers = itertools.count()
_CREATE_FLAGS = (
    os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
)
_REQUIRED = ("SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID")
_NATIVE_SYNTAXES = frozenset(
    {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
)


@dataclass(frozen=True)
class FileOutcome:
    """What the pipeline records about one de-identified file (UIDs are the new ones)."""

    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    modality: str
    pseudonym: str
    original_patient_id: str
    day_offset: int
    size: int
    sha256: str
    audit: dict[str, object]


def read_dicom(src: Path, data: bytes | None = None) -> pydicom.Dataset:
    """Read ``src`` completely and check it is a usable DICOM instance.

    Raises:
        InvalidDicomError: not DICOM, truncated, or missing an identifying UID or pixel bytes.
    """
    with pydicom_quiet():
        try:
            return _read_checked(src, data)
        except InvalidDicomError:
            raise
        except Exception as exc:  # any parser failure on hostile bytes: refuse the file, never crash
            raise InvalidDicomError(
                f"{src.name} cannot be parsed as DICOM ({type(exc).__name__})",
                path=src,
                hint="re-export the file from the source system",
            ) from exc


def _read_bytes(src: Path) -> bytes:
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise InvalidDicomError(
            f"cannot read {src.name}: {exc.strerror}", path=src, reason="unreadable"
        ) from exc
    if not data:
        raise InvalidDicomError(f"{src.name} is empty (0 bytes)", path=src, reason="empty")
    return data


def _read_checked(src: Path, data: bytes | None) -> pydicom.Dataset:
    if data is None:
        data = _read_bytes(src)
    try:
        ds: pydicom.Dataset
        try:
            ds = pydicom.dcmread(BytesIO(data))
        except PydicomInvalidDicomError as exc:
            ds = _read_without_preamble(src, data, exc)
    except (OSError, EOFError, ValueError, KeyError, TypeError, AttributeError, NotImplementedError) as exc:
        # Anything else escapes to read_dicom's catch-all; these are the expected shapes of damage.
        raise InvalidDicomError(
            f"{src.name} cannot be parsed as DICOM ({type(exc).__name__}); it may be truncated",
            path=src,
            reason="invalid_dicom",
            hint="re-export the file from the source system",
        ) from exc
    _check_complete(ds, src, data)
    missing = [k for k in _REQUIRED if not str(ds.get(k, "") or "").strip()]
    if missing:
        raise InvalidDicomError(
            f"{src.name} lacks required attribute(s) {', '.join(missing)}",
            path=src,
            reason="missing_attribute",
            hint="the file cannot be tracked or referenced without them; fix it at the source",
        )
    _check_pixel_length(ds, src)
    return ds


_SYNTAX_OF_ENCODING = {
    (True, True): "1.2.840.10008.1.2",  # implicit VR little endian
    (False, True): "1.2.840.10008.1.2.1",  # explicit VR little endian
    (False, False): "1.2.840.10008.1.2.2",  # explicit VR big endian
}


def _read_without_preamble(src: Path, data: bytes, exc: Exception) -> pydicom.Dataset:
    """Old exports write the bare dataset, without preamble or file meta: accept those only if
    they read as an identifiable instance, and record the encoding pydicom detected."""
    ds = pydicom.dcmread(BytesIO(data), force=True)
    syntax = _SYNTAX_OF_ENCODING.get(tuple(getattr(ds, "original_encoding", (None, None))))
    if syntax is None or "SOPInstanceUID" not in ds or "SOPClassUID" not in ds:
        raise InvalidDicomError(
            f"{src.name} is not a DICOM file (no DICM preamble, and no dataset without one)",
            path=src,
            reason="not_dicom",
            hint="check the file is DICOM",
        ) from exc
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    return ds


def _check_complete(ds: pydicom.Dataset, src: Path, data: bytes) -> None:
    """Refuse a file whose last element runs past the end of the file.

    pydicom reads a defined-length sequence cut short without complaint, and stops quietly at
    the end of an undefined-length one, so a truncated file would otherwise come out as a
    well-formed but incomplete object.
    """
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    keys = list(ds.keys())
    if not keys or syntax == "1.2.840.10008.1.2.1.99":  # offsets of a deflated body are not file offsets
        return
    raw = ds.get_item(keys[-1])
    if not isinstance(raw, RawDataElement) or raw.value_tell is None:
        return
    size = len(data)
    if raw.length == 0xFFFFFFFF:
        delimiter = b"\xff\xfe\xe0\xdd" if syntax == "1.2.840.10008.1.2.2" else b"\xfe\xff\xdd\xe0"
        complete = data[-8:-4] == delimiter
    else:
        complete = raw.value_tell + raw.length <= size
    if not complete:
        raise InvalidDicomError(
            f"{src.name} ends inside its last element; the file is truncated",
            path=src,
            reason="truncated",
            hint="re-export the file from the source system",
        )


def _check_pixel_length(ds: pydicom.Dataset, src: Path) -> None:
    """A native PixelData shorter than Rows x Columns x Frames x Samples means a truncated file."""
    if "PixelData" not in ds:
        return
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    if syntax not in _NATIVE_SYNTAXES:
        return
    try:
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        expected = (
            int(ds.Rows)
            * int(ds.Columns)
            * frames
            * int(ds.get("SamplesPerPixel", 1))
            * int(ds.BitsAllocated)
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise InvalidDicomError(
            f"{src.name} has pixel data but no usable Rows/Columns/BitsAllocated",
            path=src,
            reason="missing_attribute",
        ) from exc
    if str(ds.get("PhotometricInterpretation", "")) in ("YBR_FULL_422", "YBR_PARTIAL_422"):
        expected = expected * 2 // 3  # chroma subsampled horizontally: 2 samples per pixel, not 3
    have = len(ds.PixelData) * 8
    if have < expected:
        raise InvalidDicomError(
            f"{src.name}: pixel data holds {have // 8} bytes, {(expected + 7) // 8} expected; "
            "the file is truncated",
            path=src,
            reason="truncated",
            hint="re-export the file from the source system",
        )


def deidentify_file(src: Path, dst: Path, deidentifier: Deidentifier) -> FileOutcome:
    """De-identify ``src`` into ``dst`` (written atomically) and return what to record.

    Raises:
        InvalidDicomError: ``src`` is not usable DICOM.
        DeidentificationError: ``src`` cannot be de-identified safely (quarantine it).
    """
    return deidentify_file_into(src, lambda _: Path(dst), deidentifier)[0]


def deidentify_file_into(
    src: Path, place: Callable[[FileOutcome], Path], deidentifier: Deidentifier
) -> tuple[FileOutcome, Path]:
    """De-identify ``src`` and write it, atomically, where ``place`` says once the outcome is known.

    For trees laid out by de-identified UIDs: the file is written once, in its final folder,
    instead of beside it and renamed. Returns the outcome and the path written.

    Raises:
        InvalidDicomError: ``src`` is not usable DICOM.
        DeidentificationError: ``src`` cannot be de-identified safely (quarantine it).
    """
    src = Path(src)
    raw = _read_bytes(src)
    with pydicom_quiet():  # also around reading the result: kept values decode lazily
        ds = read_dicom(src, raw)
        outcome = deidentifier.deidentify(ds)
        outcome.audit["input_hash"] = deidentifier.input_hash(raw)
        del raw
        out = outcome.dataset
        parts = _encode(out)
        result = _file_outcome(outcome, out, parts)
    dst = Path(place(result))
    _write_atomically(dst, parts)
    return result, dst


def read_for_preview(
    paths: Iterable[Path], root: Path | None = None
) -> Iterator[tuple[str, pydicom.Dataset | InvalidDicomError]]:
    """``(label, dataset or the reading error)`` per file, for ``preview.preview``.

    Labels are paths relative to ``root`` when given. One file in memory at a time.
    """
    for path in paths:
        label = str(path.relative_to(root)) if root is not None else str(path)
        try:
            yield label, read_dicom(path)
        except InvalidDicomError as exc:
            yield label, exc
        except OSError as exc:
            yield (
                label,
                InvalidDicomError(f"cannot read {path.name}: {exc.strerror}", path=path, reason="unreadable"),
            )


def _file_outcome(outcome: DeidOutcome, out: pydicom.Dataset, parts: list[bytes]) -> FileOutcome:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    try:
        return FileOutcome(
            sop_instance_uid=str(out.SOPInstanceUID),
            study_instance_uid=str(out.StudyInstanceUID),
            series_instance_uid=str(out.SeriesInstanceUID),
            sop_class_uid=str(out.SOPClassUID),
            modality=str(out.get("Modality", "") or ""),
            pseudonym=outcome.pseudonym,
            original_patient_id=outcome.original_patient_id,
            day_offset=outcome.day_offset,
            size=sum(len(part) for part in parts),
            sha256=digest.hexdigest(),
            audit=outcome.audit,
        )
    except Exception as exc:  # a kept UID that does not decode: fail closed
        raise DeidentificationError(
            f"cannot read back the de-identified identifiers ({type(exc).__name__})",
            reason="malformed_element",
        ) from None


def _write_atomically(dst: Path, parts: list[bytes]) -> None:
    """Write ``parts`` to a temporary file beside ``dst`` and rename it: readers never see half a file."""
    tmp = dst.parent / f".deid-{os.getpid()}-{next(_temp_numbers)}.tmp"
    try:
        fd = os.open(tmp, _CREATE_FLAGS, 0o600)
    except FileNotFoundError:  # first file of this folder: make it, then try again
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, _CREATE_FLAGS, 0o600)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, _CREATE_FLAGS, 0o600)
    try:
        try:
            for part in parts:
                view = memoryview(part)
                while view:
                    view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _encode(ds: pydicom.Dataset) -> list[bytes]:
    """The Part 10 bytes of ``ds`` in pieces (file meta already rebuilt by the engine)."""
    try:
        with pydicom_quiet():
            return encode_part10_parts(ds)
    except Exception as exc:  # an element that cannot be encoded must not reach the wire half-written
        raise DeidentificationError(
            f"cannot encode the de-identified instance ({type(exc).__name__})", reason="encode_failed"
        ) from None
