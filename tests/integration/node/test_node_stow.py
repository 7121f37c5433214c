"""STOW-RS against a real node: statuses, per-instance reasons, refusal of identified data, idempotence."""

from __future__ import annotations

import hashlib
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import func, select

from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import StoreResponse, parse_store_response
from eucaim.node.models import Instance, Series, Study
from tests.support.node_server import SeededNode, deidentified_instance, running_node, stow_body
from tests.support.node_store import StoredObject


def _post(
    seeded: SeededNode, parts: list[Path | bytes], *, study: str | None = None, raw: bytes | None = None
) -> httpx.Response:
    content_type, body = stow_body(parts)
    url = f"{seeded.dicomweb_url}/studies" + (f"/{study}" if study else "")
    return httpx.post(
        url,
        content=raw if raw is not None else body,
        headers={"Authorization": f"Bearer {seeded.ingester_token}", "Content-Type": content_type},
    )


def _parsed(response: httpx.Response) -> StoreResponse:
    assert response.headers["content-type"] == "application/dicom+json"
    return parse_store_response(response.json())


def _stored(seeded: SeededNode) -> dict[str, StoredObject]:
    """What the node's store holds (whichever store the session runs on), by key."""
    return seeded.node.stored_objects()


def _count(seeded: SeededNode, model: type) -> int:
    with seeded.node.context.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_all_stored_is_200_with_retrieve_urls_and_files_in_the_documented_layout(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    study, series = generate_uid(), generate_uid()
    files = [tmp_path / f"{n}.dcm" for n in range(3)]
    datasets = [
        deidentified_instance(f, study_uid=study, series_uid=series, instance_number=n)
        for n, f in enumerate(files)
    ]
    response = _post(seeded_node, list(files))
    assert response.status_code == 200
    result = _parsed(response)
    assert result.retrieve_url == f"{seeded_node.dicomweb_url}/studies/{study}"
    assert {s.sop_instance_uid for s in result.stored} == {d.SOPInstanceUID for d in datasets}
    assert result.failed == () and result.other_failures == ()
    urls = {s.sop_instance_uid: s.retrieve_url for s in result.stored}
    folder = f"test-bb/{study}/{series}"
    stored = _stored(seeded_node)
    assert set(stored) == {f"{folder}/{d.SOPInstanceUID}.dcm" for d in datasets}
    with seeded_node.node.context.sessions() as session:
        rows = {r.sop_instance_uid: r for r in session.scalars(select(Instance))}
    for ds, f in zip(datasets, files, strict=True):
        uid = ds.SOPInstanceUID
        assert urls[uid] == f"{seeded_node.dicomweb_url}/studies/{study}/series/{series}/instances/{uid}"
        assert seeded_node.node.read_object(f"{folder}/{uid}.dcm") == f.read_bytes()
        row = rows[uid]
        assert row.storage_key == f"{folder}/{uid}.dcm"
        assert row.sha256 == stored[row.storage_key].sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
        assert row.size == stored[row.storage_key].size == f.stat().st_size
    assert seeded_node.node.leftovers() == []
    assert (_count(seeded_node, Study), _count(seeded_node, Series)) == (1, 1)
    # Nothing is left behind in the spool folder.
    assert list(seeded_node.node.settings.tmp_dir.iterdir()) == []


def test_instance_without_identity_removed_is_refused_and_not_stored(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    good = deidentified_instance(tmp_path / "good.dcm")
    bad = deidentified_instance(tmp_path / "bad.dcm", identity_removed=None)
    no = deidentified_instance(tmp_path / "no.dcm", identity_removed="NO")
    response = _post(seeded_node, [tmp_path / "good.dcm", tmp_path / "bad.dcm", tmp_path / "no.dcm"])
    assert response.status_code == 202
    result = _parsed(response)
    assert [s.sop_instance_uid for s in result.stored] == [good.SOPInstanceUID]
    assert {f.sop_instance_uid: f.failure_reason for f in result.failed} == {
        bad.SOPInstanceUID: FailureReason.NOT_DEIDENTIFIED,
        no.SOPInstanceUID: FailureReason.NOT_DEIDENTIFIED,
    }
    assert all("PatientIdentityRemoved" in f.comment for f in result.failed)
    assert [key.rpartition("/")[2] for key in _stored(seeded_node)] == [f"{good.SOPInstanceUID}.dcm"]
    assert _count(seeded_node, Instance) == 1


def test_only_identified_instances_is_409_and_nothing_stored(seeded_node: SeededNode, tmp_path: Path) -> None:
    deidentified_instance(tmp_path / "bad.dcm", identity_removed=None)
    response = _post(seeded_node, [tmp_path / "bad.dcm"])
    assert response.status_code == 409
    assert _parsed(response).failed[0].failure_reason == FailureReason.NOT_DEIDENTIFIED
    assert _stored(seeded_node) == {}
    assert (_count(seeded_node, Study), _count(seeded_node, Instance)) == (0, 0)


def test_study_uid_in_url_must_match_each_instance(seeded_node: SeededNode, tmp_path: Path) -> None:
    study = generate_uid()
    inside = deidentified_instance(tmp_path / "in.dcm", study_uid=study)
    outside = deidentified_instance(tmp_path / "out.dcm")
    response = _post(seeded_node, [tmp_path / "in.dcm", tmp_path / "out.dcm"], study=study)
    assert response.status_code == 202
    result = _parsed(response)
    assert result.retrieve_url == f"{seeded_node.dicomweb_url}/studies/{study}"
    assert [s.sop_instance_uid for s in result.stored] == [inside.SOPInstanceUID]
    assert [(f.sop_instance_uid, f.failure_reason) for f in result.failed] == [
        (outside.SOPInstanceUID, FailureReason.PROCESSING_FAILURE)
    ]
    only_wrong = _post(seeded_node, [tmp_path / "out.dcm"], study=study)
    assert only_wrong.status_code == 409


def test_resending_identical_instances_stores_nothing_twice(seeded_node: SeededNode, tmp_path: Path) -> None:
    files = [tmp_path / f"{n}.dcm" for n in range(2)]
    datasets = [deidentified_instance(f) for f in files]
    first = _post(seeded_node, list(files))
    stored_before = _stored(seeded_node)
    time.sleep(1.1)  # an object written again would show it, even where a store's clock has seconds
    second = _post(seeded_node, list(files))
    assert (first.status_code, second.status_code) == (200, 200)
    assert {s.sop_instance_uid for s in _parsed(second).stored} == {d.SOPInstanceUID for d in datasets}
    # Same objects, untouched (not even rewritten with the same bytes), and one index row each.
    assert len(stored_before) == 2
    assert _stored(seeded_node) == stored_before
    assert _count(seeded_node, Instance) == 2
    assert _count(seeded_node, Study) == 2


def test_same_uid_with_other_bytes_is_refused_as_duplicate_and_first_kept(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    sop, study, series = generate_uid(), generate_uid(), generate_uid()
    kw = {"sop_uid": sop, "study_uid": study, "series_uid": series}
    deidentified_instance(tmp_path / "a.dcm", pixel_seed=1, **kw)
    deidentified_instance(tmp_path / "b.dcm", pixel_seed=2, **kw)
    assert _post(seeded_node, [tmp_path / "a.dcm"]).status_code == 200
    response = _post(seeded_node, [tmp_path / "b.dcm"])
    assert response.status_code == 409
    failure = _parsed(response).failed[0]
    assert (failure.sop_instance_uid, failure.failure_reason) == (sop, FailureReason.DUPLICATE_SOP_INSTANCE)
    (stored,) = _stored(seeded_node).values()
    assert seeded_node.node.read_object(stored.key) == (tmp_path / "a.dcm").read_bytes()
    assert seeded_node.node.leftovers() == []  # the refused copy was not left behind either


def test_garbage_body_is_400_with_a_reason(seeded_node: SeededNode) -> None:
    response = _post(seeded_node, [], raw=b"this is not multipart at all")
    assert response.status_code == 400
    (failure,) = _parsed(response).other_failures
    assert failure.failure_reason == FailureReason.CANNOT_UNDERSTAND
    assert "boundary" in failure.comment


def test_non_dicom_part_is_reported_next_to_a_stored_one(seeded_node: SeededNode, tmp_path: Path) -> None:
    good = deidentified_instance(tmp_path / "good.dcm")
    response = _post(seeded_node, [tmp_path / "good.dcm", b"plain text, not DICOM"])
    assert response.status_code == 202
    result = _parsed(response)
    assert [s.sop_instance_uid for s in result.stored] == [good.SOPInstanceUID]
    (other,) = result.other_failures
    assert other.failure_reason == FailureReason.CANNOT_UNDERSTAND
    assert other.comment.startswith("part 2")


def test_only_non_dicom_parts_is_400(seeded_node: SeededNode) -> None:
    response = _post(seeded_node, [b"not dicom", b"\x00" * 200])
    assert response.status_code == 400
    assert len(_parsed(response).other_failures) == 2


def test_truncated_body_keeps_whole_parts_and_reports_the_cut_one(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    whole = deidentified_instance(tmp_path / "whole.dcm")
    deidentified_instance(tmp_path / "cut.dcm")
    _, body = stow_body([tmp_path / "whole.dcm", tmp_path / "cut.dcm"], boundary="B0UNDARY")
    cut = body[: len(body) - 100]  # inside the second part's pixel data
    response = httpx.post(
        f"{seeded_node.dicomweb_url}/studies",
        content=cut,
        headers={
            "Authorization": f"Bearer {seeded_node.ingester_token}",
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=B0UNDARY',
        },
    )
    assert response.status_code == 202
    result = _parsed(response)
    assert [s.sop_instance_uid for s in result.stored] == [whole.SOPInstanceUID]
    (other,) = result.other_failures
    assert "part 2 is incomplete" in other.comment
    assert len(_stored(seeded_node)) == 1


def test_truncated_dicom_inside_a_whole_part_is_refused(seeded_node: SeededNode, tmp_path: Path) -> None:
    ds = deidentified_instance(tmp_path / "i.dcm")
    data = (tmp_path / "i.dcm").read_bytes()
    response = _post(seeded_node, [data[:-40]])
    assert response.status_code == 400
    failure = _parsed(response).failed[0]
    assert failure.sop_instance_uid == ds.SOPInstanceUID
    assert failure.failure_reason == FailureReason.CANNOT_UNDERSTAND
    assert "truncated" in failure.comment
    assert _stored(seeded_node) == {}


def test_wrong_media_types_are_415(seeded_node: SeededNode, tmp_path: Path) -> None:
    deidentified_instance(tmp_path / "i.dcm")
    auth = {"Authorization": f"Bearer {seeded_node.ingester_token}"}
    url = f"{seeded_node.dicomweb_url}/studies"
    single = httpx.post(
        url, content=(tmp_path / "i.dcm").read_bytes(), headers=auth | {"Content-Type": "application/dicom"}
    )
    assert single.status_code == 415
    assert single.headers["content-type"] == "application/problem+json"
    json_parts = httpx.post(
        url,
        content=b"--x\r\n\r\n{}\r\n--x--\r\n",
        headers=auth | {"Content-Type": 'multipart/related; type="application/dicom+json"; boundary=x'},
    )
    assert json_parts.status_code == 415
    assert _stored(seeded_node) == {}


def test_missing_boundary_is_400(seeded_node: SeededNode) -> None:
    response = httpx.post(
        f"{seeded_node.dicomweb_url}/studies",
        content=b"--x--",
        headers={
            "Authorization": f"Bearer {seeded_node.ingester_token}",
            "Content-Type": 'multipart/related; type="application/dicom"',
        },
    )
    assert response.status_code == 400
    assert "boundary" in response.json()["detail"]


def test_body_is_streamed_in_small_chunks(seeded_node: SeededNode, tmp_path: Path) -> None:
    files = [tmp_path / f"{n}.dcm" for n in range(4)]
    for f in files:
        deidentified_instance(f)
    content_type, body = stow_body(list(files))

    def trickle() -> object:
        for i in range(0, len(body), 97):  # boundaries and headers split across chunks
            yield body[i : i + 97]

    response = httpx.post(
        f"{seeded_node.dicomweb_url}/studies",
        content=trickle(),  # type: ignore[arg-type]
        headers={"Authorization": f"Bearer {seeded_node.ingester_token}", "Content-Type": content_type},
    )
    assert response.status_code == 200
    assert len(_parsed(response).stored) == 4


def test_same_uid_twice_in_one_request(seeded_node: SeededNode, tmp_path: Path) -> None:
    sop, study, series = generate_uid(), generate_uid(), generate_uid()
    kw = {"sop_uid": sop, "study_uid": study, "series_uid": series}
    deidentified_instance(tmp_path / "a.dcm", pixel_seed=1, **kw)
    deidentified_instance(tmp_path / "b.dcm", pixel_seed=2, **kw)
    same = _post(seeded_node, [tmp_path / "a.dcm", tmp_path / "a.dcm"])
    assert same.status_code == 200
    assert [s.sop_instance_uid for s in _parsed(same).stored] == [sop]
    other = _post(seeded_node, [tmp_path / "b.dcm", tmp_path / "b.dcm"])
    assert other.status_code == 409
    assert [f.failure_reason for f in _parsed(other).failed] == [FailureReason.DUPLICATE_SOP_INSTANCE] * 2
    (stored,) = _stored(seeded_node).values()
    assert seeded_node.node.read_object(stored.key) == (tmp_path / "a.dcm").read_bytes()
    assert _count(seeded_node, Instance) == 1


def test_new_and_held_instances_mix_in_one_request(seeded_node: SeededNode, tmp_path: Path) -> None:
    first = deidentified_instance(tmp_path / "1.dcm")
    second = deidentified_instance(tmp_path / "2.dcm")
    assert _post(seeded_node, [tmp_path / "1.dcm"]).status_code == 200
    response = _post(seeded_node, [tmp_path / "1.dcm", tmp_path / "2.dcm"])
    assert response.status_code == 200
    assert {s.sop_instance_uid for s in _parsed(response).stored} == {
        first.SOPInstanceUID,
        second.SOPInstanceUID,
    }
    assert _count(seeded_node, Instance) == 2


def test_client_vanishing_mid_body_leaves_nothing_behind(
    seeded_node: SeededNode, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="eucaim.node")
    deidentified_instance(tmp_path / "i.dcm")
    content_type, body = stow_body([tmp_path / "i.dcm"])
    host, port = seeded_node.url.removeprefix("http://").split(":")
    path = f"/biobanks/{seeded_node.biobank}/dicom-web/studies"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {seeded_node.ingester_token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body) + 10_000}\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port))) as raw:
        raw.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)  # let the node start spooling before the connection drops
    deadline = time.monotonic() + 10
    while any(seeded_node.node.settings.tmp_dir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(seeded_node.node.settings.tmp_dir.iterdir()) == []
    assert _stored(seeded_node) == {}
    assert seeded_node.node.leftovers() == []
    assert httpx.get(f"{seeded_node.url}/health").json()["status"] == "ok"
    assert any("client disconnected mid-body" in r.getMessage() for r in caplog.records)


def test_bodies_over_the_limit_are_413_and_store_nothing(tmp_path: Path) -> None:
    files = [tmp_path / f"{n}.dcm" for n in range(3)]
    for f in files:
        deidentified_instance(f)
    content_type, body = stow_body(list(files))
    with running_node(tmp_path / "node", max_request_bytes=len(body) - 1) as node:
        token = node.add_user("ing", "data-ingester")
        node.create_biobank("bb", managers=["ing"])
        headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
        declared = httpx.post(f"{node.dicomweb_url('bb')}/studies", content=body, headers=headers)
        assert declared.status_code == 413
        assert "several smaller requests" in declared.json()["hint"]

        def chunked() -> Iterator[bytes]:
            yield from (body[i : i + 1000] for i in range(0, len(body), 1000))

        streamed = httpx.post(f"{node.dicomweb_url('bb')}/studies", content=chunked(), headers=headers)
        assert streamed.status_code == 413
        assert node.stored_objects() == {}
        assert list(node.settings.tmp_dir.iterdir()) == []
