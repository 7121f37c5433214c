"""Write instances that arrive over C-STORE (receiver or C-GET) atomically into a folder.

Each instance lands as ``<SOPInstanceUID>.dcm``, written to a temporary name and renamed, so a
crash never leaves a half file under a final name. The bytes are those the peer sent (with a
file meta header added), never re-encoded.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eucaim.ingest.sources.query import is_valid_uid

logger = logging.getLogger(__name__)

OnStored = Callable[[Path, str], None]
"""Called as ``on_stored(path, sop_instance_uid)`` after an instance is safely on disk."""

STATUS_SUCCESS = 0x0000
STATUS_PROCESSING_FAILURE = 0x0110
STATUS_OUT_OF_RESOURCES = 0xA700
STATUS_CANNOT_UNDERSTAND = 0xC000
TEMP_SUFFIX = ".part"


def write_atomically(dest_dir: Path, sop_instance_uid: str, data: bytes) -> Path:
    """Write ``data`` to ``dest_dir/<sop_instance_uid>.dcm`` via a temporary file and rename.

    Raises ValueError when the UID is not a DICOM UID (it becomes a file name, so anything
    else could escape ``dest_dir``) and OSError when the disk refuses.
    """
    if not is_valid_uid(sop_instance_uid):
        raise ValueError("SOPInstanceUID is not a valid DICOM UID")
    final = dest_dir / f"{sop_instance_uid}.dcm"
    temp = dest_dir / f".{sop_instance_uid}.{uuid.uuid4().hex}{TEMP_SUFFIX}"
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, final)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return final


def remove_partial_files(dest_dir: Path) -> int:
    """Delete temporary files a crash left in ``dest_dir``; return how many there were."""
    removed = 0
    for leftover in dest_dir.glob(f".*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)
        removed += 1
    if removed:
        logger.info("removed %d partial files left by an interrupted transfer", removed)
    return removed


class InstanceWriter:
    """A C-STORE handler: checks, writes and announces each instance; counts outcomes.

    Thread-safe: pynetdicom calls handlers from one thread per association.
    """

    def __init__(self, dest_dir: Path, on_stored: OnStored | None = None) -> None:
        self.dest_dir = dest_dir
        self.on_stored = on_stored
        self._lock = threading.Lock()
        self.stored = 0
        self.failed = 0

    def handle_store(self, event: Any) -> int:
        """Handle one ``evt.EVT_C_STORE`` event; return the C-STORE status for the peer."""
        status = self._store(event)
        with self._lock:
            if status == STATUS_SUCCESS:
                self.stored += 1
            else:
                self.failed += 1
        return status

    def _store(self, event: Any) -> int:
        sop_uid = str(event.request.AffectedSOPInstanceUID or "")
        if not is_valid_uid(sop_uid):
            logger.warning("refused an instance whose Affected SOP Instance UID is not a valid UID")
            return STATUS_CANNOT_UNDERSTAND
        try:
            dataset_uid = str(event.dataset.SOPInstanceUID)
        except Exception:  # any decoding failure means we cannot understand it
            logger.warning("refused an instance that cannot be decoded")
            return STATUS_CANNOT_UNDERSTAND
        if dataset_uid != sop_uid:
            logger.warning("refused an instance whose SOPInstanceUID differs from the C-STORE request")
            return STATUS_CANNOT_UNDERSTAND
        try:
            path = write_atomically(self.dest_dir, sop_uid, event.encoded_dataset(include_meta=True))
        except OSError as exc:
            # errno and strerror only: the exception text would contain the UID-based file name.
            logger.error("cannot write a received instance into the destination folder: %s", exc.strerror)
            return STATUS_OUT_OF_RESOURCES
        if self.on_stored is not None:
            try:
                self.on_stored(path, sop_uid)
            except Exception as exc:
                # Keep the file but tell the peer it failed, so the PACS sends it again and the
                # workspace gets another chance to index it. Only the type is logged: messages
                # may carry the file name, which is an original UID.
                logger.error("the on_stored callback failed for a received instance (%s)", type(exc).__name__)
                return STATUS_PROCESSING_FAILURE
        logger.debug("stored one instance (%d bytes)", path.stat().st_size)
        return STATUS_SUCCESS
