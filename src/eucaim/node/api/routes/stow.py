"""STOW-RS routes: receive a multipart/related body, spool it to disk, store each instance."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import ClientDisconnect

from eucaim.dicomweb.mediatype import APPLICATION_DICOM, MULTIPART_RELATED, parse_media_type
from eucaim.dicomweb.multipart import PartSpooler, SpoolResult
from eucaim.dicomweb.status import FailureReason, stow_http_status
from eucaim.dicomweb.store_response import FailedInstance, build_store_response
from eucaim.node.api.deps import BiobankRef, Context, WritableBiobank
from eucaim.node.api.routes.dicomweb_common import DICOM_JSON, PREFIX, biobank_urls
from eucaim.node.context import NodeContext
from eucaim.node.errors import InvalidRequest, RequestTooLarge
from eucaim.node.services.stow import store_parts

logger = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["DICOMweb STOW-RS"])

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {'multipart/related; type="application/dicom"': {"schema": {"type": "string"}}},
    }
}
_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"description": "all instances stored (Store Instances Response)"},
    202: {"description": "some instances stored, some refused: see FailedSOPSequence"},
    400: {"description": "body unreadable: nothing stored"},
    409: {"description": "nothing stored: every instance refused (FailedSOPSequence says why)"},
    413: {"description": "body larger than the node accepts (EUCAIM_NODE_MAX_REQUEST_BYTES)"},
    415: {"description": 'Content-Type is not multipart/related; type="application/dicom"'},
}


@router.post(
    "/studies",
    summary="Store instances (STOW-RS)",
    openapi_extra=_BODY_DOC,
    responses=_RESPONSES,
)
async def store_studies(request: Request, context: Context, biobank: WritableBiobank) -> JSONResponse:
    """Store de-identified instances into the biobank."""
    return await _stow(request, context, biobank, url_study_uid=None)


@router.post(
    "/studies/{study}",
    summary="Store instances of one study (STOW-RS)",
    openapi_extra=_BODY_DOC,
    responses=_RESPONSES,
)
async def store_study(
    request: Request, study: str, context: Context, biobank: WritableBiobank
) -> JSONResponse:
    """Store de-identified instances that must all belong to ``study``."""
    return await _stow(request, context, biobank, url_study_uid=study)


def _boundary(request: Request) -> str:
    media = parse_media_type(request.headers.get("content-type", ""))
    part_type = media.param("type")
    if media.type != MULTIPART_RELATED or (
        part_type and parse_media_type(part_type).type != APPLICATION_DICOM
    ):
        raise HTTPException(
            415, f'STOW-RS takes multipart/related; type="application/dicom", not {media.type or "nothing"}'
        )
    boundary = media.param("boundary")
    if not boundary:
        raise InvalidRequest("multipart/related Content-Type has no boundary parameter", parameter="boundary")
    return boundary


async def _receive(request: Request, spooler: PartSpooler, limit: int) -> SpoolResult | None:
    """Spool the body to disk as it arrives; None when the client went away mid-body.

    Raises:
        RequestTooLarge: the body is, or announces to be, larger than ``limit``.
    """
    declared = request.headers.get("content-length", "")
    too_large = declared.isdigit() and int(declared) > limit
    received = 0
    try:
        if not too_large:
            async for chunk in request.stream():
                received += len(chunk)
                if received > limit:  # a chunked body declares no length up front
                    too_large = True
                    break
                spooler.feed(chunk)
    except ClientDisconnect:
        spooler.close()
        return None
    result = spooler.close()
    if too_large:
        raise RequestTooLarge(
            f"STOW body exceeds this node's limit of {limit} bytes; nothing was stored",
            hint="send the instances in several smaller requests",
        )
    return result


async def _stow(
    request: Request, context: NodeContext, biobank: BiobankRef, *, url_study_uid: str | None
) -> JSONResponse:
    boundary = _boundary(request)
    context.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    spool_dir = Path(tempfile.mkdtemp(prefix="stow-", dir=context.settings.tmp_dir))
    try:
        try:
            spooler = PartSpooler(boundary, spool_dir)
        except ValueError as exc:
            raise InvalidRequest(str(exc), parameter="boundary") from None
        spooled = await _receive(request, spooler, context.settings.max_request_bytes)
        if spooled is None:
            # Nobody is left to read an answer, and nothing was stored: just drop the spool.
            logger.info("STOW into biobank %s abandoned: the client disconnected mid-body", biobank.code)
            return JSONResponse({}, status_code=400, media_type=DICOM_JSON)
        urls = biobank_urls(request, context, biobank)
        outcome = await run_in_threadpool(
            store_parts,
            factory=context.sessions,
            store=context.store,
            biobank_id=biobank.id,
            biobank_code=biobank.code,
            parts=spooled.parts,
            url_study_uid=url_study_uid,
            urls=urls,
            spool_error=spooled.error,
        )
    finally:
        await run_in_threadpool(shutil.rmtree, spool_dir, True)
    failed = list(outcome.failed)
    if spooled.error and all(part.complete for part in spooled.parts):
        failed.append(FailedInstance(None, None, FailureReason.CANNOT_UNDERSTAND, spooled.error))
    study_uid = url_study_uid or (next(iter(outcome.study_uids)) if len(outcome.study_uids) == 1 else None)
    body = build_store_response(
        retrieve_url=urls.study(study_uid) if study_uid else None, stored=outcome.stored, failed=failed
    )
    status = stow_http_status(stored=len(outcome.stored), failures=[f.failure_reason for f in failed])
    return JSONResponse(body, status_code=int(status), media_type=DICOM_JSON)
