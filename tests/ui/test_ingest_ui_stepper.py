"""A data manager walks the whole `eucaim-ingest ui` stepper in Chromium, up to a released dataset."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from eucaim.dicom.synthetic import generate_cohort
from tests.support.node_server import SeededNode
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui


def _step(page: Page, name: str) -> Locator:
    """A link of the stepper (its number is decoration, hidden from assistive technology)."""
    return page.get_by_role("navigation", name="Steps").get_by_role("link", name=name, exact=True)


def _instances_on_node(node: SeededNode) -> set[str]:
    """Every SOPInstanceUID the node lists, asked over its own QIDO-RS."""
    headers = {"Authorization": f"Bearer {node.ingester_token}", "Accept": "application/dicom+json"}
    found: set[str] = set()
    with httpx.Client(base_url=node.dicomweb_url, headers=headers, timeout=30) as client:
        for study in client.get("/studies").json():
            uid = study["0020000D"]["Value"][0]
            for inst in client.get(f"/studies/{uid}/instances").json():
                found.add(inst["00080018"]["Value"][0])
    return found


def test_the_whole_stepper_ends_with_every_instance_on_the_node_and_a_released_dataset(
    page: Page, ui_server: RunningUi, seeded_node: SeededNode, tmp_path: Path, shots: Path
) -> None:
    cohort = generate_cohort(tmp_path / "exports", patients=2, slices=(2, 3))

    # Without the token from the terminal, nothing but the sign-in page.
    page.goto(ui_server.url + "/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Access token").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That token is not valid for this server.")).to_be_visible()
    page.goto(ui_server.login_url)

    # 1. Connect: errors appear next to their fields, then the doctor checklist.
    expect(page.get_by_role("heading", name="1. Connect to the node")).to_be_visible()
    expect(_step(page, "Connect")).to_have_attribute("aria-current", "step")
    page.get_by_label("Node URL").fill("http://node.example.org")
    page.get_by_role("button", name="Create workspace").click()
    expect(page.locator("#e-node")).to_contain_text("refusing to send data over plain HTTP")
    expect(page.locator("#e-biobank")).to_have_text("Give the biobank code the node's operator gave you.")
    expect(page.locator("#e-token")).to_be_visible()
    page.screenshot(path=shots / "01-connect-errors.png", full_page=True)
    page.get_by_label("Node URL").fill(seeded_node.url)
    page.get_by_label("Biobank code").fill("test-bb")
    page.get_by_label("API token").fill(seeded_node.ingester_token)
    page.get_by_role("button", name="Create workspace").click()
    expect(page.get_by_text(f"This workspace sends to {seeded_node.url}, biobank test-bb.")).to_be_visible()
    checklist = page.locator(".checklist")
    # The doctor checks run as a background job; the page shows them once they are done.
    expect(checklist).to_contain_text("passed", timeout=30_000)
    expect(checklist.locator(".check-failed")).to_have_count(0)
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest doctor -w")
    page.screenshot(path=shots / "01-connect.png", full_page=True)

    # 2. Sources: browse to the export folder with the picker, index it.
    _step(page, "Sources").click()
    page.get_by_role("link", name="exports/").click()
    page.get_by_role("link", name="dicom/").click()
    expect(page.get_by_label("Folder", exact=True)).to_have_value(str(cohort.root))
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest scan {cohort.root}")
    page.get_by_role("button", name="Index this folder").click()
    expect(page.locator("#indexed")).to_have_text(
        f"{len(cohort.files)} instances of 2 patients, {cohort.n_studies} studies, "
        f"{cohort.n_series} series indexed.",
        timeout=20_000,
    )
    page.screenshot(path=shots / "02-sources.png", full_page=True)

    # 3. Review: series table with filters, the per-tag dry run, nothing quarantined.
    _step(page, "Review").click()
    rows = page.locator("#series-table tbody tr")
    expect(rows).to_have_count(cohort.n_series)
    page.get_by_label("Modality").select_option("MR")
    page.get_by_role("button", name="Apply").click()
    expect(rows.first).to_contain_text("MR")
    assert rows.count() < cohort.n_series
    expect(rows.filter(has_text="CT")).to_have_count(0)
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview-summary")).to_have_text(
        f"{len(cohort.files)} instance(s) will be sent, 0 quarantined."
    )
    expect(page.locator("#preview-table")).to_contain_text("PatientName")
    expect(page.get_by_text("Nothing is quarantined.")).to_be_visible()
    page.screenshot(path=shots / "03-review.png", full_page=True)

    # 4. Transfer: live progress until every instance is verified.
    _step(page, "Transfer").click()
    page.get_by_label("Upload speed limit (MB/s)").fill("fast")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.locator("#rate-error")).to_have_text(
        "Give a number of MB per second between 0.01 and 10000, or leave it empty."
    )
    # Slowed down (about 3 s) so the live view is seen: it polls, then reloads itself at the end.
    page.get_by_label("Upload speed limit (MB/s)").fill("0.08")
    page.get_by_role("button", name="Start transfer").click()
    expect(page.get_by_text("Transfer running…")).to_be_visible()
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    expect(page.locator("aside.cli")).to_contain_text("eucaim-ingest push --max-rate 0.08 -w")
    page.screenshot(path=shots / "04-transfer-running.png", full_page=True)
    expect(page.get_by_text("Transfer complete: every instance is verified on the node.")).to_be_visible(
        timeout=90_000
    )
    n = len(cohort.files)
    expect(page.locator("#verified-line")).to_have_text(f"{n} of {n} instances")
    expect(page.locator("#study-table tbody tr")).to_have_count(cohort.n_studies)
    expect(page.locator("#study-table")).not_to_contain_text("pending")
    page.screenshot(path=shots / "04-transfer.png", full_page=True)
    # A reload keeps the finished run's state (the job lives in the server, the counts in the state DB).
    page.reload()
    expect(page.locator("#verified-line")).to_have_text(f"{n} of {n} instances")
    expect(page.get_by_role("button", name="Start transfer")).to_be_visible()
    assert len(_instances_on_node(seeded_node)) == n

    # 5. Clinical data: upload, validation table, linkage, send.
    _step(page, "Clinical data").click()
    # A file with mistakes first: each one listed at its row and column, and nothing can be sent.
    bad = tmp_path / "clinical-bad.csv"
    lines = cohort.clinical_csv.read_text(encoding="utf-8").splitlines()
    fields = lines[1].split(",")
    fields[2], fields[3] = "X", "abc"  # sex, age_at_diagnosis
    bad.write_text("\n".join([lines[0], ",".join(fields), *lines[2:]]) + "\n", encoding="utf-8")
    page.get_by_label("Clinical file (CSV, TSV, XLSX, JSON)").set_input_files(bad)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#clinical-summary")).to_contain_text("The file has errors")
    issues = page.locator("#issues-table tbody tr")
    expect(issues.filter(has_text="sex").first).to_contain_text("2")
    expect(issues.filter(has_text="age_at_diagnosis").first).to_contain_text("2")
    expect(page.get_by_role("button", name="Send clinical data")).to_have_count(0)
    page.screenshot(path=shots / "05-clinical-errors.png", full_page=True)
    page.get_by_label("Clinical file (CSV, TSV, XLSX, JSON)").set_input_files(cohort.clinical_csv)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#clinical-summary")).to_contain_text("The file is valid.")
    expect(page.locator("#linkage-summary")).to_contain_text("2 patient(s) linked")
    page.screenshot(path=shots / "05-clinical.png", full_page=True)
    page.get_by_role("button", name="Send clinical data").click()
    expect(page.locator("#clinical-outcome")).to_contain_text("2 created")
    expect(page.locator("aside.cli")).to_contain_text(
        f"eucaim-ingest clinical push {cohort.clinical_csv.name}"
    )

    # 6. Dataset: create, fill the metadata (the meter fills), release.
    _step(page, "Dataset").click()
    page.get_by_label("Name").fill("Lung pilot cohort")
    page.get_by_label("Description").fill("Two synthetic patients")
    page.get_by_label("Only the ticked patients", exact=False).check()
    patients = page.get_by_role("group", name="Patients").get_by_role("checkbox")
    expect(patients).to_have_count(2)
    for box in patients.all():
        box.uncheck()
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("#scope-error")).to_have_text(
        "Tick at least one item of the chosen kind, or choose everything in the biobank."
    )
    # The entries survive the refusal (nothing ticked stays unticked); tick one patient of the two.
    expect(page.get_by_label("Name")).to_have_value("Lung pilot cohort")
    expect(page.get_by_label("Only the ticked patients", exact=False)).to_be_checked()
    for box in patients.all():
        expect(box).not_to_be_checked()
    patients.first.check()
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("#dataset-state")).to_have_text("State: draft", timeout=30_000)
    expect(page.get_by_text("1 subjects,")).to_be_visible()
    expect(page.locator("#missing")).to_contain_text("To release, set: version")
    assert int(page.locator("#meter").get_attribute("value") or "100") < 100
    page.get_by_role("button", name="Release to the validator").click()
    expect(page.locator("#dataset-error")).to_contain_text("required metadata missing")
    values = {
        "Description *": "Two synthetic patients, one chosen", "Version *": "1.0",
        "Purpose *": "AI training", "Type (comma-separated, e.g. original) *": "original",
        "Collection method (comma-separated) *": "cohort", "Provenance *": "Hospital X",
        "Licence title *": "CC BY 4.0", "Licence URL *": "https://creativecommons.org/licenses/by/4.0/",
        "Contact name *": "Data Office", "Contact e-mail *": "data@hospital.example",
        "Interoperability tier *": "tier 1", "Cancer condition *": "Lung cancer",
        "Keywords (comma-separated) *": "lung, CT",
    }  # fmt: skip
    for label, value in values.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Save metadata").click()
    expect(page.locator("#missing")).to_have_text("Ready to release.")
    expect(page.locator("#meter")).to_have_attribute("value", "100")
    page.screenshot(path=shots / "06-dataset.png", full_page=True)
    page.get_by_role("button", name="Release to the validator").click()
    expect(page.locator("#dataset-notice")).to_contain_text("released; the platform validator will review it")

    # 7. Status of the datasets on the node.
    _step(page, "Status").click()
    table = page.locator("#datasets-table")
    expect(table).to_contain_text("Lung pilot cohort")
    expect(table).to_contain_text("released")
    expect(table).to_contain_text("finished")
    page.screenshot(path=shots / "07-status.png", full_page=True)
    assert re.search(r"eucaim-ingest dataset status -w \S+", page.locator("aside.cli").inner_text())
