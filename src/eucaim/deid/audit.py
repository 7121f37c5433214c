"""The de-identification audit trail: one JSON line per instance, never a value, never a path.

A record names the salted hash of the input bytes (so an auditor holding the site secret can
match a file without anyone else learning anything from the hash), the output SOPInstanceUID,
the profile and its hash, the action taken per tag path, warnings, and the quarantine reason.
File names are left out on purpose: folder and file names often contain patient names.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

from eucaim.deid.files import FileOutcome


def audit_record(
    *,
    at: dt.datetime,
    input_hash: str,
    outcome: FileOutcome | None = None,
    quarantine_reason: str | None = None,
    error_class: str | None = None,
) -> dict[str, object]:
    """The audit record of one instance: de-identified (``outcome``) or quarantined (``reason``)."""
    if (outcome is None) == (quarantine_reason is None):
        raise ValueError("an audit record has either an outcome or a quarantine reason")
    record: dict[str, object] = {"at": at.isoformat(), "input_hash": input_hash}
    if outcome is not None:
        record.update(outcome.audit)
        record["sop_instance_uid"] = outcome.sop_instance_uid
        record["output_sha256"] = outcome.sha256
        record["pseudonym"] = outcome.pseudonym
    else:
        record["quarantine_reason"] = quarantine_reason
        if error_class:
            record["error"] = error_class
    return record


def audit_line(record: dict[str, object]) -> str:
    """One canonical JSON line (sorted keys, no spaces) for ``record``."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n"


class AuditLog:
    """Append-only JSON-lines file. One writer per file (the pipeline's parent process)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, record: dict[str, object]) -> None:
        """Append one record; the line is written with a single O_APPEND write and fsynced."""
        data = audit_line(record).encode("ascii")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, object]]:
        """Every record, in order (for reports and tests)."""
        if not self.path.exists():
            return []
        with self.path.open(encoding="ascii") as fh:
            return [json.loads(line) for line in fh if line.strip()]
