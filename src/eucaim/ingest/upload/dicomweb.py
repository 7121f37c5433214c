"""Send instances to any DICOMweb server with our own streaming STOW-RS client, verify with QIDO-RS.

Why not dicomweb-client's ``store_instances``: it builds the whole body in memory, uses a fixed
boundary, raises before a 202/409 body can be read and retries with an exhausted generator
(research/transfer.md §2.3). Here every request streams its parts from disk with a fresh random
boundary and an exact Content-Length, the body is rebuilt on every attempt, and the response is
parsed on every status so each instance is settled on its own.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from eucaim.errors import UploadError
from eucaim.ingest.pipeline.pacing import RateLimiter
from eucaim.ingest.upload.base import OutgoingInstance, PayloadTooLarge, SendResult
from eucaim.ingest.upload.http import BearerAuth, RetryPolicy, build_client, raise_for_transient
from eucaim.ingest.upload.stow_response import parse_store_response

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
QIDO_PAGE = 1000
SOP_INSTANCE_UID = "00080018"


@dataclass
class _Body:
    headers: dict[str, str]
    content: Iterator[bytes]


def multipart_length(parts: Sequence[tuple[bytes, int]], closing: bytes) -> int:
    return sum(len(head) + size + 2 for head, size in parts) + len(closing)


class DicomwebTarget:
    """A DICOMweb service root (ours: ``{node}/biobanks/{code}/dicom-web``; Orthanc: ``/dicom-web``).

    Authentication is a bearer token from ``token_provider`` (called again once after a 401, so a
    token replaced on disk is picked up) or an ``httpx.Auth`` such as Basic for a PACS.
    """

    name = "dicomweb"

    def __init__(
        self,
        base_url: str,
        *,
        token_provider: Callable[[], str] | None = None,
        auth: httpx.Auth | None = None,
        ca_bundle: Path | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._rate = rate_limiter
        self._client = build_client(
            self.base_url, ca_bundle=ca_bundle, timeout_s=timeout_s, transport=transport
        )
        if auth is not None:
            self._client.auth = auth
        self._auth = BearerAuth(token_provider)
        self._retry = retry or RetryPolicy()

    def close(self) -> None:
        self._client.close()

    # -- authentication ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        make_body: Callable[[], _Body] | None = None,
    ) -> httpx.Response:
        """One request with the auth rules (a 401 re-reads the token once, then stops)."""

        def body() -> tuple[dict[str, str], object]:
            assert make_body is not None
            built = make_body()
            return built.headers, built.content

        response = self._auth.request(
            self._client, method, url, params=params, headers=headers, make_body=body if make_body else None
        )
        if response.status_code == 403:
            raise UploadError(
                f"the node refused access (403) to {self.base_url}",
                status_code=403,
                hint="your account has no write rights on this biobank; ask its manager",
            )
        raise_for_transient(response)
        return response

    # -- STOW-RS ---------------------------------------------------------------------------------

    def _stow_body(self, batch: Sequence[OutgoingInstance]) -> _Body:
        boundary = "eucaim-" + secrets.token_hex(16)
        part_head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
        closing = f"--{boundary}--\r\n".encode("ascii")
        sizes = [os.stat(item.path).st_size for item in batch]

        def body() -> Iterator[bytes]:
            for item, size in zip(batch, sizes, strict=True):
                yield part_head
                sent = 0
                with open(item.path, "rb") as fh:
                    while chunk := fh.read(CHUNK):
                        sent += len(chunk)
                        if self._rate is not None:
                            self._rate.consume(len(chunk))
                        yield chunk
                if sent != size:
                    raise UploadError(f"{item.path} changed while it was being sent")
                yield b"\r\n"
            yield closing

        length = multipart_length([(part_head, s) for s in sizes], closing)
        return _Body(
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Accept": "application/dicom+json",
                "Content-Length": str(length),
            },
            content=body(),
        )

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        url = f"studies/{study_uid}"
        what = f"STOW of {len(batch)} instances"

        def attempt() -> httpx.Response:
            # The body is rebuilt on every attempt: a generator cannot be replayed.
            return self._request("POST", url, make_body=lambda: self._stow_body(batch))

        response = self._retry.run(what, attempt)
        return self._settle(response)

    def _settle(self, response: httpx.Response) -> SendResult:
        status = response.status_code
        if status == 413:
            raise PayloadTooLarge("the node refused the request size (413)", status_code=413)
        if status in (200, 202, 400, 409):
            try:
                return parse_store_response(response.content)
            except (ValueError, UploadError):
                if status == 200:
                    raise UploadError(
                        "the node answered 200 without a readable store response",
                        status_code=status,
                    ) from None
        raise UploadError(
            f"the node refused the request ({status}): {response.text[:300]}",
            status_code=status,
        )

    # -- QIDO-RS ---------------------------------------------------------------------------------

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        found: set[str] = set()
        offset = 0
        while True:
            params = {"includefield": SOP_INSTANCE_UID, "limit": str(QIDO_PAGE), "offset": str(offset)}
            url = f"studies/{study_uid}/series/{series_uid}/instances"

            def attempt(params: dict[str, str] = params, url: str = url) -> httpx.Response:
                return self._request("GET", url, params=params, headers={"Accept": "application/dicom+json"})

            response = self._retry.run("QIDO instances", attempt)
            if response.status_code in (204, 404):
                return found
            if response.status_code != 200:
                raise UploadError(
                    f"QIDO-RS failed ({response.status_code}): {response.text[:300]}",
                    status_code=response.status_code,
                )
            page = response.json()
            for item in page:
                values = item.get(SOP_INSTANCE_UID, {}).get("Value") or []
                if values:
                    found.add(str(values[0]))
            if len(page) < QIDO_PAGE:
                return found
            offset += len(page)
