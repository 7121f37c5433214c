"""The XNAT side file (``<workspace>/xnat.db``): which session each study went to, and each instance's MD5.

XNAT's listings name files by its own template and give their MD5 digests, never SOPInstanceUIDs.
So whatever we zip is recorded here *before* the import request leaves (a crash after XNAT stored
the files still lets the next run recognise them): SOPInstanceUID → (study, series, MD5), and
study → (subject, session label). Verification maps the digests XNAT lists back through this table.

It holds de-identified UIDs, pseudonyms and digests only, nothing identifying; it is separate from
``state.db`` because it belongs to this one target kind.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

INDEX_NAME = "xnat.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    study_uid TEXT PRIMARY KEY,
    subject   TEXT NOT NULL,
    label     TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    sop_uid    TEXT PRIMARY KEY,
    study_uid  TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    md5        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS members_series ON members (study_uid, series_uid);
"""


class XnatIndex:
    """A small SQLite file shared by the sending threads (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def session_of(self, study_uid: str) -> tuple[str, str] | None:
        """(subject, label) recorded for a study, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT subject, label FROM sessions WHERE study_uid = ?", (study_uid,)
            ).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def sessions(self) -> list[tuple[str, str, str]]:
        """Every (study UID, subject, label) recorded."""
        with self._lock:
            rows = self._db.execute(
                "SELECT study_uid, subject, label FROM sessions ORDER BY label"
            ).fetchall()
        return [(str(a), str(b), str(c)) for a, b, c in rows]

    def record_session(self, study_uid: str, subject: str, label: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO sessions (study_uid, subject, label) VALUES (?, ?, ?)",
                (study_uid, subject, label),
            )

    def record_members(self, rows: Iterable[tuple[str, str, str, str]]) -> None:
        """Store (sop_uid, study_uid, series_uid, md5) rows; a re-sent instance keeps its newest MD5."""
        with self._lock, self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO members (sop_uid, study_uid, series_uid, md5) VALUES (?, ?, ?, ?)",
                list(rows),
            )

    def members(self, study_uid: str, series_uid: str | None = None) -> dict[str, str]:
        """SOPInstanceUID → MD5 of what was sent for a study (or one of its series)."""
        query = "SELECT sop_uid, md5 FROM members WHERE study_uid = ?"
        args: tuple[str, ...] = (study_uid,)
        if series_uid is not None:
            query += " AND series_uid = ?"
            args += (series_uid,)
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return {str(uid): str(md5) for uid, md5 in rows}

    def all_members(self) -> dict[str, tuple[str, str]]:
        """SOPInstanceUID → (study UID, MD5) for everything ever sent."""
        with self._lock:
            rows = self._db.execute("SELECT sop_uid, study_uid, md5 FROM members").fetchall()
        return {str(uid): (str(study), str(md5)) for uid, study, md5 in rows}
