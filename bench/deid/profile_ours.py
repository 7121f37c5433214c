"""Where our de-identification spends its time: cProfile over ``deidentify_file`` in one process.

Usage: .venv/bin/python -m bench.deid.profile_ours [--kind ct|header] [--n 200] [--profile eucaim]

Prints the functions with the most own time and the most cumulative time (file:line), and saves
the raw profile to bench/results/ for snakeviz or ``python -m pstats``. For a sampling view of the
whole CLI run, use py-spy from bench/.venv-peers:

    bench/.venv-peers/bin/py-spy record -o bench/results/deid.svg -- \\
        .venv/bin/eucaim-ingest deid IN OUT --secret-file bench/work/site-secret --workers 1
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import time

from bench.common import RESULTS, WORK, dicom_files, total_bytes
from bench.corpus import corpus
from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.profile import load_profile


def _short(filename: str) -> str:
    """Paths relative to the repository or to site-packages, so the table stays readable."""
    for marker in ("/site-packages/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="ct")
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--profile", default="eucaim")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    files = dicom_files(corpus(args.kind, args.n))
    out = WORK / "profile-out"
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    deidentifier = Deidentifier(load_profile(args.profile), os.urandom(32))

    def work() -> None:
        for index, path in enumerate(files):
            deidentify_file(path, out / f"{index}.dcm", deidentifier)

    start, cpu_start = time.perf_counter(), time.process_time()
    work()  # unprofiled pass: the real speed, and warm caches for the profiled one
    plain, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    profiler = cProfile.Profile()
    profiler.runcall(work)
    RESULTS.mkdir(parents=True, exist_ok=True)
    target = RESULTS / f"profile-{args.kind}-{args.profile}-{args.n}.prof"
    profiler.dump_stats(target)
    size = total_bytes(files)
    print(
        f"{len(files)} {args.kind} files ({size / 1e6:.0f} MB), profile {args.profile}: "
        f"{plain:.2f} s unprofiled, {1000 * plain / len(files):.2f} ms/file wall, "
        f"{1000 * cpu / len(files):.2f} CPU ms/file, {len(files) / plain:.0f} files/s on one core"
    )
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(tt for (_, _, tt, _, _) in entries.values())
    for title, column in (("own time", 2), ("cumulative time", 3)):
        print(f"\n== top {args.top} by {title} (profiled total {total:.2f} s) ==")
        print(f"{'own s':>8} {'cum s':>8} {'calls':>9}  where")
        ranked = sorted(entries.items(), key=lambda item: item[1][column], reverse=True)
        for (filename, line, function), (_, calls, own, cum, _) in ranked[: args.top]:
            print(f"{own:8.3f} {cum:8.3f} {calls:9d}  {_short(filename)}:{line} {function}")
    print(f"raw profile: {target}")
    shutil.rmtree(out)


if __name__ == "__main__":
    main()
