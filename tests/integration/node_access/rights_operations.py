"""Rights of the operations endpoints: readiness for anyone (load balancers), metrics for admins.

``GET /metrics`` also opens to ``EUCAIM_NODE_METRICS_TOKEN``; that path is tested in
tests/integration/node_ops/test_ops_metrics_logs.py.
"""

from __future__ import annotations

RIGHTS: dict[str, str] = {
    "GET /health/ready": "ok ok ok ok ok",
    "GET /metrics": "401 403 403 403 ok",
}
