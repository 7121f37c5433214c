"""Store Instances Response: what the node writes is what the ingest side reads back; statuses per PS3.18."""

from __future__ import annotations

import pydicom
import pytest

from eucaim.dicomweb.mediatype import parse_media_type
from eucaim.dicomweb.status import FailureReason, StowStatus, stow_http_status
from eucaim.dicomweb.store_response import (
    FailedInstance,
    StoredInstance,
    build_store_response,
    parse_store_response,
)
from eucaim.errors import UploadError

CT = "1.2.840.10008.5.1.4.1.1.2"


def test_round_trip_keeps_every_instance_and_reason() -> None:
    stored = [StoredInstance(CT, "1.2.3.1", "http://n/studies/1/series/2/instances/1.2.3.1")]
    failed = [
        FailedInstance(CT, "1.2.3.2", FailureReason.NOT_DEIDENTIFIED, "PatientIdentityRemoved is not YES"),
        FailedInstance(None, None, FailureReason.CANNOT_UNDERSTAND, "part 3 is incomplete"),
    ]
    body = build_store_response(retrieve_url="http://n/studies/1", stored=stored, failed=failed)
    result = parse_store_response(body)
    assert result.retrieve_url == "http://n/studies/1"
    assert result.stored == tuple(stored)
    assert result.failed == (failed[0],)
    assert result.other_failures == (failed[1],)


def test_body_is_valid_dicom_json_for_pydicom() -> None:
    body = build_store_response(
        retrieve_url=None,
        stored=[StoredInstance(CT, "1.2.3.1")],
        failed=[FailedInstance(CT, "1.2.3.2", FailureReason.DUPLICATE_SOP_INSTANCE)],
    )
    ds = pydicom.Dataset.from_json(body)
    assert ds.ReferencedSOPSequence[0].ReferencedSOPInstanceUID == "1.2.3.1"
    assert ds.FailedSOPSequence[0].FailureReason == 0x0111
    assert "RetrieveURL" not in ds


def test_long_comments_are_cut_to_lo_length() -> None:
    body = build_store_response(
        retrieve_url=None,
        stored=[],
        failed=[FailedInstance(CT, "1.2", FailureReason.PROCESSING_FAILURE, "x" * 100)],
    )
    comment = parse_store_response(body).failed[0].comment
    assert len(comment) == 64 and comment.endswith("…")


@pytest.mark.parametrize("body", [[], "text", None])
def test_bodies_that_are_not_objects_raise_upload_error(body: object) -> None:
    with pytest.raises(UploadError, match="not a DICOM JSON object"):
        parse_store_response(body)


def test_bad_failure_reason_raises_upload_error() -> None:
    body = {"00081198": {"vr": "SQ", "Value": [{"00081197": {"vr": "US", "Value": ["lots"]}}]}}
    with pytest.raises(UploadError, match="malformed"):
        parse_store_response(body)


@pytest.mark.parametrize(
    ("stored", "failures", "status"),
    [
        (3, [], StowStatus.ALL_STORED),
        (2, [FailureReason.NOT_DEIDENTIFIED], StowStatus.SOME_FAILED),
        (0, [FailureReason.NOT_DEIDENTIFIED], StowStatus.NONE_STORED_CONFLICT),
        (
            0,
            [FailureReason.PROCESSING_FAILURE, FailureReason.CANNOT_UNDERSTAND],
            StowStatus.NONE_STORED_CONFLICT,
        ),
        (0, [FailureReason.CANNOT_UNDERSTAND], StowStatus.BAD_REQUEST),
        (0, [], StowStatus.BAD_REQUEST),
        (1, [FailureReason.CANNOT_UNDERSTAND], StowStatus.SOME_FAILED),
    ],
)
def test_http_status_follows_ps318(stored: int, failures: list[int], status: StowStatus) -> None:
    assert stow_http_status(stored=stored, failures=failures) is status


def test_media_type_parsing() -> None:
    media = parse_media_type('Multipart/Related; TYPE="application/dicom"; boundary="a b;c"')
    assert media.type == "multipart/related"
    assert media.param("type") == "application/dicom"
    assert media.param("Boundary") == "a b;c"
    assert parse_media_type("").type == ""
    assert parse_media_type("application/dicom").params == {}
