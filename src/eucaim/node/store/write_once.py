"""Write-once placement of a STOW'd instance: never over another object, whatever workers race.

Every store writes with :meth:`ImageStore.put_new` (create if absent). The first bytes for a
SOPInstanceUID go to its plain key ``<sop>.dcm``. When that key already holds other bytes (a
concurrent request with different content, or an unindexed object a killed process left), these
bytes go to their content-addressed key ``<sop>/<sha256>.dcm`` instead, so neither object is ever
overwritten. The index then keeps exactly one row per instance; the request that loses the race
deletes its own object when the winning row points elsewhere (eucaim.node.services.stow).

A store that names objects by SOPInstanceUID alone (a DICOMweb PACS) has one place per instance:
there the second put_new also answers False and the instance is refused as a duplicate.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

from eucaim.errors import Conflict, NotFound
from eucaim.node.store.base import ImageStore, object_key

_CHUNK = 1024 * 1024


def place_once(
    store: ImageStore,
    *,
    biobank_code: str,
    study_uid: str,
    series_uid: str,
    sop_uid: str,
    source: Path,
    sha256: str,
) -> str:
    """Put ``source`` into the store without replacing anything; return the key it is under.

    Raises:
        Conflict: the store can hold only one object per SOPInstanceUID and holds other bytes.
    """
    key = object_key(biobank_code, study_uid, series_uid, sop_uid)
    if store.put_new(key, source, sha256=sha256):
        return key
    content_key = object_key(biobank_code, study_uid, series_uid, sop_uid, sha256=sha256)
    if store.put_new(content_key, source, sha256=sha256):
        return content_key
    raise Conflict(
        "the image store holds other bytes under this SOPInstanceUID",
        hint="the node keeps the first instance stored; send new content under a new SOPInstanceUID",
    )


def sha256_of(stream: BinaryIO) -> tuple[str, int]:
    """Return the sha256 (hex) and length of what ``stream`` yields, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def holds_same_bytes(store: ImageStore, key: str, *, sha256: str, size: int) -> bool:
    """Return True when the object under ``key`` has this size and sha256 (read streamed).

    An object that vanished meanwhile (a request that lost the index race deletes its own) does
    not hold these bytes: the caller then writes to the content-addressed key.
    """
    try:
        if store.size(key) != size:
            return False
        with store.open(key) as f:
            return sha256_of(f) == (sha256, size)
    except NotFound:
        return False
