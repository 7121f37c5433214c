"""The STOW-RS Store Instances Response (PS3.18 §10.5.3) as DICOM JSON: build it, and read it back.

Both programs use this module: the node builds the response, ``eucaim-ingest`` reads it to mark each
instance stored or refused. Attributes (keyword, tag):

- RetrieveURL (0008,1190): the study's WADO-RS URL, when one study UID is known;
- ReferencedSOPSequence (0008,1199): instances the node now holds, each with
  ReferencedSOPClassUID (0008,1150), ReferencedSOPInstanceUID (0008,1155) and RetrieveURL;
- FailedSOPSequence (0008,1198): refused instances, each with the two UIDs and FailureReason (0008,1197);
- OtherFailuresSequence (0008,119A): parts that could not be tied to an instance (unreadable,
  truncated, wrong media type), each with FailureReason.

Every failure item also carries ErrorComment (0000,0902): a short human-readable reason. It is not
part of the Store Instances Response Module; readers that do not know it ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eucaim.errors import UploadError

RETRIEVE_URL = "00081190"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
OTHER_FAILURES_SEQUENCE = "0008119A"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
REFERENCED_SOP_CLASS_UID = "00081150"
REFERENCED_SOP_INSTANCE_UID = "00081155"
ERROR_COMMENT = "00000902"

# ErrorComment is LO (at most 64 characters); longer reasons are cut with an ellipsis.
_ERROR_COMMENT_MAX = 64

DicomJson = dict[str, Any]


@dataclass(frozen=True)
class StoredInstance:
    """An instance the node holds after the request."""

    sop_class_uid: str
    sop_instance_uid: str
    retrieve_url: str | None = None


@dataclass(frozen=True)
class FailedInstance:
    """An instance (or, without UIDs, a part) the node refused, and why."""

    sop_class_uid: str | None
    sop_instance_uid: str | None
    failure_reason: int
    comment: str = ""


@dataclass(frozen=True)
class StoreResponse:
    """A Store Instances Response read back into values."""

    retrieve_url: str | None
    stored: tuple[StoredInstance, ...]
    failed: tuple[FailedInstance, ...]
    other_failures: tuple[FailedInstance, ...]


def element(vr: str, *values: Any) -> DicomJson:
    """Return one DICOM JSON attribute; no values gives an empty (zero-length) attribute."""
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


def build_store_response(
    *,
    retrieve_url: str | None,
    stored: Sequence[StoredInstance],
    failed: Sequence[FailedInstance],
) -> DicomJson:
    """Return the response body (one DICOM JSON object) for a STOW-RS request.

    Failures without UIDs go to OtherFailuresSequence, the rest to FailedSOPSequence.
    """
    body: DicomJson = {}
    if retrieve_url:
        body[RETRIEVE_URL] = element("UR", retrieve_url)
    per_instance = [f for f in failed if f.sop_instance_uid]
    other = [f for f in failed if not f.sop_instance_uid]
    if per_instance:
        body[FAILED_SOP_SEQUENCE] = element("SQ", *(_failed_item(f) for f in per_instance))
    if stored:
        body[REFERENCED_SOP_SEQUENCE] = element("SQ", *(_stored_item(s) for s in stored))
    if other:
        body[OTHER_FAILURES_SEQUENCE] = element("SQ", *(_failed_item(f) for f in other))
    return body


def _stored_item(instance: StoredInstance) -> DicomJson:
    item = {
        REFERENCED_SOP_CLASS_UID: element("UI", instance.sop_class_uid),
        REFERENCED_SOP_INSTANCE_UID: element("UI", instance.sop_instance_uid),
    }
    if instance.retrieve_url:
        item[RETRIEVE_URL] = element("UR", instance.retrieve_url)
    return item


def _failed_item(failure: FailedInstance) -> DicomJson:
    item: DicomJson = {}
    if failure.sop_class_uid:
        item[REFERENCED_SOP_CLASS_UID] = element("UI", failure.sop_class_uid)
    if failure.sop_instance_uid:
        item[REFERENCED_SOP_INSTANCE_UID] = element("UI", failure.sop_instance_uid)
    item[FAILURE_REASON] = element("US", int(failure.failure_reason))
    if failure.comment:
        comment = failure.comment
        if len(comment) > _ERROR_COMMENT_MAX:
            comment = comment[: _ERROR_COMMENT_MAX - 1] + "…"
        item[ERROR_COMMENT] = element("LO", comment)
    return item


def parse_store_response(body: Any) -> StoreResponse:
    """Read a Store Instances Response (DICOM JSON object) into values.

    Raises:
        UploadError: the body is not a DICOM JSON object of the expected shape.
    """
    if not isinstance(body, Mapping):
        raise UploadError(
            "STOW-RS response is not a DICOM JSON object",
            hint="the target may not be a DICOMweb server; check the URL",
        )
    try:
        return StoreResponse(
            retrieve_url=_first_value(body, RETRIEVE_URL),
            stored=tuple(
                StoredInstance(
                    sop_class_uid=_first_value(item, REFERENCED_SOP_CLASS_UID) or "",
                    sop_instance_uid=_first_value(item, REFERENCED_SOP_INSTANCE_UID) or "",
                    retrieve_url=_first_value(item, RETRIEVE_URL),
                )
                for item in _items(body, REFERENCED_SOP_SEQUENCE)
            ),
            failed=tuple(_read_failure(item) for item in _items(body, FAILED_SOP_SEQUENCE)),
            other_failures=tuple(_read_failure(item) for item in _items(body, OTHER_FAILURES_SEQUENCE)),
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise UploadError(f"STOW-RS response is malformed DICOM JSON: {exc}") from exc


def _read_failure(item: Mapping[str, Any]) -> FailedInstance:
    reason = _first_value(item, FAILURE_REASON)
    return FailedInstance(
        sop_class_uid=_first_value(item, REFERENCED_SOP_CLASS_UID),
        sop_instance_uid=_first_value(item, REFERENCED_SOP_INSTANCE_UID),
        failure_reason=int(reason) if reason is not None else 0,
        comment=str(_first_value(item, ERROR_COMMENT) or ""),
    )


def _items(body: Mapping[str, Any], tag: str) -> list[Mapping[str, Any]]:
    values = body.get(tag, {}).get("Value", [])
    return [v for v in values if isinstance(v, Mapping)]


def _first_value(body: Mapping[str, Any], tag: str) -> Any:
    values = body.get(tag, {}).get("Value")
    return values[0] if values else None
