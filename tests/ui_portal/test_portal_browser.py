"""The portal in Chromium: a validator reviews and publishes, or rejects with a reason; an admin decides
biobank requests and manages tokens; the anonymous catalogue then shows the dataset with its charts.

Each step is screenshotted into tests/ui_portal/artifacts/<test>/ and the main pages pass axe-core
with no serious or critical violation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.ui_portal.conftest import PortalWorld

pytestmark = [pytest.mark.ui, pytest.mark.integration]

VIEWPORT = {"width": 1280, "height": 800}  # a laptop screen


def _context(browser: Browser) -> BrowserContext:
    # axe is injected as an inline script, which the portal's own CSP rightly forbids.
    context = browser.new_context(viewport=VIEWPORT, bypass_csp=True)  # type: ignore[arg-type]
    context.set_default_timeout(10_000)
    return context


def _accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def check_accessibility(page: Page, axe: Path) -> None:
    """Fail on any serious or critical axe-core violation of the page as it is now."""
    page.add_script_tag(path=str(axe))
    result: dict[str, Any] = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: " + "; ".join(bad)


def sign_in(page: Page, url: str, token: str) -> None:
    """Sign in through the form, as a person would."""
    page.goto(f"{url}/portal/login")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My node")).to_be_visible()


def test_validator_reviews_and_publishes_then_the_catalogue_shows_charts(
    world: PortalWorld, browser: Browser, shots: Path, axe_script: Path
) -> None:
    context = _context(browser)
    page = context.new_page()
    _accept_dialogs(page)
    page.goto(f"{world.url}/portal/login")
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "01-sign-in.png")
    page.keyboard.press("Tab")  # keyboard users land on the skip link first
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    sign_in(page, world.url, world.seeded.validator_token)

    page.get_by_role("link", name="Review queue").click()
    expect(page.get_by_role("row", name=world.dataset_name)).to_be_visible()
    page.screenshot(path=shots / "02-review-queue.png")
    page.get_by_role("link", name=f"Review: {world.dataset_name}").click()

    expect(page.get_by_role("heading", name=f"Review: {world.dataset_name}")).to_be_visible()
    identity = page.get_by_role("table", name="Patient Identity Removed (0012,0062)")
    expect(identity.get_by_role("row", name="YES 9")).to_be_visible()
    codes = page.get_by_role("table", name="De-identification Method Code Sequence (0012,0064)")
    expect(codes).to_contain_text("113100 Basic Application Confidentiality Profile")
    expect(page.locator("figure[data-chart] svg")).to_have_count(7)  # 5 categories, age, acquisition years
    # The validator sees the exact histograms: subjects per 5-year age band, studies per year.
    expect(page.locator("figure[data-chart=ageGroups]").get_by_role("img")).to_have_accessible_description(
        "40-44: 1; 45-49: 2; 50-54: 1; 55-59: 3; 60-64: 2"
    )
    expect(
        page.locator("figure[data-chart=acquisitionYears]").get_by_role("img")
    ).to_have_accessible_description("2019: 2; 2020: 3; 2021: 3; 2022: 1")
    expect(page.get_by_role("table").filter(has_text="release")).to_contain_text("draft → released")
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "03-review.png", full_page=True)

    page.get_by_role("button", name="Publish").click()
    expect(page.get_by_role("status")).to_have_text("Done: Publish.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Published")
    page.screenshot(path=shots / "04-published.png")
    expect(page.get_by_role("link", name="See it in the public catalogue")).to_be_visible()
    context.close()

    anonymous = _context(browser)
    page = anonymous.new_page()
    page.goto(f"{world.url}/portal/")
    card = page.get_by_role("listitem").filter(has_text=world.dataset_name)
    expect(card).to_contain_text("Subjects9")
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "05-catalogue.png")
    page.get_by_label("Modality").select_option("Magnetic Resonance")  # the script submits on change
    expect(page).to_have_url(
        f"{world.url}/portal/?modality=Magnetic+Resonance&bodyPart=&sex=&diagnosis=&minAge=&maxAge=&year="
    )
    expect(page.get_by_role("heading", name="1 dataset(s)")).to_be_visible()
    page.get_by_role("link", name=world.dataset_name).click()

    expect(page.get_by_role("heading", name=world.dataset_name)).to_be_visible()
    modality = page.locator("figure[data-chart=modality]")
    chart = modality.get_by_role("img")
    expect(chart).to_have_accessible_name("Modality (studies)")
    expect(chart).to_have_accessible_description("Computed Tomography: >=5; Magnetic Resonance: fewer than 5")
    expect(page.locator("figure[data-chart] svg")).to_have_count(7)
    # In public every bin of this small cohort is below the threshold: shown, never counted.
    ages = page.locator("figure[data-chart=ageGroups]")
    expect(ages.get_by_role("img")).to_have_accessible_name("Age in years (subjects)")
    expect(ages.get_by_role("img")).to_have_accessible_description(
        "40-44: fewer than 5; 45-49: fewer than 5; 50-54: fewer than 5; 55-59: fewer than 5; "
        "60-64: fewer than 5"
    )
    years = page.locator("figure[data-chart=acquisitionYears]")
    expect(years).to_contain_text("Years as stored: eucaim-ingest de-identification moves each subject's")
    expect(page.get_by_role("link", name="EUCAIM DCAT-AP (Turtle)")).to_be_visible()
    html = page.content()
    assert [s for s in world.secrets if s in html] == []
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "06-public-dataset.png", full_page=True)
    anonymous.close()


def test_validator_rejects_with_a_reason_the_holder_then_reads(
    world: PortalWorld, browser: Browser, shots: Path, axe_script: Path
) -> None:
    context = _context(browser)
    page = context.new_page()
    _accept_dialogs(page)
    sign_in(page, world.url, world.seeded.validator_token)
    page.goto(f"{world.url}/portal/review/{world.dataset_id}")
    reject = page.locator("form.action-reject")
    # The browser asks for a reason first; without that check the server's refusal shows at the form.
    reject.locator("textarea").evaluate("el => el.removeAttribute('required')")
    reject.get_by_label("Reason").fill("   ")
    reject.get_by_role("button", name="Reject").click()
    expect(reject.get_by_role("alert")).to_have_text("reject needs a reason")
    expect(reject.get_by_label("Reason")).to_have_attribute("aria-invalid", "true")
    page.screenshot(path=shots / "01-reason-missing.png")

    page.locator("form.action-reject").get_by_label("Reason").fill(
        "Contact email bounces; fix it and release again."
    )
    page.locator("form.action-reject").get_by_role("button", name="Reject").click()
    expect(page.get_by_role("status")).to_have_text("Done: Reject.")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Draft")
    context.close()

    holder = _context(browser)
    page = holder.new_page()
    sign_in(page, world.url, world.seeded.ingester_token)
    expect(page.get_by_role("table").filter(has_text="Code")).to_contain_text("test-bb")
    page.get_by_role("link", name=world.dataset_name).click()
    expect(page.get_by_text("Rejected: Contact email bounces; fix it and release again.")).to_be_visible()
    expect(page.get_by_role("table").last).to_contain_text("released → draft")
    page.screenshot(path=shots / "02-holder-sees-reason.png", full_page=True)

    # The holder fixes the contact; a refused value is named at its own field, not swallowed.
    page.get_by_label("Contact email").fill("data-office(at)hospital")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#contact_email-error")).to_have_text(
        "contact: must be {'name': ..., 'email': ...} with a valid email"
    )
    expect(page.get_by_label("Contact email")).to_have_value("data-office(at)hospital")
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "03-metadata-error.png", full_page=True)
    page.get_by_label("Contact email").fill("imaging-data@hospital.example")
    page.get_by_role("button", name="Save metadata").click()
    expect(page.get_by_role("status")).to_have_text("Metadata saved.")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Release").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Released")
    expect(page.get_by_role("table").last).to_contain_text("update")
    holder.close()


def test_admin_decides_biobank_requests_and_manages_tokens(
    world: PortalWorld, browser: Browser, shots: Path, axe_script: Path
) -> None:
    holder = _context(browser)
    asking = holder.new_page()
    sign_in(asking, world.url, world.seeded.ingester_token)
    asking.get_by_role("link", name="Request a biobank").click()
    asking.get_by_label("Code").fill("LUNG 02")
    asking.get_by_label("Name").fill("Lung follow-up imaging")
    asking.get_by_label("Description").fill("Lung follow-up imaging for EUCAIM.")
    asking.get_by_role("button", name="Send the request").click()
    expect(asking.locator("#code-error")).to_contain_text("biobank code 'LUNG 02' is invalid")
    expect(asking.get_by_label("Name")).to_have_value("Lung follow-up imaging")
    check_accessibility(asking, axe_script)
    asking.get_by_label("Code").fill("LUNG-02")
    asking.get_by_role("button", name="Send the request").click()
    expect(asking.get_by_role("status")).to_have_text("Request for LUNG-02 sent to the admins.")
    ingester = {"Authorization": f"Bearer {world.seeded.ingester_token}"}
    body = {"code": "TEMP-01", "name": "Temporary test collection", "description": "For EUCAIM."}
    assert httpx.post(f"{world.url}/biobank-requests", json=body, headers=ingester).status_code == 201

    context = _context(browser)
    page = context.new_page()
    _accept_dialogs(page)
    sign_in(page, world.url, world.seeded.admin_token)
    page.get_by_role("link", name="Biobank requests").click()
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "01-requests.png", full_page=True)

    page.get_by_role("button", name="Approve LUNG-02").click()
    expect(page.get_by_role("status")).to_have_text("Request LUNG-02 approved: biobank created.")
    temp = page.get_by_role("article").filter(has_text="TEMP-01")
    temp.get_by_label("Reason for declining").fill("Use LUNG-02 for these studies.")
    temp.get_by_role("button", name="Decline TEMP-01").click()
    expect(page.get_by_role("status")).to_have_text("Request TEMP-01 declined.")
    expect(page.get_by_role("article").filter(has_text="TEMP-01")).to_contain_text(
        "declined by admin: Use LUNG-02 for these studies."
    )
    page.screenshot(path=shots / "02-decided.png", full_page=True)
    page.get_by_role("link", name="My node").click()
    expect(page.get_by_role("row", name="LUNG-02")).to_be_visible()
    asking.reload()
    expect(asking.locator("article", has_text="Lung follow-up imaging")).to_contain_text("approved by admin")
    holder.close()

    page.get_by_role("link", name="Users and tokens").click()
    page.get_by_label("For user").select_option("outsider")
    page.get_by_label("Valid for").fill("forever")
    page.get_by_role("button", name="Issue").click()
    expect(page.locator("#ttl-error")).to_contain_text("is not a duration")
    page.get_by_label("Valid for").fill("30d")
    page.get_by_role("button", name="Issue").click()
    token = page.locator("#new-token").inner_text()
    assert token.startswith("eucaim_")
    assert (
        httpx.get(f"{world.url}/me", headers={"Authorization": f"Bearer {token}"}).json()["name"]
        == "outsider"
    )
    check_accessibility(page, axe_script)
    page.screenshot(path=shots / "03-token-issued.png", full_page=True)
    prefix = token[:11]
    page.get_by_role("button", name=f"Revoke {prefix}…").click()
    expect(page.get_by_role("status")).to_have_text(f"Token {prefix}… revoked.")
    assert httpx.get(f"{world.url}/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    context.close()
