"""The intake use cases against Orthanc: a study the PACS fails mid-run, and retrieve → push to a node."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eucaim.ingest.cli import app
from eucaim.ingest.pacs_intake import (
    InstanceArrived,
    IntakeEvent,
    RetrieveMethod,
    StudyFinished,
    StudyStarted,
    build_queries,
    find_studies,
    pacs_config,
    retrieve_studies,
)
from eucaim.ingest.sources.pacs import PacsClient
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import PacsStudy, make_workspace
from tests.support.node_server import SeededNode
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.integration


def delete_study(orthanc: OrthancServer, study_uid: str) -> None:
    with orthanc.client() as client:
        [found] = client.post("/tools/lookup", content=study_uid).json()
        client.delete(f"/studies/{found['ID']}").raise_for_status()


@pytest.mark.parametrize("method", [RetrieveMethod.GET, RetrieveMethod.MOVE])
def test_a_study_gone_from_the_pacs_is_reported_and_the_others_complete(
    orthanc: OrthancServer,
    studies: dict[str, PacsStudy],
    pacs_ws: Path,
    method: RetrieveMethod,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[IntakeEvent] = []
    with Workspace.open(pacs_ws) as ws:
        client = PacsClient(pacs_config(ws.config, retrieve_timeout=20))
        found = find_studies(client, build_queries(date_from="20240101"))
        assert len(found.studies) == 3
        # The PACS loses the middle study between the search and the retrieve.
        gone = found.studies[1].study_uid
        delete_study(orthanc, gone)

        report = retrieve_studies(
            client,
            ws.state,
            ws.incoming,
            found.studies,
            method=method,
            receiver_port=orthanc.receiver_port,
            receiver_bind="127.0.0.1",
            on_event=events.append,
        )
        rows = ws.state.instances()

    assert [o.study_uid for o in report.incomplete] == [gone]
    assert report.incomplete[0].error
    assert not report.is_complete
    kept = [s for s in studies.values() if s.study_uid != gone]
    assert {r.sop_uid for r in rows} == {uid for s in kept for uid in s.sop_uids}
    assert report.received == report.indexed == sum(len(s.sop_uids) for s in kept)
    assert [type(e) for e in events].count(StudyStarted) == 3
    assert [type(e) for e in events].count(StudyFinished) == 3
    assert [e.usable for e in events if isinstance(e, InstanceArrived)] == [True] * report.received
    # The hospital's identifiers are never logged.
    for s in studies.values():
        assert s.patient_id not in caplog.text and s.accession not in caplog.text


def test_retrieved_studies_push_to_the_node(
    orthanc: OrthancServer, studies: dict[str, PacsStudy], seeded_node: SeededNode, tmp_path: Path
) -> None:
    ws = make_workspace(tmp_path / "ws-push", orthanc, node_url=seeded_node.url,
                        biobank=seeded_node.biobank, token=seeded_node.ingester_token)  # fmt: skip
    runner = CliRunner()

    retrieve = runner.invoke(app, ["pacs", "retrieve", "--accession", "ACC3", "--workspace", str(ws)])
    push = runner.invoke(app, ["push", "--workspace", str(ws)])

    assert retrieve.exit_code == 0, retrieve.output
    assert push.exit_code == 0, push.output
    with Workspace.open(ws) as opened:
        states = opened.state.counts_by_state()
    assert states[InstanceState.VERIFIED] == len(studies["ct_jun"].sop_uids)
