"""Projects, subjects, experiments, custom fields, resources and permissions through the real xnatpy."""

from __future__ import annotations

import hashlib

import pytest
import xnat
from xnat.exceptions import XNATResponseError, XNATUploadError

from tests.support.xnat_emulator import Role
from tests.support.xnat_fixture import XnatServer

pytestmark = pytest.mark.integration


def connect(server: XnatServer, user: str = "admin", password: str = "admin") -> xnat.session.XNATSession:
    return xnat.connect(server.url, user=user, password=password, loglevel="ERROR")


def test_create_project_subject_and_experiment(xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="EUCAIM1", name="EUCAIM one")
    subject = xnat_session.classes.SubjectData(parent=project, label="PSEUDO-001")
    experiment = xnat_session.classes.MrSessionData(parent=subject, label="PSEUDO-001_MR1")

    assert subject.id.startswith("XNAT_S")
    assert experiment.id.startswith("XNAT_E")
    assert xnat_session.projects["EUCAIM1"].name == "EUCAIM one"
    assert list(project.subjects.key_map) == ["PSEUDO-001"]
    found = project.experiments["PSEUDO-001_MR1"]
    assert isinstance(found, xnat_session.classes.MrSessionData)
    # The site-wide shortcuts answer the same object.
    by_id = xnat_session.get_json(f"/data/experiments/{experiment.id}")["items"][0]
    assert by_id["meta"]["xsi:type"] == "xnat:mrSessionData"
    assert by_id["data_fields"]["subject_ID"] == subject.id
    assert (
        xnat_session.get_json(f"/data/subjects/{subject.id}")["items"][0]["data_fields"]["label"]
        == "PSEUDO-001"
    )


def test_experiment_needs_a_known_xsi_type(xnat_session: xnat.session.XNATSession) -> None:
    xnat_session.put("/data/projects/P1")
    subject_id = xnat_session.put("/data/projects/P1/subjects/S1").text
    with pytest.raises(XNATResponseError) as failure:
        xnat_session.put(
            f"/data/projects/P1/subjects/{subject_id}/experiments/E1", query={"xsiType": "xnat:nonsense"}
        )
    assert failure.value.status_code == 400


def test_experiment_label_is_unique_within_the_project(xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    first = xnat_session.classes.SubjectData(parent=project, label="S1")
    second = xnat_session.classes.SubjectData(parent=project, label="S2")
    experiment = xnat_session.classes.CtSessionData(parent=first, label="E1")
    # A PUT on the existing label under its own subject updates it...
    again = xnat_session.put(f"{first.fulluri}/experiments/E1", query={"xnat:ctSessionData/note": "re-sent"})
    assert (again.status_code, again.text) == (200, experiment.id)
    # ...under another subject it is refused.
    with pytest.raises(XNATResponseError) as failure:
        xnat_session.put(f"{second.fulluri}/experiments/E1", query={"xsiType": "xnat:ctSessionData"})
    assert failure.value.status_code == 409


def test_custom_fields_round_trip(xnat_server: XnatServer, xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    subject = xnat_session.classes.SubjectData(parent=project, label="S1")
    subject.fields["age"] = "63"
    subject.fields["Diagnosis"] = "adenocarcinoma"
    experiment = xnat_session.classes.CtSessionData(parent=subject, label="E1")
    experiment.fields["tnm"] = "T2N0M0"

    with connect(xnat_server) as other:
        again = other.projects["P1"].subjects["S1"]
        # XNAT stores custom variable names in lower case.
        assert dict(again.fields) == {"age": "63", "diagnosis": "adenocarcinoma"}
        assert dict(other.projects["P1"].experiments["E1"].fields) == {"tnm": "T2N0M0"}
        children = other.get_json(f"/data/projects/P1/subjects/{subject.id}")["items"][0]["children"]
        fields = next(c for c in children if c["field"] == "fields/field")
        assert {"name": "age", "field": "63"} in [i["data_fields"] for i in fields["items"]]

    subject.fields["age"] = "64"
    subject.clearcache()
    assert subject.fields["age"] == "64"
    assert xnat_server.emulator.subject("P1", "S1").custom_fields()["age"] == "64"


def test_resource_upload_lists_files_with_md5_digests(xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    subject = xnat_session.classes.SubjectData(parent=project, label="S1")
    resource = subject.create_resource("CLINICAL", format="JSON")
    record = b'{"age": 63, "sex": "F"}'
    resource.upload_data(record, "clinical.json")

    listing = xnat_session.get_json(f"{resource.uri}/files")["ResultSet"]["Result"]
    assert [(f["Name"], f["Size"], f["digest"]) for f in listing] == [
        ("clinical.json", str(len(record)), hashlib.md5(record).hexdigest())
    ]
    resources = xnat_session.get_json(f"/data/projects/P1/subjects/{subject.id}/resources")["ResultSet"][
        "Result"
    ]
    assert [(r["label"], r["format"], r["file_count"]) for r in resources] == [("CLINICAL", "JSON", "1")]
    downloaded = xnat_session.get(listing[0]["URI"]).content
    assert downloaded == record


def test_upload_over_an_existing_file_needs_overwrite(xnat_session: xnat.session.XNATSession) -> None:
    xnat_session.put("/data/projects/P1")
    uri = "/data/projects/P1/resources/NOTES/files/a.txt"
    xnat_session.upload_string(uri, b"first")
    with pytest.raises(XNATUploadError, match="409"):
        xnat_session.upload_string(uri, b"second")
    xnat_session.upload_string(uri, b"second", overwrite=True)
    listing = xnat_session.get_json("/data/projects/P1/resources/NOTES/files")["ResultSet"]["Result"]
    assert [f["digest"] for f in listing] == [hashlib.md5(b"second").hexdigest()]


def test_accessibility_via_raw_put_and_get(xnat_session: xnat.session.XNATSession) -> None:
    xnat_session.put("/data/projects/P1")
    assert xnat_session.get("/data/projects/P1/accessibility").text == "private"
    xnat_session.put("/data/projects/P1/accessibility/protected")
    assert xnat_session.get("/data/projects/P1/accessibility").text == "protected"
    with pytest.raises(XNATResponseError) as failure:
        xnat_session.put("/data/projects/P1/accessibility/secret")
    assert failure.value.status_code == 400


def test_roles_decide_who_sees_reads_and_writes(xnat_server: XnatServer) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("PRIV")
    emulator.create_project("SHARED")
    emulator.add_user("alice", "alice-pw", roles={"SHARED": Role.MEMBER})
    emulator.add_user("bob", "bob-pw", roles={"SHARED": Role.COLLABORATOR})
    with connect(xnat_server, "alice", "alice-pw") as alice:
        assert list(alice.projects.keys()) == ["SHARED"]
        alice.put("/data/projects/SHARED/subjects/S1")
        with pytest.raises(XNATResponseError) as hidden:
            alice.get_json("/data/projects/PRIV")
        assert hidden.value.status_code == 404
        with pytest.raises(XNATResponseError) as not_owner:
            alice.put("/data/projects/SHARED/accessibility/public")
        assert not_owner.value.status_code == 403
    with connect(xnat_server, "bob", "bob-pw") as bob:
        assert list(bob.projects["SHARED"].subjects.key_map) == ["S1"]
        with pytest.raises(XNATResponseError) as read_only:
            bob.put("/data/projects/SHARED/subjects/S2")
        assert read_only.value.status_code == 403


def test_read_only_project_refuses_writes_even_from_admin(
    xnat_server: XnatServer, xnat_session: xnat.session.XNATSession
) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    xnat_server.emulator.make_read_only("P1")
    with pytest.raises(XNATResponseError) as failure:
        xnat_session.classes.SubjectData(parent=project, label="S1")
    assert failure.value.status_code == 403
    assert "read-only" in failure.value.text
    assert xnat_session.get_json("/data/projects/P1/subjects")["ResultSet"]["Result"] == []


def test_delete_experiment_and_file(xnat_server: XnatServer, xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    subject = xnat_session.classes.SubjectData(parent=project, label="S1")
    experiment = xnat_session.classes.MrSessionData(parent=subject, label="E1")
    resource = experiment.create_resource("NOTES")
    resource.upload_data(b"a", "a.txt")
    resource.upload_data(b"b", "b.txt")
    blobs = list((xnat_server.emulator.store.blobs).iterdir())
    assert len(blobs) == 2

    resource.files["a.txt"].delete()
    assert [f["Name"] for f in xnat_session.get_json(f"{resource.uri}/files")["ResultSet"]["Result"]] == [
        "b.txt"
    ]
    # xnatpy's own delete() trips over its client cache for freshly created objects; send its request.
    xnat_session.delete(experiment.fulluri, query={"removeFiles": "true"})
    assert xnat_session.get_json("/data/projects/P1/experiments")["ResultSet"]["Result"] == []
    assert list(xnat_server.emulator.store.blobs.iterdir()) == []


def test_listings_filter_by_column(xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    for label in ("A-1", "A-2", "B-1"):
        xnat_session.classes.SubjectData(parent=project, label=label)
    rows = xnat_session.get_json("/data/projects/P1/subjects", query={"label": "A-*"})["ResultSet"]["Result"]
    assert sorted(r["label"] for r in rows) == ["A-1", "A-2"]
    only_ids = xnat_session.get_json("/data/projects/P1/subjects", query={"label": "B-1", "columns": "ID"})
    assert [list(r) for r in only_ids["ResultSet"]["Result"]] == [["ID"]]


def test_doctor_style_checks_access_level_and_prearchive_code(xnat_server: XnatServer) -> None:
    xnat_server.emulator.create_project("P1")
    xnat_server.emulator.add_user("dana", "dana-pw", roles={"P1": Role.MEMBER})
    with connect(xnat_server, "dana", "dana-pw") as dana:
        assert dana.access_levels == {"P1": "Members"}
        assert dana.get("/data/projects/P1/prearchive_code").text == "0"
        with pytest.raises(XNATResponseError) as failure:
            dana.put("/data/projects/P1/prearchive_code/4")
        assert failure.value.status_code == 403
    with connect(xnat_server) as admin:
        admin.put("/data/projects/P1/prearchive_code/4")
        assert admin.get("/data/projects/P1/prearchive_code").text == "4"


def test_xpath_edits_fields_and_refuses_foreign_roots(xnat_session: xnat.session.XNATSession) -> None:
    xnat_session.put("/data/projects/P1")
    subject_id = xnat_session.put("/data/projects/P1/subjects/S1").text
    uri = f"/data/projects/P1/subjects/{subject_id}"
    xnat_session.put(uri, query={"xnat:subjectData/group": "control", "xnat:subjectData/src": "x"})
    xnat_session.put(uri, query={"xnat:subjectData/src": "NULL"})
    fields = xnat_session.get_json(uri)["items"][0]["data_fields"]
    assert (fields.get("group"), "src" in fields) == ("control", False)
    with pytest.raises(XNATResponseError) as failure:
        xnat_session.put(uri, query={"xnat:projectData/name": "sneaky"})
    assert failure.value.status_code == 400


def test_files_in_subfolders_and_unknown_urls(xnat_session: xnat.session.XNATSession) -> None:
    xnat_session.put("/data/projects/P1")
    xnat_session.upload_string("/data/projects/P1/resources/NIFTI/files/sub/dir/t1.nii.gz", b"nifti")
    rows = xnat_session.get_json("/data/projects/P1/resources/NIFTI/files")["ResultSet"]["Result"]
    assert [(r["Name"], r["URI"].rsplit("/files/", 1)[1]) for r in rows] == [
        ("t1.nii.gz", "sub/dir/t1.nii.gz")
    ]
    assert xnat_session.get(rows[0]["URI"]).content == b"nifti"
    for missing in ("/data/projects/NOPE", "/data/projects/P1/subjects/NOPE", "/data/projects/P1/widgets"):
        with pytest.raises(XNATResponseError) as failure:
            xnat_session.get(missing)
        assert failure.value.status_code == 404, missing


def test_resources_on_experiments_and_scans(xnat_session: xnat.session.XNATSession) -> None:
    project = xnat_session.classes.ProjectData(parent=xnat_session, id_="P1", name="P1")
    subject = xnat_session.classes.SubjectData(parent=project, label="S1")
    experiment = xnat_session.classes.MrSessionData(parent=subject, label="E1")
    scan = xnat_session.classes.MrScanData(parent=experiment, id="7", type="T1w", series_description="T1w")
    experiment.create_resource("NIFTI", format="NIFTI").upload_data(b"volume", "S1_T1w.nii.gz")
    scan.create_resource("SNAPSHOTS").upload_data(b"png", "thumb.png")

    experiment.clearcache()
    assert list(experiment.resources.key_map) == ["NIFTI"]
    assert [s.type for s in experiment.scans.values()] == ["T1w"]
    scan_files = xnat_session.get_json(f"/data/experiments/{experiment.id}/scans/7/resources/SNAPSHOTS/files")
    assert [r["Name"] for r in scan_files["ResultSet"]["Result"]] == ["thumb.png"]
    session_files = xnat_session.get_json(f"/data/experiments/{experiment.id}/resources/NIFTI/files")
    assert [r["digest"] for r in session_files["ResultSet"]["Result"]] == [hashlib.md5(b"volume").hexdigest()]
