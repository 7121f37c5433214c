"""The filesystem image store: one file per instance under a root folder, written atomically."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import BinaryIO

from eucaim.errors import NotFound, TransientError

logger = logging.getLogger(__name__)

# Folder under the store root where objects are written before their atomic rename into place.
STAGING = ".staging"


class FilesystemStore:
    """Store objects as files under ``root``; keys are relative paths."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()) or ".." in Path(key).parts:
            raise ValueError(f"store key {key!r} leaves the store folder")
        return path

    def put_file(self, key: str, source: Path) -> None:
        """Move ``source`` into place: fsync the bytes, rename over the target, fsync the folder.

        The bytes are staged in this process's own folder under ``.staging`` (same filesystem, so
        the rename is atomic), never next to the target: a killed process leaves its half-written
        objects where :meth:`remove_leftovers` finds them, not among the instances.
        """
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = self._stage(source)
        try:
            os.replace(staging, target)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        source.unlink(missing_ok=True)
        logger.debug("stored object %s", key)

    def put_new(self, key: str, source: Path, *, sha256: str) -> bool:
        """Write once: hard-link the staged bytes to the target, which fails if it exists."""
        target = self._path(key)
        if target.exists():
            return self._consume_if_same(key, source, sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = self._stage(source)
        try:
            # link() never replaces: of two racing writers, exactly one creates the target.
            os.link(staging, target)
        except FileExistsError:
            return self._consume_if_same(key, source, sha256)
        finally:
            staging.unlink(missing_ok=True)
        _fsync_dir(target.parent)
        source.unlink(missing_ok=True)
        logger.debug("stored object %s", key)
        return True

    def _stage(self, source: Path) -> Path:
        """Put ``source``'s bytes, fsynced, in this process's staging folder (same filesystem as
        the targets, so the final rename or link is atomic). The caller removes it after use."""
        staging_dir = self.root / STAGING / _process_tag()
        staging_dir.mkdir(parents=True, exist_ok=True)
        staging = staging_dir / f"{uuid.uuid4().hex}.tmp"
        try:
            try:
                os.link(source, staging)
            except OSError:
                # Another filesystem (or no hard links): copy, so the rename stays atomic.
                shutil.copyfile(source, staging)
            with staging.open("rb+") as f:
                os.fsync(f.fileno())
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return staging

    def _consume_if_same(self, key: str, source: Path, sha256: str) -> bool:
        from eucaim.node.store.write_once import holds_same_bytes

        if not holds_same_bytes(self, key, sha256=sha256, size=source.stat().st_size):
            return False
        source.unlink(missing_ok=True)
        return True

    def remove_leftovers(self, *, now: float, max_age_s: float = 3600.0) -> int:
        """Delete staging folders of processes that died mid-put; return how many were removed.

        A folder belongs to a dead process when its host is this one and its PID is gone, or, for
        another host sharing the store, when it is older than ``max_age_s``.
        """
        removed = 0
        host = socket.gethostname()
        for folder in (self.root / STAGING).glob("*"):
            owner, _, pid = folder.name.rpartition("-")
            if owner == host and pid.isdigit():
                stale = int(pid) != os.getpid() and not _is_alive(int(pid))
            else:
                stale = now - folder.stat().st_mtime > max_age_s
            if stale:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        if removed:
            logger.info("removed %d staging folder(s) of interrupted processes", removed)
        return removed

    def open(self, key: str) -> BinaryIO:
        """Open the object for reading."""
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the image store") from None

    def exists(self, key: str) -> bool:
        """Return True when the object's file exists."""
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        """Remove the object's file."""
        self._path(key).unlink(missing_ok=True)

    def size(self, key: str) -> int:
        """Return the object's size."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"object {key} is missing from the image store") from None

    def check(self) -> None:
        """Write and remove a probe file, so a read-only or full disk shows up as unhealthy."""
        folder = self.root / STAGING / _process_tag()
        probe = folder / f"health-{uuid.uuid4().hex}"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            raise TransientError(f"image store {self.root} is not writable: {exc.strerror}") from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process_tag() -> str:
    # Looked up on every put: a forked worker must not share its parent's staging folder.
    return f"{socket.gethostname()}-{os.getpid()}"


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True
