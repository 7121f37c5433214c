"""GET /metrics (Prometheus, for the metrics token or an admin) and GET /health/ready (readiness).

``/health`` stays the liveness probe a load balancer may poll; ``/health/ready`` answers 503 while
the database or the image store cannot serve, so the balancer stops sending traffic to the worker.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from eucaim.errors import PermissionDenied
from eucaim.node.api.deps import Context
from eucaim.node.errors import MissingCredentials
from eucaim.node.observability.metrics import CONTENT_TYPE, NodeMetrics
from eucaim.node.oidc import verifier_for
from eucaim.node.roles import Role
from eucaim.node.services.health import check_health
from eucaim.node.services.tokens import authenticate_bearer

router = APIRouter(tags=["operations"])

_bearer = HTTPBearer(auto_error=False, description="EUCAIM_NODE_METRICS_TOKEN, or an admin's API token")


def metrics_reader(
    request: Request,
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let the metrics token (a scraper's shared secret) or an admin through.

    Raises:
        MissingCredentials: no bearer token.
        AuthenticationError: a token the node does not know.
        PermissionDenied: a valid token of a user who is not an admin.
    """
    if credentials is None:
        raise MissingCredentials(
            "/metrics needs the metrics token or an admin's API token",
            status_code=401,
            hint="send 'Authorization: Bearer <EUCAIM_NODE_METRICS_TOKEN>'",
        )
    configured = context.settings.metrics_token
    if configured is not None and hmac.compare_digest(
        credentials.credentials.encode(), configured.get_secret_value().encode()
    ):
        return
    verifier = verifier_for(request.app.state, context.settings.oidc)
    bearer = authenticate_bearer(
        context.sessions, token=credentials.credentials, now=datetime.now(UTC), verifier=verifier
    )
    if bearer.role != Role.ADMIN:
        raise PermissionDenied(f"user {bearer.name!r} is not an admin; /metrics is for operators")


@router.get(
    "/metrics",
    summary="Prometheus metrics of this worker (metrics token or admin)",
    dependencies=[Depends(metrics_reader)],
    response_class=Response,
)
async def metrics(request: Request) -> Response:
    """Return this process's metrics; job queue gauges are read from the shared database."""
    node_metrics: NodeMetrics = request.app.state.metrics
    body = await run_in_threadpool(node_metrics.exposition)
    return Response(body, media_type=CONTENT_TYPE)


@router.get("/health/ready", summary="Readiness: 200 when the database and the image store serve")
async def ready(context: Context) -> JSONResponse:
    """Return 200 ``ready`` or 503 ``not ready`` with each dependency's verdict (no token needed)."""
    report = await run_in_threadpool(check_health, engine=context.engine, store=context.store)
    body = {
        "status": "ready" if report.ok else "not ready",
        "database": report.database,
        "store": report.store,
    }
    return JSONResponse(body, status_code=200 if report.ok else 503)
