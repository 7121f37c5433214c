"""Where a push spends its wall time: py-spy (idle stacks included) over ``eucaim-ingest push`` to our node.

Usage: .venv/bin/python -m bench.transfer.profile_push [--n 1000]

The workspace's instances are already de-identified, so this profiles sending and verifying only.
Prints the share of samples per thread and per deepest ``eucaim`` frame (waiting on the node's
answer shows as ``DicomwebTarget._request``), and keeps py-spy's raw stacks in bench/results/.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import time

from bench.common import PEERS_VENV, RESULTS, ROOT, WORK
from bench.transfer.run import INGEST, copy_for, deidentified_workspace
from bench.transfer.servers import NodeServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    template, _ = deidentified_workspace("ct", args.n)
    node = NodeServer(WORK / "profile-node").start()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"push-pyspy-{args.n}.txt"
    try:
        code = node.new_biobank()
        from bench.transfer.run import Target

        target = Target("our node", node.url, code, node.token, node.pid, lambda: 0)
        ws = copy_for(template, WORK / "profile-ws", target)
        start = time.perf_counter()
        subprocess.run(
            [
                str(PEERS_VENV / "bin/py-spy"),
                "record",
                "--idle",
                "--threads",
                "-r",
                "200",
                "-f",
                "raw",
                "-o",
                str(out),
                "--",
                INGEST,
                "push",
                "-w",
                str(ws),
            ],
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        print(f"push of {args.n} instances under py-spy: {time.perf_counter() - start:.2f} s")
    finally:
        node.stop()
    threads: collections.Counter[str] = collections.Counter()
    deepest: collections.Counter[str] = collections.Counter()
    total = 0
    for line in out.read_text(encoding="utf-8").splitlines():
        stack, samples = line.rsplit(" ", 1)
        frames = stack.split(";")
        total += int(samples)
        threads[frames[0].split(":")[-1].strip()] += int(samples)
        ours = [f for f in frames if "eucaim/" in f]
        deepest[ours[-1] if ours else frames[-1]] += int(samples)
    print(f"\n{total} samples at 200 Hz; per thread:")
    for name, count in threads.most_common():
        print(f"  {100 * count / total:5.1f}%  {name}")
    print("\ndeepest eucaim frame (or the leaf when none):")
    for frame, count in deepest.most_common(12):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print(f"raw stacks: {out}")


if __name__ == "__main__":
    main()
