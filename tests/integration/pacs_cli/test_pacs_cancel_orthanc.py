"""A retrieve stopped mid-study (C-CANCEL) against Orthanc: what arrived stays indexed, a rerun ends it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eucaim.ingest.cli import app
from eucaim.ingest.pacs_intake import (
    InstanceArrived,
    IntakeEvent,
    RetrieveMethod,
    RetrieveReport,
    StudyFinished,
    build_queries,
    find_studies,
    pacs_config,
    retrieve_studies,
)
from eucaim.ingest.sources.pacs import PacsClient
from eucaim.ingest.sources.query import StudyMatch
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import PacsStudy, make_workspace, upload_study
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.integration

BIG = 240  # instances in the big study: enough that a stop after 20 is well before the end
STOP_AFTER = 20


@pytest.fixture
def big_study(orthanc_clean: OrthancServer, tmp_path: Path) -> PacsStudy:
    return upload_study(orthanc_clean, tmp_path / "big", patient_id="PATBIG", accession="ACCBIG",
                        study_date="20240202", count=BIG)  # fmt: skip


@pytest.fixture
def second_study(orthanc_clean: OrthancServer, big_study: PacsStudy, tmp_path: Path) -> PacsStudy:
    return upload_study(orthanc_clean, tmp_path / "second", patient_id="PAT2", accession="ACC2",
                        study_date="20240203", count=2)  # fmt: skip


class StopAfter:
    """``should_stop`` and ``on_event`` of a retrieve stopped once ``limit`` instances arrived."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.arrived = 0
        self.finished: list[StudyFinished] = []
        self._lock = threading.Lock()

    def on_event(self, event: IntakeEvent) -> None:
        if isinstance(event, InstanceArrived):
            with self._lock:
                self.arrived += 1
        elif isinstance(event, StudyFinished):
            self.finished.append(event)

    def should_stop(self) -> bool:
        with self._lock:
            return self.arrived >= self.limit


def retrieve(
    ws_path: Path, studies: list[StudyMatch], method: RetrieveMethod, **kwargs: object
) -> RetrieveReport:
    with Workspace.open(ws_path) as ws:
        return retrieve_studies(
            PacsClient(pacs_config(ws.config)), ws.state, ws.incoming, studies, method=method,
            receiver_port=ws.config.pacs.receiver_port if ws.config.pacs else None,
            receiver_bind="127.0.0.1", **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip


def found(ws_path: Path, big: PacsStudy) -> list[StudyMatch]:
    """The big study first, then the others of 2024."""
    with Workspace.open(ws_path) as ws:
        result = find_studies(PacsClient(pacs_config(ws.config)), build_queries(date_from="20240101"))
    return sorted(result.studies, key=lambda s: s.study_uid != big.study_uid)


def indexed_uids(ws_path: Path) -> list[str]:
    with Workspace.open(ws_path) as ws:
        return [row.sop_uid for row in ws.state.instances()]


@pytest.mark.parametrize("method", [RetrieveMethod.GET, RetrieveMethod.MOVE])
def test_a_stop_mid_study_cancels_keeps_what_arrived_and_a_rerun_completes_it(
    orthanc_clean: OrthancServer,
    big_study: PacsStudy,
    second_study: PacsStudy,
    tmp_path: Path,
    method: RetrieveMethod,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ws_path = make_workspace(tmp_path / "ws", orthanc_clean)
    studies = found(ws_path, big_study)
    stop = StopAfter(STOP_AFTER)
    folder = ws_path / "incoming" / big_study.study_uid

    with caplog.at_level(logging.DEBUG):
        report = retrieve(ws_path, studies, method, on_event=stop.on_event, should_stop=stop.should_stop)

    [outcome] = report.studies
    assert outcome.cancelled and not outcome.is_complete and outcome.error is None
    assert not outcome.aborted  # Orthanc honours C-CANCEL
    assert report.stopped and report.not_started == [second_study.study_uid]
    assert not report.is_complete
    on_disk = sorted(p.stem for p in folder.glob("*.dcm"))
    assert STOP_AFTER <= len(on_disk) < BIG
    assert outcome.present == len(on_disk)
    assert outcome.reason == f"cancelled: {len(on_disk)} of {BIG} instances are in the workspace"
    # Everything that arrived is indexed, exactly as a complete retrieve leaves it.
    assert sorted(indexed_uids(ws_path)) == on_disk
    assert set(on_disk) <= set(big_study.sop_uids)
    assert "C-CANCEL sent to PACS ORTHANC" in caplog.text
    assert "PATBIG" not in caplog.text and "ACCBIG" not in caplog.text
    assert not (ws_path / "incoming" / second_study.study_uid).exists()

    # The same retrieve again fetches only the rest: every SOPInstanceUID once in the workspace.
    again = retrieve(ws_path, studies, method)

    assert again.is_complete and not again.stopped
    big, second = again.studies
    assert big.received == BIG - len(on_disk)
    assert big.present == BIG and second.present == 2
    uids = indexed_uids(ws_path)
    assert len(uids) == len(set(uids))
    assert set(uids) == set(big_study.sop_uids) | set(second_study.sop_uids)
    assert sorted(p.stem for p in folder.glob("*.dcm")) == sorted(big_study.sop_uids)


def test_a_stop_before_the_first_study_retrieves_nothing(
    orthanc_clean: OrthancServer, tmp_path: Path
) -> None:
    small = upload_study(orthanc_clean, tmp_path / "small", patient_id="P1", accession="A1",
                         study_date="20240202")  # fmt: skip
    ws_path = make_workspace(tmp_path / "ws", orthanc_clean)
    studies = found(ws_path, small)

    report = retrieve(ws_path, studies, RetrieveMethod.GET, should_stop=lambda: True)

    assert report.stopped and report.studies == [] and report.not_started == [small.study_uid]
    assert not report.is_complete
    assert indexed_uids(ws_path) == []


def test_client_cancel_from_another_thread_ends_a_c_get(
    orthanc_clean: OrthancServer, big_study: PacsStudy, tmp_path: Path
) -> None:
    with Workspace.open(make_workspace(tmp_path / "ws", orthanc_clean)) as ws:
        client = PacsClient(pacs_config(ws.config))
    arrived: list[str] = []

    def on_instance(_path: Path, uid: str) -> None:
        arrived.append(uid)
        if len(arrived) == 10:
            threading.Thread(target=client.cancel).start()  # what a Stop button does

    result = client.get_study(big_study.study_uid, tmp_path / "out", on_instance)

    assert result.cancelled and not result.aborted and not result.is_complete
    assert 10 <= result.received == len(arrived) < BIG
    assert result.status == 0xFE00  # the PACS's own "cancelled" final status
    assert len(list((tmp_path / "out").glob("*.dcm"))) == len(arrived)
    assert client.cancel() is False  # nothing runs any more


@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_during_pacs_retrieve_cancels_summarises_and_exits_130(
    orthanc_clean: OrthancServer, big_study: PacsStudy, tmp_path: Path, signum: int, exit_code: int
) -> None:
    ws_path = make_workspace(tmp_path / "ws", orthanc_clean)
    folder = ws_path / "incoming" / big_study.study_uid
    process = subprocess.Popen(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", "pacs", "retrieve",
         "--study-uid", big_study.study_uid, "--workspace", str(ws_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "300"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not any(folder.glob("*.dcm")):  # the first files landed
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no file arrived"
            time.sleep(0.005)
        process.send_signal(signum)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    on_disk = sorted(p.stem for p in folder.glob("*.dcm"))
    assert process.returncode == exit_code, out + err
    assert "Traceback" not in err, err
    assert "stopping: cancelling the retrieve on the PACS (C-CANCEL)" in out
    assert f"0 of 1 studies complete, {len(on_disk)} instances received, {len(on_disk)} indexed" in out
    [row] = [line for line in out.splitlines() if big_study.study_uid in line]
    assert f"{len(on_disk)}/{BIG}" in row and "cancelled" in row
    assert f"cancelled: {len(on_disk)} of {BIG} instances are in the workspace" in out
    assert "stopped: 1 study cancelled on the PACS (C-CANCEL), 0 not started" in out
    assert 0 < len(on_disk) < BIG
    assert sorted(indexed_uids(ws_path)) == on_disk

    # The same command again completes the study.
    result = CliRunner().invoke(
        app, ["pacs", "retrieve", "--study-uid", big_study.study_uid, "--workspace", str(ws_path)]
    )
    assert result.exit_code == 0, result.output
    assert f"1 of 1 studies complete, {BIG - len(on_disk)} instances received" in result.stdout
    assert sorted(indexed_uids(ws_path)) == sorted(big_study.sop_uids)
