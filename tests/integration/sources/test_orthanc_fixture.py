"""The Orthanc fixture gives a real, authenticated PACS with DICOMweb, emptied on request."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.sources.studies import StudyFactory
from tests.support.orthanc import OrthancServer

pytestmark = pytest.mark.integration


def test_upload_is_listed_and_counted(orthanc_clean: OrthancServer, make_study: StudyFactory) -> None:
    study = make_study(count=2)

    assert orthanc_clean.upload(study.paths) == ["Success", "Success"]

    assert orthanc_clean.instances() == sorted(study.sop_uids)
    assert orthanc_clean.count() == 2


def test_second_upload_of_same_instance_is_not_overwritten(
    orthanc_clean: OrthancServer, make_study: StudyFactory
) -> None:
    study = make_study(count=1)
    orthanc_clean.upload(study.paths)

    assert orthanc_clean.upload(study.paths) == ["AlreadyStored"]
    assert orthanc_clean.count() == 1


def test_clean_fixture_starts_empty(orthanc_clean: OrthancServer) -> None:
    assert orthanc_clean.count() == 0
    assert orthanc_clean.instances() == []


def test_rest_refuses_wrong_password(orthanc: OrthancServer) -> None:
    response = httpx.get(f"{orthanc.http_url}/system", auth=(orthanc.username, "wrong"))

    assert response.status_code == 401


def test_dicomweb_plugin_answers_qido(orthanc_clean: OrthancServer, make_study: StudyFactory) -> None:
    study = make_study(count=1)
    orthanc_clean.upload(study.paths)

    response = httpx.get(
        f"{orthanc_clean.dicomweb_url}/studies",
        auth=(orthanc_clean.username, orthanc_clean.password),
        headers={"Accept": "application/dicom+json"},
    )

    assert response.status_code == 200
    assert [item["0020000D"]["Value"][0] for item in response.json()] == [study.study_uid]


def test_receiver_port_is_free_for_our_receiver(orthanc: OrthancServer) -> None:
    import socket

    with socket.socket() as sock:
        # A receiver an earlier test ran there leaves TIME_WAIT sockets; a server binds past them.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((orthanc.host, orthanc.receiver_port))
