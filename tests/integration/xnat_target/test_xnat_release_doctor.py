"""Releasing an XNAT project (accessibility after a completeness check) and the XNAT doctor checks."""

from __future__ import annotations

import pytest

from eucaim.errors import Conflict, UploadError
from eucaim.ingest.pipeline.runner import push
from eucaim.ingest.upload.http import RetryPolicy
from eucaim.ingest.upload.xnat_doctor import (
    XnatCheck,
    prearchive_check,
    rights_check,
    version_check,
    xnat_checks,
)
from eucaim.ingest.upload.xnat_publish import release_xnat_project
from eucaim.ingest.upload.xnat_session import XnatSession
from eucaim.ingest.workspace import Workspace

from .conftest import OPTIONS, PASSWORD, USER, XnatSite, fast_target

pytestmark = pytest.mark.integration


def test_release_refuses_an_incomplete_project_then_sets_it_protected_or_public(
    ws: Workspace, xnat_site: XnatSite
) -> None:
    target = fast_target(ws)
    emulator = xnat_site.emulator
    # Nothing sent yet: refused, accessibility untouched.
    with pytest.raises(Conflict, match="not been sent and verified yet") as refused:
        release_xnat_project(ws.state, target)
    assert "eucaim-ingest push" in str(refused.value)
    assert emulator.project(xnat_site.project).accessibility.value == "private"

    assert push(ws, target, OPTIONS).ok
    outcome = release_xnat_project(ws.state, target)
    assert (outcome.before, outcome.after, outcome.changed) == ("private", "protected", True)
    assert emulator.project(xnat_site.project).accessibility.value == "protected"
    assert "set from private to protected" in outcome.describe()
    again = release_xnat_project(ws.state, target)
    assert not again.changed and "already protected" in again.describe()
    public = release_xnat_project(ws.state, target, accessibility="public")
    assert public.after == "public" == emulator.project(xnat_site.project).accessibility.value

    # A member (not an owner) may send but not release: a clear message, nothing changed.
    emulator.grant(xnat_site.project, USER, "member")
    with pytest.raises(UploadError, match=r"\(403\)") as denied:
        release_xnat_project(ws.state, target, accessibility="protected")
    assert "only the project's owners" in str(denied.value)
    assert emulator.project(xnat_site.project).accessibility.value == "public"

    # A session deleted on XNAT behind our back: the release notices before changing anything.
    emulator.grant(xnat_site.project, USER, "owner")
    label = target.index.sessions()[0][2]
    with emulator.store.lock:
        emulator.store.delete_experiment(emulator.experiment(xnat_site.project, label))
    with pytest.raises(Conflict, match="verified instances are missing from XNAT"):
        release_xnat_project(ws.state, target, accessibility="protected")
    assert emulator.project(xnat_site.project).accessibility.value == "public"
    target.close()


def _checks(site: XnatSite, password: str = PASSWORD, dest: str = "archive") -> list[XnatCheck]:
    session = XnatSession(
        site.server.url, lambda: (USER, password), retry=RetryPolicy(max_attempts=2, base_s=0.01)
    )
    try:
        return xnat_checks(session, site.project, dest=dest)
    finally:
        session.close()


def test_doctor_reports_login_version_rights_and_prearchive_mode(xnat_site: XnatSite) -> None:
    checks = _checks(xnat_site)
    assert [(c.name, c.ok) for c in checks] == [
        ("XNAT login", True),
        ("XNAT version", True),
        (f"rights on project {xnat_site.project}", True),
        ("XNAT prearchive mode", True),
    ]
    assert checks[1].detail == "1.8.10"
    assert "may send data and release" in checks[2].detail

    xnat_site.emulator.grant(xnat_site.project, USER, "collaborator")
    xnat_site.emulator.project(xnat_site.project).prearchive_code = 4
    checks = _checks(xnat_site, dest="prearchive")
    assert not checks[2].ok and "read only" in checks[2].detail and "member or owner" in checks[2].hint
    assert checks[3].warning and "auto-archive" in checks[3].detail

    bad = _checks(xnat_site, "wrong")
    assert not bad[0].ok and "refused the login (401)" in bad[0].detail and "alias token" in bad[0].hint
    assert all(not c.ok and c.detail == "not checked: login failed" for c in bad[1:])
    assert all("wrong" not in c.detail + c.hint for c in bad)


def test_doctor_verdicts() -> None:
    assert not version_check("1.6.5").ok
    assert version_check("1.8.10").ok
    assert version_check("dev-build").warning
    assert not rights_check("P", None).ok
    assert rights_check("P", "Members").ok
    assert prearchive_check("0", "prearchive").warning is False
