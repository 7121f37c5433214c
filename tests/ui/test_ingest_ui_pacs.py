"""Step 2 from a real PACS (Orthanc) in Chromium: settings, echo, search, retrieve, a list, errors, stop."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from openpyxl import Workbook
from playwright.sync_api import Page, expect

from eucaim.ingest.config import NodeConfig, PacsSettings, load_config, save_config
from eucaim.ingest.pacs_intake import RetrieveMethod, build_queries, find_studies, pacs_config
from eucaim.ingest.sources.pacs import PacsClient
from eucaim.ingest.web.pacs_jobs import PacsJob, progress, run_retrieve
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import make_workspace, upload_study
from tests.support.orthanc import OrthancServer, free_port
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
    page.get_by_label("Our receiver's port (for C-MOVE)").fill("70000")
    page.get_by_role("button", name="Save PACS settings").click()
    expect(page.locator("#pacs-error")).to_contain_text("receiver_port")
    page.get_by_label("Our receiver's port (for C-MOVE)").fill(str(orthanc_clean.receiver_port))
    page.get_by_label("Seconds to wait for the PACS").fill("12")
    page.get_by_role("button", name="Save PACS settings").click()
    expect(page.locator("#pacs")).to_contain_text(
        f"eucaim-ingest pacs config --host {orthanc_clean.host} --port {orthanc_clean.dicom_port} "
        f"--called-aet {orthanc_clean.aet} --calling-aet {orthanc_clean.receiver_aet} "
        f"--receiver-port {orthanc_clean.receiver_port} --timeout 12 -w"
    )
    # The receiver form starts from these settings.
    expect(page.get_by_label("Receiver AE title")).to_have_value(orthanc_clean.receiver_aet)
    expect(page.get_by_label("Receiver port")).to_have_value(str(orthanc_clean.receiver_port))
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

    # One accession number and a modality narrow the search to one study, already in the workspace.
    page.get_by_label("Accession number", exact=True).fill("ACC1")
    page.get_by_label("Modality", exact=True).fill("CT")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#pacs-outcome")).to_have_text("1 studies found (1 queries)")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ACC1")
    expect(page.locator("#pacs")).to_contain_text("eucaim-ingest pacs find --accession ACC1 --modality CT -w")

    # An Excel list of patient IDs without a header row: the select says what its column holds.
    workbook = Workbook()
    for pid in ("PAT1", "PAT2", "PAT9"):
        workbook.active.append([pid])
    workbook.save(tmp_path / "patients.xlsx")
    page.get_by_label("Accession number", exact=True).fill("")
    page.get_by_label("Modality", exact=True).fill("")
    page.get_by_label("Or a list of accession numbers or patient IDs").set_input_files(
        tmp_path / "patients.xlsx"
    )
    page.get_by_label("What a list without a header holds").select_option(label="Patient IDs")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#pacs-outcome")).to_have_text("2 studies found (3 queries)")
    expect(rows).to_have_count(2)
    expect(page.get_by_text("No study found for patient PAT9.")).to_be_visible()
    listing = ui_server.settings.workspace / "lists" / "patients.xlsx"
    expect(page.locator("#pacs")).to_contain_text(
        f"eucaim-ingest pacs find --list {listing} --list-column patient_id -w"
    )


def test_an_unreachable_pacs_is_said_next_to_the_test_button_and_the_search_form(
    page: Page, ui_server: RunningUi, tmp_path: Path
) -> None:
    Workspace.create(
        ui_server.settings.workspace, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="x"
    ).close()
    config = load_config(ui_server.settings.workspace)
    config.pacs = PacsSettings(host="127.0.0.1", port=free_port(), called_aet="NOBODY", timeout_s=5.0)
    save_config(ui_server.settings.workspace, config)
    page.goto(ui_server.login_url)
    page.goto(ui_server.url + "/sources")

    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#echo-result")).to_contain_text("The PACS did not answer:")
    expect(page.locator("#echo-result")).to_contain_text("NOBODY")

    page.get_by_label("Patient ID", exact=True).fill("PAT1")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#find-error")).to_contain_text("PACS NOBODY at 127.0.0.1", timeout=20_000)
    expect(page.get_by_role("button", name="Search", exact=True)).to_have_attribute(
        "aria-describedby", "find-error"
    )
    expect(page.locator("#pacs-table")).to_have_count(0)

    # A date that is not a date is refused before anything is asked of the PACS.
    page.get_by_label("Patient ID", exact=True).fill("")
    page.get_by_label("Accession number", exact=True).fill("ACC1")
    page.get_by_label("Study instance UID").fill("1.2.3")
    page.get_by_label("Or a list of accession numbers or patient IDs").set_input_files(
        _listing(tmp_path / "list.csv", "AccessionNumber\nACC9\n")
    )
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#find-error")).to_contain_text(
        "give either --list or --patient-id/--accession/--study-uid"
    )
    expect(page.get_by_label("Accession number", exact=True)).to_have_value("ACC1")  # what was typed stays


def _listing(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def test_a_stop_ends_the_retrieve_before_the_next_study_and_keeps_what_arrived(
    orthanc_clean: OrthancServer, tmp_path: Path
) -> None:
    """The Stop button's effect without browser timing: asked during study 1, honoured before study 2."""
    src = tmp_path / "pacs-src"
    first = upload_study(orthanc_clean, src / "a", patient_id="PAT1", accession="ACC1", study_date="20240115",
                         count=3)  # fmt: skip
    second = upload_study(
        orthanc_clean, src / "b", patient_id="PAT2", accession="ACC2", study_date="20240116"
    )
    ws_path = make_workspace(tmp_path / "ws", orthanc_clean)

    class StopAfterFirstStudy(PacsJob):
        def advance(self, name: str, items: int = 1) -> None:
            super().advance(name, items)
            if name == "studies":
                self.pause_requested = True  # what POST /sources/pacs/stop does

    job = StopAfterFirstStudy("retrieve", "eucaim-ingest pacs retrieve")
    with Workspace.open(ws_path) as ws:
        found = find_studies(PacsClient(pacs_config(ws.config)), build_queries(date_from="2024-01-01"))
        ordered = sorted(found.studies, key=lambda s: s.study_uid != first.study_uid)
        line = run_retrieve(ws, job, ordered, RetrieveMethod.GET, None)
        indexed = {r.sop_uid for r in ws.state.instances()}
    assert line == (
        "Stopped: 1 of 2 studies complete, 0 cancelled mid-study, 1 not started (3 instances are in the "
        "workspace, indexed). Retrieve again to fetch the rest: nothing is fetched twice."
    )
    assert indexed == set(first.sop_uids)
    assert not (ws_path / "incoming" / second.study_uid).exists()
    assert progress(job)["studies"] == (1, 2)


@pytest.mark.parametrize("method", [RetrieveMethod.GET, RetrieveMethod.MOVE])
def test_a_stop_mid_study_cancels_it_within_two_seconds_and_keeps_what_arrived(
    orthanc_clean: OrthancServer, tmp_path: Path, method: RetrieveMethod
) -> None:
    """The Stop button mid-study: the flag POST /sources/pacs/stop sets, from another thread."""
    big = upload_study(orthanc_clean, tmp_path / "src", patient_id="PATBIG", accession="ACCBIG",
                       study_date="20240115", count=240)  # fmt: skip
    ws_path = make_workspace(tmp_path / "ws", orthanc_clean)
    job = PacsJob("retrieve", "eucaim-ingest pacs retrieve", method=method.value)
    stopped_at: list[float] = []

    def press_stop_after_20_instances() -> None:
        while "instances" not in job.stages or job.stages["instances"].items < 20:
            time.sleep(0.001)
        stopped_at.append(time.monotonic())
        job.pause_requested = True

    with Workspace.open(ws_path) as ws:
        found = find_studies(PacsClient(pacs_config(ws.config)), build_queries(study_uid=big.study_uid))
        presser = threading.Thread(target=press_stop_after_20_instances, daemon=True)
        presser.start()
        line = run_retrieve(ws, job, found.studies, method, None)
        ended = time.monotonic()
        indexed = {r.sop_uid for r in ws.state.instances()}
    on_disk = {p.stem for p in (ws_path / "incoming" / big.study_uid).glob("*.dcm")}

    assert ended - stopped_at[0] < 2.0
    assert 20 <= len(on_disk) < 240
    assert indexed == on_disk
    assert line == (
        f"Stopped: 0 of 1 studies complete, 1 cancelled mid-study, 0 not started ({len(on_disk)} instances "
        "are in the workspace, indexed). Retrieve again to fetch the rest: nothing is fetched twice."
    )
    assert job.notices == [
        f"{big.study_uid}: cancelled: {len(on_disk)} of 240 instances are in the workspace"
    ]
    assert progress(job)["studies"] == (1, 1)
