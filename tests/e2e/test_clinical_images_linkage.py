"""Images and clinical data of one cohort pushed with eucaim-ingest meet on the node under one pseudonym.

The synthetic cohort's clinical baseline date (radiological detection, or acquisition for controls)
is the calendar day of the patient's first CT; after both pushes the node's record must hold that
date moved by exactly the offset the node's studies of the same pseudonym were moved by.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest

from eucaim.deid.pseudonym import derive_patient_pseudonym
from eucaim.dicom.synthetic import generate_cohort
from tests.support.node_server import RunningNode, SeededNode

pytestmark = pytest.mark.e2e


def ingest(*args: str, ws: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from eucaim.ingest.cli import main; main()", *args, "--workspace", str(ws)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def _day(value: str) -> date:
    return (
        date.fromisoformat(value) if "-" in value else date(int(value[:4]), int(value[4:6]), int(value[6:]))
    )


def _rewrite(
    source: Path, target: Path, change: dict[str, dict[str, str]], extra: list[dict[str, str]]
) -> None:
    with source.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    fields = list(rows[0])
    with target.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(row | change.get(row["PatientID"], {}))
        writer.writerows(extra)


def test_images_and_clinical_records_meet_under_one_pseudonym(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=5, slices=(1, 2))
    ws = tmp_path / "ws"
    init = ingest("init", "--node", seeded_node.url, "--biobank", "test-bb",
                  "--token", seeded_node.ingester_token, ws=ws)  # fmt: skip
    assert init.returncode == 0, init.stderr
    images = ingest("push", str(cohort.root), ws=ws)
    assert images.returncode == 0, images.stdout + images.stderr

    pushed = ingest("-v", "clinical", "push", str(cohort.clinical_csv), ws=ws)  # logs to stderr too
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    assert "5 of 5 record(s) sent" in pushed.stdout
    assert "linkage: 5 patient(s) linked" in pushed.stdout

    secret = (ws / "secret.key").read_bytes().strip()
    auth = RunningNode.auth(seeded_node.validator_token)
    base = f"{seeded_node.url}/biobanks/test-bb"
    for patient in cohort.patients:
        pseudonym = derive_patient_pseudonym(secret, patient.patient_id)
        stored = httpx.get(f"{base}/subjects/{pseudonym}/clinical", headers=auth).json()
        studies = httpx.get(f"{base}/dicom-web/studies", params={"PatientID": pseudonym}, headers=auth).json()
        assert studies, (
            f"no studies on the node for the pseudonym of {patient.population} {patient.patient_id}"
        )
        fields = stored["record"]["fields"]
        baseline = fields.get("date_radiological_detection") or fields["acquisition_date"]
        offset = _day(baseline) - patient.baseline
        assert timedelta(days=-3650) <= offset <= timedelta(days=-365)
        original = {patient.baseline, patient.mr_date} | ({patient.followup_date} - {None})
        node_dates = {_day(s["00080020"]["Value"][0]) for s in studies}
        assert node_dates == {day + offset for day in original if day is not None}

    again = ingest("clinical", "push", str(cohort.clinical_csv), ws=ws)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to send: all 5 record(s) are already on the node" in again.stdout

    first, second = cohort.patients[0].patient_id, cohort.patients[1].patient_id
    changed = tmp_path / "changed.csv"
    stranger = {"PatientID": "NOIMAGES-1", "population": "control", "sex": "F", "topography": "breast",
                "acquisition_date": "2020-01-01", "age": "50.0", "imaging_protocol": "MR BREAST"}  # fmt: skip
    _rewrite(cohort.clinical_csv, changed, {first: {"imaging_protocol": "CT CHEST LOW DOSE"}}, [stranger])
    update = ingest("clinical", "push", str(changed), ws=ws)
    assert update.returncode == 1, update.stdout + update.stderr
    assert "2 of 6 record(s) sent" in update.stdout
    assert "subject-without-images" in update.stdout
    assert "were rejected" in update.stderr
    pseudonym = derive_patient_pseudonym(secret, first)
    assert httpx.get(f"{base}/subjects/{pseudonym}/clinical", headers=auth).json()["version"] == 2

    broken = tmp_path / "broken.csv"
    _rewrite(cohort.clinical_csv, broken, {second: {"sex": "maybe"}}, [])
    refused = ingest("clinical", "push", str(broken), ws=ws)
    assert refused.returncode == 1
    assert "nothing was sent" in refused.stderr and "sex" in refused.stdout
    listing = httpx.get(f"{base}/clinical", headers=auth).json()
    assert listing["total"] == 5 and {s["version"] for s in listing["subjects"]} == {1, 2}

    reports = sorted((ws / "reports").glob("clinical-push-*.json"))
    assert len(reports) == 3 and len(list((ws / "reports").glob("clinical-push-*.csv"))) == 3
    last = json.loads(reports[-1].read_text())
    assert last["counts"] == {"created": 0, "updated": 1, "unchanged": 4, "rejected": 1}
    # Pseudonyms and row numbers only: no original patient ID in any output, log line or report.
    assert "clinical record(s)" in pushed.stderr
    texts = [r.stdout + r.stderr for r in (pushed, again, update, refused)]
    texts += [p.read_text() for p in (ws / "reports").glob("clinical-push-*")]
    assert not any(p.patient_id in t for p in cohort.patients for t in texts)
