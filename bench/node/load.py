"""The node load generator: run as its own process, it STOWs a folder then QIDOs, and prints JSON.

    python -m bench.node.load --url http://127.0.0.1:8080/biobanks/b1/dicom-web [--url ...]
        --files DIR --token T --concurrency 4 --batch 10 --queries 400

Requests go round-robin over the ``--url`` roots (a client-side load balancer over the workers).
Each STOW request carries ``--batch`` instances of one study; ``--concurrency`` requests are in
flight at once. Bodies are read from disk per request (files are in the page cache), so the
generator holds at most ``concurrency x batch`` instances in memory. Latency is per request,
from sending to the last response byte.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx
import pydicom


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def group_by_study(folder: Path) -> dict[str, list[Path]]:
    studies: dict[str, list[Path]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["StudyInstanceUID"])
        studies[str(ds.StudyInstanceUID)].append(path)
    return studies


def batches(studies: dict[str, list[Path]], size: int) -> list[tuple[str, list[Path]]]:
    out = []
    for study, files in studies.items():
        for start in range(0, len(files), size):
            out.append((study, files[start : start + size]))
    return out


def stow_body(files: list[Path]) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    chunks = []
    for path in files:
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        chunks.append(path.read_bytes())
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return f'multipart/related; type="application/dicom"; boundary={boundary}', b"".join(chunks)


async def run_stow(
    client: httpx.AsyncClient, urls: list[str], work: list[tuple[str, list[Path]]], concurrency: int
) -> dict[str, object]:
    queue: asyncio.Queue[tuple[str, list[Path]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)
    rotation = itertools.cycle(urls)
    latencies: list[float] = []
    statuses: dict[int, int] = defaultdict(int)
    sent_bytes = 0
    instances = 0

    async def one_client() -> None:
        nonlocal sent_bytes, instances
        while not queue.empty():
            study, files = queue.get_nowait()
            content_type, body = await asyncio.to_thread(stow_body, files)
            url = f"{next(rotation)}/studies/{study}"
            started = time.perf_counter()
            response = await client.post(url, content=body, headers={"Content-Type": content_type})
            latencies.append(time.perf_counter() - started)
            statuses[response.status_code] += 1
            if response.status_code == 200:
                sent_bytes += len(body)
                instances += len(files)

    started = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "requests": len(latencies),
        "instances": instances,
        "bytes": sent_bytes,
        "instances_per_s": instances / wall,
        "mb_per_s": sent_bytes / wall / 1e6,
        "statuses": dict(statuses),
        **{f"p{q}_ms": percentile(latencies, q) * 1000 for q in (50, 95, 99)},
    }


async def run_qido(
    client: httpx.AsyncClient, urls: list[str], studies: list[str], queries: int, concurrency: int
) -> dict[str, object]:
    rng = random.Random(7)
    targets = [rng.choice(studies) for _ in range(queries)]
    rotation = itertools.cycle(urls)
    latencies: list[float] = []
    failures = 0

    async def one_client(mine: list[str]) -> None:
        nonlocal failures
        for study in mine:
            started = time.perf_counter()
            response = await client.get(
                f"{next(rotation)}/studies", params={"StudyInstanceUID": study},
                headers={"Accept": "application/dicom+json"},
            )  # fmt: skip
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json():
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(one_client(targets[i::concurrency]) for i in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "queries": len(latencies),
        "failures": failures,
        "queries_per_s": len(latencies) / wall,
        **{f"p{q}_ms": percentile(latencies, q) * 1000 for q in (50, 95, 99)},
        "mean_ms": statistics.fmean(latencies) * 1000 if latencies else 0.0,
    }


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    studies = group_by_study(Path(args.files))
    work = batches(studies, args.batch)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    limits = httpx.Limits(
        max_connections=args.concurrency * 2, max_keepalive_connections=args.concurrency * 2
    )
    async with httpx.AsyncClient(headers=headers, timeout=300, limits=limits) as client:
        stow = await run_stow(client, args.url, work, args.concurrency)
        qido = await run_qido(client, args.url, list(studies), args.queries, args.concurrency)
    return {"stow": stow, "qido": qido, "studies": len(studies), "pid": os.getpid()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", action="append", required=True, help="DICOMweb root; repeat per worker")
    parser.add_argument("--files", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--queries", type=int, default=400)
    print(json.dumps(asyncio.run(main_async(parser.parse_args()))))


if __name__ == "__main__":
    main()
