"""Build the upload target a workspace is configured for."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from eucaim.errors import ConfigError
from eucaim.ingest.pipeline.pacing import RateLimiter
from eucaim.ingest.upload.base import Target
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.upload.http import RetryPolicy
from eucaim.ingest.workspace import Workspace

if TYPE_CHECKING:
    # The XNAT modules load pydicom; a push to a EUCAIM node does without them.
    import httpx

    from eucaim.ingest.upload.xnat import XnatTarget
    from eucaim.ingest.upload.xnat_session import XnatSession


def dicomweb_root(node_url: str, biobank: str) -> str:
    """The DICOMweb service root of a biobank on a EUCAIM (UPV-style) node."""
    return f"{node_url.rstrip('/')}/biobanks/{biobank}/dicom-web"


def build_target(ws: Workspace, *, max_rate_mb_s: float | None = None) -> Target:
    """The configured target; ``max_rate_mb_s`` caps the upload rate (MB/s, all threads together)."""
    node = ws.config.node
    limiter = RateLimiter(max_rate_mb_s * 1e6) if max_rate_mb_s else None
    if node.kind == "eucaim":
        return DicomwebTarget(
            dicomweb_root(node.url, node.biobank),
            token_provider=lambda: ws.token,
            ca_bundle=ws.ca_bundle,
            timeout_s=node.timeout_s,
            rate_limiter=limiter,
        )
    if node.kind == "xnat":
        return build_xnat_target(ws, rate_limiter=limiter)
    raise ConfigError(f"target kind {node.kind!r} is not available in this version")


def xnat_session(ws: Workspace, *, transport: httpx.BaseTransport | None = None) -> XnatSession:
    """A (not yet logged-in) session on the workspace's XNAT, with its credentials and CA."""
    from eucaim.ingest.upload.xnat_session import XnatSession, split_credentials

    node = ws.config.node
    return XnatSession(
        node.url,
        lambda: split_credentials(node.username, ws.token),
        ca_bundle=ws.ca_bundle,
        timeout_s=node.timeout_s,
        retry=RetryPolicy(max_attempts=ws.config.transfer.max_attempts),
        transport=transport,
    )


@contextmanager
def xnatpy_connection(ws: Workspace) -> Iterator[Any]:
    """The real xnatpy client logged in to the workspace's XNAT (clinical data, releases by hand)."""
    from eucaim.ingest.upload.xnat_client import connect_xnatpy
    from eucaim.ingest.upload.xnat_session import split_credentials

    node = ws.config.node
    with connect_xnatpy(
        node.url, lambda: split_credentials(node.username, ws.token), ca_bundle=ws.ca_bundle
    ) as connection:
        yield connection


def build_xnat_target(
    ws: Workspace, *, session: XnatSession | None = None, rate_limiter: RateLimiter | None = None
) -> XnatTarget:
    """The XNAT target of a workspace: its project, the side index ``xnat.db``, zips next to the outbox."""
    from eucaim.ingest.upload.xnat import XnatTarget
    from eucaim.ingest.upload.xnat_index import INDEX_NAME, XnatIndex

    node = ws.config.node
    return XnatTarget(
        session or xnat_session(ws),
        node.project,
        index=XnatIndex(ws.path / INDEX_NAME),
        zip_dir=ws.path / "xnat-zips",
        dest=node.xnat_dest or "archive",
        rate_limiter=rate_limiter,
    )
