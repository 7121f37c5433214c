"""Admins manage users in Chromium: create one with a role and a biobank, give a token, change a role,
disable and enable; the API follows at once, and a refusal shows next to the user it concerns.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.ui_portal.conftest import PortalWorld
from tests.ui_portal.test_portal_browser import _accept_dialogs, _context, check_accessibility, sign_in

pytestmark = [pytest.mark.ui, pytest.mark.integration]


def _me(url: str, token: str) -> httpx.Response:
    return httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"})


def test_admin_creates_changes_disables_and_enables_users(
    world: PortalWorld, browser: Browser, shots: Path, axe_script: Path
) -> None:
    context = _context(browser)
    page = context.new_page()
    _accept_dialogs(page)
    sign_in(page, world.url, world.seeded.admin_token)
    page.get_by_role("link", name="Users and tokens").click()

    page.get_by_label("User name").fill("dora")
    page.get_by_label("Role", exact=True).select_option("data-ingester")
    page.get_by_role("group", name="Manages biobanks").get_by_label("test-bb").check()
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("status")).to_have_text("User dora created. Issue them an API token below.")
    expect(page.get_by_label("For user")).to_have_value("dora")
    page.get_by_label("Valid for").fill("30d")
    page.get_by_role("button", name="Issue").click()
    token = page.locator("#new-token").inner_text()
    me = _me(world.url, token).json()
    assert (me["name"], me["role"], me["biobanks"]) == ("dora", "data-ingester", ["test-bb"])
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "01-user-created.png", full_page=True)

    dora = page.get_by_role("article").filter(has=page.get_by_role("heading", name="dora"))
    dora.get_by_label("Role of dora", exact=True).select_option("validator")
    dora.get_by_role("button", name="Change role of dora").click()
    expect(page.get_by_role("status")).to_have_text("Role of dora changed.")
    assert _me(world.url, token).json()["role"] == "validator"

    page.get_by_role("button", name="Disable dora").click()
    expect(page.get_by_role("status")).to_have_text("User dora disabled: their tokens no longer work.")
    expect(dora.get_by_role("heading")).to_contain_text("disabled")
    refused = _me(world.url, token)
    assert refused.status_code == 401 and "user 'dora' is disabled" in refused.json()["detail"]
    page.screenshot(path=shots / "02-user-disabled.png", full_page=True)
    page.get_by_role("button", name="Enable dora").click()
    expect(page.get_by_role("status")).to_have_text("User dora enabled: their tokens work again.")
    assert _me(world.url, token).status_code == 200

    # The last admin cannot lock everyone out; the refusal stands next to that user's forms.
    page.get_by_role("button", name="Disable admin").click()
    admin = page.get_by_role("article").filter(has=page.get_by_role("heading", name="admin"))
    expect(admin.get_by_role("alert")).to_have_text(
        "user 'admin' is the node's last active admin (make another user admin first)"
    )
    assert _me(world.url, world.seeded.admin_token).status_code == 200
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "03-last-admin-refused.png", full_page=True)
    context.close()
