"""Work the queue in a node process: the procrastinate worker plus the loop that requeues stalled jobs.

``eucaim-node serve`` on PostgreSQL runs one beside the HTTP API by default (:func:`install_jobs`;
``--no-jobs`` leaves it out), and ``eucaim-node worker`` runs one alone (:func:`work_queue`), so jobs
are worked on whichever hosts a deployment chooses. SQLite nodes run their jobs in process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import procrastinate
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from eucaim.node.context import NodeContext
from eucaim.node.jobs.queue import QUEUE, QueueJobRunner, build_queue_app
from eucaim.node.jobs.schema import ensure_queue_schema

logger = logging.getLogger(__name__)


async def requeue_stalled(app: procrastinate.App, *, stalled_after_s: float) -> int:
    """Put jobs of workers silent for ``stalled_after_s`` back in the queue; return how many."""
    stalled = await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_after_s)
    count = 0
    for job in stalled:
        await app.job_manager.retry_job(job)
        logger.warning("requeued job %s (%s): its worker stopped", job.id, job.task_name)
        count += 1
    return count


async def _requeue_forever(app: procrastinate.App, stalled_after_s: float) -> None:
    while True:
        try:
            await requeue_stalled(app, stalled_after_s=stalled_after_s)
        except Exception:  # a database blip must not end the loop; the next round retries
            logger.exception("could not look for stalled jobs")
        await asyncio.sleep(stalled_after_s / 3)


# After the database went away, wait this long before working the queue again.
RESTART_DELAY_S = 5.0
# Jobs one process runs at once (each in a thread): a migration of hours leaves a slot for the
# dataset jobs that data holders wait on.
JOB_SLOTS = 2


async def work_queue(context: NodeContext) -> None:
    """Run the worker until cancelled; a lost database restarts it instead of ending it."""
    while True:
        try:
            await _work_queue_once(context)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The HTTP side keeps serving (readiness reports the database); jobs wait meanwhile.
            logger.error("the job queue worker stopped (%s); restarting", type(exc).__name__)
            await asyncio.sleep(RESTART_DELAY_S)


async def _work_queue_once(context: NodeContext) -> None:
    settings = context.settings
    stalled_after = settings.jobs_stalled_after_s
    app = build_queue_app(context, for_worker=True)
    async with app.open_async():
        requeuer = asyncio.create_task(_requeue_forever(app, stalled_after), name="requeue-stalled")
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=JOB_SLOTS,
                install_signal_handlers=False,
                update_heartbeat_interval=stalled_after / 3,
                stalled_worker_timeout=stalled_after,
                delete_jobs="successful",
            )
        finally:
            requeuer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await requeuer


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("the job queue worker stopped: %s", task.exception())


def install_jobs(app: FastAPI, context: NodeContext) -> None:
    """On PostgreSQL, defer jobs to the queue and, unless told not to, work it while ``app`` runs.

    Setting ``app.state.work_queue = False`` before the app starts (``serve --no-jobs``) keeps
    the queue out of this process: jobs are still queued, and ``eucaim-node worker`` runs them.
    """
    if context.settings.is_sqlite:
        return
    runner = QueueJobRunner(context)
    app.state.dataset_jobs = runner
    app.state.node_jobs = runner
    inner: Callable[[FastAPI], AbstractAsyncContextManager[Any]] = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[Any]:
        worker: asyncio.Task[None] | None = None
        if getattr(application.state, "work_queue", True):
            await run_in_threadpool(ensure_queue_schema, context.settings.resolved_database_url)
            worker = asyncio.create_task(work_queue(context), name="eucaim-job-queue")
            worker.add_done_callback(_report_end)
        try:
            async with inner(application) as state:
                yield state
        finally:
            if worker is not None:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await run_in_threadpool(runner.close)

    app.router.lifespan_context = lifespan
