"""Step 2 from a real PACS (Orthanc) in Chromium: settings, test connection, search, retrieve, a list."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from eucaim.ingest.config import NodeConfig
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import upload_study
from tests.support.orthanc import OrthancServer
from tests.ui.conftest import RunningUi

pytestmark = pytest.mark.ui


def test_search_tick_and_retrieve_studies_from_the_pacs(
    page: Page, ui_server: RunningUi, orthanc_clean: OrthancServer, tmp_path: Path, shots: Path
) -> None:
    src = tmp_path / "pacs-src"
    upload_study(
        orthanc_clean, src / "a", patient_id="PAT1", accession="ACC1", study_date="20240115", count=3
    )
    upload_study(orthanc_clean, src / "b", patient_id="PAT2", accession="ACC2", study_date="20240310",
                 modality="MR", count=2)  # fmt: skip
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="x"
    ).close()
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/sources")

    # Settings, with the error next to the form when a field is wrong.
    page.get_by_label("PACS host").fill(orthanc_clean.host)
    page.get_by_label("PACS port").fill("not a port")
    page.get_by_label("PACS AE title").fill(orthanc_clean.aet)
    page.get_by_label("Our AE title (registered on the PACS)").fill(orthanc_clean.receiver_aet)
    page.get_by_role("button", name="Save PACS settings").click()
    expect(page.locator("#pacs-error")).to_contain_text("port")
    page.get_by_label("PACS port").fill(str(orthanc_clean.dicom_port))
    page.get_by_role("button", name="Save PACS settings").click()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#echo-result")).to_contain_text("The PACS answered in")

    # Search by dates: both studies, each with a ticked box; untick the MR and retrieve the CT.
    page.get_by_label("Study date from").fill("2024-01-01")
    page.get_by_label("Study date to").fill("2024-12-31")
    page.get_by_role("button", name="Search", exact=True).click()
    rows = page.locator("#pacs-table tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Retrieve ACC2").uncheck()
    page.screenshot(path=shots / "02-pacs.png", full_page=True)
    expect(page.locator("#pacs")).to_contain_text(
        "eucaim-ingest pacs find --date-from 2024-01-01 --date-to 2024-12-31 -w"
    )
    page.get_by_role("button", name="Retrieve ticked studies").click()
    expect(page.locator("#indexed")).to_have_text(
        "3 instances of 1 patients, 1 studies, 1 series indexed.", timeout=20_000
    )
    expect(page.locator("header")).to_contain_text("1 of 1 studies complete, 3 instances indexed")

    # An accession list finds the other study; unmatched rows are named.
    listing = tmp_path / "accessions.csv"
    listing.write_text("AccessionNumber\nACC2\nNOPE\n", encoding="utf-8")
    page.get_by_label("Or a list of accession numbers or patient IDs").set_input_files(listing)
    page.get_by_role("button", name="Search", exact=True).click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ACC2")
    expect(page.get_by_text("No study found for accession NOPE.")).to_be_visible()
    page.get_by_role("button", name="Retrieve ticked studies").click()
    expect(page.locator("#indexed")).to_have_text(
        "5 instances of 2 patients, 2 studies, 2 series indexed.", timeout=20_000
    )
