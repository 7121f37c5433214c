"""A full push into the XNAT emulator: every instance archived once, by pseudonym, verified by MD5."""

from __future__ import annotations

import logging
import time

import pydicom
import pytest
import xnat

from eucaim.dicom.synthetic import Cohort
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.targets import build_target
from eucaim.ingest.upload.xnat import XnatTarget, session_label
from eucaim.ingest.workspace import Workspace

from .conftest import (
    OPTIONS,
    PASSWORD,
    USER,
    XnatSite,
    archive_digests,
    fast_target,
    session_labels,
    verified_md5s,
)

pytestmark = pytest.mark.integration
KEEP = PushOptions(workers=2, concurrency=2, batch_bytes=64 * 1024, keep_outbox=True)


def test_push_archives_every_instance_once_under_its_pseudonym(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    assert summary.ok, summary.why_not_ok()
    assert summary.verified_totals["instances"] == len(cohort.files)

    # Every instance is in XNAT exactly once, byte for byte what we de-identified.
    sent = verified_md5s(ws)
    assert archive_digests(xnat_site) == sent
    assert target.duplicates() == {}

    # Subjects are the pseudonyms, sessions the documented labels; nothing identifying arrived.
    rows = ws.state.instances([InstanceState.VERIFIED])
    expected = {session_label(r.pseudonym or "", r.out_study_uid or ""): r.pseudonym for r in rows}
    assert session_labels(xnat_site) == expected
    assert len(expected) == cohort.n_studies
    real_ids = {p.patient_id for p in cohort.patients}
    for label in expected:
        fields = xnat_site.emulator.experiment(xnat_site.project, label).data_fields
        assert not real_ids & set(fields.values())
    first = pydicom.dcmread(rows[0].out_path or "")
    assert first.PatientIdentityRemoved == "YES"

    # One login for the whole run, and the real xnatpy client sees the same subjects.
    assert target.session.logins == 1
    with xnat.connect(xnat_site.server.url, user=USER, password=PASSWORD, loglevel="ERROR") as session:
        subjects = {s.label for s in session.projects[xnat_site.project].subjects.values()}
    assert subjects == {r.pseudonym for r in rows}

    # A second push sends nothing and changes nothing.
    imports_before = _imports(xnat_site)
    again = push(ws, target, OPTIONS)
    target.close()
    assert again.ok and again.nothing_to_do
    assert _imports(xnat_site) == imports_before
    assert archive_digests(xnat_site) == sent


def _imports(site: XnatSite) -> int:
    return sum(1 for r in site.emulator.requests if r["path"] == "/data/services/import")


def test_no_patient_identity_or_credential_reaches_the_logs(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    xnat_site.emulator.drop_next_import(1, after_bytes=2048)  # retries log too
    target = fast_target(ws)
    summary = push(ws, target, OPTIONS)
    xnat_site.emulator.expire_sessions()  # a re-login logs too
    row = ws.state.instances()[0]
    target.forget_listings()
    assert row.out_sop_uid in target.list_instances(row.out_study_uid or "", row.out_series_uid or "")
    assert target.session.logins == 2
    target.close()
    assert summary.ok, summary.why_not_ok()
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "logged in to XNAT" in text
    for secret in (PASSWORD, ws.secret.decode()):
        assert secret not in text
    leaked = [s for s in cohort.phi_strings if s and s in text]
    assert leaked == []
    index = (ws.path / "xnat.db").read_bytes()
    assert [s for s in cohort.phi_strings if len(s) > 3 and s.encode() in index] == []


def test_the_upload_rate_limit_applies_to_xnat_imports(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    total = sum(p.stat().st_size for p in cohort.files)
    rate = (
        total / 1.5
    )  # bytes per second: the zips (a bit larger than the files) need > 0.5 s after the burst
    target = build_target(ws, max_rate_mb_s=rate / 1e6)
    assert isinstance(target, XnatTarget)
    started = time.monotonic()
    summary = push(ws, target, OPTIONS)
    elapsed = time.monotonic() - started
    target.close()
    assert summary.ok, summary.why_not_ok()
    assert elapsed >= 0.5
