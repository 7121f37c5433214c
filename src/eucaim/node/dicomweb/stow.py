"""What STOW-RS does with each received part: pure decisions, no files or database.

The service reads a part's header, asks :func:`check_part` and :func:`check_against_stored`, then
acts on the answer. Every refusal carries a FailureReason (see ``eucaim.dicomweb.status``) and a
short text saying what to do.
"""

from __future__ import annotations

from eucaim.dicomweb.mediatype import APPLICATION_DICOM, parse_media_type
from eucaim.dicomweb.multipart import SpooledPart
from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import FailedInstance
from eucaim.node.dicomweb.header import InstanceHeader


def check_part_envelope(part: SpooledPart, *, spool_error: str | None = None) -> FailedInstance | None:
    """Refuse a part that arrived incomplete or is not ``application/dicom``.

    ``spool_error`` is why the body's parsing stopped, if it did; it explains an incomplete part.
    """
    if not part.complete:
        why = spool_error or "body ended inside it"
        return FailedInstance(
            None, None, FailureReason.CANNOT_UNDERSTAND, f"part {part.index + 1} is incomplete: {why}"
        )
    # A part without Content-Type is read as DICOM: some clients omit it, and the header check
    # that follows refuses anything that is not Part-10 anyway.
    if part.content_type and parse_media_type(part.content_type).type != APPLICATION_DICOM:
        return FailedInstance(
            None,
            None,
            FailureReason.CANNOT_UNDERSTAND,
            f"part {part.index + 1} is {part.content_type}, not application/dicom",
        )
    return None


def check_instance(header: InstanceHeader, *, url_study_uid: str | None) -> FailedInstance | None:
    """Refuse an instance that is not de-identified or belongs to another study than the URL's."""
    if header.patient_identity_removed != "YES":
        return FailedInstance(
            header.sop_class_uid,
            header.sop_instance_uid,
            FailureReason.NOT_DEIDENTIFIED,
            "PatientIdentityRemoved (0012,0062) is not YES; de-identify first",
        )
    if url_study_uid is not None and header.study_instance_uid != url_study_uid:
        return FailedInstance(
            header.sop_class_uid,
            header.sop_instance_uid,
            FailureReason.PROCESSING_FAILURE,
            "StudyInstanceUID differs from the study in the request URL",
        )
    return None


def check_against_stored(
    header: InstanceHeader, *, stored_sha256: str | None, received_sha256: str
) -> FailedInstance | None:
    """Decide a re-sent instance: same bytes is fine (nothing to store), other bytes are refused.

    ``stored_sha256`` is the digest of the instance the node already holds under this
    SOPInstanceUID, or None when it holds none.
    """
    if stored_sha256 is None or stored_sha256 == received_sha256:
        return None
    return FailedInstance(
        header.sop_class_uid,
        header.sop_instance_uid,
        FailureReason.DUPLICATE_SOP_INSTANCE,
        "another instance with this SOPInstanceUID is stored; the node keeps the first",
    )
