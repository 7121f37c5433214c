"""The Biobank page in Chromium: a data manager asks the real node for a biobank and sees the answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import RunningNode
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations
from tests.ui.test_ingest_ui_dataset import _checked_page

pytestmark = pytest.mark.ui


def test_a_request_from_the_page_approved_and_another_declined_on_the_node(
    browser: Browser, ui_server: RunningUi, node_server: RunningNode, shots: Path, axe_script: Path
) -> None:
    token = node_server.add_user("alice")
    admin = node_server.add_user("root", "admin")
    node_server.create_biobank("taken-bb")
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url=node_server.url, biobank="LUNG-01"), token=token
    ).close()
    page = _checked_page(browser)
    page.goto(ui_server.login_url)
    page.get_by_role("link", name="No biobank on the node yet? Ask for one, and follow your requests").click()
    expect(page.locator("#biobank-mine")).to_contain_text("You do not manage a biobank LUNG-01")
    expect(page.get_by_label("Code", exact=True)).to_have_value("LUNG-01")
    expect(page.get_by_text("No biobank requests yet.")).to_be_visible()

    # A missing name is refused next to its field, before anything is sent.
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#e-name")).to_have_text("Give the biobank a name.")
    expect(page.get_by_label("Name", exact=True)).to_have_attribute("aria-invalid", "true")

    # The node's refusal (the code is taken) is shown next to the form, what was typed kept.
    page.get_by_label("Code", exact=True).fill("taken-bb")
    page.get_by_label("Name", exact=True).fill("Taken")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#request-error")).to_contain_text("biobank 'taken-bb' already exists")
    expect(page.get_by_label("Code", exact=True)).to_have_value("taken-bb")

    page.get_by_label("Code", exact=True).fill("LUNG-01")
    page.get_by_label("Name", exact=True).fill("Lung CT")
    page.get_by_label("Description").fill("CT of 300 NSCLC patients")
    page.get_by_label("Web page").fill("https://lung.example.org")
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest biobank requests -w")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#request-state")).to_have_text("Request 1 for biobank LUNG-01 is pending.")
    row = page.locator("#requests-table tbody tr")
    expect(row).to_have_count(1)
    expect(row.nth(0)).to_contain_text("pending")
    expect(page.locator("aside.cli")).to_contain_text(
        "eucaim-ingest biobank request --code LUNG-01 --name 'Lung CT' "
        "--description 'CT of 300 NSCLC patients' --url https://lung.example.org -w"
    )
    assert _violations(page, axe_script) == []
    page.screenshot(path=shots / "01-biobank-pending.png", full_page=True)

    # Another request, then the admin decides both through the node's API.
    page.get_by_label("Code", exact=True).fill("BRAIN")
    page.get_by_label("Name", exact=True).fill("Brain")
    page.get_by_label("Description").fill("")
    page.get_by_label("Web page").fill("")
    page.get_by_role("button", name="Send request").click()
    expect(row).to_have_count(2)
    with httpx.Client(base_url=node_server.url, headers=node_server.auth(admin), timeout=30) as client:
        assert client.post("/biobank-requests/1/approve").status_code == 200
        declined = client.post("/biobank-requests/2/decline", json={"reason": "use LUNG-01 for it"})
        assert declined.status_code == 200

    page.get_by_role("button", name="Read the answers again").click()
    expect(row.nth(0)).to_contain_text("approved")
    expect(row.nth(0)).to_contain_text("biobank LUNG-01 is yours")
    expect(row.nth(1)).to_contain_text("declined")
    expect(row.nth(1)).to_contain_text("use LUNG-01 for it")
    expect(page.locator("#biobank-mine")).to_have_text(
        "You manage biobank LUNG-01 on the node: this workspace can send to it."
    )
    page.screenshot(path=shots / "02-biobank-answered.png", full_page=True)
    page.keyboard.press("Tab")  # the skip link first: the page is reachable by keyboard
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
