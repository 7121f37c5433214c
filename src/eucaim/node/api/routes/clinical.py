"""Clinical record routes: one subject's record (PUT/GET), the biobank's list, and bulk upload.

Biobank managers (and admins) write; validators, admins and managers read; others get 403.
A refused single PUT answers 422 with the problems; the bulk POST answers 200 with a result per
record, since some may be stored while others are refused.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from eucaim.node.api.deps import Context, CurrentCaller, ReadableBiobank, WritableBiobank
from eucaim.node.api.errors import PROBLEM_JSON
from eucaim.node.clinical_rules import RecordResult, RecordStatus
from eucaim.node.errors import InvalidRequest, RequestTooLarge
from eucaim.node.services.clinical import (
    StoredRecord,
    get_record,
    list_subjects,
    put_record,
    put_records,
)

router = APIRouter(prefix="/biobanks/{code}", tags=["Clinical records"])

MAX_BULK_RECORDS = 1000
MAX_PAGE = 5000
# A record is a few hundred bytes; this bounds what one request may make the node hold in memory.
MAX_BODY_BYTES = 16 * 1024 * 1024


async def _json_body(request: Request) -> Any:
    """Read and decode the JSON body, refusing more than MAX_BODY_BYTES before holding it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(
            f"the body is not valid JSON: {exc}", hint="send the record(s) as UTF-8 JSON"
        ) from exc


def _too_large() -> RequestTooLarge:
    return RequestTooLarge(
        f"the body exceeds {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        hint="send fewer records per request",
    )


def _body_doc(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _rejected(result: RecordResult) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": f"the clinical record was refused: {len(result.problems)} problem(s)",
        "hint": "fix each problem (its field and rule are given) and send the record again",
    }
    body |= result.as_json()
    return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)


def _stored(record: StoredRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": record.subject,
        "version": record.version,
        "content_hash": record.content_hash,
        "created_at": _time(record.created_at),
        "record": record.record,
    }
    if record.history:
        body["history"] = [
            {"version": v.version, "content_hash": v.content_hash, "created_at": _time(v.created_at)}
            for v in record.history
        ]
    return body


@router.put(
    "/subjects/{pseudonym}/clinical",
    summary="Store one subject's clinical record",
    responses={
        200: {"description": "updated, or unchanged (same content hash)"},
        201: {"description": "created"},
        422: {"description": "refused; the body lists the problems"},
    },
    openapi_extra=_body_doc("The record as eucaim-ingest builds it", {"type": "object"}),
)
async def put_subject_record(
    pseudonym: str, request: Request, context: Context, caller: CurrentCaller, biobank: WritableBiobank
) -> JSONResponse:
    """Validate the record against the biobank's schema and store it as the next version."""
    record = await _json_body(request)
    if not isinstance(record, dict):
        raise InvalidRequest("the body must be one record (a JSON object)", hint="PUT one record per subject")
    result = await run_in_threadpool(
        put_record,
        context.sessions,
        biobank_id=biobank.id,
        document=record,
        user_id=caller.user_id,
        subject=pseudonym,
    )
    if result.status is RecordStatus.REJECTED:
        return _rejected(result)
    body = {k: v for k, v in result.as_json().items() if k != "problems"}
    return JSONResponse(body, status_code=201 if result.status is RecordStatus.CREATED else 200)


@router.get("/subjects/{pseudonym}/clinical", summary="Read one subject's clinical record")
def get_subject_record(
    pseudonym: str,
    context: Context,
    biobank: ReadableBiobank,
    history: Annotated[bool, Query(description="Also list every version with its hash and time")] = False,
    version: Annotated[int | None, Query(ge=1, description="Return this version, not the current")] = None,
) -> dict[str, Any]:
    """Return the current record (or one version) with its content hash and version."""
    with context.sessions() as session:
        stored = get_record(
            session, biobank_id=biobank.id, subject=pseudonym, version=version, history=history
        )
    return _stored(stored)


@router.get("/clinical", summary="List the subjects with a clinical record")
def list_records(
    context: Context,
    biobank: ReadableBiobank,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    """Return subjects (by pseudonym) with their current version and content hash, one page at a time."""
    with context.sessions() as session:
        total, page = list_subjects(session, biobank_id=biobank.id, limit=limit, offset=offset)
    return {
        "total": total,
        "limit": limit,
        "offset": offset,
        "subjects": [
            {
                "subject": s.subject,
                "version": s.version,
                "content_hash": s.content_hash,
                "updated_at": _time(s.updated_at),
            }
            for s in page
        ],
    }


@router.post(
    "/clinical",
    summary="Store many clinical records (each on its own)",
    openapi_extra=_body_doc(f"A list of at most {MAX_BULK_RECORDS} records", {"type": "array"}),
)
async def post_records(
    request: Request, context: Context, caller: CurrentCaller, biobank: WritableBiobank
) -> dict[str, Any]:
    """Validate and store each record in its own transaction; return a result per record, in order."""
    records = await _json_body(request)
    if not isinstance(records, list):
        raise InvalidRequest("the body must be a JSON list of records", hint="wrap the records in [...]")
    if len(records) > MAX_BULK_RECORDS:
        raise RequestTooLarge(
            f"{len(records)} records in one request; the limit is {MAX_BULK_RECORDS}",
            hint=f"send the records in chunks of at most {MAX_BULK_RECORDS}",
        )
    results = await run_in_threadpool(
        put_records, context.sessions, biobank_id=biobank.id, documents=records, user_id=caller.user_id
    )
    counts = {status.value: sum(r.status is status for r in results) for status in RecordStatus}
    return {"counts": counts, "results": [r.as_json() for r in results]}
