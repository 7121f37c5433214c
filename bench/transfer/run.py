"""Transfer side by side: our push and the alternatives, to our node and to Orthanc, in one run.

The same de-identified files (a workspace's outbox, made once per corpus size) go to each
receiver with:

- ``eucaim-ingest push`` from a workspace whose instances are already de-identified and were never
  offered to a node (stream STOW-RS batches, record each answer, verify each study by QIDO as soon
  as it is answered, write reports);
- a raw streamed STOW of the same batches (``bench.transfer.raw_stow``): the wire floor;
- dicomweb-client's ``store_instances`` (bench/.venv-peers);
- DCMTK's ``storescu`` over DIMSE (Orthanc only; our node speaks DICOMweb only);

plus ``eucaim-ingest push`` end to end (de-identify with all cores, send, verify) from a freshly
scanned workspace, and its peak RSS with N and 10 x N instances.

Every client is its own process tree (wall time, CPU time, peak RSS); each receiver's CPU time is
read from /proc around each run, so the "ingest" cost per instance of our node and of Orthanc is
known even though clients and servers share this machine's cores.

Usage (from the repository root, after bench/setup_peers.sh):

    .venv/bin/python -m bench.transfer.run             # 1,000 CT instances (~0.5 GB); memory 200/2,000
    .venv/bin/python -m bench.transfer.run --quick     # 100 instances; memory 50/500
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import (
    PEERS_PY,
    PROJECT_PY,
    ROOT,
    WORK,
    Measurement,
    dicom_files,
    machine,
    run_commands,
    save_results,
    table,
    warm,
)
from bench.corpus import corpus
from bench.transfer.servers import ORTHANC_AET, NodeServer, OrthancServer, cpu_seconds
from eucaim.ingest.config import NodeConfig, load_config, save_config
from eucaim.ingest.pipeline.deid_stage import run_deidentify
from eucaim.ingest.pipeline.events import ignore
from eucaim.ingest.state.db import SCHEMA_VERSION
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace

INGEST = str(ROOT / ".venv/bin/eucaim-ingest")
BATCH_MB = 32
CONCURRENCY = 2


@dataclass
class Target:
    name: str
    url: str  # node URL as a workspace sees it ({url}/biobanks/{biobank}/dicom-web)
    biobank: str
    token: str
    pid: int
    count: Callable[[], int]

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/biobanks/{self.biobank}/dicom-web"


# -- workspaces --------------------------------------------------------------------------------


def scanned_workspace(path: Path, source: Path) -> Path:
    """A new workspace that has indexed ``source`` (nothing de-identified yet)."""
    if path.exists():
        shutil.rmtree(path)
    Workspace.create(path, NodeConfig(url="http://127.0.0.1:9", biobank="unset"), token="unset").close()
    subprocess.run([INGEST, "scan", "-w", str(path), str(source)], check=True, capture_output=True)
    return path


def deidentified_workspace(kind: str, n: int) -> tuple[Path, Path]:
    """A workspace whose instances are all de-identified into its outbox, and a manifest of them.

    Made once per corpus size and state schema, and reused. ``keep_outbox`` is on, so copies of it
    can push the same outbox files again and again. Its rows were never offered to a node, as after
    a push killed while de-identifying: a push from it reconciles nothing (a template made under an
    older schema would count every row as possibly sent, so it is made again).
    """
    root = WORK / f"ws-{kind}-{n}-deidentified"
    manifest = root / "manifest.json"
    marker = root / ".complete"
    made_for = f"state schema {SCHEMA_VERSION}\n"
    if marker.exists() and marker.read_text(encoding="utf-8") == made_for:
        return root, manifest
    scanned_workspace(root, corpus(kind, n))
    with Workspace.open(root) as ws:
        stats = run_deidentify(
            ws, ws.state.instances([InstanceState.PENDING]), workers=os.cpu_count() or 1, on_event=ignore
        )
        rows = ws.state.instances([InstanceState.DEIDENTIFIED])
        config = ws.config
        config.transfer.keep_outbox = True
        save_config(root, config)
    if len(rows) != n:
        raise RuntimeError(f"only {len(rows)} of {n} instances de-identified ({stats})")
    items = [{"path": r.out_path, "study": r.out_study_uid, "size": r.out_size} for r in rows]
    manifest.write_text(json.dumps(items), encoding="utf-8")
    marker.write_text(made_for, encoding="utf-8")
    return root, manifest


def copy_for(template: Path, dest: Path, target: Target) -> Path:
    """A copy of ``template`` (sharing its outbox files) pointed at ``target``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(template, dest, ignore=shutil.ignore_patterns("outbox", "reports", "manifest.json"))
    (dest / "outbox").mkdir()
    (dest / "reports").mkdir(exist_ok=True)
    config = load_config(dest)
    config.node.url = target.url
    config.node.biobank = target.biobank
    config.node.token_file = "token"
    save_config(dest, config)
    (dest / "token").write_text(target.token + "\n", encoding="utf-8")
    return dest


# -- receivers ---------------------------------------------------------------------------------


def node_count(root: str, token: str) -> int:
    response = httpx.get(
        f"{root}/studies",
        params={"includefield": "00201208", "limit": "100000"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/dicom+json"},
        timeout=120,
    )
    if response.status_code == 204:
        return 0
    response.raise_for_status()
    return sum(int(s.get("00201208", {}).get("Value", [0])[0]) for s in response.json())


def fresh_target(which: str, node: NodeServer, orthanc: OrthancServer) -> Target:
    """An empty destination: a new biobank on our node, or Orthanc emptied."""
    if which == "node":
        code = node.new_biobank()
        root = node.dicomweb_url(code)
        return Target("our node", node.url, code, node.token, node.pid, lambda: node_count(root, node.token))
    orthanc.clear()
    return Target("Orthanc", orthanc.url, "orthanc", "unused", orthanc.pid, orthanc.count)


# -- clients -----------------------------------------------------------------------------------


def clients(
    which: str, template: Path, manifest: Path, orthanc: OrthancServer
) -> list[tuple[str, Callable[[Target], list[str]]]]:
    outbox = template / "outbox"
    scratch = WORK / "transfer-ws"
    found: list[tuple[str, Callable[[Target], list[str]]]] = [
        ("ours: eucaim-ingest push", lambda t: [INGEST, "push", "-w", str(copy_for(template, scratch, t))]),
        (
            "raw streamed STOW (floor)",
            lambda t: (
                [
                    str(PROJECT_PY),
                    "-m",
                    "bench.transfer.raw_stow",
                    str(manifest),
                    t.dicomweb,
                    t.token,
                    "--concurrency",
                    str(CONCURRENCY),
                    "--batch-mb",
                    str(BATCH_MB),
                ]
            ),
        ),
    ]
    if PEERS_PY.exists():
        found.append(
            (
                "dicomweb-client store_instances",
                lambda t: (
                    [
                        str(PEERS_PY),
                        str(ROOT / "bench/transfer/peer_dicomweb_client.py"),
                        str(manifest),
                        t.dicomweb,
                        t.token,
                        str(BATCH_MB),
                    ]
                ),
            )
        )
    if which == "orthanc" and shutil.which("storescu"):
        found.append(
            (
                "storescu (DIMSE C-STORE)",
                lambda t: (
                    [
                        "storescu",
                        "-aec",
                        ORTHANC_AET,
                        "+sd",
                        "+r",
                        "127.0.0.1",
                        str(orthanc.dicom_port),
                        str(outbox),
                    ]
                ),
            )
        )
    return found


def measure(
    label: str,
    which: str,
    command: Callable[[Target], list[str]],
    files: Sequence[Path],
    node: NodeServer,
    orthanc: OrthancServer,
) -> Measurement:
    target = fresh_target(which, node, orthanc)
    argv = command(target)  # may copy a workspace: not timed
    warm(files)
    load = os.getloadavg()[0]
    server_before = cpu_seconds(target.pid)
    done = run_commands([argv], env={**os.environ, "TCP_NODELAY": "1"})
    server_cpu = cpu_seconds(target.pid) - server_before
    stored = target.count()
    ok = stored == len(files) and all(code == 0 for code in done.returncodes)
    note = "" if ok else f"stored {stored}/{len(files)}, exit {done.returncodes}"
    if not ok:
        print(f"    {label} -> {target.name}: {done.stderr_tail[-800:]}")
    return Measurement(
        tool=label,
        mode=target.name,
        seconds=done.seconds,
        files=len(files),
        bytes_in=sum(f.stat().st_size for f in files),
        peak_rss=done.peak_rss,
        ok=ok,
        cpu_seconds=done.cpu_seconds,
        note=note,
        extra={"server_cpu_s": round(server_cpu, 3), "loadavg_1m_before": round(load, 2)},
    )


def end_to_end(kind: str, n: int, which: str, node: NodeServer, orthanc: OrthancServer) -> Measurement:
    """``eucaim-ingest push`` from a scanned workspace: de-identify (all cores), send, verify."""
    source = corpus(kind, n)
    template = scanned_workspace(WORK / f"ws-{kind}-{n}-scanned", source)
    files = dicom_files(source)
    label = f"ours: push incl. de-identification ({n} instances)"
    return measure(
        label,
        which,
        lambda t: [INGEST, "push", "-w", str(copy_for(template, WORK / "transfer-ws-e2e", t))],
        files,
        node,
        orthanc,
    )


def run(
    kind: str,
    n: int,
    memory_n: int,
    repeat: int,
    targets: Sequence[str] = ("node", "orthanc"),
    e2e: bool = True,
) -> dict[str, object]:
    template, manifest = deidentified_workspace(kind, n)
    files = [Path(item["path"]) for item in json.loads(manifest.read_text(encoding="utf-8"))]
    servers = WORK / "servers"
    if servers.exists():
        shutil.rmtree(servers)
    node = NodeServer(servers / "node").start()
    orthanc = OrthancServer(servers / "orthanc").start()
    best: dict[tuple[str, str], Measurement] = {}
    memory: list[Measurement] = []
    try:
        for round_ in range(repeat):
            for which in targets:
                tools = [*clients(which, template, manifest, orthanc)]
                for label, command in tools:
                    m = measure(label, which, command, files, node, orthanc)
                    _show(round_, repeat, m)
                    key = (m.tool, m.mode)
                    if key not in best or (m.ok and (not best[key].ok or m.seconds < best[key].seconds)):
                        best[key] = m
                if not e2e:
                    continue
                m = end_to_end(kind, n, which, node, orthanc)
                _show(round_, repeat, m)
                key = (m.tool, m.mode)
                if key not in best or (m.ok and (not best[key].ok or m.seconds < best[key].seconds)):
                    best[key] = m
        for size in (memory_n, 10 * memory_n) if memory_n else ():
            m = end_to_end(kind, size, "node", node, orthanc)
            _show(0, 1, m)
            memory.append(m)
    finally:
        node.stop()
        orthanc.stop()
    return {"results": list(best.values()), "memory": memory}


def _show(round_: int, repeat: int, m: Measurement) -> None:
    print(
        f"  [{round_ + 1}/{repeat}] {m.mode:9} {m.tool:48} {m.seconds:7.2f} s {m.files_per_s:7.1f} inst/s "
        f"{m.mb_per_s:6.1f} MB/s client {m.cpu_ms_per_file:5.2f} CPU ms/inst, server "
        f"{1000 * float(m.extra['server_cpu_s']) / m.files:5.2f} CPU ms/inst, "
        f"peak {m.peak_rss / 1e6:5.0f} MB "
        f"load {m.extra['loadavg_1m_before']} {m.note}"
    )


def report(n: int, size: int, results: Sequence[Measurement], memory: Sequence[Measurement]) -> str:
    parts = [f"{n} de-identified CT instances, {size / 1e6:.0f} MB, over loopback HTTP (no TLS)"]
    for target in ("our node", "Orthanc"):
        here = [m for m in results if m.mode == target]
        if not here:
            continue
        floor = next((m for m in here if m.tool.startswith("raw") and m.ok), None)
        ours = next((m for m in here if m.tool == "ours: eucaim-ingest push" and m.ok), None)
        rows = []
        for m in here:
            if not m.ok:
                rows.append([m.tool, "failed", m.note, "", "", "", "", ""])
                continue
            rows.append(
                [
                    m.tool,
                    f"{m.files_per_s:.0f}",
                    f"{m.mb_per_s:.1f}",
                    f"{m.cpu_ms_per_file:.2f}",
                    f"{1000 * float(m.extra['server_cpu_s']) / m.files:.2f}",
                    f"{m.peak_rss / 1e6:.0f}",
                    f"{m.seconds / floor.seconds:.2f}×" if floor else "-",
                    f"{ours.files_per_s / m.files_per_s:.2f}×" if ours else "-",
                ]
            )
        headers = [
            f"to {target}",
            "instances/s",
            "MB/s",
            "client CPU ms/inst",
            "server CPU ms/inst",
            "client peak RSS MB",
            "time ÷ raw STOW",
            "ours ÷ tool",
        ]
        parts.append(table(headers, rows))
    if memory:
        parts.append(
            table(
                [
                    "ours: push incl. de-identification, to our node",
                    "instances/s",
                    "MB/s",
                    "client peak RSS MB",
                ],
                [
                    [
                        f"{m.files} instances",
                        f"{m.files_per_s:.0f}",
                        f"{m.mb_per_s:.1f}",
                        f"{m.peak_rss / 1e6:.0f}",
                    ]
                    for m in memory
                ],
            )
        )
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="instances sent by every client (default 1000)")
    parser.add_argument(
        "--memory-n", type=int, default=200, help="N for the N vs 10 x N memory runs (0: skip them)"
    )
    parser.add_argument("--quick", action="store_true", help="100 instances, memory 50 vs 500")
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest of each is kept")
    parser.add_argument("--targets", default="node,orthanc", help="comma-separated: node, orthanc")
    parser.add_argument("--no-e2e", action="store_true", help="skip the push that also de-identifies")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on `kill`
    n, memory_n = (100, 50) if args.quick else (args.n, args.memory_n)
    facts = machine()
    print(f"machine: {facts}")
    outcome = run("ct", n, memory_n, args.repeat, args.targets.split(","), not args.no_e2e)
    files = [
        Path(i["path"]) for i in json.loads((WORK / f"ws-ct-{n}-deidentified/manifest.json").read_text())
    ]
    text = report(n, sum(f.stat().st_size for f in files), outcome["results"], outcome["memory"])  # type: ignore[arg-type]
    print("\n" + text)
    path = save_results("transfer", {"machine": facts, "n": n, "memory_n": memory_n, **outcome})
    path.with_suffix(".md").write_text(text, encoding="utf-8")
    print(f"results: {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
