"""The DICOMweb image store: an existing PACS (Orthanc, dcm4chee, a cloud store) keeps the bytes.

The node keeps its own index and access control in front of it: clients only ever talk to the
node, which STOWs each instance to the PACS and WADOs it back. Tested against Orthanc from Debian.

Rules and limits, because a PACS names an instance by its UIDs only:

- the biobank part of a key is not sent: one PACS serves every biobank, so SOPInstanceUIDs must be
  unique across biobanks (they are for de-identified data: ``2.25.<HMAC>`` UIDs per site);
- a PACS keeps the first bytes it receives for a SOPInstanceUID (Orthanc needs
  ``OverwriteInstances: false``, its default). Every put is therefore read back and compared by
  sha256, which costs one extra read per new instance but makes write-once hold across workers;
- DICOMweb has no delete: with ``orthanc_url`` set, delete goes through Orthanc's REST API,
  otherwise it only logs that the object stays;
- reads land in a temporary file (in memory up to 1 MiB, then on disk) as they stream in, so the
  caller gets a seekable file and no instance is ever held whole in memory.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import httpx

from eucaim.errors import ConfigError, Conflict, NotFound, TransientError
from eucaim.node.store.config import DicomwebStoreSettings
from eucaim.node.store.write_once import sha256_of
from eucaim.tls import client_context

logger = logging.getLogger(__name__)

_CHUNK = 1024 * 1024
_SPOOL_IN_MEMORY = 1024 * 1024


def uids_of(key: str) -> tuple[str, str, str]:
    """Return (study, series, sop) of a node key (plain ``…/<sop>.dcm`` or ``…/<sop>/<sha>.dcm``)."""
    parts = key.split("/")
    if len(parts) == 4 and parts[3].endswith(".dcm"):
        return parts[1], parts[2], parts[3][: -len(".dcm")]
    if len(parts) == 5 and parts[4].endswith(".dcm"):
        return parts[1], parts[2], parts[3]
    raise ValueError(f"store key {key!r} does not name an instance")


class DicomwebStore:
    """Keep instance bytes in a DICOMweb PACS; see the module docstring for the rules."""

    def __init__(self, settings: DicomwebStoreSettings) -> None:
        if not settings.url:
            raise ConfigError(
                "the dicomweb image store needs the PACS's DICOMweb URL",
                hint="set EUCAIM_NODE_DICOMWEB_STORE_URL (and _USERNAME/_PASSWORD)",
            )
        auth = None
        if settings.username is not None and settings.password is not None:
            auth = httpx.BasicAuth(settings.username, settings.password.get_secret_value())
        self.root = settings.url.rstrip("/")
        self.orthanc_url = settings.orthanc_url.rstrip("/") if settings.orthanc_url else None
        # One pooled client for every thread of the process (httpx clients are thread-safe).
        # TLS to the PACS is 1.3 only, as everywhere in the project (eucaim.tls).
        verify = client_context() if self.root.startswith("https://") else True
        self.client = httpx.Client(
            auth=auth, timeout=settings.timeout_s, limits=httpx.Limits(max_connections=16), verify=verify
        )

    def __repr__(self) -> str:
        return f"DicomwebStore(url={self.root!r})"

    def _instance_url(self, key: str) -> str:
        study, series, sop = uids_of(key)
        return f"{self.root}/studies/{study}/series/{series}/instances/{sop}"

    # -- writing ---------------------------------------------------------------------------------

    def put_new(self, key: str, source: Path, *, sha256: str) -> bool:
        """STOW ``source``, then read the instance back: True when the PACS holds these bytes."""
        self._stow(key, source)
        with self.open(key) as f:
            held_sha, _ = sha256_of(f)
        if held_sha != sha256:
            return False
        source.unlink(missing_ok=True)
        return True

    def put_file(self, key: str, source: Path) -> None:
        """Store ``source``; a PACS cannot replace an instance, so other bytes there are a Conflict."""
        with source.open("rb") as f:
            sha256, _ = sha256_of(f)
        if not self.put_new(key, source, sha256=sha256):
            raise Conflict(
                f"the PACS holds other bytes for the instance of {key}",
                hint="delete it in the PACS first, or keep the PACS's copy",
            )

    def _stow(self, key: str, source: Path) -> None:
        study, _, sop = uids_of(key)
        boundary = secrets.token_hex(16)
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        length = len(head) + source.stat().st_size + len(tail)

        def body() -> Iterator[bytes]:
            yield head
            with source.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    yield chunk
            yield tail

        headers = {
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Content-Length": str(length),
            "Accept": "application/dicom+json",
        }
        try:
            response = self.client.post(f"{self.root}/studies/{study}", content=body(), headers=headers)
        except httpx.TransportError as exc:
            raise TransientError(f"the PACS could not be reached to store {key}: {exc}") from None
        if response.status_code not in (200, 202):
            raise TransientError(
                f"the PACS answered {response.status_code} to storing {key}", status_code=response.status_code
            )
        if sop not in response.text:
            raise TransientError(f"the PACS did not list {key} as stored", status_code=response.status_code)
        logger.debug("stored object %s in the PACS", key)

    # -- reading ---------------------------------------------------------------------------------

    def open(self, key: str) -> BinaryIO:
        """WADO-RS the instance into a temporary file and return it, positioned at the start."""
        spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115  (returned open)
        try:
            headers = {"Accept": 'multipart/related; type="application/dicom"'}
            with self.client.stream("GET", self._instance_url(key), headers=headers) as response:
                if response.status_code == 404:
                    raise NotFound(f"object {key} is missing from the PACS")
                if response.status_code != 200:
                    raise TransientError(
                        f"the PACS answered {response.status_code} to reading {key}",
                        status_code=response.status_code,
                    )
                boundary = _boundary(response.headers.get("content-type", ""), key)
                for chunk in _first_part(response.iter_bytes(_CHUNK), boundary, key):
                    spool.write(chunk)
        except httpx.TransportError as exc:
            spool.close()
            raise TransientError(f"the PACS could not be reached to read {key}: {exc}") from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        """Ask the PACS (QIDO-RS) whether it lists the instance."""
        study, series, sop = uids_of(key)
        url = f"{self.root}/studies/{study}/series/{series}/instances"
        try:
            response = self.client.get(url, params={"SOPInstanceUID": sop})
        except httpx.TransportError as exc:
            raise TransientError(f"the PACS could not be reached: {exc}") from None
        if response.status_code in (204, 404):
            return False
        if response.status_code != 200:
            raise TransientError(f"the PACS answered {response.status_code} to a search")
        return bool(response.json())

    def size(self, key: str) -> int:
        """Return the instance's size; DICOMweb does not report it, so it is read and counted."""
        with self.open(key) as f:
            return sha256_of(f)[1]

    def delete(self, key: str) -> None:
        """Delete through Orthanc's REST API when configured; plain DICOMweb cannot delete."""
        if self.orthanc_url is None:
            logger.warning("the dicomweb store cannot delete %s: DICOMweb has no delete", key)
            return
        _, _, sop = uids_of(key)
        try:
            found = self.client.post(f"{self.orthanc_url}/tools/lookup", content=sop)
            found.raise_for_status()
            for item in found.json():
                if item.get("Type") == "Instance":
                    self.client.delete(f"{self.orthanc_url}/instances/{item['ID']}").raise_for_status()
        except httpx.HTTPError as exc:
            raise TransientError(f"Orthanc could not delete {key}: {exc}") from None

    # -- upkeep ----------------------------------------------------------------------------------

    def remove_leftovers(self, *, now: float) -> int:
        """Nothing to do: a PACS stores an instance whole or not at all."""
        return 0

    def check(self) -> None:
        """Search the PACS for one study, so an unreachable or refusing PACS shows as unhealthy."""
        try:
            response = self.client.get(f"{self.root}/studies", params={"limit": "1"})
        except httpx.TransportError as exc:
            raise TransientError(f"the PACS at {self.root} is unreachable: {exc}") from None
        if response.status_code not in (200, 204):
            raise TransientError(
                f"the PACS at {self.root} answered {response.status_code}", status_code=response.status_code
            )


def _boundary(content_type: str, key: str) -> bytes:
    for param in content_type.split(";")[1:]:
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"').encode()
    raise TransientError(f"the PACS sent {key} without a multipart boundary")


def _first_part(chunks: Iterator[bytes], boundary: bytes, key: str) -> Iterator[bytes]:
    """Yield the body of the first part of a multipart stream, holding at most one chunk."""
    start, end = b"--" + boundary, b"\r\n--" + boundary
    buffer = b""
    in_body = False
    for chunk in chunks:
        buffer += chunk
        if not in_body:
            at = buffer.find(start)
            headers_end = buffer.find(b"\r\n\r\n", at) if at >= 0 else -1
            if headers_end < 0:
                continue
            buffer = buffer[headers_end + 4 :]
            in_body = True
        stop = buffer.find(end)
        if stop >= 0:
            yield buffer[:stop]
            return
        # Keep back what could be the start of the closing delimiter.
        keep = len(end) - 1
        if len(buffer) > keep:
            yield buffer[:-keep]
            buffer = buffer[-keep:]
    raise TransientError(f"the PACS's answer for {key} ended before the instance did")
