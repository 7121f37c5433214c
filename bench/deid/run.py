"""De-identification side by side: ours and the tools a data holder would otherwise pick, in one run.

Every tool gets the same files (flat folders of hard links, one per process), a warm page cache and
a fresh output folder, and runs as its own process tree; wall time covers start-up to the last file
written. "1 core" runs one process; "N cores" runs ours with N workers and every single-process
tool as N processes on N shards (how a user would run them with xargs -P).

Usage (from the repository root, after bench/setup_peers.sh):

    .venv/bin/python -m bench.deid.run            # 2,000 files per corpus (the issue's size)
    .venv/bin/python -m bench.deid.run --quick    # 200 files, for development
    .venv/bin/python -m bench.deid.run --n 500 --corpora header --tools ours-eucaim,dicognito
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    BENCH,
    PEERS_PY,
    PEERS_VENV,
    PROJECT_PY,
    ROOT,
    WORK,
    Measurement,
    count_outputs,
    dicom_files,
    machine,
    make_shards,
    save_results,
    table,
    total_bytes,
    warm,
)
from bench.corpus import corpus

PIXELMED_JAR = Path("/usr/share/java/pixelmed.jar")
GDCMANON = Path("/usr/bin/gdcmanon")
CP = Path("/bin/cp")
SECRET = WORK / "site-secret"
CERT = WORK / "gdcmanon-cert.pem"
REDACTION = WORK / "pixelmed-no-regions.txt"
OPENSSL_SELF_SIGNED = "openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=eucaim-bench"

# A command builder gets (input folders, output folders, worker count) and returns the commands.
Builder = Callable[[Sequence[Path], Sequence[Path], int], list[list[str]]]


@dataclass(frozen=True)
class Tool:
    name: str
    label: str
    build: Builder
    own_parallelism: bool = False  # True: one process given all input, told how many workers
    available: Callable[[], str | None] = lambda: None  # a reason when it cannot run


def _ours(profile: str) -> Builder:
    def build(ins: Sequence[Path], outs: Sequence[Path], workers: int) -> list[list[str]]:
        return [
            [
                str(ROOT / ".venv/bin/eucaim-ingest"),
                "deid",
                str(ins[0]),
                str(outs[0]),
                "--secret-file",
                str(SECRET),
                "--profile",
                profile,
                "--workers",
                str(workers),
            ]
        ]

    return build


def _each(make: Callable[[Path, Path], list[str]]) -> Builder:
    def build(ins: Sequence[Path], outs: Sequence[Path], workers: int) -> list[list[str]]:
        return [make(i, o) for i, o in zip(ins, outs, strict=True)]

    return build


def _needs_peers() -> str | None:
    return None if PEERS_PY.exists() else "bench/.venv-peers missing: run bench/setup_peers.sh"


def _needs(path: Path, package: str) -> Callable[[], str | None]:
    return lambda: None if path.exists() else f"{path} missing: apt-get install {package}"


TOOLS: tuple[Tool, ...] = (
    Tool("cp", "`cp -r` (I/O floor)", _each(lambda i, o: [str(CP), "-r", f"{i}/.", str(o)])),
    Tool(
        "pydicom",
        "pydicom read+write (parse floor)",
        _each(lambda i, o: [str(PROJECT_PY), "-m", "bench.deid.naive_pydicom", str(i), str(o)]),
    ),
    Tool("ours-eucaim", "**ours, profile eucaim**", _ours("eucaim"), own_parallelism=True),
    Tool("ours-ps315", "**ours, profile ps315-basic**", _ours("ps315-basic"), own_parallelism=True),
    Tool(
        "dicognito",
        "dicognito 0.19.0",
        _each(lambda i, o: [str(PEERS_PY), "-m", "dicognito", "--quiet", "-o", str(o), str(i)]),
        available=_needs_peers,
    ),
    Tool(
        "deid",
        "pydicom/deid 0.4.13 (default recipe)",
        _each(lambda i, o: [str(PEERS_PY), str(BENCH / "deid" / "peer_deid.py"), str(i), str(o)]),
        available=_needs_peers,
    ),
    Tool(
        "dicom-anonymizer",
        "dicom-anonymizer 2.1.0",
        _each(lambda i, o: [str(PEERS_VENV / "bin" / "dicom-anonymizer"), str(i), str(o)]),
        available=_needs_peers,
    ),
    Tool(
        "gdcmanon",
        "gdcmanon 3.0.21 (GDCM, C++)",
        _each(lambda i, o: [str(GDCMANON), "-e", "-c", str(CERT), "--continue", "-i", str(i), "-o", str(o)]),
        available=_needs(GDCMANON, "libgdcm-tools"),
    ),
    Tool(
        "pixelmed",
        "PixelMed DeidentifyAndRedact (Clunie, Java)",
        _each(
            lambda i, o: [
                "java",
                "-cp",
                str(PIXELMED_JAR),
                "com.pixelmed.apps.DeidentifyAndRedact",
                str(i),
                str(o),
                str(REDACTION),
                "BLOCK",
                "KEEPSAFEPRIVATE",
                "DONOTADDCONTRIBUTINGEQUIPMENT",
            ]
        ),
        available=_needs(PIXELMED_JAR, "libpixelmed-java"),
    ),
)


def prepare_keys() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    if not SECRET.exists():
        SECRET.write_bytes(os.urandom(32))
    if not CERT.exists():
        key = str(WORK / "gdcm-key.pem")
        subprocess.run(
            [*OPENSSL_SELF_SIGNED.split(), "-keyout", key, "-out", str(CERT)],
            check=True,
            capture_output=True,
        )
    REDACTION.write_text("", encoding="ascii")


def measure(
    tool: Tool, shards: Sequence[Path], all_files: Sequence[Path], workers: int, mode: str
) -> Measurement:
    from bench.common import run_commands

    out_root = WORK / "out"
    if out_root.exists():
        shutil.rmtree(out_root)
    outs = [out_root / f"shard{i}" for i in range(len(shards))]
    for out in outs:
        out.mkdir(parents=True)
    warm(all_files)
    load = os.getloadavg()[0]
    done = run_commands(tool.build(shards, outs, workers))
    written = count_outputs(out_root)
    ok = written == len(all_files) and all(code == 0 for code in done.returncodes)
    note = "" if ok else f"wrote {written}/{len(all_files)}, exit {done.returncodes}"
    if not ok and done.stderr_tail:
        print(f"    {tool.name}: {done.stderr_tail[-600:]}")
    shutil.rmtree(out_root)
    return Measurement(
        tool=tool.name,
        mode=mode,
        seconds=done.seconds,
        files=len(all_files),
        bytes_in=total_bytes(all_files),
        peak_rss=done.peak_rss,
        ok=ok,
        cpu_seconds=done.cpu_seconds,
        note=note,
        extra={"loadavg_1m_before": round(load, 2)},
    )


def run_corpus(kind: str, n: int, tools: Sequence[Tool], workers: int, repeat: int) -> list[Measurement]:
    """Every tool in both modes, ``repeat`` rounds; the fastest round of each is kept.

    Rounds go through all tools in turn, so load from other processes on the machine falls on
    every tool alike; keeping the fastest round is the usual way to see through it.
    """
    files = dicom_files(corpus(kind, n))
    one = make_shards(files, WORK / f"shards-{kind}-{n}-1", 1)
    many = make_shards(files, WORK / f"shards-{kind}-{n}-{workers}", workers)
    best: dict[tuple[str, str], Measurement] = {}
    for round_ in range(repeat):
        for mode, count in (("1 core", 1), (f"{workers} cores", workers)):
            for tool in tools:
                shards = one if tool.own_parallelism or count == 1 else many
                m = measure(tool, shards, files, count, mode)
                print(
                    f"  [{round_ + 1}/{repeat}] {kind:6} {mode:8} {tool.name:17} {m.seconds:7.2f} s "
                    f"{m.files_per_s:7.1f} files/s {m.mb_per_s:7.1f} MB/s "
                    f"{m.cpu_ms_per_file:6.2f} CPU ms/file peak {m.peak_rss / 1e6:5.0f} MB "
                    f"load {m.extra['loadavg_1m_before']} {m.note}"
                )
                key = (tool.name, mode)
                if key not in best or (m.ok and (not best[key].ok or m.seconds < best[key].seconds)):
                    best[key] = m
    return list(best.values())


def memory_growth(kind: str, n: int, workers: int) -> list[Measurement]:
    """Ours (eucaim profile, all cores) on n and 2n files: peak RSS should not grow."""
    tool = next(t for t in TOOLS if t.name == "ours-eucaim")
    out: list[Measurement] = []
    for size in (n, 2 * n):
        files = dicom_files(corpus(kind, size))
        shards = make_shards(files, WORK / f"shards-{kind}-{size}-1", 1)
        m = measure(tool, shards, files, workers, f"{workers} cores, {size} files")
        print(f"  memory {kind} {size} files: peak {m.peak_rss / 1e6:.0f} MB, {m.files_per_s:.1f} files/s")
        out.append(m)
    return out


def report(kind: str, n: int, results: Sequence[Measurement], workers: int) -> str:
    labels = {t.name: t.label for t in TOOLS}
    size = total_bytes(dicom_files(corpus(kind, n)))
    parts = [f"Corpus `{kind}`: {n} files, {size / 1e6:.0f} MB ({size / n / 1e3:.1f} kB a file)"]
    for mode in ("1 core", f"{workers} cores"):
        here = [m for m in results if m.mode == mode]
        ours = next((m for m in here if m.tool == "ours-eucaim" and m.ok), None)
        rows = []
        for m in here:
            if not m.ok:
                rows.append([labels[m.tool], "failed", m.note, "", "", "", ""])
                continue
            wall = f"{ours.files_per_s / m.files_per_s:.2f}×" if ours else "-"
            cpu = f"{m.cpu_ms_per_file / ours.cpu_ms_per_file:.2f}×" if ours and ours.cpu_ms_per_file else "-"
            rows.append(
                [
                    labels[m.tool],
                    f"{m.files_per_s:.0f}",
                    f"{m.mb_per_s:.1f}",
                    f"{m.cpu_ms_per_file:.2f}",
                    f"{m.peak_rss / 1e6:.0f}",
                    wall,
                    cpu,
                ]
            )
        headers = [
            f"{mode}",
            "files/s",
            "MB/s",
            "CPU ms/file",
            "peak RSS MB",
            "ours ÷ tool (files/s)",
            "ours ÷ tool (CPU/file)",
        ]
        parts.append(table(headers, rows))
    return "\n\n".join(parts) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2000, help="files per corpus (default 2000)")
    parser.add_argument("--quick", action="store_true", help="200 files per corpus")
    parser.add_argument("--corpora", default="ct,header", help="comma-separated: ct, header")
    parser.add_argument("--tools", default=",".join(t.name for t in TOOLS), help="comma-separated tool names")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="'all cores' (default: nproc)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="rounds; the fastest of each is kept")
    parser.add_argument("--no-memory", action="store_true", help="skip ours at 2x corpus size")
    args = parser.parse_args(argv)
    n = 200 if args.quick else args.n
    wanted = args.tools.split(",")
    tools = []
    for tool in TOOLS:
        if tool.name not in wanted:
            continue
        reason = tool.available()
        if reason:
            print(f"skipping {tool.name}: {reason}")
            continue
        tools.append(tool)
    prepare_keys()
    facts = machine()
    print(f"machine: {facts}")
    payload: dict[str, object] = {
        "machine": facts,
        "n": n,
        "workers": args.workers,
        "repeat": args.repeat,
        "corpora": {},
    }
    tables = []
    for kind in args.corpora.split(","):
        results = run_corpus(kind, n, tools, args.workers, args.repeat)
        memory = [] if args.no_memory else memory_growth(kind, n, args.workers)
        payload["corpora"][kind] = {"results": results, "memory": memory}  # type: ignore[index]
        text = report(kind, n, results, args.workers)
        if memory:
            text += "\n" + table(
                ["ours (eucaim, all cores)", "files/s", "CPU ms/file", "peak RSS MB"],
                [
                    [
                        f"{m.files} files",
                        f"{m.files_per_s:.0f}",
                        f"{m.cpu_ms_per_file:.2f}",
                        f"{m.peak_rss / 1e6:.0f}",
                    ]
                    for m in memory
                ],
            )
        tables.append(text)
        print("\n" + text)
    path = save_results("deid", payload)
    (path.with_suffix(".md")).write_text("\n\n".join(tables), encoding="utf-8")
    print(f"results: {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
