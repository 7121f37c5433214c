"""Prometheus metrics of one node process: requests, latency, STOW volume, jobs and queue, errors.

Every app gets its own registry, so several nodes in one process (tests) never mix their counts.
Labels are route templates (``/biobanks/{code}/dicom-web/studies``), never concrete paths: a
path holds UIDs and biobank codes, which would explode the series count and leak data.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from eucaim.node.jobs.models import JobKind, JobStatus, NodeJob
from eucaim.node.jobs.queue import QUEUE_SCHEMA
from eucaim.node.models_datasets import DatasetJob

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds; STOW of a large batch takes seconds, a QIDO milliseconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# DICOM JSON tags of the Store Instances Response sequences.
REFERENCED_SOP_SEQUENCE = "00081199"
FAILED_SOP_SEQUENCE = "00081198"

# The ``kind`` label of dataset creation jobs (kept in dataset_jobs); the others are JobKind values.
DATASET_CREATION = "dataset-creation"
JOB_KINDS = (DATASET_CREATION, *(kind.value for kind in JobKind))


class JobQueueCollector(Collector):
    """Reports the node's jobs and the queue's depth at scrape time from the database.

    The database is the truth shared by all workers, so every worker reports the same figures.
    Every kind and status is reported, 0 included, so an alert on a status needs no ``absent()``.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterable[Metric]:
        jobs = GaugeMetricFamily(
            "eucaim_node_jobs",
            "Node jobs by kind (dataset-creation, aggregate, store-migration) and status (all workers).",
            labels=["kind", "status"],
        )
        creation = GaugeMetricFamily(
            "eucaim_node_dataset_jobs",
            'Deprecated: eucaim_node_jobs{kind="dataset-creation"}. Dataset creation jobs by status.',
            labels=["status"],
        )
        queue = GaugeMetricFamily(
            "eucaim_node_job_queue_jobs",
            "Durable queue (procrastinate) jobs by status; absent on SQLite.",
            labels=["status"],
        )
        counts: dict[tuple[str, str], int] = {
            (kind, status.value): 0 for kind in JOB_KINDS for status in JobStatus
        }
        try:
            with self._engine.connect() as connection:
                creations = select(DatasetJob.status, func.count()).group_by(DatasetJob.status)
                for status, count in connection.execute(creations):
                    counts[(DATASET_CREATION, str(status))] = int(count)
                others = select(NodeJob.kind, NodeJob.status, func.count()).group_by(
                    NodeJob.kind, NodeJob.status
                )
                for kind, status, count in connection.execute(others):
                    counts[(str(kind), str(status))] = int(count)
                if self._engine.dialect.name == "postgresql":
                    table = f"{QUEUE_SCHEMA}.procrastinate_jobs"
                    exists = connection.execute(text(f"SELECT to_regclass('{table}')")).scalar()
                    if exists:
                        rows = connection.execute(
                            text(f"SELECT status::text, count(*) FROM {table} GROUP BY status")
                        )
                        for status, count in rows:
                            queue.add_metric([str(status)], float(count))
        except SQLAlchemyError:
            # An unreachable database shows in eucaim_node_http_requests_total{route="/health/ready"}.
            return
        for (kind, status), count in sorted(counts.items()):
            jobs.add_metric([kind, status], float(count))
            if kind == DATASET_CREATION:
                creation.add_metric([status], float(count))
        yield jobs
        yield creation
        yield queue


@dataclass
class NodeMetrics:
    """The metric objects of one app; the middleware and /metrics use them."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "eucaim_node_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "eucaim_node_http_request_duration_seconds", "Time from request to last response byte.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter(
            "eucaim_node_http_errors", "Responses with status >= 500, and unhandled exceptions.",
            ["route", "kind"], registry=r,
        )  # fmt: skip
        self.stow_instances = Counter(
            "eucaim_node_stow_instances", "STOW-RS instances by outcome (stored or failed).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.stow_bytes = Counter(
            "eucaim_node_stow_bytes", "Bytes of STOW-RS request bodies received.", registry=r
        )

    def watch_jobs(self, engine: Engine) -> None:
        """Report the job queue depth of ``engine``'s database at each scrape."""
        self.registry.register(JobQueueCollector(engine))

    def observe_request(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request."""
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)
        if status >= 500:
            self.errors.labels(route, "status_5xx").inc()

    def observe_stow(self, *, body_bytes: int, response_body: bytes) -> None:
        """Count the bytes and the stored and failed instances of one STOW-RS response."""
        self.stow_bytes.inc(body_bytes)
        stored, failed = count_store_response(response_body)
        self.stow_instances.labels("stored").inc(stored)
        self.stow_instances.labels("failed").inc(failed)

    def exposition(self) -> bytes:
        """Return the metrics in Prometheus text format."""
        return generate_latest(self.registry)


def count_store_response(body: bytes) -> tuple[int, int]:
    """Return (stored, failed) instance counts of a DICOM JSON Store Instances Response."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return 0, 0
    if not isinstance(parsed, dict):
        return 0, 0

    def items(tag: str) -> int:
        element = parsed.get(tag)
        values = element.get("Value") if isinstance(element, dict) else None
        return len(values) if isinstance(values, list) else 0

    return items(REFERENCED_SOP_SEQUENCE), items(FAILED_SOP_SEQUENCE)
