"""The portal's "Sign in with" the node's OIDC issuer, in Chromium: the validator reaches the queue;
a forged state and a token for another audience are refused with a message next to the button.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.ui_portal.conftest import OidcWorld
from tests.ui_portal.test_portal_browser import _context, check_accessibility

pytestmark = [pytest.mark.ui, pytest.mark.integration]

VALIDATOR = {"sub": "aai-val-7", "preferred_username": "vic", "roles": ["validator"]}


def test_validator_signs_in_with_the_issuer_and_forged_answers_are_refused(
    oidc_world: OidcWorld, browser: Browser, shots: Path, axe_script: Path
) -> None:
    issuer = oidc_world.issuer
    issuer.authorize_claims = VALIDATOR
    context = _context(browser)
    page = context.new_page()

    # Asking for the review queue leads to sign-in; the issuer sends the validator back to the queue.
    page.goto(f"{oidc_world.url}/portal/review")
    button = page.get_by_role("link", name="Sign in with 127.0.0.1")
    expect(button).to_be_visible()
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "01-sign-in-choices.png")
    button.click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    expect(page.get_by_text("Signed in as vic (validator)")).to_be_visible()
    expect(page.get_by_role("row", name=oidc_world.world.dataset_name)).to_be_visible()
    assert page.url == f"{oidc_world.url}/portal/review"
    assert issuer.authorize_requests[-1]["code_challenge_method"] == "S256"
    page.screenshot(path=shots / "02-review-queue.png")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("status")).to_have_text("You are signed out.")

    # A forged answer: this browser starts a sign-in (its flow cookie is set; the context's request
    # API shares the browser's cookies and stops at the redirect to the issuer), then comes back
    # with someone else's code and state.
    started = context.request.get(f"{oidc_world.url}/portal/login/oidc", max_redirects=0)
    assert started.status == 303 and started.headers["location"].startswith(f"{issuer.url}/authorize?")
    page.goto(f"{oidc_world.url}/portal/login/oidc/callback?code=stolen-code&state=attacker-state")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("does not belong to the sign-in this browser started (state mismatch)")
    expect(page.get_by_role("link", name="Sign in with 127.0.0.1")).to_have_attribute(
        "aria-describedby", "oidc-help oidc-error"
    )
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()  # still signed out
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "03-bad-state.png")

    # A token the issuer minted for another service is not one for this node.
    issuer.authorize_claims = {**VALIDATOR, "aud": "another-service"}
    page.get_by_role("link", name="Sign in with 127.0.0.1").click()
    expect(page.get_by_role("alert")).to_have_text(
        "The node refused this sign-in: the OIDC token is not meant for this node "
        "(audience is not 'eucaim-node')."
    )
    expect(page.get_by_role("link", name="Sign in", exact=True)).to_be_visible()
    page.screenshot(path=shots / "04-wrong-audience.png")
    context.close()
