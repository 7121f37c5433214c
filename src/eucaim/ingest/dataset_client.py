"""The data holder's client of the node's dataset API: create, read, edit, release, and wait for jobs.

Reads are retried by the one retry policy (``upload/http.py``); writes are not, since a create
sent twice makes two datasets. Node refusals become domain errors carrying the node's own message
and hint (a refused release lists the missing metadata there).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from eucaim.errors import (
    AuthenticationError,
    Conflict,
    EucaimError,
    NotFound,
    PermissionDenied,
    TransientError,
    UploadError,
)
from eucaim.ingest.upload.http import RetryPolicy, build_client, raise_for_transient

# Properties whose value is a list: ``keywords=lung,CT`` gives ["lung", "CT"].
LIST_PROPERTIES = frozenset({"keywords", "type", "collectionMethod"})
# Properties that are objects: set them field by field (``license.url=https://...``).
OBJECT_PROPERTIES = frozenset({"license", "contact"})
FINAL_JOB_STATES = frozenset({"finished", "error"})


def parse_assignments(pairs: Sequence[str], current: dict[str, Any]) -> dict[str, Any]:
    """Turn ``key=value`` words into a PATCH body; ``current`` supplies the other fields of objects.

    Raises:
        UploadError: a word without ``=`` or an unknown sub-field.
    """
    changes: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UploadError(
                f"{pair!r} is not key=value", hint="e.g. version=1.0 or license.url=https://..."
            )
        if "." in key:
            name, field = key.split(".", 1)
            if name not in OBJECT_PROPERTIES:
                raise UploadError(f"{name} has no fields; set it as {name}=value")
            base = changes.get(name) or dict(current.get(name) or {})
            base[field] = value
            changes[name] = base
        elif key in LIST_PROPERTIES:
            changes[key] = [v.strip() for v in value.split(",") if v.strip()]
        elif key in OBJECT_PROPERTIES or value.startswith(("{", "[")):
            try:
                changes[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise UploadError(
                    f"{key}: not valid JSON ({exc.msg})", hint=f"or set {key}.FIELD=value"
                ) from exc
        else:
            changes[key] = value
    return changes


class DatasetClient:
    """Talks to ``/datasets`` on one node with one token."""

    def __init__(
        self,
        node_url: str,
        *,
        token_provider: Callable[[], str],
        ca_bundle: Path | None = None,
        timeout_s: float = 60.0,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = build_client(node_url, ca_bundle=ca_bundle, timeout_s=timeout_s, transport=transport)
        self._token = token_provider
        self._retry = retry or RetryPolicy(max_attempts=5)
        self._sleep = sleep

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def __enter__(self) -> DatasetClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _send(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
        response = self._client.request(method, path.lstrip("/"), json=body, headers=headers)
        raise_for_transient(response)
        if response.is_success:
            return response.json()
        raise _refusal(response, f"{method} {path}")

    def _get(self, path: str) -> Any:
        return self._retry.run(f"GET {path}", lambda: self._send("GET", path))

    def create(
        self,
        *,
        name: str,
        description: str,
        biobank: str,
        selection: dict[str, Any],
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Ask the node to create a dataset; return it (state ``creating``, with its job)."""
        body = {"name": name, "description": description, "biobank": biobank, "selection": selection}
        body.update(metadata or {})
        created: dict[str, Any] = self._send("POST", "/datasets", body)
        return created

    def get(self, dataset_id: str) -> dict[str, Any]:
        """Return the dataset, with ``editableProperties`` and ``allowedActions`` for us."""
        found: dict[str, Any] = self._get(f"/datasets/{dataset_id}")
        return found

    def list(self) -> list[dict[str, Any]]:
        """Return the datasets we may see."""
        found: list[dict[str, Any]] = self._get("/datasets")
        return found

    def job(self, dataset_id: str) -> dict[str, Any]:
        """Return the creation job's status."""
        found: dict[str, Any] = self._get(f"/datasets/{dataset_id}/job")
        return found

    def update(self, dataset_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change metadata properties; return the dataset."""
        updated: dict[str, Any] = self._send("PATCH", f"/datasets/{dataset_id}", changes)
        return updated

    def act(self, dataset_id: str, action: str, *, reason: str | None = None) -> dict[str, Any]:
        """Perform a lifecycle action (``release``, ...); return the dataset."""
        body = {"reason": reason} if reason else None
        done: dict[str, Any] = self._send("POST", f"/datasets/{dataset_id}/{action}", body)
        return done

    def restart(self, dataset_id: str) -> dict[str, Any]:
        """Queue a failed creation job again; return the job's status."""
        job: dict[str, Any] = self._send("POST", f"/datasets/{dataset_id}/job/restart")
        return job

    def wait_for_job(
        self,
        dataset_id: str,
        *,
        on_progress: Callable[[dict[str, Any]], None] = lambda _job: None,
        poll_s: float = 0.5,
        timeout_s: float = 3600.0,
    ) -> dict[str, Any]:
        """Poll the creation job until it finishes or fails; return its last status.

        Raises:
            TransientError: the job did not end within ``timeout_s`` (it keeps running on the node).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            job = self.job(dataset_id)
            on_progress(job)
            if job["status"] in FINAL_JOB_STATES:
                return job
            if time.monotonic() > deadline:
                raise TransientError(
                    f"dataset {dataset_id} is still being created after {timeout_s:.0f} s; "
                    f"check later with `eucaim-ingest dataset status {dataset_id}`"
                )
            self._sleep(poll_s)


def _refusal(response: httpx.Response, what: str) -> EucaimError:
    try:
        problem = response.json()
        detail, hint = str(problem.get("detail", "")), str(problem.get("hint", ""))
    except ValueError:
        detail, hint = response.text[:200], ""
    message = f"the node refused {what}: {detail or response.reason_phrase}"
    status = response.status_code
    if status == 401:
        return AuthenticationError(message, status_code=401, hint="check the workspace's token file")
    if status == 403:
        return PermissionDenied(message, hint=hint)
    if status == 404:
        return NotFound(message, hint=hint)
    if status == 409:
        return Conflict(message, hint=hint)
    return UploadError(message, status_code=status, hint=hint)
