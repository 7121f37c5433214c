"""The NIfTI step in Chromium: on an XNAT workspace, NIfTI files land in their study's session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import options_from, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.targets import build_xnat_target
from eucaim.ingest.workspace import Workspace
from tests.integration.xnat_target.test_xnat_nifti import write_nifti
from tests.support.xnat_fixture import XnatServer
from tests.ui.conftest import RunningUi
from tests.ui.test_ingest_ui_accessibility import _violations
from tests.ui.test_ingest_ui_dataset import _checked_page

pytestmark = pytest.mark.ui
PROJECT = "EUCAIM_NIFTI"


def _step(page: Page, name: str) -> Locator:
    return page.get_by_role("navigation", name="Steps").get_by_role("link", name=name, exact=True)


def _nifti_sessions(xnat: XnatServer) -> dict[str, set[str]]:
    """Session label → names of its NIFTI resource's files, as the emulator stored them."""
    store = xnat.emulator.store
    with store.lock:
        return {
            label: set(e.resources["NIFTI"].files)
            for label, e in store.experiments.items()
            if "NIFTI" in e.resources
        }


def test_nifti_files_from_a_folder_and_with_a_chosen_study_land_in_the_session(
    browser: Browser,
    ui_server: RunningUi,
    xnat_server: XnatServer,
    tmp_path: Path,
    shots: Path,
    axe_script: Path,
) -> None:
    xnat_server.emulator.create_project(PROJECT)
    xnat_server.emulator.add_user("uploader", "uploader-password", roles={PROJECT: "owner"})
    cohort = generate_cohort(tmp_path / "exports", patients=1, slices=(1, 1))
    node = NodeConfig(kind="xnat", url=xnat_server.url, biobank=PROJECT, username="uploader")
    Workspace.create(ui_server.settings.workspace, node, token="uploader-password").close()
    with Workspace.open(ui_server.settings.workspace) as ws:
        scan_paths(ws.state, [cohort.root])
        target = build_xnat_target(ws)
        try:
            assert push(ws, target, options_from(ws)).ok
        finally:
            target.close()
        row = ws.state.instances([InstanceState.VERIFIED])[0]

    derived = tmp_path / "derived"
    derived.mkdir()
    write_nifti(derived / "t1.nii.gz", descrip=b"TE=3")
    (derived / "t1.json").write_text(
        json.dumps({"PatientID": row.patient_id, "StudyInstanceUID": row.study_uid, "EchoTime": 0.003})
    )
    write_nifti(derived / "mask.nii", descrip=b"mask")
    bare = tmp_path / "bare"
    bare.mkdir()
    write_nifti(bare / "seg.nii.gz", descrip=b"seg")
    (bare / "seg.json").write_text(json.dumps({"EchoTime": 0.003}))  # names no study

    page = _checked_page(browser)
    page.goto(ui_server.login_url)
    _step(page, "NIfTI").click()
    expect(page.get_by_role("heading", name="NIfTI files into their study's session")).to_be_visible()
    assert _violations(page, axe_script) == []

    # Refused next to the path field: outside the picker's root, then a file with no sidecar.
    path = page.get_by_label("NIfTI file or folder")
    path.fill("/etc")
    page.get_by_role("button", name="Upload NIfTI files").click()
    expect(page.locator("#e-path")).to_contain_text("Give a file or folder that exists inside")
    expect(path).to_have_attribute("aria-invalid", "true")
    path.fill(str(derived))
    page.get_by_role("button", name="Upload NIfTI files").click()
    expect(page.locator("#e-path")).to_have_text(
        "No JSON sidecar beside mask.nii: each needs <name>.json next to it."
    )
    assert _nifti_sessions(xnat_server) == {}

    (derived / "mask.nii").unlink()
    page.get_by_role("button", name="Upload NIfTI files").click()
    expect(page.locator("#nifti-outcome")).to_have_text(
        "1 NIfTI file(s) uploaded, digests checked.", timeout=30_000
    )
    expect(page.locator("#nifti-pushed")).to_contain_text("t1.nii.gz: 2 files into session")
    expect(page.locator("aside.cli")).to_contain_text(f"eucaim-ingest nifti push {derived / 't1.nii.gz'} -w")
    [(session, names)] = _nifti_sessions(xnat_server).items()
    assert len(names) == 2 and any(n.endswith(".nii.gz") for n in names)
    page.screenshot(path=shots / "05-nifti.png", full_page=True)

    # A sidecar that names no study: the job's refusal is shown under the form ...
    path.fill(str(bare / "seg.nii.gz"))
    page.get_by_role("button", name="Upload NIfTI files").click()
    expect(page.locator("#nifti-error")).to_contain_text(
        "names no PatientID or StudyInstanceUID", timeout=30_000
    )
    # ... and choosing the study it comes from (one this workspace sent) places it.
    page.get_by_label("Study they come from").select_option(row.study_uid)
    expect(page.get_by_label("NIfTI file or folder")).to_have_value(str(bare / "seg.nii.gz"))
    page.get_by_role("button", name="Upload NIfTI files").click()
    expect(page.locator("#nifti-outcome")).to_have_text(
        "1 NIfTI file(s) uploaded, digests checked.", timeout=30_000
    )
    expect(page.locator("aside.cli")).to_contain_text(
        f"--patient-id {row.patient_id} --study-uid {row.study_uid} -w"
    )
    assert len(_nifti_sessions(xnat_server)[session]) == 4  # same study, same session


def test_a_dicomweb_workspace_has_no_nifti_step_and_the_page_says_why(
    page: Page, ui_server: RunningUi
) -> None:
    node = NodeConfig(url="http://127.0.0.1:9", biobank="bb")
    Workspace.create(ui_server.settings.workspace, node, token="t").close()
    page.goto(ui_server.login_url)
    expect(page.get_by_role("navigation", name="Steps").get_by_role("link")).to_have_count(7)
    page.goto(ui_server.url + "/nifti")
    expect(page.locator("#nifti-unavailable")).to_contain_text("NIfTI upload is for XNAT targets")
    expect(page.get_by_role("button", name="Upload NIfTI files")).to_have_count(0)
