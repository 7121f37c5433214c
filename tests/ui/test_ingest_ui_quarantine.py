"""A file at risk of burned-in text in Chromium: previewed, quarantined with its reason, fixed, sent."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from playwright.sync_api import Page, expect

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import SeededNode
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui


def _burned_in(path: Path, value: str) -> None:
    ds = pydicom.dcmread(path)
    ds.BurnedInAnnotation = value
    ds.save_as(path)


def test_a_quarantined_file_is_listed_with_its_reason_and_sent_once_fixed(
    page: Page, ui_server: RunningUi, seeded_node: SeededNode, tmp_path: Path, shots: Path
) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=1, slices=(1, 1))
    risky = cohort.files[0]
    _burned_in(risky, "YES")
    node = NodeConfig(url=seeded_node.url, biobank=seeded_node.biobank)
    with Workspace.create(ui_server.settings.workspace, node, token=seeded_node.ingester_token) as ws:
        scan_paths(ws.state, [cohort.root])
    n = len(cohort.files)
    page.goto(ui_server.login_url)

    page.goto(ui_server.url + "/review?preview=true")
    expect(page.locator("#preview-summary")).to_have_text(f"{n - 1} instance(s) will be sent, 1 quarantined.")

    page.goto(ui_server.url + "/transfer")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.get_by_text("Transfer incomplete: 1 quarantined")).to_be_visible(timeout=30_000)
    expect(page.locator("#verified-line")).to_have_text(f"{n - 1} of {n} instances")
    expect(page.locator("#study-table")).to_contain_text("quarantined")
    page.screenshot(path=shots / "04-transfer-incomplete.png", full_page=True)

    page.goto(ui_server.url + "/review")
    quarantine = page.get_by_role("region", name="Quarantine and burned-in text risks")
    expect(quarantine).to_contain_text(str(risky))
    expect(quarantine).to_contain_text("burned_in_risk")
    expect(quarantine).to_contain_text("BurnedInAnnotation is YES")
    page.screenshot(path=shots / "03-review-quarantine.png", full_page=True)

    # The data manager checks the image, corrects the header, and retries: the tool notices the
    # file changed and asks for a new scan; after it, the transfer completes.
    _burned_in(risky, "NO")
    page.goto(ui_server.url + "/transfer")
    page.get_by_role("button", name="Retry failed (1)").click()
    expect(page.get_by_text("Transfer incomplete")).to_be_visible(timeout=30_000)
    page.goto(ui_server.url + "/review")
    expect(quarantine).to_contain_text("the source file changed since the scan; scan again")
    page.goto(ui_server.url + f"/sources?dir={cohort.root}")
    page.get_by_role("button", name="Index this folder").click()
    page.goto(ui_server.url + "/transfer")
    page.get_by_role("button", name="Resume").click()
    expect(page.get_by_text("Transfer complete: every instance is verified on the node.")).to_be_visible(
        timeout=30_000
    )
    expect(page.locator("#verified-line")).to_have_text(f"{n} of {n} instances")
