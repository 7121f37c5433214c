"""The portal's "Recompute statistics" says "Done" only when the job is done, and otherwise how far it got.

On PostgreSQL the job runs on the queue worker of a real node; the test holds the dataset's row
with a lock of its own, so the job stays running (at its "computing aggregates" step) past the
form's wait, as a long aggregation would. A job that failed after the user left the page is shown
until the statistics are recomputed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from eucaim.node.db import session_scope
from eucaim.node.jobs.models import JobKind, JobStatus
from eucaim.node.jobs.records import end_job, latest_job, request_job
from eucaim.node.jobs.schema import conninfo
from eucaim.node.portal.routes_member import PORTAL_WAIT_S
from tests.support.node_server import running_node, seed_node
from tests.ui_portal.conftest import PortalWorld, seed_world

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the form carries no CSRF token"
    return match.group(1)


@contextmanager
def _signed_in(world: PortalWorld) -> Iterator[httpx.Client]:
    """Yield a portal client signed in as the validator (who may recompute the released dataset)."""
    with httpx.Client(base_url=world.url, timeout=PORTAL_WAIT_S + 30) as client:
        form = client.get("/portal/login")
        token = world.seeded.validator_token
        signed = client.post(
            "/portal/login", data={"token": token, "csrf": _csrf(form.text), "next": "/portal/me"}
        )
        assert signed.status_code == 303
        yield client


def _notice(html: str) -> str:
    match = re.search(
        r'<p class="(?:notice|warning)" role="status" id="aggregation-job">(.*?)</p>', html, re.S
    )
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


@pytest.fixture
def pg_world(tmp_path: Path, postgres_database: str) -> Iterator[tuple[PortalWorld, str]]:
    """A seeded node on PostgreSQL, whose jobs run on its own queue worker; and the database URL."""
    with running_node(tmp_path / "node", database_url=postgres_database) as node:
        yield seed_world(seed_node(node), tmp_path), postgres_database


def _waiting_on_a_lock(blocker: psycopg.Connection[Any]) -> bool:
    blocker.execute("SELECT pg_stat_clear_snapshot()")
    row = blocker.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchone()
    return row is not None and row[0] > 0


def test_a_recompute_still_running_after_the_wait_is_shown_running_not_done(
    pg_world: tuple[PortalWorld, str],
) -> None:
    world, database_url = pg_world
    sessions = world.seeded.node.context.sessions
    blocker = psycopg.connect(conninfo(database_url))
    try:
        blocker.execute("SELECT id FROM datasets WHERE id = %s FOR UPDATE", (world.dataset_id,))
        with _signed_in(world) as client:
            page = client.get(f"/portal/review/{world.dataset_id}")
            asked = time.monotonic()
            posted = client.post(
                f"/portal/my/datasets/{world.dataset_id}/aggregate", data={"csrf": _csrf(page.text)}
            )
            assert time.monotonic() - asked >= PORTAL_WAIT_S  # it did wait for the job first
            assert posted.status_code == 303
            assert posted.headers["location"] == f"/portal/my/datasets/{world.dataset_id}"  # no "done"
            deadline = time.monotonic() + 30
            while not _waiting_on_a_lock(blocker):  # the worker holds the job at its write
                assert time.monotonic() < deadline, "the aggregation job never reached its write"
                time.sleep(0.1)
            running = client.get(posted.headers["location"])
            job = latest_job(sessions, kind=JobKind.AGGREGATE, subject=world.dataset_id)
            assert job is not None and job.status is JobStatus.RUNNING
            assert "Done:" not in running.text
            assert _notice(running.text).startswith(
                "Recomputing the statistics: running, 10 % (computing aggregates). "
                "The statistics below are the previous ones until it ends."
            )
            assert f'href="/portal/my/datasets/{world.dataset_id}">Reload to follow it' in running.text
            review = client.get(f"/portal/review/{world.dataset_id}")  # the validator's page says it too
            assert "Recomputing the statistics: running" in _notice(review.text)

            blocker.rollback()  # the long step ends
            deadline = time.monotonic() + 30
            while (
                job := latest_job(sessions, kind=JobKind.AGGREGATE, subject=world.dataset_id)
            ) and not job.is_done:
                assert time.monotonic() < deadline, "the aggregation job did not finish once unblocked"
                time.sleep(0.1)
            assert job is not None and job.status is JobStatus.FINISHED
            after = client.get(f"/portal/my/datasets/{world.dataset_id}")
            assert _notice(after.text) == ""
            assert "<td>aggregate</td>" in after.text  # the job's audit entry
            # A recompute that ends within the wait says "Done", as before.
            again = client.post(
                f"/portal/my/datasets/{world.dataset_id}/aggregate", data={"csrf": _csrf(after.text)}
            )
            assert again.headers["location"].endswith("?done=aggregate")
            assert "Done: Recompute statistics." in client.get(again.headers["location"]).text
    finally:
        blocker.close()


def test_a_recompute_that_failed_after_the_page_was_left_is_shown_until_one_succeeds(
    world: PortalWorld,
) -> None:
    sessions = world.seeded.node.context.sessions
    # What a worker records when the job fails after the form's wait (the dataset changed meanwhile).
    job, _ = request_job(
        sessions,
        kind=JobKind.AGGREGATE,
        subject=world.dataset_id,
        requested_by="validator",
        now=datetime.now(UTC),
    )
    with session_scope(sessions) as session:
        end_job(
            session,
            job.id,
            status=JobStatus.ERROR,
            message="the dataset changed state while its aggregates were computed",
            now=datetime.now(UTC),
        )
    with _signed_in(world) as client:
        page = client.get(f"/portal/my/datasets/{world.dataset_id}")
        assert _notice(page.text) == (
            "Recomputing the statistics failed: the dataset changed state while its aggregates were computed"
        )
        done = client.post(
            f"/portal/my/datasets/{world.dataset_id}/aggregate", data={"csrf": _csrf(page.text)}
        )
        assert done.headers["location"].endswith("?done=aggregate")
        after = client.get(done.headers["location"])
    assert "Done: Recompute statistics." in after.text and _notice(after.text) == ""
