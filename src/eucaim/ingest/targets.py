"""Build the upload target a workspace is configured for."""

from __future__ import annotations

from eucaim.errors import ConfigError
from eucaim.ingest.pipeline.pacing import RateLimiter
from eucaim.ingest.upload.base import Target
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.workspace import Workspace


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
    raise ConfigError(f"target kind {node.kind!r} is not available in this version")
