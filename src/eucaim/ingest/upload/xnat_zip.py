"""Pack one batch of outbox files into a DICOM zip on disk, computing each member's MD5 on the way.

The zip is written to a temporary file next to the outbox (never held in memory) so that the
import request has an exact Content-Length and every retry re-reads the same bytes. Members are
stored uncompressed: de-identification already keeps the CPUs busy, and XNAT's digests are of
the member bytes either way. Member names are ``<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` so that
XNAT's error for an unparsable member ("Unable to parse NAME") names the instance.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from eucaim.errors import UploadError
from eucaim.ingest.upload.base import OutgoingInstance

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class SessionZip:
    """A written zip: its path and size, and per SOPInstanceUID the MD5 of the member's bytes."""

    path: Path
    size: int
    md5: dict[str, str]

    def chunks(self) -> Iterator[bytes]:
        """The zip's bytes, read from disk a chunk at a time."""
        with open(self.path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def member_name(item: OutgoingInstance) -> str:
    return f"{item.series_instance_uid}/{item.sop_instance_uid}.dcm"


def sop_uid_of_member(name: str) -> str | None:
    """The SOPInstanceUID a member name stands for (inverse of :func:`member_name`), or None."""
    base = name.rsplit("/", 1)[-1]
    return base.removesuffix(".dcm") if base.endswith(".dcm") else None


def write_session_zip(batch: Sequence[OutgoingInstance], folder: Path) -> SessionZip:
    """Write ``batch`` as a zip in ``folder``; the caller removes it with :meth:`SessionZip.remove`."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="xnat-", suffix=".zip", dir=folder)
    os.close(fd)
    path = Path(name)
    digests: dict[str, str] = {}
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for item in batch:
                digests[item.sop_instance_uid] = _add_member(archive, item)
    except OSError as exc:
        path.unlink(missing_ok=True)
        raise UploadError(
            f"cannot pack the outbox files for XNAT in {folder}: {exc.strerror or exc}",
            hint="check free space in the workspace (a zip of one batch is written next to the outbox)",
        ) from exc
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return SessionZip(path=path, size=path.stat().st_size, md5=digests)


def _add_member(archive: zipfile.ZipFile, item: OutgoingInstance) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    info = zipfile.ZipInfo(member_name(item), date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = os.stat(item.path).st_size  # lets zipfile decide on zip64 headers up front
    with open(item.path, "rb") as src, archive.open(info, "w") as dst:
        while chunk := src.read(CHUNK):
            md5.update(chunk)
            dst.write(chunk)
    return md5.hexdigest()
