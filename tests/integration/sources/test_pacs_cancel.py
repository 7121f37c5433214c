"""Cancelling a C-GET on a PACS that ignores C-CANCEL (a pynetdicom SCP we script): abort after the grace."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet  # type: ignore[attr-defined]

from eucaim.errors import ConfigError
from eucaim.ingest.sources.pacs import PacsClient, PacsConfig
from tests.integration.sources.studies import StudyFactory
from tests.support.orthanc import free_port

pytestmark = pytest.mark.integration

COUNT = 50


@pytest.fixture
def deaf_pacs(make_study: StudyFactory) -> Iterator[tuple[PacsClient, str, threading.Event]]:
    """A PACS that sends a study slowly by C-GET and never looks at C-CANCEL.

    Yields a client (grace 1 s), the study UID, and an event set when the PACS's handler ends.
    """
    study = make_study(count=COUNT, patient_id="DEAFPAT", accession="DEAFACC")
    datasets = [dcmread(path) for path in study.paths]
    ended = threading.Event()

    def get(_event: Any) -> Iterator[Any]:
        yield len(datasets)
        try:
            for ds in datasets:
                time.sleep(0.05)
                yield 0xFF00, ds  # event.is_cancelled is never checked
        finally:
            ended.set()

    ae = AE("DEAFPACS")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_supported_context(CTImageStorage, ExplicitVRLittleEndian, scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_GET, get)])
    config = PacsConfig("127.0.0.1", port, "DEAFPACS", "EUCAIM", timeout=5.0, cancel_grace=1.0)
    try:
        yield PacsClient(config), study.study_uid, ended
    finally:
        server.shutdown()


def test_a_pacs_ignoring_c_cancel_is_aborted_after_the_grace_and_files_stay(
    deaf_pacs: tuple[PacsClient, str, threading.Event], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client, study_uid, _ended = deaf_pacs
    arrived: list[str] = []
    stop_at: list[float] = []

    def should_stop() -> bool:
        if len(arrived) >= 3 and not stop_at:
            stop_at.append(time.monotonic())
        return bool(stop_at)

    with caplog.at_level(logging.INFO):
        result = client.get_study(
            study_uid, tmp_path, lambda _p, uid: arrived.append(uid), should_stop=should_stop
        )
    took = time.monotonic() - stop_at[0]

    assert result.cancelled and result.aborted and not result.is_complete
    assert 3 <= result.received == len(arrived) < COUNT
    assert 1.0 <= took < 3.0  # the grace, then the abort at once (not the 5 s DIMSE timeout)
    assert sorted(p.stem for p in tmp_path.glob("*.dcm")) == sorted(arrived)
    assert "C-CANCEL sent to PACS DEAFPACS" in caplog.text
    assert "did not end the retrieve within 1 s of C-CANCEL: aborting the association" in caplog.text
    assert "DEAFPAT" not in caplog.text and "DEAFACC" not in caplog.text


def test_cancel_grace_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="timeouts must be positive"):
        PacsConfig("127.0.0.1", 104, "PACS", "EUCAIM", cancel_grace=0)
