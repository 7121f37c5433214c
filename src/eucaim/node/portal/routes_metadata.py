"""The data holder's metadata form: POST /portal/my/datasets/{id}/metadata, one PATCH through the service.

A refused value is shown at its own field with the service's message (EUCAIM's dataset explorer
swallowed PATCH errors); the other fields keep what the user typed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from eucaim.errors import EucaimError
from eucaim.node.api.errors import status_for
from eucaim.node.db import session_scope
from eucaim.node.errors import InvalidRequest
from eucaim.node.portal.metadata_form import changes, error_field, submitted_values
from eucaim.node.portal.routes_member import dataset_page_response
from eucaim.node.portal.web import PortalRoute, check_csrf, context_of, redirect, require_user
from eucaim.node.services import datasets

router = APIRouter(prefix="/portal", route_class=PortalRoute, include_in_schema=False)


@router.post("/my/datasets/{dataset_id}/metadata", response_class=HTMLResponse)
async def edit_metadata(dataset_id: str, request: Request) -> Response:
    """Apply the changed fields; on refusal show the page again with the error at its field."""
    form = await request.form()
    plain = {k: v for k, v in form.items() if isinstance(v, str)}
    lists = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in ("type", "collectionMethod")}
    return await run_in_threadpool(_apply, request, dataset_id, plain, lists)


def _apply(request: Request, dataset_id: str, plain: dict[str, str], lists: dict[str, list[str]]) -> Response:
    user = require_user(request)
    check_csrf(request, plain.get("csrf"))
    submitted = submitted_values(plain, lists)
    node = context_of(request)
    try:
        with session_scope(node.sessions) as session:
            view = datasets.show_dataset(session, dataset_id=dataset_id, user_id=user.user_id)
            patch = changes(view, submitted, view["editableProperties"])
            if patch:
                datasets.update_properties(
                    session, dataset_id=dataset_id, user_id=user.user_id, changes=patch, now=datetime.now(UTC)
                )
    except EucaimError as exc:
        message = exc.args[0] if exc.args else str(exc)
        field = error_field(exc.parameter) if isinstance(exc, InvalidRequest) else ""
        return dataset_page_response(
            request,
            dataset_id,
            status=status_for(exc),
            form_errors={field or "_form": message},
            form=submitted,
        )
    return redirect(f"/portal/my/datasets/{dataset_id}?done={'saved' if patch else 'unchanged'}")
