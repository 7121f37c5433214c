"""Read what an XNAT session holds: the MD5 digests of its scans' DICOM files, archived or prearchived.

Archived sessions list digests directly (``.../scans/{ID}/resources/DICOM/files`` gives ``digest``).
Prearchive listings carry no digest, so those files are downloaded, streamed through MD5 and
discarded; this only happens for a workspace configured to import into the prearchive.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from urllib.parse import quote

from eucaim.errors import UploadError
from eucaim.ingest.upload.xnat_session import XnatSession, check_status


def _q(part: str) -> str:
    return quote(part, safe="")


def archived_digests(session: XnatSession, project: str, label: str) -> Counter[str] | None:
    """MD5 → number of files with it in an archived session, or None when no such session exists."""
    base = f"data/projects/{_q(project)}/experiments/{_q(label)}"
    response = session.request(
        "GET", f"{base}/scans", what=f"listing scans of session {label}", params={"format": "json"}
    )
    if response.status_code == 404:
        return None
    check_status(response, f"listing scans of session {label}")
    digests: Counter[str] = Counter()
    for scan in _rows(response.json(), label):
        scan_id = scan.get("ID", "")
        files = session.request(
            "GET",
            f"{base}/scans/{_q(scan_id)}/resources/DICOM/files",
            what=f"listing files of session {label}",
            params={"format": "json"},
        )
        if files.status_code == 404:  # a scan without a DICOM resource (e.g. a NIfTI-only scan)
            continue
        check_status(files, f"listing files of session {label}")
        for row in _rows(files.json(), label):
            if not row.get("digest"):
                raise UploadError(
                    f"XNAT lists files of session {label} without checksums, so what arrived cannot "
                    "be verified",
                    hint="ask the XNAT administrator to turn on checksums (Site Administration, "
                    "File System, 'Enable checksums'), then run push again",
                )
            digests[row["digest"].lower()] += 1
    return digests


def prearchive_entries(session: XnatSession, project: str, label: str) -> list[dict[str, str]]:
    """The prearchive rows of ``project`` named ``label`` (several after repeated imports)."""
    rows = session.result_set(
        f"data/prearchive/projects/{_q(project)}", what=f"listing the prearchive of {project}"
    )
    return [r for r in rows if r.get("name") == label or r.get("folderName") == label]


def prearchive_digests(session: XnatSession, project: str, label: str) -> Counter[str]:
    """MD5 → count over every prearchive entry named ``label``, by downloading its files."""
    digests: Counter[str] = Counter()
    for entry in prearchive_entries(session, project, label):
        url = entry.get("url", "").lstrip("/")
        base = url if url.startswith("data/") else f"data/{url}"
        for scan in session.result_set(f"{base}/scans", what=f"listing prearchived scans of {label}"):
            files_url = f"{base}/scans/{_q(scan.get('ID', ''))}/resources/DICOM/files"
            for row in session.result_set(files_url, what=f"listing prearchived files of {label}"):
                digests[_download_md5(session, f"{files_url}/{_q(row.get('Name', ''))}", label)] += 1
    return digests


def _download_md5(session: XnatSession, path: str, label: str) -> str:
    response = session.request("GET", path, what=f"reading a prearchived file of {label}")
    check_status(response, f"reading a prearchived file of {label}")
    return hashlib.md5(response.content, usedforsecurity=False).hexdigest()


def _rows(document: object, label: str) -> list[dict[str, str]]:
    try:
        return [dict(r) for r in document["ResultSet"]["Result"]]  # type: ignore[index]
    except (KeyError, TypeError):
        raise UploadError(f"XNAT listed session {label} in an unexpected shape") from None
