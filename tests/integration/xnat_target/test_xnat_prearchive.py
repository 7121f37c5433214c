"""Importing into the project's prearchive (for sites that review sessions before archiving)."""

from __future__ import annotations

from pathlib import Path

import pytest

from eucaim.dicom.synthetic import Cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace

from .conftest import PASSWORD, PROJECT, USER, XnatSite, archive_digests, fast_target, verified_md5s

pytestmark = pytest.mark.integration
ONE_ZIP_PER_STUDY = PushOptions(workers=2, concurrency=2, batch_bytes=1 << 30, keep_outbox=True)


def test_prearchive_imports_are_verified_there_and_still_after_archiving(
    xnat_site: XnatSite, cohort: Cohort, tmp_path: Path
) -> None:
    node = NodeConfig(
        kind="xnat", url=xnat_site.server.url, biobank=PROJECT, username=USER, xnat_dest="prearchive"
    )
    with Workspace.create(tmp_path / "ws-pre", node, token=PASSWORD) as ws:
        scan_paths(ws.state, [cohort.root])
        target = fast_target(ws)
        summary = push(ws, target, ONE_ZIP_PER_STUDY)
        assert summary.ok, summary.why_not_ok()
        emulator = xnat_site.emulator
        waiting = emulator.prearchive_sessions(PROJECT)
        assert len(waiting) == cohort.n_studies and {s.status for s in waiting} == {"READY"}
        assert archive_digests(xnat_site) == {}
        imports = [r for r in emulator.requests if r["path"] == "/data/services/import"]
        assert {r["query"]["dest"] for r in imports} == {f"/prearchive/projects/{PROJECT}"}

        # The site's reviewer archives them; verification still finds every instance, once.
        for session in waiting:
            response = target.session.request(
                "POST", "data/services/archive", what="archiving", params={"src": session.data_url}
            )
            assert response.status_code == 200, response.text
        assert archive_digests(xnat_site) == verified_md5s(ws)
        target.forget_listings()
        rows = ws.state.instances([InstanceState.VERIFIED])
        present = set().union(
            *(target.list_instances(r.out_study_uid or "", r.out_series_uid or "") for r in rows)
        )
        assert present == {r.out_sop_uid for r in rows}
        target.close()
