"""Read a PS3.18 Store Instances Response (DICOM JSON) into stored and failed SOP instances."""

from __future__ import annotations

import json
from typing import Any

from eucaim.ingest.upload.base import SendResult

REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_INSTANCE_UID = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"

# PS3.4 Annex C / PS3.18 Table 10.5.3-2 failure reasons, worded for a data manager.
FAILURE_REASONS: dict[int, str] = {
    0x0110: "processing failure on the node",
    0x0111: "the node holds a different instance with the same SOPInstanceUID",
    0x0112: "no such object instance",
    0x0117: "invalid object instance",
    0x0119: "class-instance conflict",
    0x0122: "SOP class not supported by the node",
    0x0124: "not authorised",
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


def _first_value(item: dict[str, Any], tag: str) -> Any:
    values = item.get(tag, {}).get("Value") or []
    return values[0] if values else None


def parse_store_response(body: bytes) -> SendResult:
    """Parse a Store Instances Response body. Raises ValueError when it is not DICOM JSON."""
    data = json.loads(body)
    if isinstance(data, list):  # some servers wrap the single dataset in a list
        data = data[0] if data else {}
    if not isinstance(data, dict):
        raise ValueError("store response is not a DICOM JSON object")
    stored: set[str] = set()
    failed: dict[str, str] = {}
    warnings: dict[str, str] = {}
    retry_later: dict[str, str] = {}
    for item in data.get(REFERENCED_SOP_SEQUENCE, {}).get("Value") or []:
        uid = _first_value(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            stored.add(str(uid))
            warning = _first_value(item, WARNING_REASON)
            if warning is not None:
                warnings[str(uid)] = f"warning 0x{int(warning):04X}"
    for item in data.get(FAILED_SOP_SEQUENCE, {}).get("Value") or []:
        uid = _first_value(item, REFERENCED_SOP_INSTANCE_UID)
        if uid:
            code = _first_value(item, FAILURE_REASON)
            number = int(code) if code is not None else None
            (retry_later if is_target_side(number) else failed)[str(uid)] = describe_failure(number)
    refused = set(failed) | set(retry_later)
    return SendResult(
        stored=frozenset(stored - refused), failed=failed, warnings=warnings, retry_later=retry_later
    )
