"""A dataset whose creation failed on the node, run again from the dataset page (``dataset restart``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from eucaim.ingest.dataset_client import DatasetClient
from tests.integration.datasets.conftest import StudySpec, upload
from tests.support.node_server import SeededNode
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations
from tests.ui.test_ingest_ui_dataset import _checked_page, _sent_workspace

pytestmark = pytest.mark.ui

REASON = "1 of the 2 selected subjects are not in this biobank (first: LATE-1)"


def test_a_failed_creation_is_run_again_from_the_page_once_what_it_missed_is_sent(
    browser: Browser,
    ui_server: RunningUi,
    seeded_node: SeededNode,
    tmp_path: Path,
    shots: Path,
    axe_script: Path,
) -> None:
    _sent_workspace(ui_server, seeded_node.url, seeded_node.biobank, seeded_node.ingester_token, tmp_path)
    page = _checked_page(browser)
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/dataset")
    page.get_by_label("Name").fill("With a late patient")
    page.get_by_label("Only the ticked patients", exact=False).check()
    patients = page.get_by_role("group", name="Patients").get_by_role("checkbox")
    expect(patients).to_have_count(2)
    # A patient the node does not have yet (as when the hospital's list is ahead of what was sent).
    patients.nth(1).evaluate("box => { box.value = 'LATE-1'; box.checked = true; }")
    patients.nth(0).check()
    page.get_by_role("button", name="Create dataset").click()

    # The node's reason, and next to it the button and its command.
    error = page.locator("#create-error")
    expect(error).to_contain_text(REASON, timeout=30_000)
    found = re.search(r"could not create dataset (\S+):", error.inner_text())
    assert found is not None
    dataset_id = found.group(1)
    restart = page.get_by_role("button", name="Run the creation again")
    expect(restart).to_be_visible()
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest dataset restart {dataset_id} -w")
    expect(page.get_by_label("Name")).to_have_value("With a late patient")  # or create another
    assert _violations(page, axe_script) == []
    page.screenshot(path=shots / "06-dataset-creation-failed.png", full_page=True)

    # The dataset's own page says the same, with the same button.
    page.goto(ui_server.url + f"/dataset?id={dataset_id}")
    expect(page.locator("#dataset-state")).to_have_text("State: creating")
    expect(page.locator("#build-error")).to_contain_text(REASON)
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest dataset restart {dataset_id} -w")
    assert _violations(page, axe_script) == []

    # Run again before the cause is fixed: the node fails it again, and says why, next to the button.
    page.get_by_role("button", name="Run the creation again").click()
    expect(page.locator("#create-error")).to_contain_text(REASON, timeout=30_000)
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest dataset restart {dataset_id} -w")

    # Once the missing patient is on the node, the same dataset is built.
    upload(seeded_node, tmp_path / "late", [StudySpec("LATE-1")])
    page.get_by_role("button", name="Run the creation again").click()
    expect(page.locator("#dataset-state")).to_have_text("State: draft", timeout=30_000)
    expect(page.locator("#dataset-notice")).to_have_text(f"Dataset {dataset_id} created.")
    expect(page.get_by_text("2 subjects,")).to_be_visible()
    expect(page.get_by_role("button", name="Run the creation again")).to_have_count(0)
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest dataset restart {dataset_id} -w")
    page.screenshot(path=shots / "06-dataset-restarted.png", full_page=True)
    with DatasetClient(seeded_node.url, token_provider=lambda: seeded_node.ingester_token) as client:
        built = client.get(dataset_id)
        assert [d["id"] for d in client.list()] == [dataset_id]  # run again, never created twice
    assert built["state"] == "draft" and built["job"]["status"] == "finished"
    assert "restart" not in built["allowedActions"]
