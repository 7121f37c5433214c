"""Keyed pseudonyms, UIDs and date offsets: one function family for DICOM and clinical data.

Everything here is ``HMAC-SHA256(site secret, domain || 0x00 || value)``. The domain keeps a
patient ID, an accession number and a UID with the same text from producing the same output.
Because images and clinical rows go through these same functions with the same secret, a patient's
studies and clinical record meet under one pseudonym and one date offset.

Pure: the secret is always passed in, nothing is read from disk or the environment.
"""

from __future__ import annotations

import hashlib
import hmac

MIN_SECRET_BYTES = 16
DEFAULT_PSEUDONYM_FORMAT = "EUCAIM-{hex}"
# Dates move back between one and ten years: far enough that a shifted date does not point to the
# real day, near enough that seasons and scanner generations stay plausible.
DEFAULT_OFFSET_RANGE = (-3650, -365)


def _digest(secret: bytes, domain: str, value: str) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"site secret must be at least {MIN_SECRET_BYTES} bytes")
    msg = domain.encode("ascii") + b"\x00" + value.encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).digest()


def derive_token(secret: bytes, domain: str, value: str, *, length: int = 16) -> str:
    """Return ``length`` upper-case hex characters keyed on ``value`` within ``domain``."""
    return _digest(secret, domain, value).hex().upper()[:length]


def derive_patient_pseudonym(
    secret: bytes, patient_id: str, *, fmt: str = DEFAULT_PSEUDONYM_FORMAT, length: int = 16
) -> str:
    """Return the pseudonymous PatientID for an original PatientID.

    ``fmt`` may use ``{hex}`` (``length`` hex characters). The result must fit DICOM LO (64 chars).
    """
    pseudonym = fmt.format(hex=derive_token(secret, "patient", patient_id.strip(), length=length))
    if len(pseudonym) > 64:
        raise ValueError("pseudonym format produces more than 64 characters (DICOM LO limit)")
    return pseudonym


def derive_day_offset(
    secret: bytes, patient_id: str, *, offset_range: tuple[int, int] = DEFAULT_OFFSET_RANGE
) -> int:
    """Return the per-patient number of days every date of this patient moves by (inclusive range)."""
    low, high = offset_range
    if low > high:
        raise ValueError("offset range must be (low, high) with low <= high")
    n = int.from_bytes(_digest(secret, "day-offset", patient_id.strip())[:8], "big")
    return low + n % (high - low + 1)


def derive_uid(secret: bytes, uid: str) -> str:
    """Map a UID to ``2.25.<128-bit integer>``, the same output for the same input everywhere."""
    n = int.from_bytes(_digest(secret, "uid", uid.strip().rstrip("\x00"))[:16], "big")
    return f"2.25.{n}"


def derive_input_hash(secret: bytes, data: bytes) -> str:
    """HMAC-SHA256 (hex) of an input file's bytes: matches files for an auditor holding the secret."""
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"site secret must be at least {MIN_SECRET_BYTES} bytes")
    mac = hmac.new(secret, b"input-file\x00", hashlib.sha256)
    mac.update(data)  # not prefix + data: that copies the whole file once more
    return mac.hexdigest()
