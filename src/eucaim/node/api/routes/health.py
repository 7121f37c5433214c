"""GET /health: the node's database and image store, for load balancers and operators."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from eucaim.node.api.deps import Context
from eucaim.node.services.health import check_health

router = APIRouter(tags=["operations"])


@router.get("/health", summary="Check the database and the image store (no token needed)")
async def health(context: Context) -> JSONResponse:
    """Return 200 with ``status: ok`` when both work, else 503 with what fails."""
    report = await run_in_threadpool(check_health, engine=context.engine, store=context.store)
    body = {"status": "ok" if report.ok else "failing", "database": report.database, "store": report.store}
    return JSONResponse(body, status_code=200 if report.ok else 503)
