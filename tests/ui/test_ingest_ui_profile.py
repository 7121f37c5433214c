"""The de-identification profile page in Chromium: reached from Review, the same rules as `profile show`."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from eucaim.deid.profile import load_profile
from eucaim.deid.rules import RuleSet
from eucaim.ingest.config import NodeConfig, load_config, save_config
from eucaim.ingest.workspace import Workspace
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations
from tests.ui.test_ingest_ui_dataset import _checked_page

pytestmark = pytest.mark.ui


def _row(page: Page, keyword: str) -> list[str]:
    cells = page.locator("#rules-table tbody tr").filter(
        has=page.get_by_role("cell", name=keyword, exact=True)
    )
    expect(cells).to_have_count(1)
    return [c.strip() for c in cells.locator("td").all_inner_texts()]


def test_the_review_step_links_to_the_profiles_effective_rules(
    browser: Browser, ui_server: RunningUi, shots: Path, axe_script: Path
) -> None:
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"
    ).close()
    rules = RuleSet(load_profile("eucaim"))
    effective = rules.effective_rules()
    removed = sum(1 for r in effective if str(r.action) == "remove")

    page = _checked_page(browser)
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/review")
    expect(page.locator("#profile-link")).to_contain_text("De-identification profile: eucaim.")
    page.get_by_role("link", name="See what it removes, keeps and changes").click()
    expect(page.get_by_role("heading", name="De-identification profile eucaim", exact=True)).to_be_visible()
    expect(page.locator("#profile-summary")).to_contain_text("eucaim version 1 (sha256 ")
    expect(page.locator("#profile-summary")).to_contain_text("retain-safe-private")
    expect(page.locator("#rules-table caption")).to_have_text(f"{len(effective)} of {len(effective)} rules")
    assert _row(page, "PatientName") == ["(0010,0010)", "PatientName", "pseudonym", "profile override"]
    assert _row(page, "InstitutionName") == ["(0008,0080)", "InstitutionName", "remove", "PS3.15 Table E.1-1"]
    assert _row(page, "PatientSex")[2] == "keep"
    expect(page.locator("#profile-defaults")).to_contain_text("removed (default-deny)")
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest profile show eucaim")
    expect(page.get_by_text("vault export")).to_be_visible()  # re-identification stays on the command line
    assert _violations(page, axe_script) == []

    # Only what is removed, chosen with the keyboard.
    page.get_by_label("Action", exact=True).select_option("remove")
    page.get_by_role("button", name="Apply").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#rules-table caption")).to_have_text(f"{removed} of {len(effective)} rules")
    actions = page.locator("#rules-table tbody tr td:nth-child(3)").all_inner_texts()
    assert len(actions) == removed and set(actions) == {"remove"}
    page.screenshot(path=shots / "03-profile-removed.png", full_page=True)


def test_a_profile_that_cannot_be_loaded_is_named_with_the_reason(page: Page, ui_server: RunningUi) -> None:
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"
    ).close()
    config = load_config(ui_server.settings.workspace)
    config.deid.profile = "no-such-profile"
    save_config(ui_server.settings.workspace, config)
    page.goto(ui_server.login_url)
    response = page.goto(ui_server.url + "/profile")
    assert response is not None and response.status == 422
    expect(page.locator("#profile-error")).to_contain_text("no-such-profile")
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest profile show no-such-profile")
