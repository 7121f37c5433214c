"""The client of a EUCAIM node's clinical endpoints: what the node holds, and bulk upload of records.

``known_hashes`` pages through ``GET /biobanks/{code}/clinical`` (pseudonym -> content hash) so a
push sends only new and changed records; ``send`` posts one chunk to ``POST /biobanks/{code}/clinical``
and returns the node's verdict per record. A retried POST is harmless: the node stores a record
whose hash equals the current version's as "unchanged". Retries (transport errors, 408, 429, 5xx)
come from the one policy in ``upload/http.py``; a 401 re-reads the token once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from eucaim.errors import UploadError
from eucaim.ingest.upload.http import BearerAuth, RetryPolicy, build_client, raise_for_transient

logger = logging.getLogger(__name__)

LIST_PAGE = 1000


@dataclass(frozen=True)
class NodeProblem:
    """One reason the node gave for refusing a record."""

    rule: str
    message: str
    field: str | None = None
    hint: str = ""

    def describe(self) -> str:
        where = f"{self.field}: " if self.field and not self.message.startswith(self.field) else ""
        return f"{where}{self.message} [{self.rule}]"


@dataclass(frozen=True)
class NodeRecordResult:
    """The node's verdict on one record: created, updated, unchanged or rejected (with problems)."""

    subject: str | None
    status: str
    content_hash: str | None = None
    version: int | None = None
    problems: tuple[NodeProblem, ...] = ()


def _result(raw: Mapping[str, Any]) -> NodeRecordResult:
    problems = tuple(
        NodeProblem(
            rule=str(p.get("rule", "")),
            message=str(p.get("message", "")),
            field=p.get("field"),
            hint=str(p.get("hint", "")),
        )
        for p in raw.get("problems") or ()
    )
    version = raw.get("version")
    return NodeRecordResult(
        subject=raw.get("subject"),
        status=str(raw.get("status", "")),
        content_hash=raw.get("content_hash"),
        version=int(version) if version is not None else None,
        problems=problems,
    )


class ClinicalNodeClient:
    """Clinical endpoints of one biobank on a EUCAIM node (``{node}/biobanks/{code}``)."""

    def __init__(
        self,
        node_url: str,
        biobank: str,
        *,
        token_provider: Callable[[], str],
        ca_bundle: Path | None = None,
        timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = f"{node_url.rstrip('/')}/biobanks/{biobank}"
        self.biobank = biobank
        self._client = build_client(
            self.base_url, ca_bundle=ca_bundle, timeout_s=timeout_s, transport=transport
        )
        self._auth = BearerAuth(token_provider)
        self._retry = retry or RetryPolicy()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ClinicalNodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = self._auth.request(
            self._client, method, url, headers={"Accept": "application/json"}, **kwargs
        )
        if response.status_code == 403:
            raise UploadError(
                f"the node refused access (403) to the clinical records of biobank {self.biobank}",
                status_code=403,
                hint="your account has no write rights on this biobank; ask its manager",
            )
        if response.status_code == 404:
            raise UploadError(
                f"biobank {self.biobank} does not exist on the node, or the node takes no clinical records",
                status_code=404,
                hint="check the biobank code in the workspace's config.toml (`eucaim-ingest init`)",
            )
        raise_for_transient(response)
        if response.status_code >= 400:
            raise UploadError(
                f"the node refused the request ({response.status_code}): {_detail(response)}",
                status_code=response.status_code,
            )
        return response

    def known_hashes(self) -> dict[str, str]:
        """Return pseudonym -> content hash of every clinical record the biobank holds."""
        found: dict[str, str] = {}
        offset = 0
        while True:
            params = {"limit": str(LIST_PAGE), "offset": str(offset)}

            def attempt(params: dict[str, str] = params) -> httpx.Response:
                return self._request("GET", "clinical", params=params)

            page = self._retry.run("list clinical records", attempt).json()
            subjects = page.get("subjects") or []
            found.update({str(s["subject"]): str(s["content_hash"]) for s in subjects})
            offset += len(subjects)
            if not subjects or offset >= int(page.get("total", 0)):
                return found

    def send(self, records: Sequence[Mapping[str, Any]]) -> list[NodeRecordResult]:
        """Post ``records`` in one request; return the node's result for each, in order."""

        def attempt() -> httpx.Response:
            return self._request("POST", "clinical", json=list(records))

        body = self._retry.run(f"clinical upload of {len(records)} record(s)", attempt).json()
        results = [_result(r) for r in body.get("results") or []]
        if len(results) != len(records):
            raise UploadError(
                f"the node answered {len(results)} result(s) for {len(records)} record(s)",
                hint="run the push again; if it persists, report it to the node operator",
            )
        logger.info("sent %d clinical record(s) to biobank %s", len(records), self.biobank)
        return results


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return " ".join(str(body.get(k, "")) for k in ("detail", "hint")).strip()[:300]
    return str(body)[:300]
