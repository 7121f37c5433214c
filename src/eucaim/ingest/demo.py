"""The end-to-end demo: an embedded node, a synthetic cohort, and the whole transfer, narrated.

What ``make demo`` runs. Each step prints what it does; the run stops the node and returns a
non-zero code when anything in the flow did not hold (an instance missing, a name leaked).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.errors import EucaimError
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import options_from, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.targets import build_target, dicomweb_root
from eucaim.ingest.workspace import Workspace

NODE_CODE = "from eucaim.node.cli import main; main()"
BIOBANK = "DEMO-LUNG"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def node_command(*args: str, data: Path) -> str:
    """Run one `eucaim-node` command and return its stdout (raise with its stderr on failure)."""
    proc = subprocess.run(
        [sys.executable, "-c", NODE_CODE, *args, "--data", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise EucaimError(f"eucaim-node {' '.join(args[:2])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


@contextmanager
def running_node(data: Path, port: int, log: Path) -> Iterator[str]:
    """Start `eucaim-node serve` in the background and stop it on exit."""
    url = f"http://127.0.0.1:{port}"
    with open(log, "wb") as log_fh:
        proc = subprocess.Popen(
            [sys.executable, "-c", NODE_CODE, "serve", "--data", str(data), "--port", str(port)],
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_healthy(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EucaimError(f"the node exited at start-up: {log.read_text(errors='replace')[-800:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise EucaimError(f"the node did not become healthy within {timeout_s:.0f} s (log: {log})")


@dataclass
class NodeCensus:
    studies: int
    series: int
    instances: int
    patient_ids: set[str]


def census(root: str, token: str) -> NodeCensus:
    """Count what the node holds through QIDO-RS, as any DICOMweb client would."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"}
    with httpx.Client(base_url=root + "/", headers=headers, timeout=30) as client:
        studies = client.get("studies", params={"includefield": "00100020", "limit": "10000"})
        studies.raise_for_status()
        n_series = n_instances = 0
        patient_ids: set[str] = set()
        for study in studies.json():
            uid = study["0020000D"]["Value"][0]
            patient_ids.update(str(v) for v in study.get("00100020", {}).get("Value", []))
            series = client.get(f"studies/{uid}/series").json()
            n_series += len(series)
            for s in series:
                suid = s["0020000E"]["Value"][0]
                n_instances += len(client.get(f"studies/{uid}/series/{suid}/instances").json())
    return NodeCensus(len(studies.json()), n_series, n_instances, patient_ids)


def leaked_strings(data_dir: Path, phi: tuple[str, ...]) -> set[str]:
    """Every planted identifying string found anywhere in the node's files (DB, store, logs)."""
    needles = {s for s in phi if len(s) >= 4}
    found: set[str] = set()
    for dirpath, _, filenames in os.walk(data_dir):
        for name in filenames:
            blob = (Path(dirpath) / name).read_bytes()
            found.update(s for s in needles if s.encode("utf-8") in blob)
    return found


def _push_clinical(console: Console, ws: Workspace, cohort: Cohort) -> bool:
    """Validate the cohort's clinical CSV, show how it links to the images, and push it."""
    from datetime import date

    from eucaim.clinical.intake import check_file
    from eucaim.clinical.linkage import link
    from eucaim.ingest.clinical_link import workspace_imaging
    from eucaim.ingest.clinical_push import push_clinical

    console.print(f"$ eucaim-ingest clinical push {cohort.clinical_csv.name}")
    result = check_file(cohort.clinical_csv, today=date.today())
    console.print(result.summary())
    imaging = workspace_imaging(ws.path)
    assert imaging is not None
    linkage = link(
        result.patient_rows(),
        imaging.studies,
        secret=imaging.secret,
        pseudonym_format=imaging.pseudonym_format,
        baselines=result.baseline_dates(),
    )
    console.print(linkage.summary())
    clinical = push_clinical(ws, result)
    console.print(clinical.line())
    return bool(result.is_valid and clinical.ok)


DEMO_METADATA = {
    "version": "1.0",
    "purpose": "Demonstration of the EUCAIM transfer flow",
    "type": ["original"],
    "collectionMethod": ["cohort"],
    "provenance": "Synthetic cohort, de-identified by eucaim-ingest",
    "license": {"title": "CC BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
    "contact": {"name": "Demo data office", "email": "data@hospital.example"},
    "keywords": ["demo", "synthetic", "lung"],
    "cancerCondition": "Lung cancer",
    "interoperabilityTier": "tier 1",
}


def _publish_dataset(
    console: Console, url: str, ws_path: Path, node_data: Path, ingester_token: str
) -> dict[str, object]:
    """The data holder creates and releases a dataset; the validator publishes it."""
    from eucaim.ingest.dataset_client import DatasetClient

    with DatasetClient(url, token_provider=lambda: ingester_token) as client:
        console.print(f"$ eucaim-ingest dataset create --name 'Demo lung cohort' -w {ws_path}")
        created = client.create(
            name="Demo lung cohort",
            description="Synthetic CT and MR studies with clinical data, transferred by the demo",
            biobank=BIOBANK,
            selection={"kind": "biobank"},
            metadata=DEMO_METADATA,
        )
        dataset_id = str(created["id"])
        job = client.wait_for_job(dataset_id)
        if job.get("status") != "finished":
            raise EucaimError(f"dataset creation ended {job.get('status')}: {job.get('message')}")
        console.print(f"$ eucaim-ingest dataset release {dataset_id}")
        client.act(dataset_id, "release")
    console.print(f"$ eucaim-node dataset publish {dataset_id} --as validator")
    node_command("dataset", "publish", dataset_id, "--as", "validator", data=node_data)
    response = httpx.get(f"{url}/catalogue/datasets/{dataset_id}", timeout=30)
    response.raise_for_status()
    entry: dict[str, object] = response.json()
    return entry


def _print_entry(console: Console, entry: dict[str, Any], url: str) -> None:
    """The catalogue entry as a researcher would read it: counts, categories, ranges."""
    agg = entry.get("aggregates") or {}
    console.print(
        f"[bold]{entry.get('name')}[/] ({entry.get('cancerCondition')}): {agg.get('subjects')} subjects, "
        f"{agg.get('studies')} studies, {agg.get('series')} series, {agg.get('instances')} instances"
    )
    for key in ("modality", "bodyPart", "manufacturer", "sex", "diagnosis"):
        terms = agg.get(key) or []
        if isinstance(terms, list) and terms:
            shown = ", ".join(f"{t.get('label')} {t.get('subjects')}" for t in terms if isinstance(t, dict))
            console.print(f"  {key:<15} {shown} (subjects)")
    for key in ("ageYears", "acquisitionYear", "diagnosisYear"):
        value = agg.get(key)
        if isinstance(value, dict):
            console.print(f"  {key:<15} {value.get('min')}–{value.get('max')}")
    console.print(f"  DCAT-AP: {url}/catalogue/datasets/{entry.get('id')}/dcat.ttl")


def _show_applications(
    console: Console, url: str, ws_path: Path, cohort_root: Path, validator_token: str, *, serve: bool
) -> None:
    """Print where both web applications are; with ``serve``, run the ingest UI until Ctrl-C."""
    console.print(Rule("the web applications"))
    console.print(f"node portal: {url}/portal/ (public catalogue; sign in as the validator with")
    console.print(f"  this demo's throwaway token: {validator_token})", soft_wrap=True, markup=False)
    if not serve:
        console.print(
            f"Data Ingestion tool: `eucaim-ingest ui -w {ws_path}` (or rerun the demo with --serve)"
        )
        return
    import uvicorn

    from eucaim.ingest.web.app import create_app, new_token
    from eucaim.ingest.web.deps import UiSettings

    settings = UiSettings(
        workspace=ws_path.resolve(), browse_root=cohort_root.parent.resolve(), token=new_token()
    )
    port = free_port()
    console.print(
        f"Data Ingestion tool: http://127.0.0.1:{port}/login?token={settings.token}",
        soft_wrap=True,
        markup=False,
    )
    console.print("both stay up until you press Ctrl-C")
    # No access log: request lines carry folder paths that may name patients.
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_demo(console: Console, *, base: Path | None = None, patients: int = 10, serve: bool = False) -> int:
    """Run the whole flow; return the process exit code. ``serve`` leaves both web apps running."""
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="eucaim-demo-", dir=base))
    node_data, ws_path = tmp / "node", tmp / "workspace"
    console.print(Rule("eucaim-transfer demo"))
    console.print(f"working folder: {tmp}")

    console.print(Rule("1. accounts and biobank on the node"))
    ingester_token = node_command("user", "add", "ingester", "--role", "data-ingester", data=node_data)
    ingester_token = ingester_token.strip().splitlines()[-1]
    validator_token = node_command("user", "add", "validator", "--role", "validator", data=node_data)
    validator_token = validator_token.strip().splitlines()[-1]
    node_command(
        "biobank", "create", BIOBANK, "--name", "Demo lung cancer imaging", "--manager", "ingester",
        data=node_data,
    )  # fmt: skip
    console.print(f"users 'ingester' (data-ingester) and 'validator'; biobank {BIOBANK}")

    port = free_port()
    console.print(Rule("2. start eucaim-node"))
    with running_node(node_data, port, tmp / "node.log") as url:
        console.print(f"node listening on {url} (SQLite + filesystem store in {node_data})")

        console.print(Rule("3. synthetic cohort with identifying data"))
        cohort: Cohort = generate_cohort(tmp / "cohort", patients=patients)
        size = sum(f.stat().st_size for f in cohort.files)
        console.print(
            f"{len(cohort.patients)} patients, {cohort.n_studies} studies, {cohort.n_series} series, "
            f"{len(cohort.files)} files ({size / 1e6:.1f} MB); clinical CSV {cohort.clinical_csv.name}"
        )

        console.print(Rule("4. eucaim-ingest init, scan, push"))
        node_cfg = NodeConfig(url=url, biobank=BIOBANK)
        with Workspace.create(ws_path, node_cfg, token=ingester_token) as ws:
            console.print(f"$ eucaim-ingest init --node {url} --biobank {BIOBANK} --token … -w {ws_path}")
            console.print(f"$ eucaim-ingest scan {cohort.root}")
            scan = scan_paths(ws.state, [cohort.root])
            console.print(f"indexed {scan.indexed} instances, {len(scan.problems)} unusable files")
            console.print("$ eucaim-ingest push")
            from eucaim.ingest.cli.progress import PipelineProgress

            target = build_target(ws)
            try:
                with PipelineProgress(console) as progress:
                    summary = push(ws, target, options_from(ws), on_event=progress.handle)
            finally:
                target.close()

            console.print(Rule("5. clinical data: validate, link, push"))
            clinical_ok = _push_clinical(console, ws, cohort)

        console.print(Rule("6. what the node holds"))
        seen = census(dicomweb_root(url, BIOBANK), validator_token)
        originals = {p.patient_id for p in cohort.patients}
        leaks = leaked_strings(node_data, cohort.phi_strings)
        console.print(
            f"sent {summary.sent}, verified {summary.verified_totals.get('instances', 0)} of "
            f"{len(cohort.files)} instances; node lists {seen.studies} studies, {seen.series} series, "
            f"{seen.instances} instances for {len(seen.patient_ids)} pseudonymous patients"
        )
        console.print(f"patient IDs on the node: {', '.join(sorted(seen.patient_ids)[:3])}, …")
        console.print(
            f"original patient names or IDs on the node: "
            f"{'[red]' + str(len(leaks)) + ' FOUND[/]' if leaks else '[green]none[/]'} "
            f"(searched {len(cohort.phi_strings)} planted strings in every node file)"
        )
        console.print(Rule("7. dataset: create, release, publish (validator)"))
        entry = _publish_dataset(console, url, ws_path, node_data, ingester_token)
        console.print(Rule("8. the public catalogue entry (aggregated metadata only)"))
        _print_entry(console, entry, url)
        entry_file = tmp / "catalogue-entry.json"
        entry_file.write_text(json.dumps(entry, indent=2), encoding="utf-8")
        console.print(f"full entry: {entry_file}")
        public = json.dumps(entry)
        catalogue_clean = not any(p.patient_id in public for p in cohort.patients) and not any(
            pseudonym in public for pseudonym in seen.patient_ids
        )
        console.print(
            "no patient, pseudonym or UID in the public entry: "
            + ("[green]yes[/]" if catalogue_clean else "[red]NO[/]")
        )
        ok = (
            summary.ok
            and clinical_ok
            and catalogue_clean
            and seen.instances == len(cohort.files)
            and seen.studies == cohort.n_studies
            and not leaks
            and not (seen.patient_ids & originals)
        )
        if serve:
            console.print(f"the flow {'[green]passed' if ok else '[red]FAILED'}[/]; serving the applications")
        _show_applications(console, url, ws_path, cohort.root, validator_token, serve=serve)
    console.print(Rule("done"))
    console.print(
        f"{'[green]demo passed' if ok else '[red]demo FAILED'}[/] in {time.monotonic() - started:.1f} s; "
        f"report {summary.report_json}"
    )
    return 0 if ok else 1
