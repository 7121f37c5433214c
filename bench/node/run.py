"""Load test of eucaim-node: STOW and QIDO from a second process, 1 and 2 workers, per backend, vs Orthanc.

    sh bench/run.sh bench.node.run [--n 400] [--batch 10] [--concurrency 4] [--queries 400]

Configurations, each on a fresh node (or a fresh Orthanc) fed the same de-identified CT files:

- ``fs+sqlite``: the embedded default, 1 and 2 ``eucaim-node serve`` processes on one data folder;
- ``fs+postgresql``: the shared-database deployment, 1 and 2 workers on a throwaway PostgreSQL;
- ``s3+postgresql``: SeaweedFS S3 as the image store, when this checkout's settings can select it;
- Orthanc 1.10 (Debian, DICOMweb plugin 1.7, SQLite index, its own file store), its STOW-RS.

The generator (bench/node/load.py) runs as its own process and spreads requests round-robin
over the workers, as a load balancer would. Server CPU is read from /proc for every worker.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom

from bench.common import PROJECT_PY, ROOT, WORK, dicom_files, machine, save_results, table, total_bytes
from bench.corpus import corpus
from bench.transfer.servers import (
    NODE_CLI,
    OrthancServer,
    _die_with_parent,
    _stop,
    _wait_http,
    cpu_seconds,
    free_port,
)

BIOBANK = "load"


def node_corpus(n: int) -> Path:
    """The CT corpus marked de-identified (the node refuses anything else); made once per size."""
    root = WORK / f"node-corpus-ct-{n}"
    done = root / ".complete"
    if done.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for i, source in enumerate(dicom_files(corpus("ct", n))):
        ds = pydicom.dcmread(source)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = "bench corpus: synthetic"
        ds.save_as(root / f"{i:05d}.dcm", enforce_file_format=True)
    done.touch()
    return root


@dataclass
class NodeCluster:
    """``workers`` eucaim-node serve processes sharing one data folder and database."""

    root: Path
    workers: int
    env: dict[str, str]
    token: str = ""
    urls: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _cli(self, *args: str) -> str:
        done = subprocess.run([NODE_CLI, *args], check=True, capture_output=True, text=True, env=self.env)
        return done.stdout

    def start(self) -> NodeCluster:
        self.root.mkdir(parents=True, exist_ok=True)
        self._cli("db", "upgrade")
        self.token = self._cli("user", "add", "bench", "--role", "data-ingester").strip().splitlines()[-1]
        self._cli("biobank", "create", BIOBANK, "--name", BIOBANK, "--manager", "bench")
        for i in range(self.workers):
            port = free_port()
            log = self.root / f"worker-{i}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [NODE_CLI, "serve", "--port", str(port)],
                    stdout=out, stderr=subprocess.STDOUT, env=self.env, preexec_fn=_die_with_parent,
                )  # fmt: skip
            self.processes.append(process)
            _wait_http(f"http://127.0.0.1:{port}/health", process, log)
            self.urls.append(f"http://127.0.0.1:{port}/biobanks/{BIOBANK}/dicom-web")
        return self

    def cpu(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)


def s3_selectable() -> bool:
    """True when this checkout's node settings can choose the S3 store (EUCAIM_NODE_STORE=s3)."""
    from eucaim.node.settings import Settings

    return "store" in Settings.model_fields


@contextlib.contextmanager
def backend(kind: str, root: Path) -> Iterator[dict[str, str]]:
    """Yield the environment of a node on ``kind`` (fs+sqlite, fs+postgresql, s3+postgresql)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    env["EUCAIM_NODE_DATA"] = str(root / "data")
    with contextlib.ExitStack() as stack:
        if kind.endswith("postgresql"):
            sys.path.insert(0, str(ROOT))
            from tests.support.postgres import running_postgres

            server = stack.enter_context(running_postgres())
            env["EUCAIM_NODE_DATABASE_URL"] = server.new_database()
        if kind.startswith("s3"):
            from tests.support.seaweedfs import running_seaweedfs

            s3 = stack.enter_context(running_seaweedfs(root / "seaweedfs"))
            s3.client().create_bucket(Bucket="eucaim-bench")
            env.update(
                EUCAIM_NODE_STORE="s3",
                EUCAIM_NODE_S3_ENDPOINT_URL=s3.endpoint_url,
                EUCAIM_NODE_S3_BUCKET="eucaim-bench",
                EUCAIM_NODE_S3_ACCESS_KEY_ID=s3.access_key,
                EUCAIM_NODE_S3_SECRET_ACCESS_KEY=s3.secret_key,
            )
        yield env


def run_load(urls: list[str], files: Path, token: str, args: argparse.Namespace) -> dict[str, object]:
    command = [
        str(PROJECT_PY), "-m", "bench.node.load", "--files", str(files), "--token", token,
        "--concurrency", str(args.concurrency), "--batch", str(args.batch), "--queries", str(args.queries),
    ]  # fmt: skip
    for url in urls:
        command += ["--url", url]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure_node(kind: str, workers: int, files: Path, args: argparse.Namespace) -> dict[str, object]:
    root = WORK / "node-load" / f"{kind}-{workers}"
    shutil.rmtree(root, ignore_errors=True)
    with backend(kind, root) as env:
        cluster = NodeCluster(root, workers, env).start()
        try:
            before = cluster.cpu()
            result = run_load(cluster.urls, files, cluster.token, args)
            result["server_cpu_s"] = cluster.cpu() - before
        finally:
            cluster.stop()
    return result


def measure_orthanc(files: Path, args: argparse.Namespace) -> dict[str, object]:
    root = WORK / "node-load" / "orthanc"
    shutil.rmtree(root, ignore_errors=True)
    orthanc = OrthancServer(root).start()
    try:
        before = cpu_seconds(orthanc.pid)
        result = run_load([orthanc.dicomweb_url], files, "", args)
        result["server_cpu_s"] = cpu_seconds(orthanc.pid) - before
    finally:
        orthanc.stop()
    return result


def render(rows: list[tuple[str, dict[str, object]]], n: int) -> str:
    headers = [
        "receiver", "inst/s", "MB/s", "STOW p50 ms", "p95", "p99", "server CPU ms/inst",
        "QIDO q/s", "QIDO p50 ms", "p95", "p99", "failed requests",
    ]  # fmt: skip
    body = []
    for name, r in rows:
        s, q = r["stow"], r["qido"]
        assert isinstance(s, dict) and isinstance(q, dict)
        bad = sum(v for k, v in s["statuses"].items() if k != "200") + q["failures"]
        body.append([
            name, f"{s['instances_per_s']:.0f}", f"{s['mb_per_s']:.1f}", f"{s['p50_ms']:.0f}",
            f"{s['p95_ms']:.0f}", f"{s['p99_ms']:.0f}", f"{float(r['server_cpu_s']) / n * 1000:.1f}",
            f"{q['queries_per_s']:.0f}", f"{q['p50_ms']:.1f}", f"{q['p95_ms']:.1f}",
            f"{q['p99_ms']:.1f}", bad,
        ])  # fmt: skip
    return table(headers, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--only", default="", help="comma-separated receivers to run (default: all)")
    args = parser.parse_args()
    files = node_corpus(args.n)
    size = total_bytes(dicom_files(files))
    plan = [("fs+sqlite", 1), ("fs+sqlite", 2), ("fs+postgresql", 1), ("fs+postgresql", 2)]
    if s3_selectable():
        plan += [("s3+postgresql", 1), ("s3+postgresql", 2)]
    else:
        print("S3 store not selectable in this checkout's settings: s3+postgresql rows skipped")
    only = {o for o in args.only.split(",") if o}
    rows: list[tuple[str, dict[str, object]]] = []
    for kind, workers in plan:
        name = f"eucaim-node {kind}, {workers} worker{'s' if workers > 1 else ''}"
        if only and f"{kind}:{workers}" not in only and kind not in only:
            continue
        started = time.monotonic()
        rows.append((name, measure_node(kind, workers, files, args)))
        print(f"{name}: {time.monotonic() - started:.0f} s", flush=True)
    if not only or "orthanc" in only:
        rows.append(("Orthanc 1.10 + DICOMweb 1.7 (STOW-RS)", measure_orthanc(files, args)))
    markdown = (
        f"{args.n} CT instances, {size / 1e6:.0f} MB; STOW batches of {args.batch} instances (one study), "
        f"{args.concurrency} requests in flight; {args.queries} QIDO study searches by StudyInstanceUID\n\n"
        + render(rows, args.n)
    )
    print(markdown)
    save_results(
        "node-load",
        {"machine": machine(), "args": vars(args), "rows": [{"name": n, **r} for n, r in rows],
         "markdown": markdown},
    )  # fmt: skip


if __name__ == "__main__":
    main()
