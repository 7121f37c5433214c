"""Biobank requests: a data ingester asks, an admin approves (the biobank is made) or declines with a reason.

Replaces the real node's helpdesk ticket "Create a data ingestion imaging biobank". Deciding is a
one-way step: only a pending request can be approved or declined, and only once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from eucaim.errors import Conflict, NotFound, PermissionDenied
from eucaim.node.errors import InvalidRequest
from eucaim.node.models import Biobank, User
from eucaim.node.models_accounts import BiobankRequest, RequestStatus
from eucaim.node.request_rules import (
    can_decide_request,
    can_list_requests,
    can_see_request,
    can_submit_request,
)
from eucaim.node.services.biobanks import create_biobank
from eucaim.node.store import is_valid_biobank_code

logger = logging.getLogger(__name__)

MAX_DESCRIPTION = 4000
OPERATOR = "node operator"  # who decided, when it was done with `eucaim-node request` on the server


@dataclass(frozen=True)
class RequestView:
    """A biobank request as its requester and admins see it."""

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
    biobank: str | None


def _view(row: BiobankRequest) -> RequestView:
    decided_by = row.decided_by.name if row.decided_by else (OPERATOR if row.decided_at else None)
    return RequestView(
        id=row.id,
        code=row.code,
        name=row.name,
        description=row.description,
        url=row.url,
        status=row.status,
        reason=row.reason,
        requester=row.requester.name,
        created_at=row.created_at,
        decided_at=row.decided_at,
        decided_by=decided_by,
        biobank=row.biobank.code if row.biobank else None,
    )


def _user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user id {user_id} does not exist")
    return user


def _validate(code: str, name: str, description: str, url: str | None) -> None:
    if not is_valid_biobank_code(code):
        raise InvalidRequest(
            f"biobank code {code!r} is invalid: use 1-64 letters, digits, '-' or '_', starting with a "
            "letter or digit",
            parameter="code",
        )
    if not name.strip() or len(name) > 256:
        raise InvalidRequest("a biobank name has 1 to 256 characters", parameter="name")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidRequest(f"the description exceeds {MAX_DESCRIPTION} characters", parameter="description")
    if url is not None and (not url.startswith(("https://", "http://")) or len(url) > 1024):
        raise InvalidRequest("the URL must be an http(s) address of at most 1024 characters", parameter="url")


def submit_request(
    session: Session,
    *,
    requester_id: int,
    code: str,
    name: str,
    description: str = "",
    url: str | None = None,
    now: datetime,
) -> RequestView:
    """Record a request for biobank ``code``.

    Raises:
        PermissionDenied: the requester is not a data ingester.
        InvalidRequest: bad code, name, description or URL.
        Conflict: the biobank exists, or another request for the code is pending.
    """
    requester = _user(session, requester_id)
    if not can_submit_request(requester.role):
        raise PermissionDenied(
            f"a {requester.role.value} cannot request a biobank; data ingesters do",
            hint="admins create biobanks directly: `eucaim-node biobank create`",
        )
    _validate(code, name, description, url)
    if session.scalar(select(Biobank.id).where(Biobank.code == code)) is not None:
        raise Conflict(f"biobank {code!r} already exists", hint="pick another code")
    pending = select(BiobankRequest.id).where(
        BiobankRequest.code == code, BiobankRequest.status == RequestStatus.PENDING
    )
    if session.scalar(pending) is not None:
        raise Conflict(f"a request for biobank {code!r} is already pending", hint="wait for an admin")
    row = BiobankRequest(
        code=code,
        name=name.strip(),
        description=description.strip(),
        url=url,
        requester=requester,
        status=RequestStatus.PENDING,
        created_at=now,
    )
    session.add(row)
    session.flush()
    logger.info("biobank request id=%d for %s by user id=%d", row.id, code, requester.id)
    return _view(row)


def list_requests(
    session: Session, *, viewer_id: int | None, status: RequestStatus | None = None
) -> list[RequestView]:
    """Return the requests ``viewer_id`` may see (all for admins and the operator, None), oldest first.

    Raises:
        PermissionDenied: the viewer's role sees no requests.
    """
    query = select(BiobankRequest).order_by(BiobankRequest.id)
    if viewer_id is not None:
        viewer = _user(session, viewer_id)
        if not can_list_requests(viewer.role):
            raise PermissionDenied(f"a {viewer.role.value} does not see biobank requests")
        if not can_decide_request(viewer.role):
            query = query.where(BiobankRequest.requester_id == viewer.id)
    if status is not None:
        query = query.where(BiobankRequest.status == status)
    return [_view(row) for row in session.scalars(query)]


def _visible(session: Session, request_id: int, viewer_id: int | None) -> BiobankRequest:
    row = session.get(BiobankRequest, request_id)
    if row is not None and viewer_id is not None:
        viewer = _user(session, viewer_id)
        if not can_see_request(viewer.role, is_requester=row.requester_id == viewer.id):
            row = None  # someone else's request: as if it did not exist
    if row is None:
        raise NotFound(
            f"biobank request {request_id} does not exist", hint="list yours with GET /biobank-requests"
        )
    return row


def get_request(session: Session, *, viewer_id: int | None, request_id: int) -> RequestView:
    """Return one request the viewer may see.

    Raises:
        NotFound: no such request, or someone else's.
    """
    return _view(_visible(session, request_id, viewer_id))


def _decidable(session: Session, request_id: int, decider_id: int | None) -> BiobankRequest:
    if decider_id is not None:
        decider = _user(session, decider_id)
        if not can_decide_request(decider.role):
            raise PermissionDenied(f"a {decider.role.value} cannot decide biobank requests; admins do")
    row = _visible(session, request_id, None)
    if row.status is not RequestStatus.PENDING:
        raise Conflict(f"biobank request {request_id} was already {row.status.value}")
    return row


def approve_request(
    session: Session, *, decider_id: int | None, request_id: int, now: datetime
) -> RequestView:
    """Approve a pending request: create the biobank, managed by the requester.

    ``decider_id`` None is the node operator at the server's command line.

    Raises:
        PermissionDenied: the decider is not an admin.
        NotFound: no such request.
        Conflict: it was decided already, or the code was taken meanwhile.
    """
    row = _decidable(session, request_id, decider_id)
    try:
        # A savepoint: a biobank of this code made meanwhile (another admin, the CLI) is a 409.
        with session.begin_nested():
            biobank = create_biobank(session, code=row.code, name=row.name, managers=[row.requester.name])
    except IntegrityError:
        raise Conflict(f"biobank {row.code!r} was created meanwhile; decline this request") from None
    row.status = RequestStatus.APPROVED
    row.biobank = biobank
    row.decided_at = now
    row.decided_by_id = decider_id
    session.flush()
    session.refresh(row)
    logger.info("biobank request id=%d approved: biobank %s created", row.id, row.code)
    return _view(row)


def decline_request(
    session: Session, *, decider_id: int | None, request_id: int, reason: str, now: datetime
) -> RequestView:
    """Decline a pending request, saying why (the requester reads it).

    Raises:
        InvalidRequest: no reason given.
        PermissionDenied, NotFound, Conflict: as for :func:`approve_request`.
    """
    if not reason.strip():
        raise InvalidRequest("declining needs a reason the requester can act on", parameter="reason")
    row = _decidable(session, request_id, decider_id)
    row.status = RequestStatus.DECLINED
    row.reason = reason.strip()
    row.decided_at = now
    row.decided_by_id = decider_id
    session.flush()
    session.refresh(row)
    logger.info("biobank request id=%d declined", row.id)
    return _view(row)
