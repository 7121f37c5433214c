"""The transfer step's `push` options in Chromium: refused next to their field, or passed to the runner.

A time window that excludes now makes the run wait (the page says until when, Pause ends the
wait, nothing reaches the node); the concurrency chosen is the number of requests that wait at
the window at once; once resumed outside any window the same options finish the transfer.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import make_workspace, upload_study
from tests.support.node_server import SeededNode
from tests.support.orthanc import OrthancServer
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_stepper import _instances_on_node

pytestmark = pytest.mark.ui


def test_unusable_push_options_are_refused_next_to_each_field_and_nothing_starts(
    page: Page, ui_server: RunningUi, tmp_path: Path
) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=1, slices=(1, 1))
    node = NodeConfig(url="http://127.0.0.1:9", biobank="bb")
    with Workspace.create(ui_server.settings.workspace, node, token="x") as ws:
        scan_paths(ws.state, [cohort.root])
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/transfer")

    entered = {
        "Upload speed limit (MB/s)": "fast",
        "Send only between (daily, local time)": "25:00-06:00",
        "Requests in flight at once": "0",
        "De-identification processes": "two",
        "Largest request (MB)": "-1",
    }
    for label, value in entered.items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Start transfer").click()

    expect(page.locator("#rate-error")).to_have_text(
        "Give a number of MB per second between 0.01 and 10000, or leave it empty."
    )
    expect(page.locator("#window-error")).to_have_text("time window '25:00-06:00' has an impossible time")
    expect(page.locator("#concurrency-error")).to_have_text(
        "Give a whole number from 1 to 16, or leave it empty."
    )
    expect(page.locator("#workers-error")).to_have_text(
        "Give a whole number from 1 to 64, or leave it empty."
    )
    expect(page.locator("#batch-error")).to_have_text(
        "Give a number of MB of at least 0.01, or leave it empty."
    )
    for label, value in entered.items():
        field = page.get_by_label(label)
        expect(field).to_have_value(value)  # what was typed stays, to be corrected
        expect(field).to_have_attribute("aria-invalid", "true")
    # Nothing ran: no push job, every instance still pending, the command is the plain one.
    expect(page.locator("#run-options")).to_have_count(0)
    expect(page.locator("header")).not_to_contain_text("push")
    expect(page.locator("#state-counts")).to_contain_text(f"pending {len(cohort.files)}deidentified 0")
    expect(page.locator("aside.cli pre").first).to_have_text(
        f"eucaim-ingest push -w {ui_server.settings.workspace}"
    )

    # A window that is not HH:MM-HH:MM at all is named as such; the other fields, now usable, are not marked.
    page.get_by_label("Send only between (daily, local time)").fill("tonight")
    for label in ("Upload speed limit (MB/s)", "Requests in flight at once", "De-identification processes",
                  "Largest request (MB)"):  # fmt: skip
        page.get_by_label(label).fill("")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.locator("#window-error")).to_have_text(
        "time window 'tonight' is not HH:MM-HH:MM (e.g. --window 22:00-06:00)"
    )
    expect(page.locator("#rate-error")).to_have_count(0)
    expect(page.get_by_label("Requests in flight at once")).not_to_have_attribute("aria-invalid", "true")


def _closed_window_now() -> str:
    """A one-hour daily window starting two hours from now: the current time is outside it."""
    start = datetime.now() + timedelta(hours=2)
    end = start + timedelta(hours=1)
    return f"{start:%H:%M}-{end:%H:%M}"


def test_a_transfer_outside_its_window_waits_with_the_chosen_options_and_finishes_once_resumed(
    page: Page,
    ui_server: RunningUi,
    seeded_node: SeededNode,
    orthanc_clean: OrthancServer,
    tmp_path: Path,
    shots: Path,
) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=1, slices=(2, 3))
    n = len(cohort.files)
    upload_study(
        orthanc_clean, tmp_path / "pacs", patient_id="BESIDE", accession="ACCB", study_date="20240101"
    )
    ws_path = make_workspace(
        ui_server.settings.workspace,
        orthanc_clean,
        node_url=seeded_node.url,
        token=seeded_node.ingester_token,
    )
    with Workspace.open(ws_path) as ws:
        scan_paths(ws.state, [cohort.root])
    window = _closed_window_now()
    opens = window.split("-")[0]
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/transfer")

    page.get_by_label("Send only between (daily, local time)").fill(window)
    page.get_by_label("Requests in flight at once").fill("3")
    page.get_by_label("De-identification processes").fill("1")
    page.get_by_label("Largest request (MB)").fill("0.01")  # one ~10 kB instance per request
    page.get_by_role("button", name="Start transfer").click()

    # The page notices the wait by itself (it starts once the first batch is de-identified).
    expect(page.locator("#window-wait")).to_have_text(
        f"Waiting for the transfer window {window}: sending starts at {opens}. "
        "Everything else is ready; Pause ends the wait.",
        timeout=30_000,
    )
    expect(page.locator("#run-options")).to_have_text(
        "This run: 3 requests in flight, 1 de-identification processes, requests of at most 0.01 MB. "
        f"Sends only between {window}."
    )
    expect(page.locator("aside.cli")).to_contain_text(
        f"eucaim-ingest push --window {window} --concurrency 3 --workers 1 --batch-mb 0.01 -w"
    )
    # Concurrency 3 reached the sender: three requests wait at the window at once, no more.
    waiting = page.locator("#transfer p.help", has_text="outside the transfer window")
    deadline = time.monotonic() + 30
    while waiting.count() < 3 and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(waiting).to_have_count(3)
    expect(page.locator("#window-wait")).to_be_visible()
    page.screenshot(path=shots / "04-transfer-window.png", full_page=True)
    assert _instances_on_node(seeded_node) == set()

    # A PACS search only reads: it runs beside the waiting transfer instead of waiting for it.
    page.goto(ui_server.url + "/sources")
    page.get_by_label("Patient ID", exact=True).fill("BESIDE")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#pacs-outcome")).to_have_text("1 studies found (1 queries)")
    expect(page.locator("#pacs-table tbody tr")).to_contain_text("ACCB")
    expect(page.locator("header")).to_contain_text("push: running")
    page.goto(ui_server.url + "/transfer")

    # Pause ends the wait at once; nothing was sent.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused. Resume to continue.")).to_be_visible(timeout=15_000)
    assert _instances_on_node(seeded_node) == set()

    # The form keeps the run's options; without the window the same options finish the transfer.
    expect(page.get_by_label("Requests in flight at once")).to_have_value("3")
    expect(page.get_by_label("Send only between (daily, local time)")).to_have_value(window)
    page.get_by_label("Send only between (daily, local time)").fill("")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.get_by_text("Transfer complete: every instance is verified on the node.")).to_be_visible(
        timeout=60_000
    )
    expect(page.locator("#verified-line")).to_have_text(f"{n} of {n} instances")
    expect(page.locator("#run-options")).to_have_text(
        "This run: 3 requests in flight, 1 de-identification processes, requests of at most 0.01 MB."
    )
    expect(page.locator("aside.cli")).to_contain_text(
        "eucaim-ingest push --concurrency 3 --workers 1 --batch-mb 0.01 -w"
    )
    assert len(_instances_on_node(seeded_node)) == n
