"""Turn a PS3.18 Store Instances Response into per-instance outcomes a data manager can read."""

from __future__ import annotations

import json

from eucaim.dicomweb.store_response import parse_store_response as read_store_response
from eucaim.ingest.upload.base import SendResult

# PS3.4 Annex C / PS3.18 Table 10.5.3-2 failure reasons, worded for a data manager.
FAILURE_REASONS: dict[int, str] = {
    0x0110: "processing failure on the node",
    0x0111: "the node holds a different instance with the same SOPInstanceUID",
    0x0112: "no such object instance",
    0x0117: "invalid object instance",
    0x0119: "class-instance conflict",
    0x0122: "SOP class not supported by the node",
    0x0124: "not authorised",
    0xC001: "the node refuses instances not marked de-identified (PatientIdentityRemoved)",
    0x0212: "mismatched SOP class",
    0xA700: "the node is out of resources",
    0xA770: "the node is out of resources (storage)",
    0xA900: "data set does not match its SOP class",
    0xC000: "the node cannot understand the instance",
    0xC122: "SOP class not supported by the node",
}


def describe_failure(code: int | None) -> str:
    """Return words for a failure code, keeping the code so support can look it up."""
    if code is None:
        return "refused by the node (no reason given)"
    text = FAILURE_REASONS.get(code)
    if text is None and 0xC000 <= code <= 0xCFFF:
        text = "the node cannot process the instance"
    if text is None and 0xA700 <= code <= 0xA7FF:
        text = "the node is out of resources"
    return f"{text or 'refused by the node'} (0x{code:04X})"


def is_target_side(code: int | None) -> bool:
    """True for refusals about the target's resources, not the instance (0xA7xx): retry later."""
    return code is not None and 0xA700 <= code <= 0xA7FF


def parse_store_response(body: bytes) -> SendResult:
    """Settle each instance from a Store Instances Response body.

    Raises:
        ValueError: the body is not JSON.
        UploadError: it is JSON but not a Store Instances Response.
    """
    data = json.loads(body)
    if isinstance(data, list):  # some servers wrap the single dataset in a list
        data = data[0] if data else {}
    response = read_store_response(data)
    failed: dict[str, str] = {}
    retry_later: dict[str, str] = {}  # the node's own trouble (0xA7xx): send again, do not quarantine
    for f in response.failed:
        if f.sop_instance_uid:
            reason = describe_failure(f.failure_reason or None) + (f": {f.comment}" if f.comment else "")
            (retry_later if is_target_side(f.failure_reason or None) else failed)[f.sop_instance_uid] = reason
    stored = {s.sop_instance_uid for s in response.stored if s.sop_instance_uid}
    return SendResult(
        stored=frozenset(stored - set(failed) - set(retry_later)), failed=failed, retry_later=retry_later
    )
