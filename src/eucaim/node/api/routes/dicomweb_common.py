"""Shared bits of the DICOMweb routes: the per-biobank router prefix and RetrieveURL building."""

from __future__ import annotations

from fastapi import Request

from eucaim.node.api.deps import BiobankRef
from eucaim.node.context import NodeContext
from eucaim.node.services.stow import DicomwebUrls

PREFIX = "/biobanks/{code}/dicom-web"
DICOM_JSON = "application/dicom+json"


def biobank_urls(request: Request, context: NodeContext, biobank: BiobankRef) -> DicomwebUrls:
    """Return the URL builder of a biobank's DICOMweb root, as seen by the caller."""
    base = context.settings.public_url or str(request.base_url)
    return DicomwebUrls(f"{base.rstrip('/')}/biobanks/{biobank.code}/dicom-web")
