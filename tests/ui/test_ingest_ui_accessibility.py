"""axe-core finds no serious or critical accessibility violation on the main pages of `eucaim-ingest ui`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.web.oidc_signin import DeviceSignIn, SignInStatus
from eucaim.ingest.web.password import set_password
from eucaim.ingest.web.routes_login import SIGN_IN_COOKIE
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import SeededNode
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui

PAGES = (
    "/",
    "/sources",
    "/review?preview=true",
    "/transfer",
    "/clinical",
    "/dataset",
    "/dataset?new=true",
    "/status",
)


def _violations(page: Page, axe: Path) -> list[str]:
    page.add_script_tag(path=str(axe))
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_main_pages_have_no_serious_or_critical_violations(
    browser: Browser, ui_server: RunningUi, seeded_node: SeededNode, tmp_path: Path, axe_script: Path
) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=2, slices=(1, 2))
    node = NodeConfig(url=seeded_node.url, biobank=seeded_node.biobank)
    with Workspace.create(ui_server.settings.workspace, node, token=seeded_node.ingester_token) as ws:
        scan_paths(ws.state, [cohort.root])
    ui_server.settings.clinical_file = cohort.clinical_csv
    set_password(ui_server.settings.workspace, "correct horse battery")  # the password form shows too
    # A node sign-in waiting for the user's approval (its page is only reachable during one).
    waiting = DeviceSignIn(status=SignInStatus.WAITING, user_code="ABCD-1234")
    waiting.verification_uri = "https://login.example.org/device"
    ui_server.settings.sign_ins[waiting.id] = waiting

    # The app's Content-Security-Policy rightly refuses injected scripts; only the checker may bypass it.
    page = browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 820}).new_page()
    page.goto(ui_server.url + "/login")
    found = {"/login": _violations(page, axe_script)}
    page.get_by_label("Password", exact=True).fill("wrong password")
    page.get_by_role("button", name="Sign in").first.click()
    found["/login (wrong password)"] = _violations(page, axe_script)
    page.context.add_cookies([{"name": SIGN_IN_COOKIE, "value": waiting.id, "url": ui_server.url + "/login"}])
    page.goto(ui_server.url + "/login/oidc")
    assert page.locator("#user-code").inner_text() == "ABCD-1234"
    found["/login/oidc"] = _violations(page, axe_script)
    page.goto(ui_server.login_url)
    for path in PAGES:
        page.goto(ui_server.url + path)
        assert page.locator("main h1").count() == 1, path
        found[path] = _violations(page, axe_script)
    # The stepper on a narrow laptop screen stays usable too.
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(ui_server.url + "/transfer")
    found["/transfer (900 px)"] = _violations(page, axe_script)
    assert {p: v for p, v in found.items() if v} == {}
