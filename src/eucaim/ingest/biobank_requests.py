"""Biobank requests for a workspace: ask the node for a biobank and read the answers (CLI and web UI)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

# A request or a listing is one small call: no reason to wait as long as an upload may.
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class BiobankRequests:
    """The caller's biobank requests (oldest first) and the biobanks the node says they manage."""

    requests: list[dict[str, Any]]
    my_biobanks: list[str]


def ask_for_biobank(
    workspace: Path, *, code: str, name: str, description: str = "", url: str | None = None
) -> dict[str, Any]:
    """Ask the workspace's node for biobank ``code``; return the request as recorded (``pending``).

    Raises:
        UploadError: the node refused it (the code is taken or invalid, the caller is no data
            ingester); the node's reason is in the message.
        AuthenticationError, TransientError: as ``node_accounts`` raises them.
    """
    from eucaim.ingest.node_accounts import bearer_token, request_biobank
    from eucaim.ingest.upload.http import build_client
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(workspace) as ws:
        token = bearer_token(ws)
        with build_client(ws.config.node.url, ca_bundle=ws.ca_bundle, timeout_s=TIMEOUT_S) as client:
            return request_biobank(client, token, code=code, name=name, description=description, url=url)


def my_biobank_requests(workspace: Path, *, with_biobanks: bool = False) -> BiobankRequests:
    """The caller's requests with their answers; ``with_biobanks`` also asks ``/me`` for their biobanks."""
    from eucaim.ingest.node_accounts import bearer_token, my_requests, whoami
    from eucaim.ingest.upload.http import build_client
    from eucaim.ingest.workspace import Workspace

    with Workspace.open(workspace) as ws:
        token = bearer_token(ws)
        with build_client(ws.config.node.url, ca_bundle=ws.ca_bundle, timeout_s=TIMEOUT_S) as client:
            mine = my_requests(client, token)
            biobanks = list(whoami(client, token).get("biobanks", [])) if with_biobanks else []
    return BiobankRequests(requests=mine, my_biobanks=biobanks)


def answer_of(request: dict[str, Any]) -> str:
    """What the node answered, in words: the decline's reason, or the biobank an approval made."""
    reason = request.get("reason")
    if reason:
        return str(reason)
    return f"biobank {request['biobank']} is yours" if request.get("biobank") else ""
