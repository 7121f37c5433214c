"""The wire floor: stream the manifest's files as STOW-RS requests with nothing else around them.

Same batches as our push (one study per request, at most --batch-mb) and the same number of
requests in flight; no state, no retries, no response parsing beyond the status code.
Usage: python -m bench.transfer.raw_stow MANIFEST DICOMWEB_ROOT TOKEN [--concurrency 2] [--batch-mb 32]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

CHUNK = 1024 * 1024


def batches(manifest: list[dict[str, str | int]], limit: int) -> list[tuple[str, list[Path]]]:
    by_study: dict[str, list[dict[str, str | int]]] = {}
    for item in manifest:
        by_study.setdefault(str(item["study"]), []).append(item)
    out: list[tuple[str, list[Path]]] = []
    for study, items in by_study.items():
        current: list[Path] = []
        size = 0
        for item in items:
            if current and size + int(item["size"]) > limit:
                out.append((study, current))
                current, size = [], 0
            current.append(Path(str(item["path"])))
            size += int(item["size"])
        if current:
            out.append((study, current))
    return out


def send(client: httpx.Client, root: str, study: str, paths: list[Path]) -> int:
    boundary = secrets.token_hex(16)
    head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode("ascii")
    tail = f"--{boundary}--\r\n".encode("ascii")
    length = sum(len(head) + os.stat(p).st_size + 2 for p in paths) + len(tail)

    def body() -> Iterator[bytes]:
        for path in paths:
            yield head
            with path.open("rb") as fh:
                while chunk := fh.read(CHUNK):
                    yield chunk
            yield b"\r\n"
        yield tail

    response = client.post(
        f"{root}/studies/{study}",
        content=body(),
        headers={
            "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
            "Content-Length": str(length),
            "Accept": "application/dicom+json",
        },
    )
    if response.status_code not in (200, 202):
        print(f"STOW {study}: {response.status_code} {response.text[:200]}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("manifest", type=Path)
    parser.add_argument("root")
    parser.add_argument("token")
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-mb", type=float, default=32)
    args = parser.parse_args()
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    plan = batches(manifest, int(args.batch_mb * 1024 * 1024))
    headers = {"Authorization": f"Bearer {args.token}"}
    with (
        httpx.Client(headers=headers, timeout=600) as client,
        ThreadPoolExecutor(args.concurrency) as pool,
    ):
        failures = sum(pool.map(lambda b: send(client, args.root, b[0], b[1]), plan))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
