"""Clinical record routes: one subject's record (PUT/GET), the biobank's list, and bulk upload.

Biobank managers (and admins) write; validators, admins and managers read; others get 403.
A refused single PUT answers 422 with the problems; the bulk POST answers 200 with a result per
record, since some may be stored while others are refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import JSONResponse

from eucaim.node.api.deps import Context, CurrentCaller, ReadableBiobank, WritableBiobank
from eucaim.node.api.errors import PROBLEM_JSON
from eucaim.node.clinical_rules import RecordResult, RecordStatus
from eucaim.node.errors import RequestTooLarge
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
)
def put_subject_record(
    pseudonym: str,
    context: Context,
    caller: CurrentCaller,
    biobank: WritableBiobank,
    record: Annotated[dict[str, Any], Body(description="The record as eucaim-ingest builds it")],
) -> JSONResponse:
    """Validate the record against the biobank's schema and store it as the next version."""
    result = put_record(
        context.sessions, biobank_id=biobank.id, document=record, user_id=caller.user_id, subject=pseudonym
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


@router.post("/clinical", summary="Store many clinical records (each on its own)")
def post_records(
    context: Context,
    caller: CurrentCaller,
    biobank: WritableBiobank,
    records: Annotated[list[Any], Body(description=f"At most {MAX_BULK_RECORDS} records")],
) -> dict[str, Any]:
    """Validate and store each record in its own transaction; return a result per record, in order."""
    if len(records) > MAX_BULK_RECORDS:
        raise RequestTooLarge(
            f"{len(records)} records in one request; the limit is {MAX_BULK_RECORDS}",
            hint=f"send the records in chunks of at most {MAX_BULK_RECORDS}",
        )
    results = put_records(context.sessions, biobank_id=biobank.id, documents=records, user_id=caller.user_id)
    counts = {status.value: sum(r.status is status for r in results) for status in RecordStatus}
    return {"counts": counts, "results": [r.as_json() for r in results]}
