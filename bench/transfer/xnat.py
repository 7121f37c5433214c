"""XNAT row of the transfer benchmark: our push to the XNAT emulator next to the same push to our node.

No XNAT server runs here, so the XNAT side is the test emulator (tests/support/xnat_emulator) in
this process: the numbers measure OUR side's cost (zipping with MD5s, the import request, the
digest listing that settles each instance), not a real XNAT's import speed, which is usually the
bottleneck in production. Both pushes start from the same freshly scanned workspace state and
include de-identification with 2 workers.

    .venv/bin/python -m bench.transfer.xnat [--n 400]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from bench.common import machine, mb, save_results, table
from eucaim.dicom.synthetic import generate_ct_corpus
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.targets import build_target, build_xnat_target
from eucaim.ingest.workspace import Workspace
from tests.support.node_server import running_node
from tests.support.xnat_fixture import serve_xnat

OPTIONS = PushOptions(workers=2, concurrency=2, batch_bytes=32 * 1024 * 1024)


def _workspace(root: Path, node: NodeConfig, token: str, corpus: Path) -> Workspace:
    ws = Workspace.create(root, node, token=token)
    scan_paths(ws.state, [corpus])
    return ws


def run(n: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-xnat-"))
    try:
        files = generate_ct_corpus(tmp / "corpus", n, size=256)
        size = sum(f.stat().st_size for f in files)
        rows: list[list[object]] = []
        results: dict[str, float] = {}
        with serve_xnat(tmp / "xnat") as site:
            site.emulator.create_project("BENCH")
            site.emulator.add_user("bench", "bench-pw", roles={"BENCH": "owner"})
            node = NodeConfig(kind="xnat", url=site.url, biobank="BENCH", username="bench")
            ws = _workspace(tmp / "ws-xnat", node, "bench-pw", tmp / "corpus")
            target = build_xnat_target(ws)
            started = time.perf_counter()
            summary = push(ws, target, OPTIONS)
            results["xnat"] = time.perf_counter() - started
            target.close()
            assert summary.ok, summary.why_not_ok()
        with running_node(tmp / "node") as node_server:
            token = node_server.add_user("bench", "data-ingester")
            node_server.create_biobank("BENCH", managers=["bench"])
            ws = _workspace(
                tmp / "ws-node", NodeConfig(url=node_server.url, biobank="BENCH"), token, tmp / "corpus"
            )
            target = build_target(ws)
            started = time.perf_counter()
            summary = push(ws, target, OPTIONS)
            results["node"] = time.perf_counter() - started
            target.close()
            assert summary.ok, summary.why_not_ok()
        for name, seconds in (
            ("our node (DICOMweb STOW)", results["node"]),
            ("XNAT emulator (DICOM-zip import)", results["xnat"]),
        ):
            rows.append(
                [
                    name,
                    f"{n / seconds:.0f}",
                    f"{size / seconds / 1e6:.1f}",
                    f"{seconds:.1f}",
                    f"{seconds / results['node']:.2f}×",
                ]
            )
        print(f"{n} CT instances 256×256 ({mb(size)} MB), push incl. de-identification, 2 workers")
        print(table(["target", "instances/s", "MB/s", "seconds", "time ÷ our node"], rows))
        return {"machine": machine(), "n": n, "bytes": size, "seconds": results}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    args = parser.parse_args()
    save_results("transfer-xnat", run(args.n))


if __name__ == "__main__":
    main()
