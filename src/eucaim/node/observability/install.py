"""Wire the metrics, the request-id middleware and the operations routes into a node app."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from eucaim.node.observability.metrics import NodeMetrics
from eucaim.node.observability.middleware import ObservabilityMiddleware
from eucaim.node.observability.routes import router


def install_observability(app: FastAPI, *, engine: Engine) -> NodeMetrics:
    """Add /metrics, /health/ready and the middleware to ``app``; return its metrics."""
    metrics = NodeMetrics()
    metrics.watch_jobs(engine)
    app.state.metrics = metrics
    app.include_router(router)
    # Outermost, so every response (errors included) gets a request id and is counted.
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    return metrics
