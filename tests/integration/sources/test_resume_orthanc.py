"""Resuming a broken C-GET fetches only what the folder lacks, from a real Orthanc."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.uid import generate_uid

from eucaim.ingest.sources.pacs import InstanceRef, PacsClient, PacsConfig
from eucaim.ingest.sources.resume import get_missing
from tests.integration.sources.studies import write_instance
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.integration


def client(orthanc: OrthancServer) -> PacsClient:
    return PacsClient(
        PacsConfig(orthanc.host, orthanc.dicom_port, orthanc.aet, orthanc.receiver_aet, timeout=5.0)
    )


@pytest.fixture
def two_series(orthanc_clean: OrthancServer, tmp_path: Path) -> tuple[str, dict[str, list[str]]]:
    """Upload a study with two series of 4 and 3 instances; return its UID and series → SOP UIDs."""
    study = str(generate_uid())
    layout: dict[str, list[str]] = {}
    for series_number, count in ((1, 4), (2, 3)):
        series = str(generate_uid())
        layout[series] = [
            write_instance(
                tmp_path / f"src-{series_number}-{n}.dcm",
                patient_id="PAT1",
                accession="ACC1",
                study_uid=study,
                series_uid=series,
                study_date="20240101",
                modality="CT",
                number=n,
            )
            for n in range(count)
        ]
    orthanc_clean.upload(sorted(tmp_path.glob("src-*.dcm")))
    return study, layout


def test_find_instances_lists_every_instance_with_its_series(
    orthanc_clean: OrthancServer, two_series: tuple[str, dict[str, list[str]]]
) -> None:
    study, layout = two_series

    refs = client(orthanc_clean).find_instances(study)

    assert sorted(refs, key=lambda r: r.sop_uid) == sorted(
        (InstanceRef(series, uid) for series, uids in layout.items() for uid in uids), key=lambda r: r.sop_uid
    )


def test_resume_fetches_only_the_missing_instances(
    orthanc_clean: OrthancServer, two_series: tuple[str, dict[str, list[str]]], tmp_path: Path
) -> None:
    study, layout = two_series
    dest = tmp_path / "out"
    pacs = client(orthanc_clean)
    pacs.get_study(study, dest)
    first, second = layout.values()
    # A broken transfer: 3 of 4 in the first series and all of the second never arrived.
    for uid in first[:3] + second:
        (dest / f"{uid}.dcm").unlink()
    fetched: list[str] = []

    # Batches of 2: one UID-list C-GET of two, one of one, and one SERIES-level C-GET.
    result = get_missing(pacs, study, dest, lambda _path, uid: fetched.append(uid), batch_size=2)

    assert sorted(fetched) == sorted(first[:3] + second)
    assert result.is_complete
    assert (result.expected, result.present_before, result.received) == (7, 1, 6)
    assert len(list(dest.glob("*.dcm"))) == 7


def test_resume_of_a_complete_folder_fetches_nothing(
    orthanc_clean: OrthancServer, two_series: tuple[str, dict[str, list[str]]], tmp_path: Path
) -> None:
    study, _ = two_series
    pacs = client(orthanc_clean)
    pacs.get_study(study, tmp_path / "out")

    result = get_missing(pacs, study, tmp_path / "out", lambda _p, _u: pytest.fail("fetched again"))

    assert (result.expected, result.present_before, result.received, result.missing) == (7, 7, 0, ())
