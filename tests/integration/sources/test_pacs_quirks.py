"""PacsClient against a misbehaving PACS (a pynetdicom SCP we script): odd replies, errors, stalls.

Orthanc is well behaved; hospital PACS are not (RSNA/anonymizer#11 and #18, pynetdicom#792).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import Dataset
from pydicom.uid import CTImageStorage
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelMove,  # type: ignore[attr-defined]
    Verification,  # type: ignore[attr-defined]
)

from eucaim.ingest.sources.pacs import PacsClient, PacsConfig, PacsError, PacsUnavailable
from eucaim.ingest.sources.query import StudyQuery
from eucaim.ingest.sources.receiver import Receiver
from tests.support.orthanc import free_port

pytestmark = pytest.mark.integration

UID = "1.2.826.0.1.3680043.8.498.5"
Handler = Callable[[Any], Iterator[Any]]


@pytest.fixture
def fake_pacs() -> Iterator[Callable[..., PacsClient]]:
    """Start a scripted SCP; return a function giving a client for it."""
    servers: list[Any] = []

    def start(find: Handler | None = None, move: Handler | None = None, timeout: float = 5.0) -> PacsClient:
        ae = AE("FAKEPACS")
        ae.add_supported_context(Verification)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
        ae.add_requested_context(CTImageStorage)  # for its C-MOVE sub-association to our receiver
        handlers = []
        if find:
            handlers.append((evt.EVT_C_FIND, find))
        if move:
            handlers.append((evt.EVT_C_MOVE, move))
        port = free_port()
        servers.append(ae.start_server(("127.0.0.1", port), block=False, evt_handlers=handlers))
        config = PacsConfig(
            "127.0.0.1", port, "FAKEPACS", "EUCAIM", timeout=timeout, retrieve_timeout=timeout
        )
        return PacsClient(config)

    yield start
    for server in servers:
        server.shutdown()


def reply(**values: object) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def test_replies_missing_keys_and_split_by_patient_id_are_merged(
    fake_pacs: Callable[..., PacsClient],
) -> None:
    def find(_event: Any) -> Iterator[Any]:
        yield 0xFF00, reply(StudyInstanceUID=UID, PatientID="P1", ModalitiesInStudy="CT")
        yield 0xFF00, reply(StudyInstanceUID=UID, PatientID="P1-MERGED")  # same study, second ID
        yield 0xFF00, reply(PatientID="P1")  # no StudyInstanceUID at all
        yield 0xFF00, reply(StudyInstanceUID="1.2.3.4", PatientID="SOMEONE-ELSE")  # key ignored by PACS
        yield 0x0000, None

    [study] = fake_pacs(find=find).find_studies(StudyQuery(patient_id="P1"))

    assert study.study_uid == UID
    assert study.patient_ids == ("P1", "P1-MERGED")
    assert study.modalities == ("CT",)


def test_failure_status_is_a_permanent_error_with_the_code(fake_pacs: Callable[..., PacsClient]) -> None:
    def find(_event: Any) -> Iterator[Any]:
        yield 0xFF00, reply(StudyInstanceUID=UID, PatientID="P1")
        yield 0xC001, None

    with pytest.raises(PacsError, match="0xC001") as caught:
        fake_pacs(find=find).find_studies(StudyQuery(patient_id="P1"))
    assert caught.value.status == 0xC001


def test_out_of_resources_is_retryable(fake_pacs: Callable[..., PacsClient]) -> None:
    def find(_event: Any) -> Iterator[Any]:
        yield 0xA700, None

    with pytest.raises(PacsUnavailable, match="0xA700"):
        fake_pacs(find=find).find_studies(StudyQuery(patient_id="P1"))


def test_move_failing_for_lack_of_resources_is_retryable(
    fake_pacs: Callable[..., PacsClient], tmp_path: Path
) -> None:
    port = free_port()

    def move(_event: Any) -> Iterator[Any]:
        yield "127.0.0.1", port  # our receiver
        yield 1  # number of sub-operations
        yield 0xA702, None  # the PACS gives up before sending anything

    with (
        Receiver("OURAE", port, tmp_path, bind_address="127.0.0.1"),
        pytest.raises(PacsUnavailable) as caught,
    ):
        fake_pacs(move=move).move_study(UID, "OURAE")
    assert "out of resources (0xA702)" in str(caught.value)


def test_a_pacs_that_stops_answering_times_out_as_retryable(fake_pacs: Callable[..., PacsClient]) -> None:
    def find(_event: Any) -> Iterator[Any]:
        time.sleep(3)
        yield 0x0000, None

    started = time.perf_counter()
    with pytest.raises(PacsUnavailable, match="stopped answering during C-FIND"):
        fake_pacs(find=find, timeout=1.0).find_studies(StudyQuery(patient_id="P1"))
    assert time.perf_counter() - started < 3


def test_move_destination_unknown_status_names_the_destination(fake_pacs: Callable[..., PacsClient]) -> None:
    def move(_event: Any) -> Iterator[Any]:
        yield None, None  # pynetdicom: no destination address, answer 0xA801

    with pytest.raises(PacsError) as caught:
        fake_pacs(move=move).move_study(UID, "OURAE")

    assert caught.value.status == 0xA801
    assert "does not know the C-MOVE destination OURAE" in str(caught.value)


def test_pacs_without_c_get_says_to_use_c_move(fake_pacs: Callable[..., PacsClient], tmp_path: Path) -> None:
    with pytest.raises(PacsError, match="does not accept C-GET") as caught:
        fake_pacs().get_study(UID, tmp_path)

    assert "AE title EUCAIM" in str(caught.value)
    assert "C-MOVE" in str(caught.value)
