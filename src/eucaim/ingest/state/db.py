"""SQLite state database of a workspace: instances, scan problems and runs.

One row per source instance (keyed by its original SOPInstanceUID), with its state, attempts,
last error and what de-identification produced. WAL mode and one transaction per transition mean a
process killed at any moment leaves every row in a state the next run can continue from.

The original identifiers stored here never leave the workspace; nothing in this module logs them.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eucaim.errors import StateError
from eucaim.ingest.state.states import InstanceState, check_transition

SCHEMA_VERSION = 3

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE instances (
        id INTEGER PRIMARY KEY,
        sop_uid TEXT NOT NULL UNIQUE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        patient_id TEXT NOT NULL,
        study_uid TEXT NOT NULL,
        series_uid TEXT NOT NULL,
        sop_class_uid TEXT NOT NULL DEFAULT '',
        modality TEXT NOT NULL DEFAULT '',
        state TEXT NOT NULL,
        reason TEXT,
        last_error TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        pseudonym TEXT,
        day_offset INTEGER,
        out_path TEXT,
        out_sop_uid TEXT,
        out_study_uid TEXT,
        out_series_uid TEXT,
        out_size INTEGER,
        out_sha256 TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX instances_state ON instances(state);
    CREATE INDEX instances_study ON instances(study_uid);
    CREATE INDEX instances_out_series ON instances(out_study_uid, out_series_uid);
    CREATE TABLE scan_problems (
        path TEXT PRIMARY KEY,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE TABLE duplicates (
        path TEXT PRIMARY KEY,
        sop_uid TEXT NOT NULL,
        seen_at TEXT NOT NULL
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        command TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        outcome TEXT,
        report_path TEXT
    );
    """,
    # The study date lets clinical linkage compare imaging with clinical baselines.
    2: "ALTER TABLE instances ADD COLUMN study_date TEXT NOT NULL DEFAULT ''",
    # When a STOW carrying the instance first started: only such rows (and ``sent`` ones) can be on
    # the node already, so only they are reconciled by QIDO before sending. Rows of older
    # workspaces that may have been sent are counted as started.
    3: """
    ALTER TABLE instances ADD COLUMN send_started_at TEXT;
    UPDATE instances SET send_started_at = updated_at WHERE state IN ('deidentified', 'sent', 'verified')
    """,
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class InstanceRow:
    """One source instance and what the pipeline knows about it."""

    id: int
    sop_uid: str
    path: str
    size: int
    mtime_ns: int
    patient_id: str
    study_uid: str
    series_uid: str
    sop_class_uid: str
    modality: str
    state: InstanceState
    reason: str | None
    last_error: str | None
    attempts: int
    pseudonym: str | None
    day_offset: int | None
    out_path: str | None
    out_sop_uid: str | None
    out_study_uid: str | None
    out_series_uid: str | None
    out_size: int | None
    out_sha256: str | None
    send_started_at: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> InstanceRow:
        """Build from a row selected with :data:`ROW_COLUMNS` (positional: fast for large pushes)."""
        values = list(row)
        values[_STATE_INDEX] = InstanceState(values[_STATE_INDEX])
        return cls(*values)


_ROW_FIELDS = list(InstanceRow.__dataclass_fields__)
_STATE_INDEX = _ROW_FIELDS.index("state")
ROW_COLUMNS = ", ".join(_ROW_FIELDS)


@dataclass(frozen=True)
class ScannedInstance:
    """What the scanner learnt from one readable DICOM file."""

    sop_uid: str
    path: str
    size: int
    mtime_ns: int
    patient_id: str
    study_uid: str
    series_uid: str
    sop_class_uid: str
    modality: str
    study_date: str = ""


@dataclass(frozen=True)
class DeidRecord:
    """What de-identification produced for one instance."""

    pseudonym: str
    day_offset: int
    out_path: str
    out_sop_uid: str
    out_study_uid: str
    out_series_uid: str
    out_size: int
    out_sha256: str


class StateDB:
    """Access to ``state.db``; safe to share between the threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state database {path}: {exc}") from exc
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _migrate(self) -> None:
        with self._lock:
            current = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if current > SCHEMA_VERSION:
                raise StateError(
                    f"state database {self.path} has schema {current}, newer than this program "
                    f"({SCHEMA_VERSION})",
                    hint="upgrade eucaim-transfer",
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                with self.transaction() as conn:
                    for statement in _MIGRATIONS[version].split(";"):
                        if statement.strip():
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the body in one IMMEDIATE transaction (all or nothing)."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params))

    # -- scanning -----------------------------------------------------------------------------

    def known_file(self, path: str, size: int, mtime_ns: int) -> bool:
        """True when this exact file (path, size, mtime) was already indexed or found a duplicate."""
        rows = self._query(
            "SELECT 1 FROM instances WHERE path=? AND size=? AND mtime_ns=? "
            "UNION ALL SELECT 1 FROM duplicates WHERE path=?",
            (path, size, mtime_ns, path),
        )
        return bool(rows)

    def upsert_scanned(self, item: ScannedInstance) -> str:
        """Index one scanned file. Returns "new", "unchanged", "updated" or "duplicate"."""
        now = _now()
        with self.transaction() as conn:
            conn.execute("DELETE FROM scan_problems WHERE path=?", (item.path,))
            row = conn.execute("SELECT * FROM instances WHERE sop_uid=?", (item.sop_uid,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO instances (sop_uid, path, size, mtime_ns, patient_id, study_uid, "
                    "series_uid, sop_class_uid, modality, state, created_at, updated_at, study_date) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        item.sop_uid,
                        item.path,
                        item.size,
                        item.mtime_ns,
                        item.patient_id,
                        item.study_uid,
                        item.series_uid,
                        item.sop_class_uid,
                        item.modality,
                        InstanceState.PENDING.value,
                        now,
                        now,
                        item.study_date,
                    ),
                )
                return "new"
            if row["path"] != item.path:
                # The same instance in a second file: index it once, remember the copy.
                conn.execute(
                    "INSERT OR REPLACE INTO duplicates (path, sop_uid, seen_at) VALUES (?,?,?)",
                    (item.path, item.sop_uid, now),
                )
                return "duplicate"
            if row["size"] == item.size and row["mtime_ns"] == item.mtime_ns:
                return "unchanged"
            # The file changed on disk: what was derived from it is stale.
            state = InstanceState(row["state"])
            new_state = state if state is InstanceState.VERIFIED else InstanceState.PENDING
            conn.execute(
                "UPDATE instances SET size=?, mtime_ns=?, patient_id=?, study_uid=?, series_uid=?, "
                "sop_class_uid=?, modality=?, state=?, reason=NULL, updated_at=? WHERE id=?",
                (
                    item.size,
                    item.mtime_ns,
                    item.patient_id,
                    item.study_uid,
                    item.series_uid,
                    item.sop_class_uid,
                    item.modality,
                    new_state.value,
                    now,
                    row["id"],
                ),
            )
            return "updated"

    def record_scan_problem(self, path: str, reason: str, detail: str) -> None:
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scan_problems (path, reason, detail, seen_at) VALUES (?,?,?,?)",
                (path, reason, detail, _now()),
            )

    def scan_problems(self) -> list[tuple[str, str, str]]:
        rows = self._query("SELECT path, reason, detail FROM scan_problems ORDER BY path")
        return [(r["path"], r["reason"], r["detail"]) for r in rows]

    def duplicate_count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM duplicates")[0][0])

    # -- reading ------------------------------------------------------------------------------

    def get(self, instance_id: int) -> InstanceRow:
        rows = self._query(f"SELECT {ROW_COLUMNS} FROM instances WHERE id=?", (instance_id,))
        if not rows:
            raise StateError(f"no instance with id {instance_id} in {self.path}")
        return InstanceRow.from_row(rows[0])

    def instances(
        self, states: Iterable[InstanceState] | None = None, *, limit: int | None = None
    ) -> list[InstanceRow]:
        sql = f"SELECT {ROW_COLUMNS} FROM instances"
        params: list[Any] = []
        if states is not None:
            wanted = [s.value for s in states]
            sql += f" WHERE state IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY study_uid, series_uid, id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [InstanceRow.from_row(r) for r in self._query(sql, params)]

    def in_flight(self) -> list[InstanceRow]:
        """Rows a previous run may have put on the node: ``sent``, or ``deidentified`` and offered.

        A ``deidentified`` row no STOW ever carried cannot be on the node, so it needs no QIDO.
        """
        return [
            InstanceRow.from_row(r)
            for r in self._query(
                f"SELECT {ROW_COLUMNS} FROM instances WHERE state=? OR (state=? AND "
                "send_started_at IS NOT NULL) ORDER BY study_uid, series_uid, id",
                (InstanceState.SENT.value, InstanceState.DEIDENTIFIED.value),
            )
        ]

    def verified_in_scope(
        self,
        *,
        patients: Sequence[str] = (),
        studies: Sequence[str] = (),
        series: Sequence[str] = (),
        everything: bool = False,
    ) -> list[InstanceRow]:
        """``verified`` rows of the given patients, studies or series (any of them), or all.

        Each id matches the original or the de-identified value: a patient by original PatientID
        or pseudonym, a study or series by original or de-identified UID.
        """
        sql = f"SELECT {ROW_COLUMNS} FROM instances WHERE state=?"
        params: list[Any] = [InstanceState.VERIFIED.value]
        if not everything:
            clauses = []
            for ids, original, out in (
                (patients, "patient_id", "pseudonym"),
                (studies, "study_uid", "out_study_uid"),
                (series, "series_uid", "out_series_uid"),
            ):
                if ids:
                    marks = ",".join("?" * len(ids))
                    clauses.append(f"{original} IN ({marks}) OR {out} IN ({marks})")
                    params.extend([*ids, *ids])
            if not clauses:
                return []
            sql += " AND (" + " OR ".join(f"({c})" for c in clauses) + ")"
        sql += " ORDER BY study_uid, series_uid, id"
        return [InstanceRow.from_row(r) for r in self._query(sql, params)]

    def verified_among(self, instance_ids: Sequence[int]) -> set[int]:
        """Which of ``instance_ids`` are ``verified``."""
        found: set[int] = set()
        for start in range(0, len(instance_ids), 500):
            chunk = instance_ids[start : start + 500]
            rows = self._query(
                f"SELECT id FROM instances WHERE state=? AND id IN ({','.join('?' * len(chunk))})",
                (InstanceState.VERIFIED.value, *chunk),
            )
            found.update(int(r["id"]) for r in rows)
        return found

    def verified_totals(self) -> dict[str, int]:
        """Distinct pseudonyms, studies and series, instances and bytes, of what the node holds."""
        row = self._query(
            "SELECT COUNT(DISTINCT pseudonym) AS patients, COUNT(DISTINCT out_study_uid) AS studies, "
            "COUNT(DISTINCT out_series_uid) AS series, COUNT(*) AS instances, "
            "COALESCE(SUM(out_size), 0) AS bytes FROM instances WHERE state=?",
            (InstanceState.VERIFIED.value,),
        )[0]
        return {k: int(row[k]) for k in row.keys()}

    def counts_by_state(self) -> dict[InstanceState, int]:
        rows = self._query("SELECT state, COUNT(*) AS n FROM instances GROUP BY state")
        counts = dict.fromkeys(InstanceState, 0)
        for r in rows:
            counts[InstanceState(r["state"])] = int(r["n"])
        return counts

    def patient_studies(self) -> dict[str, list[tuple[str, str, str]]]:
        """Original PatientID -> [(study UID, modalities joined by '/', StudyDate)], for linkage."""
        rows = self._query(
            "SELECT patient_id, study_uid, GROUP_CONCAT(DISTINCT modality) AS modalities, "
            "MAX(study_date) AS study_date FROM instances GROUP BY patient_id, study_uid "
            "ORDER BY patient_id, study_date"
        )
        studies: dict[str, list[tuple[str, str, str]]] = {}
        for r in rows:
            modalities = "/".join(sorted(m for m in (r["modalities"] or "").split(",") if m))
            studies.setdefault(r["patient_id"], []).append((r["study_uid"], modalities, r["study_date"]))
        return studies

    def counts_by_group(self, level: str) -> list[tuple[str, str, dict[InstanceState, int]]]:
        """Per patient or per study: (original key, pseudonymous key or "", counts per state)."""
        if level == "patient":
            key, out_key = "patient_id", "pseudonym"
        elif level == "study":
            key, out_key = "study_uid", "out_study_uid"
        else:
            raise ValueError(f"unknown grouping {level!r}")
        rows = self._query(
            f"SELECT {key} AS k, MAX(COALESCE({out_key}, '')) AS o, state, COUNT(*) AS n "
            f"FROM instances GROUP BY {key}, state ORDER BY {key}"
        )
        groups: dict[str, tuple[str, dict[InstanceState, int]]] = {}
        for r in rows:
            out, counts = groups.setdefault(r["k"], ("", dict.fromkeys(InstanceState, 0)))
            counts[InstanceState(r["state"])] = int(r["n"])
            groups[r["k"]] = (out or r["o"], counts)
        return [(k, out, counts) for k, (out, counts) in groups.items()]

    def totals(self) -> dict[str, int]:
        """Distinct patients, studies and series, and instances, over everything indexed."""
        row = self._query(
            "SELECT COUNT(DISTINCT patient_id) AS patients, COUNT(DISTINCT study_uid) AS studies, "
            "COUNT(DISTINCT series_uid) AS series, COUNT(*) AS instances, "
            "COALESCE(SUM(size), 0) AS bytes FROM instances"
        )[0]
        return {k: int(row[k]) for k in row.keys()}

    # -- transitions --------------------------------------------------------------------------

    def _transition(
        self,
        conn: sqlite3.Connection,
        instance_id: int,
        new: InstanceState,
        sets: str = "",
        params: Sequence[Any] = (),
    ) -> None:
        row = conn.execute("SELECT state FROM instances WHERE id=?", (instance_id,)).fetchone()
        if row is None:
            raise StateError(f"no instance with id {instance_id}")
        old = InstanceState(row["state"])
        if old is new:
            return
        check_transition(old, new)
        extra = f", {sets}" if sets else ""
        conn.execute(
            f"UPDATE instances SET state=?, updated_at=?{extra} WHERE id=?",
            (new.value, _now(), *params, instance_id),
        )

    def mark_deidentified(self, instance_id: int, record: DeidRecord) -> None:
        with self.transaction() as conn:
            self._transition(
                conn,
                instance_id,
                InstanceState.DEIDENTIFIED,
                "pseudonym=?, day_offset=?, out_path=?, out_sop_uid=?, out_study_uid=?, "
                "out_series_uid=?, out_size=?, out_sha256=?, reason=NULL, last_error=NULL",
                (
                    record.pseudonym,
                    record.day_offset,
                    record.out_path,
                    record.out_sop_uid,
                    record.out_study_uid,
                    record.out_series_uid,
                    record.out_size,
                    record.out_sha256,
                ),
            )

    def mark_many(self, instance_ids: Iterable[int], new: InstanceState) -> None:
        """Move several instances to ``new`` in one transaction (e.g. a STOW batch acknowledged)."""
        with self.transaction() as conn:
            for instance_id in instance_ids:
                self._transition(conn, instance_id, new, "last_error=NULL")

    def reopen_verified(self, instance_ids: Iterable[int]) -> int:
        """Move ``verified`` instances back to ``deidentified``, in one transaction, to send again.

        Their send is forgotten (``send_started_at`` cleared): the node may still list an instance
        whose object it lost, so these rows must be sent, not reconciled by QIDO into ``verified``.
        Returns how many rows moved.
        """
        moved = 0
        with self.transaction() as conn:
            for instance_id in instance_ids:
                row = conn.execute("SELECT state FROM instances WHERE id=?", (instance_id,)).fetchone()
                if row is None or row["state"] != InstanceState.VERIFIED.value:
                    raise StateError(f"instance {instance_id} is not verified; only verified ones reopen")
                self._transition(
                    conn, instance_id, InstanceState.DEIDENTIFIED, "send_started_at=NULL, last_error=NULL"
                )
                moved += 1
        return moved

    def mark_send_started(self, instance_ids: Iterable[int]) -> None:
        """Remember, before a STOW starts, that these instances may reach the node from now on."""
        now = _now()
        with self.transaction() as conn:
            conn.executemany(
                "UPDATE instances SET send_started_at=? WHERE id=? AND send_started_at IS NULL",
                [(now, instance_id) for instance_id in instance_ids],
            )

    def mark_quarantined(self, instance_id: int, reason: str, detail: str) -> None:
        with self.transaction() as conn:
            self._transition(
                conn,
                instance_id,
                InstanceState.QUARANTINED,
                "reason=?, last_error=?",
                (reason, detail),
            )

    def record_attempt_error(self, instance_ids: Iterable[int], detail: str) -> None:
        """Count a failed attempt without changing state (the work will be retried)."""
        with self.transaction() as conn:
            for instance_id in instance_ids:
                conn.execute(
                    "UPDATE instances SET attempts=attempts+1, last_error=?, updated_at=? WHERE id=?",
                    (detail, _now(), instance_id),
                )

    def requeue_quarantined(self) -> int:
        """Give every quarantined instance another chance (the user asked for a retry)."""
        with self.transaction() as conn:
            cur = conn.execute(
                "UPDATE instances SET state=?, reason=NULL, updated_at=? WHERE state=?",
                (InstanceState.PENDING.value, _now(), InstanceState.QUARANTINED.value),
            )
            return int(cur.rowcount)

    # -- runs ---------------------------------------------------------------------------------

    def start_run(self, command: str) -> int:
        with self.transaction() as conn:
            cur = conn.execute("INSERT INTO runs (command, started_at) VALUES (?, ?)", (command, _now()))
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, outcome: str, report_path: str | None) -> None:
        with self.transaction() as conn:
            conn.execute(
                "UPDATE runs SET finished_at=?, outcome=?, report_path=? WHERE id=?",
                (_now(), outcome, report_path, run_id),
            )
