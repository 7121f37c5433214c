"""Signing in to `eucaim-ingest ui` in Chromium: the workspace password, and the node's OIDC device flow."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.login import LOGIN_FILE
from eucaim.ingest.web.password import set_password
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import RunningNode
from tests.support.oidc_issuer import OidcIssuer
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui

PASSWORD = "correct horse battery"
LENA = {"sub": "u-lena", "preferred_username": "lena", "roles": ["data-ingester"], "groups": ["PROJECT-bb1"]}
OMAR = {"sub": "u-omar", "preferred_username": "omar", "roles": ["data-ingester"], "groups": ["PROJECT-bb2"]}


def test_a_wrong_password_is_shown_next_to_the_field_and_the_right_one_gets_in(
    page: Page, ui_server: RunningUi, shots: Path
) -> None:
    set_password(ui_server.settings.workspace, PASSWORD)
    page.goto(ui_server.url + "/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    field = page.get_by_label("Password", exact=True)
    field.fill("not the password")
    page.get_by_role("button", name="Sign in").first.click()
    expect(page.locator("#password-error")).to_have_text("That password is not right for this workspace.")
    expect(page.get_by_label("Password", exact=True)).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "00-login-wrong-password.png", full_page=True)
    # No session came of it: the stepper still sends this browser back to the sign-in page.
    page.goto(ui_server.url + "/sources")
    expect(page).to_have_url(ui_server.url + "/login")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in").first.click()
    expect(page.get_by_role("heading", name="1. Connect to the node")).to_be_visible()
    expect(page.locator("header")).to_contain_text("Signed in with the password")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    page.goto(ui_server.url + "/sources")
    expect(page).to_have_url(ui_server.url + "/login")


def _workspace_on(node: RunningNode, ui: RunningUi) -> Path:
    Workspace.create(
        ui.settings.workspace, NodeConfig(url=node.url, biobank="bb1"), token="old-api-token"
    ).close()
    return ui.settings.workspace


def test_sign_in_with_the_node_opens_the_ui_and_gives_the_workspace_the_access_token(
    page: Page, ui_server: RunningUi, oidc_node: RunningNode, oidc_issuer: OidcIssuer, shots: Path
) -> None:
    ws = _workspace_on(oidc_node, ui_server)
    page.goto(ui_server.url + "/login")
    page.get_by_role("button", name="Sign in with the node").click()
    code = page.locator("#user-code")
    expect(code).to_have_text(oidc_issuer.wait_for_user_code(), timeout=15_000)
    expect(page.locator("#verification-uri")).to_have_text(f"{oidc_issuer.url}/verify")
    page.screenshot(path=shots / "00-login-oidc-code.png", full_page=True)
    oidc_issuer.approve(code.inner_text(), **LENA)  # the user approves in another tab
    # The page notices by itself and opens the stepper.
    expect(page.get_by_role("heading", name="1. Connect to the node")).to_be_visible(timeout=20_000)
    expect(page.locator("header")).to_contain_text("Signed in as lena")
    token = (ws / "token").read_text(encoding="utf-8").strip()
    assert token.startswith("eyJ") and (ws / LOGIN_FILE).is_file()
    me = httpx.get(f"{oidc_node.url}/me", headers=oidc_node.auth(token)).json()
    assert (me["name"], me["auth"], me["biobanks"]) == ("lena", "oidc", ["bb1"])
    assert token not in page.content()
    # The doctor checklist runs with the new token: the node accepts it for bb1.
    expect(page.locator(".checklist")).to_contain_text("passed", timeout=30_000)


def test_a_user_the_node_does_not_list_in_the_biobank_is_refused_and_the_token_kept(
    page: Page, ui_server: RunningUi, oidc_node: RunningNode, oidc_issuer: OidcIssuer, shots: Path
) -> None:
    ws = _workspace_on(oidc_node, ui_server)
    page.goto(ui_server.url + "/login")
    page.get_by_role("button", name="Sign in with the node").click()
    oidc_issuer.approve(oidc_issuer.wait_for_user_code(), **OMAR)
    error = page.locator("#oidc-error")
    expect(error).to_contain_text("you are not a member of biobank bb1", timeout=20_000)
    expect(error).to_contain_text("the node knows you as omar")
    page.screenshot(path=shots / "00-login-oidc-refused.png", full_page=True)
    assert (ws / "token").read_text(encoding="utf-8").strip() == "old-api-token"
    assert not (ws / LOGIN_FILE).exists()
    page.goto(ui_server.url + "/")
    expect(page).to_have_url(ui_server.url + "/login")
    # Refused at the identity provider: said next to the same button.
    page.get_by_role("button", name="Sign in with the node").click()
    oidc_issuer.deny(oidc_issuer.wait_for_user_code())
    expect(error).to_contain_text("the login was refused at the identity provider", timeout=20_000)
