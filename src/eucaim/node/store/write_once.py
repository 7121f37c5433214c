"""Write-once placement of a STOW'd instance: never over another object, whatever workers race.

Every store writes with :meth:`ImageStore.put_new` (create if absent). The first bytes for a
SOPInstanceUID go to its plain key ``<sop>.dcm``. When that key already holds other bytes (a
concurrent request with different content, or an unindexed object a killed process left), these
bytes go to their content-addressed key ``<sop>/<sha256>.dcm`` instead, so neither object is ever
overwritten. The index then keeps exactly one row per instance; the request that loses the race
deletes its own object when the winning row points elsewhere (eucaim.node.services.stow).

A store that names objects by SOPInstanceUID alone (a DICOMweb PACS) has one place per instance:
there the second put_new also answers False and the instance is refused as a duplicate.

An object can still vanish between its write and its index row: ``eucaim-node store gc --delete``
removes an unindexed object whose instance a STOW is re-sending at that moment (the STOW's write
found the same bytes already there). So once its row is committed, a STOW checks each object with
:func:`put_back_if_gone` and writes it again from the request's bytes. gc deletes and then reads
the index; STOW commits and then reads the store: whichever comes second sees the other's write,
so either gc puts the bytes back or STOW does.

A re-sent instance whose row the index already holds (same bytes) gets the same check: an object
the store lost behind the node's back (a disk restore, an operator, a bucket lifecycle rule) is
written again from the request's bytes, so a hospital's re-send repairs it. The check is a stat or
a HEAD (:func:`put_back_if_gone`, which also replaces an object of another size); on a PACS, whose
size means reading the whole instance, it is a QIDO for presence (:func:`put_back_if_absent`).
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


def put_back_if_gone(store: ImageStore, key: str, source: Path, *, sha256: str, size: int) -> bool:
    """Make sure ``key`` holds the bytes its just-committed index row names; True when rewritten.

    Call after the row naming ``key`` (``sha256``, ``size``) is committed, with ``source`` still
    holding those bytes (consumed when written). A missing object is written again, once; an object
    of another size under the key (a further racing writer, a partial restore) is replaced, since
    the committed row is the truth about what the key holds. For stores whose ``size`` is a stat or
    a HEAD (filesystem, S3).
    """
    try:
        if store.size(key) == size:
            return False
    except NotFound:
        if store.put_new(key, source, sha256=sha256):
            return True
    store.put_file(key, source)
    return True


def put_back_if_absent(store: ImageStore, key: str, source: Path, *, sha256: str) -> bool:
    """Write ``source`` under ``key`` when the store lists nothing there; True when written.

    For a store that can only tell presence cheaply (a DICOMweb PACS: a QIDO; its ``size`` reads
    the whole instance). ``source`` holds the bytes of the committed row naming ``key``.

    Raises:
        Conflict: another writer put other bytes there meanwhile.
    """
    if store.exists(key):
        return False
    if store.put_new(key, source, sha256=sha256):
        return True
    raise Conflict(
        "the image store holds other bytes under this SOPInstanceUID",
        hint="the node's index names other bytes than the store now holds; check the store",
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
