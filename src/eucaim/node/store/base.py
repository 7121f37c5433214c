"""The image store interface: where instance bytes live, streamed in and out, never whole in memory.

The index in the database is the truth about what the node holds; a store object without an index
row is an orphan (a crash between writing and indexing) and may be replaced. Keys are
``<biobank>/<study>/<series>/<sop>.dcm``, built by :func:`object_key`.

STOW writes with :meth:`ImageStore.put_new`, never over an object: two workers storing different
bytes under one SOPInstanceUID at once cannot overwrite each other. The second one's bytes go to a
content-addressed key ``<biobank>/<study>/<series>/<sop>/<sha256>.dcm`` and the index keeps the
first row (eucaim.node.store.write_once).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol

from eucaim.errors import InvalidDicomError

# DICOM UIDs are digits and dots; anything else in a key could escape the store's folder.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ImageStore(Protocol):
    """Where the node keeps instance bytes: a folder, an S3 bucket or a DICOMweb PACS."""

    def put_file(self, key: str, source: Path) -> None:
        """Place ``source`` under ``key`` atomically, replacing any object there, and consume it.

        After return the object is durable; ``source`` no longer exists. A reader never sees a
        partly written object.
        """
        ...

    def put_new(self, key: str, source: Path, *, sha256: str) -> bool:
        """Write once: place ``source`` under ``key`` unless an object is already there.

        Return True when ``key`` now holds these bytes (written now, or already there with this
        ``sha256``); ``source`` is then consumed. Return False, leaving both the stored object and
        ``source`` untouched, when ``key`` holds other bytes. Atomic and durable like put_file.
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading; raises NotFound when absent."""
        ...

    def exists(self, key: str) -> bool:
        """Return True when an object is stored under ``key``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are ignored."""
        ...

    def size(self, key: str) -> int:
        """Return the object's size in bytes; raises NotFound when absent."""
        ...

    def remove_leftovers(self, *, now: float) -> int:
        """Remove what processes killed mid-put left behind (run at start); return how many."""
        ...

    def check(self) -> None:
        """Raise TransientError when the store cannot be written to now (for health checks)."""
        ...


def object_key(
    biobank_code: str, study_uid: str, series_uid: str, sop_uid: str, *, sha256: str | None = None
) -> str:
    """Return the store key of an instance; with ``sha256`` (hex), the key that names its content.

    Raises:
        InvalidDicomError: a UID is not a DICOM UID (digits and dots), which would make an unsafe key.
    """
    if not _CODE.match(biobank_code):
        raise ValueError(f"biobank code {biobank_code!r} is not a safe key component")
    for name, uid in (("StudyInstanceUID", study_uid), ("SeriesInstanceUID", series_uid)):
        if not is_valid_uid(uid):
            raise InvalidDicomError(f"{name} is not a valid DICOM UID", reason="invalid_uid")
    if not is_valid_uid(sop_uid):
        raise InvalidDicomError("SOPInstanceUID is not a valid DICOM UID", reason="invalid_uid")
    if sha256 is None:
        return f"{biobank_code}/{study_uid}/{series_uid}/{sop_uid}.dcm"
    if not _SHA256.match(sha256):
        raise ValueError("sha256 must be 64 lowercase hex digits")
    return f"{biobank_code}/{study_uid}/{series_uid}/{sop_uid}/{sha256}.dcm"


def is_valid_uid(uid: str) -> bool:
    """Return True for a DICOM UID: 1 to 64 characters of digits separated by single dots."""
    return 0 < len(uid) <= 64 and bool(_UID.match(uid))


def is_valid_biobank_code(code: str) -> bool:
    """Return True for a biobank code usable in URLs and store keys (letters, digits, - and _)."""
    return bool(_CODE.match(code))
