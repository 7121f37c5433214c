"""/biobank-requests: data ingesters ask for a biobank, admins approve or decline with a reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from eucaim.node.api.deps import Context, CurrentCaller
from eucaim.node.db import session_scope
from eucaim.node.models_accounts import RequestStatus
from eucaim.node.services.biobank_requests import (
    RequestView,
    approve_request,
    decline_request,
    get_request,
    list_requests,
    submit_request,
)

router = APIRouter(tags=["biobank requests"])

# Ids are INTEGER columns (32-bit on PostgreSQL): a larger id can match no request, and the
# database refuses it (PostgreSQL: integer out of range; SQLite: OverflowError past 64 bits), so
# the bound turns that into a 422 instead of a 500.
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class BiobankRequestCreate(BaseModel):
    """What a data ingester asks for."""

    code: str = Field(description="Biobank code used in URLs: letters, digits, '-' and '_'", max_length=64)
    name: str = Field(description="Human-readable name", max_length=256)
    description: str = Field("", max_length=4000)
    url: str | None = Field(None, description="Web page of the collection, if any", max_length=1024)


class BiobankRequestDecline(BaseModel):
    """Why a request is declined (shown to the requester)."""

    reason: str = Field(min_length=1, max_length=4000)


class BiobankRequestPublic(BaseModel):
    """A request and, once decided, the decision."""

    id: int
    code: str
    name: str
    description: str
    url: str | None
    status: RequestStatus
    reason: str | None
    requester: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    biobank: str | None = Field(description="Code of the biobank made on approval")


class BiobankRequestsPublic(BaseModel):
    """A list of requests, oldest first."""

    requests: list[BiobankRequestPublic]


def _public(view: RequestView) -> BiobankRequestPublic:
    return BiobankRequestPublic.model_validate(view, from_attributes=True)


@router.post(
    "/biobank-requests",
    status_code=201,
    summary="Ask for a new biobank (data ingesters); an admin approves or declines it",
)
def create_request(
    body: BiobankRequestCreate, context: Context, caller: CurrentCaller
) -> BiobankRequestPublic:
    """Record the request; 409 when the code is taken or already asked for."""
    with session_scope(context.sessions) as session:
        view = submit_request(
            session,
            requester_id=caller.user_id,
            code=body.code,
            name=body.name,
            description=body.description,
            url=body.url,
            now=datetime.now(UTC),
        )
    return _public(view)


@router.get("/biobank-requests", summary="List biobank requests (admins: all; data ingesters: their own)")
def list_all(
    context: Context,
    caller: CurrentCaller,
    status: Annotated[RequestStatus | None, Query(description="Only requests in this state")] = None,
) -> BiobankRequestsPublic:
    """Return the requests the caller may see, oldest first."""
    with session_scope(context.sessions) as session:
        views = list_requests(session, viewer_id=caller.user_id, status=status)
    return BiobankRequestsPublic(requests=[_public(v) for v in views])


@router.get("/biobank-requests/{request_id}", summary="One biobank request (its requester, or an admin)")
def show(request_id: RequestId, context: Context, caller: CurrentCaller) -> BiobankRequestPublic:
    """Return the request; 404 when it does not exist or is someone else's."""
    with session_scope(context.sessions) as session:
        return _public(get_request(session, viewer_id=caller.user_id, request_id=request_id))


@router.post(
    "/biobank-requests/{request_id}/approve",
    summary="Approve a pending request (admins): the biobank is created, managed by the requester",
)
def approve(request_id: RequestId, context: Context, caller: CurrentCaller) -> BiobankRequestPublic:
    """Create the biobank; 409 when the request was decided already."""
    with session_scope(context.sessions) as session:
        view = approve_request(
            session, decider_id=caller.user_id, request_id=request_id, now=datetime.now(UTC)
        )
    return _public(view)


@router.post(
    "/biobank-requests/{request_id}/decline", summary="Decline a pending request with a reason (admins)"
)
def decline(
    request_id: RequestId, body: BiobankRequestDecline, context: Context, caller: CurrentCaller
) -> BiobankRequestPublic:
    """Record the refusal and its reason; 409 when the request was decided already."""
    with session_scope(context.sessions) as session:
        view = decline_request(
            session,
            decider_id=caller.user_id,
            request_id=request_id,
            reason=body.reason,
            now=datetime.now(UTC),
        )
    return _public(view)
