"""Bad paths of an XNAT push: each run ends with every session complete once, or says what is missing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pydicom
import pytest
import xnat

from eucaim.dicom.synthetic import Cohort
from eucaim.errors import TransientError, UploadError
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.state.states import InstanceState, QuarantineReason
from eucaim.ingest.upload.base import OutgoingInstance, SendResult
from eucaim.ingest.upload.xnat import XnatTarget, session_label
from eucaim.ingest.workspace import Workspace

from .conftest import USER, XnatSite, archive_digests, fast_target, verified_md5s

pytestmark = pytest.mark.integration
S = InstanceState
KEEP = PushOptions(workers=2, concurrency=2, batch_bytes=64 * 1024, keep_outbox=True)


class Hooked:
    """The real target, with ``before(n, batch)`` / ``after(n, result)`` around its n-th send."""

    name = "xnat"

    def __init__(
        self,
        inner: XnatTarget,
        before: Callable[[int, Sequence[OutgoingInstance]], None] = lambda n, b: None,
        after: Callable[[int, SendResult], None] = lambda n, r: None,
    ) -> None:
        self.inner, self.before, self.after, self.calls = inner, before, after, 0

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        self.calls += 1
        self.before(self.calls, batch)
        result = self.inner.send(study_uid, batch)
        self.after(self.calls, result)
        return result

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        return self.inner.list_instances(study_uid, series_uid)

    def close(self) -> None:
        self.inner.close()


def _complete_once(ws: Workspace, site: XnatSite, cohort: Cohort) -> None:
    assert ws.state.counts_by_state().get(S.VERIFIED) == len(cohort.files)
    assert archive_digests(site) == verified_md5s(ws)


def test_a_member_xnat_cannot_parse_is_reported_and_the_rest_completed(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    spoiled: list[Path] = []

    def spoil(n: int, batch: Sequence[OutgoingInstance]) -> None:
        if n == 1 and len(batch) > 1:  # the second member of the first zip is no longer DICOM
            batch[1].path.write_bytes(b"this is not DICOM any more")
            spoiled.append(batch[1].path)

    target = Hooked(fast_target(ws), before=spoil)
    summary = push(ws, target, KEEP)
    assert spoiled
    assert not summary.ok
    quarantined = ws.state.instances([S.QUARANTINED])
    assert [r.out_path for r in quarantined] == [str(spoiled[0])]
    assert quarantined[0].reason == QuarantineReason.REFUSED_BY_NODE
    assert "XNAT could not import this file (400): Unable to parse" in (
        quarantined[0].last_error or ""
    ) + str(quarantined[0].reason)
    assert "1 quarantined" in summary.why_not_ok()
    # Everything else is archived once; nothing of the failed import is left in the prearchive.
    assert ws.state.counts_by_state().get(S.VERIFIED) == len(cohort.files) - 1
    assert archive_digests(xnat_site) == verified_md5s(ws)
    assert xnat_site.emulator.prearchive_sessions(xnat_site.project) == []

    # Re-queued, the instance is de-identified again (same bytes as intended) and completes its session.
    assert ws.state.requeue_quarantined() == 1
    again = push(ws, target, KEEP)
    target.close()
    assert again.ok, again.why_not_ok()
    _complete_once(ws, xnat_site, cohort)


def test_a_400_naming_no_member_is_narrowed_down_and_completed_in_the_same_run(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    xnat_site.emulator.fail_next(1, r"^/data/services/import$", 400, method="POST")
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert summary.ok, summary.why_not_ok()
    _complete_once(ws, xnat_site, cohort)


def test_sessions_already_in_xnat_are_recognised_and_completed_not_duplicated(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    # A first run dies right after XNAT stored its first zip, before the answer was recorded.
    def crash(n: int, result: SendResult) -> None:
        if n == 1:
            raise TransientError("simulated crash after XNAT stored the zip")

    first = Hooked(fast_target(ws), after=crash)
    push(
        ws,
        first,
        PushOptions(workers=2, concurrency=1, batch_bytes=64 * 1024, keep_outbox=True, resend_rounds=0),
    )
    first.close()
    assert len(archive_digests(xnat_site)) > 0
    # Someone also created an (empty) session with one of our labels by hand.
    pending = [r for r in ws.state.instances() if r.state is not S.VERIFIED and r.pseudonym]
    assert pending

    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert summary.ok, summary.why_not_ok()
    assert summary.already_on_node > 0  # reconciled from XNAT's digests, not sent again
    _complete_once(ws, xnat_site, cohort)


def test_a_session_created_by_hand_with_our_label_is_appended_to(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    # De-identify without sending, to learn a label, then create that session by hand with xnatpy.
    probe = Hooked(fast_target(ws), before=lambda n, b: (_ for _ in ()).throw(TransientError("not yet")))
    push(
        ws,
        probe,
        PushOptions(workers=2, concurrency=1, batch_bytes=1 << 30, keep_outbox=True, resend_rounds=0),
    )
    probe.close()
    row = ws.state.instances([S.DEIDENTIFIED])[0]
    label = session_label(row.pseudonym or "", row.out_study_uid or "")
    server = xnat_site.server
    with xnat.connect(server.url, user=server.user, password=server.password, loglevel="ERROR") as session:
        project = session.projects[xnat_site.project]
        subject = session.classes.SubjectData(parent=project, label=row.pseudonym)
        session.classes.CtSessionData(parent=subject, label=label)

    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert summary.ok, summary.why_not_ok()
    _complete_once(ws, xnat_site, cohort)
    assert xnat_site.emulator.experiment(xnat_site.project, label).data_fields["label"] == label


def test_an_expired_session_mid_run_logs_in_again_once(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    inner = fast_target(ws)

    def expire(n: int, batch: Sequence[OutgoingInstance]) -> None:
        if n == 2:
            assert xnat_site.emulator.expire_sessions() == 1

    target = Hooked(inner, before=expire)
    summary = push(ws, target, PushOptions(workers=2, concurrency=1, batch_bytes=64 * 1024, keep_outbox=True))
    target.close()
    assert summary.ok, summary.why_not_ok()
    assert inner.session.logins == 2
    _complete_once(ws, xnat_site, cohort)


def test_a_project_we_cannot_write_stops_with_a_clear_message_and_loses_nothing(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    xnat_site.emulator.make_read_only(xnat_site.project)
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    assert not summary.ok
    assert "XNAT refused the import" in (summary.fatal or "")
    assert "(403)" in (summary.fatal or "")
    assert "cannot write to this project" in (summary.fatal or "")
    counts = ws.state.counts_by_state()
    assert counts.get(S.QUARANTINED, 0) == counts.get(S.VERIFIED, 0) == 0
    assert counts.get(S.DEIDENTIFIED, 0) + counts.get(S.PENDING, 0) == len(cohort.files)

    xnat_site.emulator.make_read_only(xnat_site.project, False)
    again = push(ws, target, KEEP)
    target.close()
    assert again.ok, again.why_not_ok()
    _complete_once(ws, xnat_site, cohort)


def test_a_connection_dropped_mid_zip_is_retried_from_disk(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    xnat_site.emulator.drop_next_import(2, after_bytes=4096)
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert summary.ok, summary.why_not_ok()
    dropped = [
        r for r in xnat_site.emulator.requests if r["path"] == "/data/services/import" and r["status"] is None
    ]
    assert len(dropped) == 2
    _complete_once(ws, xnat_site, cohort)


def test_a_wrong_password_stops_the_run_and_says_what_to_do(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    (ws.path / "token").write_text("wrong-password\n")
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert not summary.ok
    assert "refused the login (401)" in (summary.fatal or "")
    assert "alias token" in (summary.fatal or "")
    assert "wrong-password" not in (summary.fatal or "")
    assert USER not in (summary.fatal or "")
    assert archive_digests(xnat_site) == {}


def test_other_bytes_for_an_instance_xnat_holds_are_refused_with_a_hint(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort, tmp_path: Path
) -> None:
    target = fast_target(ws)
    assert push(ws, target, KEEP).ok
    row = ws.state.instances([S.VERIFIED])[0]
    changed = tmp_path / "changed.dcm"
    ds = pydicom.dcmread(row.out_path or "")
    ds.ImageComments = "re-de-identified with another profile"
    ds.save_as(changed)
    item = OutgoingInstance(
        row.id,
        changed,
        changed.stat().st_size,
        row.out_sop_uid or "",
        row.out_study_uid or "",
        row.out_series_uid or "",
    )
    with pytest.raises(UploadError, match=r"\(409\)") as refused:
        target.send(item.study_instance_uid, [item])
    assert "profile or site secret changed" in str(refused.value)
    target.close()


def test_a_project_that_does_not_exist_stops_the_run_naming_the_setting(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    with xnat_site.emulator.store.lock:
        xnat_site.emulator.store.delete_project(xnat_site.emulator.project(xnat_site.project))
    target = fast_target(ws)
    summary = push(ws, target, KEEP)
    target.close()
    assert not summary.ok
    assert "(404)" in (summary.fatal or "") and "eucaim-ingest init --project" in (summary.fatal or "")
    assert ws.state.counts_by_state().get(S.QUARANTINED, 0) == 0


def test_a_single_file_is_called_bad_only_after_two_unexplained_400s(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    target = fast_target(ws)
    assert push(ws, target, KEEP).ok
    row = ws.state.instances([S.VERIFIED])[0]
    item = OutgoingInstance(
        row.id,
        Path(row.out_path or ""),
        row.out_size or 0,
        row.out_sop_uid or "",
        row.out_study_uid or "",
        row.out_series_uid or "",
    )
    xnat_site.emulator.fail_next(1, r"^/data/services/import$", 400, method="POST")
    once = target.send(item.study_instance_uid, [item])
    assert once.stored == {item.sop_instance_uid} and once.failed == {}
    xnat_site.emulator.fail_next(2, r"^/data/services/import$", 400, method="POST")
    twice = target.send(item.study_instance_uid, [item])
    assert "XNAT could not import this file (400): Injected failure" in twice.failed[item.sop_instance_uid]
    target.close()
    _complete_once(ws, xnat_site, cohort)


def test_an_xnat_without_checksums_is_named_as_the_reason_nothing_verifies(
    ws: Workspace, xnat_site: XnatSite, cohort: Cohort
) -> None:
    target = fast_target(ws)
    assert push(ws, target, KEEP).ok
    emulator = xnat_site.emulator
    with emulator.store.lock:  # as a site with checksums turned off would list them
        for experiment in emulator.store.experiments_of(emulator.project(xnat_site.project)):
            for scan in experiment.scans.values():
                for stored in scan.resources["DICOM"].files.values():
                    stored.digest = ""
    row = ws.state.instances([S.VERIFIED])[0]
    target.forget_listings()
    with pytest.raises(UploadError, match="without checksums") as refused:
        target.list_instances(row.out_study_uid or "", row.out_series_uid or "")
    assert "Enable checksums" in str(refused.value)
    target.close()
