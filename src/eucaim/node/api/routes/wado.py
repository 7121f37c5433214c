"""WADO-RS routes: retrieve instances (multipart/related; type="application/dicom") and metadata."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from eucaim.dicomweb.mediatype import APPLICATION_DICOM, parse_media_type
from eucaim.dicomweb.multipart import encode_multipart, multipart_related_type, new_boundary
from eucaim.errors import NotFound, StateError
from eucaim.node.api.deps import BiobankRef, Context, ReadableBiobank
from eucaim.node.api.routes.dicomweb_common import DICOM_JSON, PREFIX
from eucaim.node.context import NodeContext
from eucaim.node.services.wado import StoredObject, find_objects, read_metadata
from eucaim.node.store import ImageStore

logger = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["DICOMweb WADO-RS"])

_CHUNK = 256 * 1024


def _check_accept(request: Request) -> None:
    """Refuse (406) an Accept header that rules out multipart/related DICOM."""
    accept = request.headers.get("accept", "")
    if not accept:
        return
    for entry in accept.split(","):
        media = parse_media_type(entry.strip())
        part_type = media.param("type")
        if media.type in ("*/*", "multipart/*"):
            return
        if media.type == "multipart/related" and (not part_type or part_type == APPLICATION_DICOM):
            return
    raise HTTPException(406, 'this node serves instances as multipart/related; type="application/dicom" only')


def _object_chunks(store: ImageStore, obj: StoredObject, opened: BinaryIO | None = None) -> Iterator[bytes]:
    with opened if opened is not None else store.open(obj.storage_key) as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _open_first(store: ImageStore, objects: list[StoredObject], biobank: BiobankRef) -> BinaryIO | None:
    """Open the first object before the 200 goes out, so a lost object is a 404, not a cut stream."""
    if not objects:
        return None
    try:
        return store.open(objects[0].storage_key)
    except NotFound:
        logger.error("an indexed object is missing from the image store of biobank %s", biobank.code)
        raise NotFound(
            "the node's index lists this instance but its stored object is missing",
            hint="send the instance again (eucaim-ingest push --resend); the node writes it back",
        ) from None


def _retrieve(request: Request, context: NodeContext, biobank: BiobankRef, **where: str) -> StreamingResponse:
    _check_accept(request)
    with context.sessions() as session:
        objects = find_objects(session, biobank_id=biobank.id, **where)
    first = _open_first(context.store, objects, biobank)
    boundary = new_boundary()
    parts = (
        (
            f"{APPLICATION_DICOM}; transfer-syntax={obj.transfer_syntax_uid}",
            _object_chunks(context.store, obj, first if index == 0 else None),
        )
        for index, obj in enumerate(objects)
    )
    return StreamingResponse(
        encode_multipart(parts, boundary), media_type=multipart_related_type(boundary, APPLICATION_DICOM)
    )


def _metadata(context: NodeContext, biobank: BiobankRef, **where: str) -> JSONResponse:
    with context.sessions() as session:
        objects = find_objects(session, biobank_id=biobank.id, **where)
    try:
        body = [read_metadata(context.store, obj) for obj in objects]
    except StateError:
        logger.error("an indexed object is missing from the image store of biobank %s", biobank.code)
        raise
    return JSONResponse(body, media_type=DICOM_JSON)


@router.get("/studies/{study}", summary="Retrieve a study's instances (WADO-RS)")
def retrieve_study(
    request: Request, study: str, context: Context, biobank: ReadableBiobank
) -> StreamingResponse:
    """Stream every instance of the study as one multipart/related body."""
    return _retrieve(request, context, biobank, study_uid=study)


@router.get("/studies/{study}/series/{series}", summary="Retrieve a series' instances (WADO-RS)")
def retrieve_series(
    request: Request, study: str, series: str, context: Context, biobank: ReadableBiobank
) -> StreamingResponse:
    """Stream every instance of the series."""
    return _retrieve(request, context, biobank, study_uid=study, series_uid=series)


@router.get("/studies/{study}/series/{series}/instances/{instance}", summary="Retrieve an instance (WADO-RS)")
def retrieve_instance(
    request: Request, study: str, series: str, instance: str, context: Context, biobank: ReadableBiobank
) -> StreamingResponse:
    """Stream one instance, byte-identical to what was stored."""
    return _retrieve(request, context, biobank, study_uid=study, series_uid=series, sop_uid=instance)


@router.get("/studies/{study}/metadata", summary="Retrieve a study's metadata (WADO-RS)")
def study_metadata(study: str, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return the DICOM JSON of every instance of the study, without pixel data."""
    return _metadata(context, biobank, study_uid=study)


@router.get("/studies/{study}/series/{series}/metadata", summary="Retrieve a series' metadata (WADO-RS)")
def series_metadata(study: str, series: str, context: Context, biobank: ReadableBiobank) -> JSONResponse:
    """Return the DICOM JSON of every instance of the series."""
    return _metadata(context, biobank, study_uid=study, series_uid=series)


@router.get(
    "/studies/{study}/series/{series}/instances/{instance}/metadata",
    summary="Retrieve an instance's metadata (WADO-RS)",
)
def instance_metadata(
    study: str, series: str, instance: str, context: Context, biobank: ReadableBiobank
) -> JSONResponse:
    """Return the instance's DICOM JSON (a one-element array)."""
    return _metadata(context, biobank, study_uid=study, series_uid=series, sop_uid=instance)
