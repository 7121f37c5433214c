"""DICOMweb status values: STOW-RS HTTP statuses and the FailureReason codes this project uses.

Failure reasons follow PS3.18 §10.5.3 and the DIMSE status families of PS3.4 Annex B / PS3.7 Annex C:

============  ============================  ====================================================
code          name                          when the node uses it
============  ============================  ====================================================
0x0110        PROCESSING_FAILURE            the instance's StudyInstanceUID differs from the
                                            study in the request URL (as Orthanc does), or the
                                            node could not store it (I/O error)
0x0111        DUPLICATE_SOP_INSTANCE        the node already holds this SOPInstanceUID with
                                            different bytes; the stored object is kept
0x0122        SOP_CLASS_NOT_SUPPORTED       reserved; every storage SOP class is accepted now
0xA700        OUT_OF_RESOURCES              the store is full or refused the write
0xC000        CANNOT_UNDERSTAND             the part is not Part-10 DICOM, is truncated, lacks
                                            SOPInstanceUID/SOPClassUID/StudyInstanceUID/
                                            SeriesInstanceUID, or is not ``application/dicom``
0xC001        NOT_DEIDENTIFIED              PatientIdentityRemoved (0012,0062) is absent or not
                                            ``YES``: the node accepts de-identified data only.
                                            Cxxx is the "cannot understand / refused" family whose
                                            low bits PS3.7 leaves implementation-specific.
============  ============================  ====================================================

A re-sent instance whose bytes equal the stored ones is *not* a failure: it is listed in
ReferencedSOPSequence like a fresh one, and nothing is stored twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import IntEnum


class FailureReason(IntEnum):
    """FailureReason (0008,1197) values used in Store Instances Responses."""

    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    OUT_OF_RESOURCES = 0xA700
    CANNOT_UNDERSTAND = 0xC000
    NOT_DEIDENTIFIED = 0xC001


class StowStatus(IntEnum):
    """HTTP status of a STOW-RS response (PS3.18 §10.5.3)."""

    ALL_STORED = 200
    SOME_FAILED = 202
    BAD_REQUEST = 400
    NONE_STORED_CONFLICT = 409
    UNSUPPORTED_MEDIA_TYPE = 415


def stow_http_status(*, stored: int, failures: Sequence[int]) -> StowStatus:
    """Return the STOW-RS HTTP status from what happened to each part.

    ``stored`` counts instances the node now holds (fresh or identical re-sends); ``failures``
    holds the FailureReason of every refused instance or part. Nothing stored gives 400 when every
    failure is unreadable input (or there were no parts), 409 when something readable was refused.
    """
    if not failures:
        return StowStatus.ALL_STORED if stored else StowStatus.BAD_REQUEST
    if stored:
        return StowStatus.SOME_FAILED
    if all(reason == FailureReason.CANNOT_UNDERSTAND for reason in failures):
        return StowStatus.BAD_REQUEST
    return StowStatus.NONE_STORED_CONFLICT
