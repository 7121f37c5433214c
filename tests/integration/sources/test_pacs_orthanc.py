"""PacsClient against a real Orthanc acting as the hospital PACS: echo, find, get, move."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import RLELossless

from eucaim.dicom.synthetic import generate_cohort
from eucaim.errors import ConfigError, TransientError
from eucaim.ingest.sources.pacs import PacsClient, PacsConfig, PacsError, PacsUnavailable
from eucaim.ingest.sources.query import StudyQuery
from eucaim.ingest.sources.receiver import Receiver
from tests.integration.sources.studies import StudyFactory
from tests.support.orthanc import OrthancServer, free_port

pytestmark = pytest.mark.integration


def client_for(orthanc: OrthancServer, **overrides: object) -> PacsClient:
    settings: dict[str, object] = {
        "host": orthanc.host,
        "port": orthanc.dicom_port,
        "called_aet": orthanc.aet,
        "calling_aet": orthanc.receiver_aet,
        "timeout": 5.0,
        "retrieve_timeout": 20.0,
    }
    settings.update(overrides)
    return PacsClient(PacsConfig(**settings))  # type: ignore[arg-type]


def test_echo_succeeds(orthanc: OrthancServer) -> None:
    assert client_for(orthanc).echo() < 5.0


def test_echo_to_a_closed_port_is_a_retryable_error_naming_the_address(orthanc: OrthancServer) -> None:
    port = free_port()

    with pytest.raises(PacsUnavailable) as caught:
        client_for(orthanc, port=port).echo()

    assert isinstance(caught.value, TransientError)
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "refused" in str(caught.value).lower()


@pytest.fixture
def three_studies(orthanc_clean: OrthancServer, make_study: StudyFactory) -> dict[str, str]:
    """Upload three studies of two patients; return a name → StudyInstanceUID map."""
    studies = {
        "ct_jan": make_study(
            patient_id="PAT1", accession="ACC1", study_date="20240115", modality="CT", count=2
        ),
        "mr_mar": make_study(
            patient_id="PAT1", accession="ACC2", study_date="20240310", modality="MR", count=1
        ),
        "ct_jun": make_study(
            patient_id="PAT2", accession="ACC3", study_date="20240620", modality="CT", count=1
        ),
    }
    for study in studies.values():
        orthanc_clean.upload(study.paths)
    return {name: study.study_uid for name, study in studies.items()}


def found(orthanc: OrthancServer, query: StudyQuery) -> set[str]:
    return {match.study_uid for match in client_for(orthanc).find_studies(query)}


def test_find_by_patient_id(orthanc_clean: OrthancServer, three_studies: dict[str, str]) -> None:
    assert found(orthanc_clean, StudyQuery(patient_id="PAT1")) == {
        three_studies["ct_jan"],
        three_studies["mr_mar"],
    }


def test_find_by_accession_returns_full_match(
    orthanc_clean: OrthancServer, three_studies: dict[str, str]
) -> None:
    [match] = client_for(orthanc_clean).find_studies(StudyQuery(accession_number="ACC2"))

    assert match.study_uid == three_studies["mr_mar"]
    assert match.patient_ids == ("PAT1",)
    assert match.study_date == date(2024, 3, 10)
    assert match.modalities == ("MR",)


def test_find_by_study_uid(orthanc_clean: OrthancServer, three_studies: dict[str, str]) -> None:
    assert found(orthanc_clean, StudyQuery(study_uid=three_studies["ct_jun"])) == {three_studies["ct_jun"]}


def test_find_by_date_range(orthanc_clean: OrthancServer, three_studies: dict[str, str]) -> None:
    query = StudyQuery(date_from=date(2024, 2, 1), date_to=date(2024, 6, 30))

    assert found(orthanc_clean, query) == {three_studies["mr_mar"], three_studies["ct_jun"]}


def test_find_by_open_date_range_and_modality(
    orthanc_clean: OrthancServer, three_studies: dict[str, str]
) -> None:
    query = StudyQuery(date_from=date(2024, 1, 1), modality="CT")

    assert found(orthanc_clean, query) == {three_studies["ct_jan"], three_studies["ct_jun"]}


def test_find_without_match_is_empty(orthanc_clean: OrthancServer, three_studies: dict[str, str]) -> None:
    assert found(orthanc_clean, StudyQuery(patient_id="NOBODY")) == set()


def test_find_from_an_unregistered_ae_says_to_register_it(
    orthanc_clean: OrthancServer, three_studies: dict[str, str]
) -> None:
    # Orthanc aborts instead of answering with a status, which looks like a network drop.
    with pytest.raises(PacsUnavailable) as caught:
        client_for(orthanc_clean, calling_aet="STRANGER").find_studies(StudyQuery(patient_id="PAT1"))

    assert "AE title STRANGER is allowed to query" in str(caught.value)


def test_get_study_writes_every_instance_with_identical_pixels(
    orthanc_clean: OrthancServer, make_study: StudyFactory, tmp_path: Path
) -> None:
    study = make_study(count=5, rows=64)
    orthanc_clean.upload(study.paths)
    seen: list[tuple[Path, str]] = []

    result = client_for(orthanc_clean).get_study(
        study.study_uid, tmp_path / "out", on_instance=lambda path, uid: seen.append((path, uid))
    )

    assert result.is_complete
    assert (result.completed, result.failed, result.received) == (5, 0, 5)
    assert sorted(uid for _, uid in seen) == sorted(study.sop_uids)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{u}.dcm" for u in study.sop_uids)
    for original in study.paths:
        sent = pydicom.dcmread(original)
        got = pydicom.dcmread(tmp_path / "out" / f"{sent.SOPInstanceUID}.dcm")
        assert got.PixelData == sent.PixelData
        assert got.StudyInstanceUID == study.study_uid


def test_get_of_unknown_study_says_to_check_it_exists(orthanc_clean: OrthancServer, tmp_path: Path) -> None:
    with pytest.raises(PacsError, match="C-GET") as caught:
        client_for(orthanc_clean).get_study("1.2.3.4.5.6", tmp_path / "out")

    assert "check that the study exists" in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []


def test_get_rejects_a_study_uid_that_is_not_a_uid(orthanc: OrthancServer, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a DICOM UID"):
        client_for(orthanc).get_study("../../etc", tmp_path)


def test_move_study_to_our_receiver(
    orthanc_clean: OrthancServer, make_study: StudyFactory, tmp_path: Path
) -> None:
    study = make_study(count=4)
    orthanc_clean.upload(study.paths)
    stored: list[str] = []

    receiver = Receiver(
        orthanc_clean.receiver_aet,
        orthanc_clean.receiver_port,
        tmp_path / "received",
        on_stored=lambda _path, uid: stored.append(uid),
        bind_address="127.0.0.1",
    )
    with receiver:
        result = client_for(orthanc_clean).move_study(study.study_uid, orthanc_clean.receiver_aet)

    assert result.is_complete
    assert result.completed == 4
    assert sorted(stored) == sorted(study.sop_uids)
    assert receiver.stored == 4


def test_move_to_an_unknown_destination_says_to_register_it(
    orthanc_clean: OrthancServer, make_study: StudyFactory
) -> None:
    study = make_study(count=1)
    orthanc_clean.upload(study.paths)

    with pytest.raises(PacsError) as caught:
        client_for(orthanc_clean).move_study(study.study_uid, "NOWHERE")

    assert "destination AE title NOWHERE" in str(caught.value)


def test_find_and_get_log_no_identifying_value(
    orthanc_clean: OrthancServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=1, slices=(1, 1), image_size=8)
    orthanc_clean.upload(cohort.files)
    patient_id = cohort.patients[0].patient_id
    caplog.set_level(logging.DEBUG)
    client = client_for(orthanc_clean)

    studies = client.find_studies(StudyQuery(patient_id=patient_id))
    for study in studies:
        client.get_study(study.study_uid, tmp_path / "out" / study.study_uid)

    assert len(studies) == cohort.n_studies
    everything = "\n".join(r.getMessage() for r in caplog.records)
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("eucaim.ingest"))
    assert "C-FIND" in ours and "C-GET" in ours
    uids = [s.study_uid for s in studies] + [p.stem for p in (tmp_path / "out").rglob("*.dcm")]
    assert [s for s in (*cohort.phi_strings, *uids) if s in everything] == []


def test_get_keeps_a_compressed_study_compressed(
    orthanc_clean: OrthancServer, make_study: StudyFactory, tmp_path: Path
) -> None:
    study = make_study(count=2, rows=32)
    for path in study.paths:
        ds = pydicom.dcmread(path)
        ds.compress(RLELossless)
        ds.save_as(path, enforce_file_format=True)
    orthanc_clean.upload(study.paths)

    result = client_for(orthanc_clean).get_study(study.study_uid, tmp_path / "out")

    assert result.is_complete and result.received == 2
    for original in study.paths:
        sent = pydicom.dcmread(original)
        got = pydicom.dcmread(tmp_path / "out" / f"{sent.SOPInstanceUID}.dcm")
        assert got.file_meta.TransferSyntaxUID == RLELossless
        assert got.PixelData == sent.PixelData
