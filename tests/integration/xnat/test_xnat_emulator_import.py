"""The import service with the real xnatpy client: DICOM zips into the archive and the prearchive."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import xnat
from xnat.exceptions import XNATUploadError

from tests.support.xnat_fixture import XnatServer

MakeZip = Callable[..., Path]  # the make_dicom_zip fixture (conftest.py)

pytestmark = pytest.mark.integration


def member_digests(archive: Path) -> set[str]:
    with zipfile.ZipFile(archive) as zipped:
        return {hashlib.md5(zipped.read(n)).hexdigest() for n in zipped.namelist() if n.endswith(".dcm")}


def test_import_to_archive_builds_session_scans_and_files(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    upload = make_dicom_zip(series=(2, 1))
    experiment = xnat_session.services.import_(
        upload,
        project="P1",
        subject="PSEUDO-001",
        experiment="PSEUDO-001_MR1",
        destination="/archive",
        overwrite="append",
        content_type="application/zip",
    )
    assert isinstance(experiment, xnat_session.classes.MrSessionData)
    assert experiment.label == "PSEUDO-001_MR1"
    assert xnat_session.projects["P1"].subjects["PSEUDO-001"].id == experiment.subject_id
    scans = xnat_session.get_json(f"/data/experiments/{experiment.id}/scans")["ResultSet"]["Result"]
    assert sorted((s["ID"], s["xsiType"]) for s in scans) == [
        ("1", "xnat:mrScanData"),
        ("2", "xnat:mrScanData"),
    ]
    digests = set()
    for scan_id, count in (("1", 2), ("2", 1)):
        files = xnat_session.get_json(
            f"/data/experiments/{experiment.id}/scans/{scan_id}/resources/DICOM/files"
        )
        rows = files["ResultSet"]["Result"]
        assert len(rows) == count
        digests |= {r["digest"] for r in rows}
    assert digests == member_digests(upload)
    assert xnat_server.emulator.prearchive_sessions() == []


def test_import_answers_the_uri_as_text_with_crlf(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    response = xnat_session.post(
        "/data/services/import",
        data=make_dicom_zip(series=(1,)).read_bytes(),
        query={
            "import-handler": "DICOM-zip",
            "dest": "/archive",
            "project": "P1",
            "subject": "S",
            "session": "E",
        },
        headers={"Content-Type": "application/zip"},
    )
    experiment = xnat_server.emulator.experiment("P1", "E")
    assert (
        response.text == f"/data/archive/projects/P1/subjects/{experiment.data_fields['subject_ID']}"
        f"/experiments/{experiment.id}\r\n"
    )
    # The handle's request log shows what the client sent, for tests of our uploader's parameters.
    logged = next(r for r in xnat_server.emulator.requests if r["path"] == "/data/services/import")
    assert (logged["query"]["dest"], logged["query"]["session"], logged["status"]) == ("/archive", "E", 200)


def test_import_to_prearchive_then_archive(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    pending = xnat_session.services.import_(
        make_dicom_zip(series=(3,)),
        project="P1",
        subject="S1",
        experiment="E1",
        destination="/prearchive",
        content_type="application/zip",
    )
    assert isinstance(pending, xnat.prearchive.PrearchiveSession)
    listed = xnat_session.prearchive.sessions(project="P1")
    assert [(s.label, s.subject, s.status) for s in listed] == [("E1", "S1", "READY")]
    assert [s.id for s in listed[0].scans] == ["1"]
    assert listed[0].scans[0].resources["DICOM"].file_count == 3
    with pytest.raises(KeyError):
        xnat_server.emulator.experiment("P1", "E1")

    experiment = listed[0].archive(subject="S1", experiment="E1")
    assert experiment.label == "E1"
    assert xnat_session.prearchive.sessions() == []
    assert len(xnat_server.emulator.session_files("P1", "E1")["1"]) == 3


def test_existing_session_needs_overwrite_append_or_delete(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    params = {
        "project": "P1",
        "subject": "S1",
        "experiment": "E1",
        "destination": "/archive",
        "content_type": "application/zip",
    }
    study = "1.2.826.0.1.3680043.8.498.1"
    xnat_session.services.import_(make_dicom_zip(series=(1,), study_uid=study), **params)

    with pytest.raises(XNATUploadError, match="409"):
        xnat_session.services.import_(
            make_dicom_zip(series=(1,), study_uid=study), overwrite="none", **params
        )

    xnat_session.services.import_(
        make_dicom_zip(series=(2,), study_uid=study, first_series_number=5), overwrite="append", **params
    )
    files = xnat_server.emulator.session_files("P1", "E1")
    assert {k: len(v) for k, v in files.items()} == {"1": 1, "5": 2}

    xnat_session.services.import_(make_dicom_zip(series=(1,), study_uid=study), overwrite="delete", **params)
    assert {k: len(v) for k, v in xnat_server.emulator.session_files("P1", "E1").items()} == {"1": 1}


def test_bad_member_gives_400_and_leaves_earlier_files_in_the_prearchive(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    with pytest.raises(XNATUploadError, match="400") as failure:
        xnat_session.services.import_(
            make_dicom_zip(series=(4,), bad_member_at=2),
            project="P1",
            subject="S1",
            experiment="E1",
            destination="/archive",
            content_type="application/zip",
        )
    assert "notes.txt" in str(failure.value)
    with pytest.raises(KeyError):
        xnat_server.emulator.experiment("P1", "E1")
    [partial] = xnat_server.emulator.prearchive_sessions("P1")
    assert (partial.status, xnat_server.emulator.prearchive_file_count(partial)) == ("RECEIVING", 2)
    # xnatpy hides sessions still receiving, as it does on a real XNAT.
    assert xnat_session.prearchive.sessions() == []
    assert len(xnat_session.prearchive.sessions(allow_receiving=True)) == 1
    # Once XNAT's idle timeout has passed, the partial session can be archived or deleted as usual.
    assert xnat_server.emulator.settle_prearchive() == 1
    [leftover] = xnat_session.prearchive.sessions()
    leftover.delete()
    assert xnat_server.emulator.prearchive_sessions() == []


def test_ignore_unparsable_skips_the_bad_member(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    xnat_session.services.import_(
        make_dicom_zip(series=(4,), bad_member_at=2),
        project="P1",
        subject="S1",
        experiment="E1",
        destination="/archive",
        content_type="application/zip",
        ignore_unparsable=True,
    )
    assert len(xnat_server.emulator.session_files("P1", "E1")["1"]) == 4


def test_not_a_zip_is_refused(xnat_server: XnatServer, xnat_session: xnat.session.XNATSession) -> None:
    xnat_server.emulator.create_project("P1")
    with pytest.raises(XNATUploadError, match="400"):
        xnat_session.services.import_(
            data=b"PK but not really a zip",
            project="P1",
            destination="/archive",
            content_type="application/zip",
        )


def test_import_into_read_only_or_foreign_project_is_forbidden(
    xnat_server: XnatServer, make_dicom_zip: MakeZip
) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("RO")
    emulator.make_read_only("RO")
    emulator.create_project("OTHER")
    emulator.add_user("carol", "carol-pw", roles={"OTHER": "collaborator"})
    for login, password, project in (("admin", "admin", "RO"), ("carol", "carol-pw", "OTHER")):
        with (
            xnat.connect(xnat_server.url, user=login, password=password, loglevel="ERROR") as session,
            pytest.raises(XNATUploadError, match="403"),
        ):
            session.services.import_(
                make_dicom_zip(), project=project, destination="/archive", content_type="application/zip"
            )
    assert emulator.prearchive_sessions() == []


def test_patient_comments_route_the_session(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("ROUTED")
    experiment = xnat_session.services.import_(
        make_dicom_zip(series=(1,), comments="Project: ROUTED Subject: SUBJ-9 Session: SUBJ-9_CT"),
        destination="/archive",
        content_type="application/zip",
    )
    assert (experiment.project, experiment.label) == ("ROUTED", "SUBJ-9_CT")
    assert xnat_server.emulator.subject("ROUTED", "SUBJ-9").id == experiment.subject_id


def test_dropped_connection_mid_upload_stores_nothing(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    xnat_server.emulator.drop_next_import(after_bytes=1)
    upload = make_dicom_zip(series=(2,))
    with pytest.raises(requests.exceptions.ConnectionError):
        xnat_session.services.import_(
            upload,
            project="P1",
            subject="S1",
            experiment="E1",
            destination="/archive",
            content_type="application/zip",
        )
    assert xnat_server.emulator.prearchive_sessions() == []
    with pytest.raises(KeyError):
        xnat_server.emulator.experiment("P1", "E1")
    # The fault fired once; the retry goes through.
    xnat_session.services.import_(
        upload,
        project="P1",
        subject="S1",
        experiment="E1",
        destination="/archive",
        content_type="application/zip",
    )
    assert len(xnat_server.emulator.session_files("P1", "E1")["1"]) == 2


def test_injected_server_error_on_import_then_retry(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    xnat_server.emulator.fail_next(1, r"^/data/services/import$", 503)
    upload = make_dicom_zip(series=(1,))
    kwargs = {
        "project": "P1",
        "subject": "S1",
        "experiment": "E1",
        "destination": "/archive",
        "content_type": "application/zip",
    }
    with pytest.raises(XNATUploadError, match="503"):
        xnat_session.services.import_(upload, **kwargs)
    xnat_session.services.import_(upload, **kwargs)
    assert list(xnat_server.emulator.session_files("P1", "E1")) == ["1"]


def test_import_accepts_a_chunked_streamed_tgz_body(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip, tmp_path: Path
) -> None:
    """Our uploader streams from disk with chunked encoding; XNAT's DICOM-zip handler also takes tgz."""
    xnat_server.emulator.create_project("P1")
    with zipfile.ZipFile(make_dicom_zip(series=(2,))) as zipped:
        zipped.extractall(tmp_path / "members")
    bundle = tmp_path / "session.tgz"
    with tarfile.open(bundle, "w:gz") as tar:
        for member in sorted((tmp_path / "members").iterdir()):
            tar.add(member, arcname=member.name)

    def chunks() -> Iterator[bytes]:
        with bundle.open("rb") as handle:
            while chunk := handle.read(256):
                yield chunk

    response = xnat_session.interface.post(
        f"{xnat_server.url}/data/services/import",
        params={
            "import-handler": "DICOM-zip",
            "dest": "/archive",
            "project": "P1",
            "subject": "S",
            "session": "E",
        },
        data=chunks(),
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert len(xnat_server.emulator.session_files("P1", "E")["1"]) == 2


def test_gradual_dicom_adds_one_file_per_request(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    with zipfile.ZipFile(make_dicom_zip(series=(3,))) as zipped:
        members = [zipped.read(name) for name in zipped.namelist()]
    for member in members:
        xnat_session.services.import_(
            data=member,
            import_handler="gradual-DICOM",
            project="P1",
            subject="S",
            experiment="E",
            destination="/archive",
            overwrite="append",
            content_type="application/dicom",
        )
    digests = set(xnat_server.emulator.session_files("P1", "E")["1"].values())
    assert digests == {hashlib.md5(m).hexdigest() for m in members}


def test_concurrent_imports_of_different_sessions_all_land(
    xnat_server: XnatServer, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    uploads = [make_dicom_zip(series=(3, 2)) for _ in range(4)]
    cookie = requests.post(
        f"{xnat_server.url}/data/services/auth", data={"username": "admin", "password": "admin"}, timeout=10
    ).text

    def send(index: int) -> int:
        response = requests.post(
            f"{xnat_server.url}/data/services/import",
            params={"dest": "/archive", "project": "P1", "subject": f"S{index}", "session": f"E{index}"},
            data=uploads[index].read_bytes(),
            cookies={"JSESSIONID": cookie},
            timeout=60,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(send, range(4))) == [200] * 4
    for index in range(4):
        files = xnat_server.emulator.session_files("P1", f"E{index}")
        assert {k: len(v) for k, v in files.items()} == {"1": 3, "2": 2}


def test_gradual_dicom_to_prearchive_merges_into_one_session(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession, make_dicom_zip: MakeZip
) -> None:
    xnat_server.emulator.create_project("P1")
    with zipfile.ZipFile(make_dicom_zip(series=(3,))) as zipped:
        members = [zipped.read(name) for name in zipped.namelist()]
    for member in members:
        xnat_session.services.import_(
            data=member,
            import_handler="gradual-DICOM",
            project="P1",
            subject="S",
            experiment="E",
            destination="/prearchive",
            content_type="application/dicom",
        )
    [session] = xnat_server.emulator.prearchive_sessions("P1")
    assert xnat_server.emulator.prearchive_file_count(session) == 3
