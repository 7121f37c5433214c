"""Push pseudonymised clinical records to XNAT subjects with xnatpy: custom fields plus a CLINICAL resource.

For each record (already validated and pseudonymised by :mod:`eucaim.clinical`), on the subject
labelled with its pseudonym (created if missing):

1. every field becomes a subject custom variable (one PUT for all of them; names lower-cased with
   characters XNAT refuses turned into ``_``; lists and objects as JSON text), and fields this tool
   set before but the record no longer has are removed;
2. the record is uploaded as ``clinical.json`` (canonical JSON) and ``clinical.csv`` (one header
   row, one value row) into the subject's ``CLINICAL`` resource, and XNAT's MD5 digests of both are
   compared with ours;
3. only then is ``eucaim_record_hash`` set to the record's content hash.

The hash field is the idempotency key: a subject whose field equals the record's hash is skipped
without a write, so pushing an unchanged file sends nothing. Because it is written last, a push
interrupted half-way leaves no hash and is redone next time.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from eucaim.clinical.pseudonymise import ClinicalRecord
from eucaim.errors import UploadError
from eucaim.ingest.upload.xnat import subject_label

logger = logging.getLogger(__name__)

RESOURCE = "CLINICAL"
HASH_FIELD = "eucaim_record_hash"
NAMES_FIELD = "eucaim_fields"  # which custom variables this tool owns, so stale ones can be removed
_FIELD_CHARS = re.compile(r"[^a-z0-9_]")
_XPATH = "xnat:subjectData/fields/field[name={name}]/field"


@dataclass
class ClinicalPushReport:
    """What a clinical push did, per pseudonym."""

    sent: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def field_name(key: str) -> str:
    """A record field's name as an XNAT custom variable name."""
    return _FIELD_CHARS.sub("_", key.lower()).strip("_") or "field"


def field_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def record_files(record: ClinicalRecord) -> dict[str, bytes]:
    """``clinical.json`` and ``clinical.csv`` of a record, as the bytes uploaded."""
    document = record.as_json()
    as_json = json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1).encode("utf-8") + b"\n"
    head = ["subject", "schema", "schema_version", "dates", *sorted(record.fields)]
    values = [record.subject, record.schema, record.schema_version, record.dates]
    values += [field_value(record.fields[k]) for k in sorted(record.fields)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(head)
    writer.writerow(values)
    return {"clinical.json": as_json, "clinical.csv": text.getvalue().encode("utf-8")}


def known_clinical_hashes(connection: Any, project: str) -> dict[str, str]:
    """Pseudonym → content hash of what XNAT holds (complete pushes only), for ``records_to_upload``."""
    found: dict[str, str] = {}
    for subject in _project(connection, project).subjects.values():
        value = subject.fields.get(HASH_FIELD)
        if value:
            found[subject.label] = str(value)
    return found


def push_clinical_xnat(
    connection: Any, project: str, records: Sequence[ClinicalRecord]
) -> ClinicalPushReport:
    """Send ``records`` to ``project`` through the xnatpy ``connection`` (see the module docstring).

    A refused subject (e.g. a digest mismatch) is reported in ``failed`` and the rest continue.

    Raises:
        UploadError: the project does not exist or cannot be written (nothing more is tried).
    """
    from xnat.exceptions import XNATResponseError

    report = ClinicalPushReport()
    xnat_project = _project(connection, project)
    for record in records:
        label = subject_label(record.subject)
        try:
            subject = _subject(connection, xnat_project, label)
            if str(subject.fields.get(HASH_FIELD) or "") == record.content_hash:
                report.unchanged.append(label)
                continue
            _put_fields(connection, subject, record)
            _upload_files(connection, subject, record)
            connection.put(subject.fulluri, query=_query({HASH_FIELD: record.content_hash}))
            subject.clearcache()
            report.sent.append(label)
            logger.info("sent the clinical record of subject %s to XNAT", label)
        except XNATResponseError as exc:
            status = getattr(exc, "status_code", None)
            if status in (401, 403):
                raise UploadError(
                    f"XNAT refused clinical data for project {project} ({status})",
                    status_code=status,
                    hint="your XNAT account needs member or owner rights on the project",
                ) from exc
            report.failed[label] = f"XNAT answered {status}"
        except UploadError as exc:
            report.failed[label] = str(exc)
    return report


def _project(connection: Any, project: str) -> Any:
    from xnat.exceptions import XNATResponseError

    try:
        return connection.projects[project]
    except (KeyError, XNATResponseError) as exc:
        raise UploadError(
            f"XNAT project {project} does not exist or is not visible to this account",
            status_code=404,
            hint="check `eucaim-ingest init --project` and that your account is a member of the project",
        ) from exc


def _subject(connection: Any, project: Any, label: str) -> Any:
    try:
        return project.subjects[label]
    except KeyError:
        return connection.classes.SubjectData(parent=project, label=label)


def _query(values: Mapping[str, str]) -> dict[str, str]:
    query = {"xsiType": "xnat:subjectData"}
    query.update({_XPATH.format(name=name): value for name, value in values.items()})
    return query


def _put_fields(connection: Any, subject: Any, record: ClinicalRecord) -> None:
    values = {field_name(k): field_value(v) for k, v in record.fields.items() if v is not None}
    before = str(subject.fields.get(NAMES_FIELD) or "")
    stale = {n for n in before.split(",") if n} - set(values)
    # "NULL" removes a custom variable on XNAT; the hash goes until the new files are verified.
    update = {name: "NULL" for name in stale} | values
    update[HASH_FIELD] = "NULL"
    update[NAMES_FIELD] = ",".join(sorted(values))
    connection.put(subject.fulluri, query=_query(update))
    subject.clearcache()


def _upload_files(connection: Any, subject: Any, record: ClinicalRecord) -> None:
    files = record_files(record)
    base = f"{subject.fulluri}/resources/{RESOURCE}"
    for name, data in files.items():
        connection.upload_string(
            f"{base}/files/{quote(name)}",
            data=data,
            overwrite=True,
            query={"format": name.rsplit(".", 1)[1].upper()},
        )
    listing = connection.get_json(f"{base}/files", query={"format": "json"})
    digests = {row.get("Name"): str(row.get("digest", "")).lower() for row in listing["ResultSet"]["Result"]}
    for name, data in files.items():
        expected = hashlib.md5(data, usedforsecurity=False).hexdigest()
        if digests.get(name) != expected:
            raise UploadError(
                f"XNAT holds a different {name} for subject {record.subject} than was sent "
                f"(MD5 {digests.get(name) or 'missing'}, expected {expected})",
                hint="run `eucaim-ingest clinical push` again; if it persists, ask the XNAT admin "
                "whether a plugin rewrites uploaded files",
            )
