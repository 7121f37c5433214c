"""The dataset step in Chromium: what goes in, new versions, refusals next to the form, XNAT release."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.dataset_client import DatasetClient
from eucaim.ingest.pipeline.runner import options_from, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.targets import build_target, build_xnat_target
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import SeededNode
from tests.support.xnat_fixture import XnatServer
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations

pytestmark = pytest.mark.ui

METADATA = {
    "description": "Two synthetic series", "version": "1.0", "purpose": "AI training",
    "type": ["original"], "collectionMethod": ["cohort"],
    "provenance": "Hospital X", "license": {"title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "contact": {"name": "Data Office", "email": "data@hospital.example"}, "interoperabilityTier": "tier 1",
    "keywords": ["lung"], "cancerCondition": "Lung cancer",
}  # fmt: skip


def _sent_workspace(ui: RunningUi, node_url: str, biobank: str, token: str, tmp_path: Path) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=2, slices=(1, 2))
    with Workspace.create(
        ui.settings.workspace, NodeConfig(url=node_url, biobank=biobank), token=token
    ) as ws:
        scan_paths(ws.state, [cohort.root])
        target = build_target(ws)
        try:
            assert push(ws, target, options_from(ws)).ok
        finally:
            target.close()


def _checked_page(browser: Browser) -> Page:
    """A page whose context lets axe-core in (the app's Content-Security-Policy refuses injected scripts)."""
    return browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 820}).new_page()


def test_a_dataset_of_ticked_series_then_a_new_version_of_it_once_released(
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
    assert _violations(page, axe_script) == []  # the lists of patients, studies and series included
    page.get_by_label("Name").fill("Two series")
    page.get_by_label("Only the ticked series").check()
    series = page.get_by_role("group", name="Series").get_by_role("checkbox")
    expect(page.get_by_role("group", name="Patients").get_by_role("checkbox")).to_have_count(2)
    n_series = series.count()
    assert n_series >= 3
    chosen = [series.nth(0).get_attribute("value"), series.nth(1).get_attribute("value")]
    for box in series.all()[2:]:
        box.uncheck()
    page.screenshot(path=shots / "06-dataset-choose.png", full_page=True)
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("#dataset-state")).to_have_text("State: draft", timeout=30_000)
    expect(page.get_by_text("2 series,")).to_be_visible()
    expect(page.locator("aside.cli")).to_contain_text(
        f"eucaim-ingest dataset create --name 'Two series' --series {chosen[0]},{chosen[1]} -w"
    )
    first_id = page.locator("#dataset-notice").inner_text().split()[1]

    # Described and released (through the same client the CLI uses), it can get a new version.
    with DatasetClient(seeded_node.url, token_provider=lambda: seeded_node.ingester_token) as client:
        client.update(first_id, METADATA)
    page.reload()
    page.get_by_role("button", name="Release to the validator").click()
    expect(page.locator("#dataset-state")).to_have_text("State: released")
    page.get_by_role("link", name="Make a new version of this dataset").click()
    expect(
        page.get_by_role("heading", name=f"New version of dataset {first_id} (Two series).")
    ).to_be_visible()
    expect(page.get_by_label("Name")).to_have_value("Two series")
    expect(page.locator("aside.cli")).to_contain_text(f"--previous {first_id} -w")
    page.get_by_label("Name").fill("Two series, all of it")
    page.get_by_role("button", name="Create dataset").click()  # everything in the biobank (the default)
    expect(page.locator("#dataset-state")).to_have_text("State: draft", timeout=30_000)
    expect(page.get_by_role("link", name=first_id)).to_be_visible()
    expect(page.get_by_text(f"{n_series} series,")).to_be_visible()
    expect(page.locator("aside.cli")).to_contain_text(f"--previous {first_id} -w")

    # A second draft of the same version: the node refuses; the reason is next to the form, entries kept.
    page.goto(ui_server.url + f"/dataset?previous={first_id}")
    page.get_by_label("Name").fill("Yet another")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("#create-error")).to_contain_text(
        f"another draft already points at previous version {first_id}", timeout=30_000
    )
    expect(page.get_by_label("Name")).to_have_value("Yet another")
    page.screenshot(path=shots / "06-dataset-refused.png", full_page=True)


def test_on_xnat_the_dataset_step_releases_the_project_once_everything_is_there(
    browser: Browser,
    ui_server: RunningUi,
    xnat_server: XnatServer,
    tmp_path: Path,
    shots: Path,
    axe_script: Path,
) -> None:
    emulator = xnat_server.emulator
    emulator.create_project("EUCAIM_UI")
    emulator.add_user("uploader", "uploader-password", roles={"EUCAIM_UI": "owner"})
    cohort = generate_cohort(tmp_path / "exports", patients=1, slices=(1, 2))
    node = NodeConfig(kind="xnat", url=xnat_server.url, biobank="EUCAIM_UI", username="uploader")
    Workspace.create(ui_server.settings.workspace, node, token="uploader-password").close()
    with Workspace.open(ui_server.settings.workspace) as ws:
        scan_paths(ws.state, [cohort.root])
    page = _checked_page(browser)
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/dataset")
    expect(page.get_by_role("heading", name="Release the XNAT project")).to_be_visible()
    assert _violations(page, axe_script) == []
    page.get_by_label("Public", exact=False).check()
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest dataset release --public -w")
    # Nothing sent yet: refused next to the button, the project left private.
    page.get_by_role("button", name="Release the project").click()
    expect(page.locator("#release-error")).to_contain_text("not been sent and verified yet", timeout=20_000)
    assert emulator.project("EUCAIM_UI").accessibility.value == "private"

    with Workspace.open(ui_server.settings.workspace) as ws:
        target = build_xnat_target(ws)
        try:
            assert push(ws, target, options_from(ws)).ok
        finally:
            target.close()
    page.get_by_label("Public", exact=False).check()
    page.get_by_role("button", name="Release the project").click()
    expect(page.locator("#release-outcome")).to_contain_text(
        "XNAT project EUCAIM_UI set from private to public", timeout=20_000
    )
    assert emulator.project("EUCAIM_UI").accessibility.value == "public"
    page.screenshot(path=shots / "06-dataset-xnat.png", full_page=True)
    page.goto(ui_server.url + "/status")
    expect(page.get_by_text("This workspace sends to XNAT")).to_be_visible()
