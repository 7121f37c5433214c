"""The lock a job runner holds while it runs a job: one runner per job at a time, on any host.

On PostgreSQL it is a session advisory lock on a connection of its own, so it goes away with the
runner's process (killed, host lost): the next runner then gets it and resumes the job. On embedded
SQLite, where every runner is on this host, it is an ``flock`` on a file in the data folder, which
the kernel releases the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from eucaim.node.jobs.models import JobKind

logger = logging.getLogger(__name__)


def lock_key(kind: JobKind, subject: str) -> str:
    """Return the lock of a job: a dataset's jobs (creation too, on the queue) share one."""
    if kind is JobKind.AGGREGATE:
        return f"dataset:{subject}"
    return f"{kind.value}:{subject}"


def _lock_number(key: str) -> int:
    """Return a signed 64-bit number for ``key`` (PostgreSQL's advisory lock space)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


@contextmanager
def job_lock(engine: Engine, key: str, *, lock_dir: Path) -> Iterator[None]:
    """Hold the lock named ``key`` (waiting for it) until the block ends."""
    if engine.dialect.name == "postgresql":
        number = _lock_number(key)
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:n)"), {"n": number})
            connection.commit()  # the lock is the session's, not the transaction's
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:n)"), {"n": number})
                connection.commit()
        return
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"job-{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
