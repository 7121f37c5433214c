"""Clinical records to XNAT subjects through the real xnatpy: custom fields, CLINICAL files, idempotence."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import date

import pytest

from eucaim.clinical.intake import check_file
from eucaim.clinical.upload import records_to_upload
from eucaim.dicom.synthetic import Cohort
from eucaim.errors import AuthenticationError, UploadError
from eucaim.ingest.upload.xnat_client import connect_xnatpy
from eucaim.ingest.upload.xnat_clinical import (
    HASH_FIELD,
    field_name,
    field_value,
    known_clinical_hashes,
    push_clinical_xnat,
    record_files,
)
from eucaim.ingest.workspace import Workspace

from .conftest import PASSWORD, USER, XnatSite

pytestmark = pytest.mark.integration


def _records(ws: Workspace, cohort: Cohort, known: dict[str, str] | None = None) -> list:  # type: ignore[type-arg]
    result = check_file(cohort.clinical_csv, today=date.today())
    return [item.record for item in records_to_upload(result, ws.secret, known_hashes=known)]


def test_clinical_records_become_custom_fields_and_verified_files(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    records = _records(ws, cohort)
    assert len(records) == len(cohort.patients)
    url = xnat_site.server.url
    with connect_xnatpy(url, lambda: (USER, PASSWORD)) as connection:
        report = push_clinical_xnat(connection, xnat_site.project, records)
    assert report.ok and sorted(report.sent) == sorted(r.subject for r in records)

    emulator = xnat_site.emulator
    for record in records:
        subject = emulator.subject(xnat_site.project, record.subject)
        fields = subject.custom_fields()
        assert fields[HASH_FIELD] == record.content_hash
        for key, value in record.fields.items():
            assert fields[field_name(key)] == field_value(value)
        stored = {name: f.digest for name, f in subject.resources["CLINICAL"].files.items()}
        sent = {name: hashlib.md5(data).hexdigest() for name, data in record_files(record).items()}
        assert stored == sent
        as_json = json.loads(record_files(record)["clinical.json"])
        assert as_json["subject"] == record.subject
    # Nothing identifying reached XNAT: no real patient ID anywhere in the subjects' fields.
    real_ids = {p.patient_id for p in cohort.patients}
    for record in records:
        assert not real_ids & set(
            emulator.subject(xnat_site.project, record.subject).custom_fields().values()
        )

    # Unchanged records: the known hashes filter them all out, and a forced push writes nothing.
    writes_before = _writes(xnat_site)
    with connect_xnatpy(url, lambda: (USER, PASSWORD)) as connection:
        known = known_clinical_hashes(connection, xnat_site.project)
        assert _records(ws, cohort, known) == []
        again = push_clinical_xnat(connection, xnat_site.project, records)
    assert again.sent == [] and sorted(again.unchanged) == sorted(r.subject for r in records)
    assert _writes(xnat_site) == writes_before

    # A changed record replaces its fields and files; a field it lost is removed.
    first = records[0]
    key = next(iter(first.fields))
    changed = dataclasses.replace(first, fields={k: v for k, v in first.fields.items() if k != key})
    with connect_xnatpy(url, lambda: (USER, PASSWORD)) as connection:
        report = push_clinical_xnat(connection, xnat_site.project, [changed])
    assert report.sent == [first.subject]
    fields = emulator.subject(xnat_site.project, first.subject).custom_fields()
    assert field_name(key) not in fields
    assert fields[HASH_FIELD] == changed.content_hash


def test_clinical_push_to_a_read_only_project_or_with_a_wrong_password_says_why(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    records = _records(ws, cohort)
    url = xnat_site.server.url
    with (
        pytest.raises(AuthenticationError, match="refused the login"),
        connect_xnatpy(url, lambda: (USER, "x")),
    ):
        pass
    xnat_site.emulator.make_read_only(xnat_site.project)
    with connect_xnatpy(url, lambda: (USER, PASSWORD)) as connection:
        with pytest.raises(UploadError, match=r"refused clinical data .* \(403\)"):
            push_clinical_xnat(connection, xnat_site.project, records)
        with pytest.raises(UploadError, match="does not exist or is not visible"):
            push_clinical_xnat(connection, "NO_SUCH_PROJECT", records)


def _writes(site: XnatSite) -> int:
    return sum(
        1
        for r in site.emulator.requests
        if r["method"] in ("PUT", "POST", "DELETE")
        and "auth" not in r["path"]
        and "JSESSION" not in r["path"]
    )
