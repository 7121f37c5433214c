"""`eucaim-ingest pacs config|echo|find|retrieve` against a real Orthanc acting as the hospital PACS."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from eucaim.errors import ConfigError
from eucaim.ingest.cli import app
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace
from tests.integration.pacs_cli.conftest import PacsStudy
from tests.support.orthanc import OrthancServer, free_port

pytestmark = pytest.mark.integration

runner = CliRunner()


def run(ws: Path, *args: str) -> Result:
    return runner.invoke(app, [*args, "--workspace", str(ws)])


def indexed(ws: Path) -> dict[str, set[str]]:
    """StudyInstanceUID → SOPInstanceUIDs of the pending rows in the workspace's state DB."""
    with Workspace.open(ws) as opened:
        rows = opened.state.instances([InstanceState.PENDING])
    by_study: dict[str, set[str]] = {}
    for row in rows:
        by_study.setdefault(row.study_uid, set()).add(row.sop_uid)
    return by_study


def test_config_saves_the_pacs_section_and_says_what_to_register(
    orthanc: OrthancServer, tmp_path: Path
) -> None:
    ws = tmp_path / "ws"
    with Workspace.create(ws, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"):
        pass

    result = run(ws, "pacs", "config", "--host", "127.0.0.1", "--port", str(orthanc.dicom_port),
                 "--called-aet", orthanc.aet, "--calling-aet", "EUCAIMRCV",
                 "--receiver-port", "11112")  # fmt: skip

    assert result.exit_code == 0, result.output
    saved = tomllib.loads((ws / "config.toml").read_text())["pacs"]
    assert saved == {"host": "127.0.0.1", "port": orthanc.dicom_port, "called_aet": "ORTHANC",
                     "calling_aet": "EUCAIMRCV", "receiver_port": 11112, "timeout_s": 30.0}  # fmt: skip
    assert "register AE title EUCAIMRCV with this machine's address and port 11112" in result.stdout
    # A second config without --calling-aet/--receiver-port keeps them.
    assert (
        run(ws, "pacs", "config", "--host", "pacs.local", "--port", "104", "--called-aet", "PACS").exit_code
        == 0
    )
    saved = tomllib.loads((ws / "config.toml").read_text())["pacs"]
    assert (saved["host"], saved["calling_aet"], saved["receiver_port"]) == ("pacs.local", "EUCAIMRCV", 11112)


def test_config_refuses_a_bad_ae_title(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    with Workspace.create(ws, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"):
        pass

    result = run(ws, "pacs", "config", "--host", "h", "--port", "104", "--called-aet", "A" * 17)

    assert result.exit_code == 1
    assert isinstance(result.exception, ConfigError)
    assert "called_aet" in str(result.exception)
    assert "pacs" not in tomllib.loads((ws / "config.toml").read_text())


def test_echo_reports_the_round_trip(pacs_ws: Path) -> None:
    result = run(pacs_ws, "pacs", "echo")

    assert result.exit_code == 0, result.output
    assert "✓ C-ECHO to ORTHANC at 127.0.0.1:" in result.stdout
    assert " ms" in result.stdout


def test_echo_to_a_closed_port_fails_with_the_firewall_hint(pacs_ws: Path) -> None:
    port = free_port()
    assert run(pacs_ws, "pacs", "config", "--host", "127.0.0.1", "--port", str(port),
               "--called-aet", "ORTHANC").exit_code == 0  # fmt: skip

    result = run(pacs_ws, "pacs", "echo")

    assert result.exit_code == 1
    assert f"C-ECHO to ORTHANC at 127.0.0.1:{port} failed" in result.stderr
    assert "firewall" in result.stderr


def test_echo_without_pacs_config_says_how_to_configure(orthanc: OrthancServer, tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    with Workspace.create(ws, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"):
        pass

    result = run(ws, "pacs", "echo")

    assert result.exit_code == 1
    assert "eucaim-ingest pacs config" in str(result.exception)


def test_find_by_patient_accession_and_date_range(pacs_ws: Path, studies: dict[str, PacsStudy]) -> None:
    by_patient = run(pacs_ws, "pacs", "find", "--patient-id", "PAT1")
    by_accession = run(pacs_ws, "pacs", "find", "--accession", "ACC3")
    by_dates = run(
        pacs_ws, "pacs", "find", "--date-from", "2024-03-01", "--date-to", "20240630", "--modality", "CT"
    )

    assert by_patient.exit_code == 0, by_patient.output
    assert "2 studies found" in by_patient.stdout
    assert (
        studies["ct_jan"].study_uid in by_patient.stdout and studies["mr_mar"].study_uid in by_patient.stdout
    )
    assert "PAT1" in by_patient.stdout and "ACC2" in by_patient.stdout and "2024-03-10" in by_patient.stdout
    assert studies["ct_jun"].study_uid not in by_patient.stdout
    assert "1 studies found" in by_accession.stdout and studies["ct_jun"].study_uid in by_accession.stdout
    assert "1 studies found" in by_dates.stdout and studies["ct_jun"].study_uid in by_dates.stdout
    # find retrieves nothing
    assert indexed(pacs_ws) == {}


def test_find_from_a_csv_list_names_rows_that_found_nothing(
    pacs_ws: Path, studies: dict[str, PacsStudy], tmp_path: Path
) -> None:
    listing = tmp_path / "wanted.csv"
    listing.write_text("Accession Number\nACC1\nACC3\nNOPE9\n", encoding="utf-8")

    result = run(pacs_ws, "pacs", "find", "--list", str(listing))

    assert result.exit_code == 0, result.output
    assert "2 studies found" in result.stdout
    assert "no study found for accession NOPE9" in result.stdout


def test_find_refuses_a_query_without_criteria(pacs_ws: Path) -> None:
    result = run(pacs_ws, "pacs", "find", "--modality", "CT")

    assert result.exit_code == 1
    assert "needs a patient ID, accession number, study UID or date" in str(result.exception)


def test_retrieve_by_c_get_indexes_every_instance_and_a_rerun_fetches_nothing(
    pacs_ws: Path, studies: dict[str, PacsStudy]
) -> None:
    result = run(pacs_ws, "pacs", "retrieve", "--patient-id", "PAT1")

    assert result.exit_code == 0, result.output
    assert "retrieved by C-GET: 2 of 2 studies complete, 5 instances received, 5 indexed" in result.stdout
    assert "next: eucaim-ingest push" in result.stdout
    expected = {s.study_uid: set(s.sop_uids) for s in (studies["ct_jan"], studies["mr_mar"])}
    assert indexed(pacs_ws) == expected
    for study_uid, uids in expected.items():
        assert {p.stem for p in (pacs_ws / "incoming" / study_uid).glob("*.dcm")} == uids

    again = run(pacs_ws, "pacs", "retrieve", "--patient-id", "PAT1")

    assert again.exit_code == 0, again.output
    assert "2 of 2 studies complete, 0 instances received" in again.stdout
    assert indexed(pacs_ws) == expected


def test_retrieve_by_c_move_through_our_receiver(pacs_ws: Path, studies: dict[str, PacsStudy]) -> None:
    result = run(pacs_ws, "pacs", "retrieve", "--date-from", "20240101", "--method", "move")

    assert result.exit_code == 0, result.output
    assert "retrieved by C-MOVE: 3 of 3 studies complete, 7 instances received, 7 indexed" in result.stdout
    assert indexed(pacs_ws) == {s.study_uid: set(s.sop_uids) for s in studies.values()}
    files = sorted((pacs_ws / "incoming").rglob("*.dcm"))
    mtimes = [p.stat().st_mtime_ns for p in files]

    again = run(pacs_ws, "pacs", "retrieve", "--date-from", "20240101", "--method", "move")

    # Whole studies are not moved again, so their files (and index rows) stay as they were.
    assert again.exit_code == 0, again.output
    assert "3 of 3 studies complete, 0 instances received" in again.stdout
    assert [p.stat().st_mtime_ns for p in files] == mtimes


def test_c_move_that_the_pacs_cannot_deliver_lists_every_study_and_exits_1(
    orthanc: OrthancServer, studies: dict[str, PacsStudy], pacs_ws: Path
) -> None:
    # Our receiver listens on another port than the one registered on the PACS for our AE title.
    assert run(pacs_ws, "pacs", "config", "--host", orthanc.host, "--port", str(orthanc.dicom_port),
               "--called-aet", orthanc.aet, "--receiver-port", str(free_port())).exit_code == 0  # fmt: skip

    result = run(pacs_ws, "pacs", "retrieve", "--patient-id", "PAT1", "--method", "move")

    assert result.exit_code == 1
    assert "retrieved by C-MOVE: 0 of 2 studies complete, 0 instances received" in result.stdout
    assert "Incomplete studies" in result.stdout
    for key in ("ct_jan", "mr_mar"):
        assert f"✗ study {studies[key].study_uid}: C-MOVE from PACS ORTHANC" in result.stdout
    assert "knows the destination AE title EUCAIMRCV" in result.stdout
    assert indexed(pacs_ws) == {}


def test_retrieve_reports_what_the_pacs_lacks_and_completes_the_rest(
    pacs_ws: Path, studies: dict[str, PacsStudy], tmp_path: Path
) -> None:
    missing_uid = "1.2.826.0.1.3680043.8.498.99999999999999999999"
    listing = tmp_path / "studies.csv"
    listing.write_text(
        f"StudyInstanceUID\n{studies['ct_jan'].study_uid}\n{missing_uid}\n{studies['ct_jun'].study_uid}\n",
        encoding="utf-8",
    )

    result = run(pacs_ws, "pacs", "retrieve", "--list", str(listing))

    assert result.exit_code == 1
    assert "2 of 2 studies complete, 5 instances received" in result.stdout
    assert f"no study found for study {missing_uid}" in result.stdout
    assert set(indexed(pacs_ws)) == {studies["ct_jan"].study_uid, studies["ct_jun"].study_uid}


def test_move_without_receiver_port_says_how_to_set_it(
    orthanc: OrthancServer, studies: dict[str, PacsStudy], tmp_path: Path
) -> None:
    ws = tmp_path / "ws2"
    with Workspace.create(ws, NodeConfig(url="http://127.0.0.1:9", biobank="bb"), token="t"):
        pass
    assert run(ws, "pacs", "config", "--host", orthanc.host, "--port", str(orthanc.dicom_port),
               "--called-aet", orthanc.aet, "--calling-aet", orthanc.receiver_aet).exit_code == 0  # fmt: skip

    result = run(ws, "pacs", "retrieve", "--accession", "ACC1", "--method", "move")

    assert result.exit_code == 1
    assert "--receiver-port" in str(result.exception)


def test_retrieve_with_no_match_exits_1_without_retrieving(
    pacs_ws: Path, studies: dict[str, PacsStudy]
) -> None:
    result = run(pacs_ws, "pacs", "retrieve", "--patient-id", "NOBODY")

    assert result.exit_code == 1
    assert "no study found for patient NOBODY" in result.stdout
    assert "nothing to retrieve: no study on the PACS matches" in result.stdout
    assert indexed(pacs_ws) == {}
