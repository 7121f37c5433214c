"""What every benchmark shares: timing a command with the peak RSS of its process tree, corpora, tables.

Peak memory is the largest *sum* of resident set sizes over the command and all its descendants,
sampled from /proc every 20 ms: a tool that forks workers is charged for all of them.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "work"
RESULTS = BENCH / "results"
PROJECT_PY = ROOT / ".venv" / "bin" / "python"
PEERS_VENV = BENCH / ".venv-peers"
PEERS_PY = PEERS_VENV / "bin" / "python"
SAMPLE_S = 0.02


@dataclass
class Measurement:
    """One timed run of one tool."""

    tool: str
    mode: str
    seconds: float
    files: int
    bytes_in: int
    peak_rss: int
    ok: bool
    cpu_seconds: float = 0.0  # user + system time of the whole process tree
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_file(self) -> float:
        return 1000 * self.cpu_seconds / self.files if self.files else 0.0

    @property
    def mb_per_s(self) -> float:
        return self.bytes_in / 1e6 / self.seconds if self.seconds > 0 else 0.0


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; the parent PID follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def tree_rss(root: int) -> int:
    """Sum of the resident set sizes of ``root`` and every descendant, in bytes."""
    tree = _children()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss(pid)
        stack.extend(tree.get(pid, ()))
    return total


class PeakSampler:
    """Samples the RSS of a process tree in a thread; ``peak`` is the largest sum seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss(self.pid))
            self._stop.wait(SAMPLE_S)


@dataclass
class Completed:
    seconds: float
    cpu_seconds: float
    peak_rss: int
    returncodes: list[int]
    stderr_tail: str


def run_commands(commands: Sequence[Sequence[str]], *, env: dict[str, str] | None = None) -> Completed:
    """Start ``commands`` together (one per shard), wait for all; wall time and summed peak RSS.

    The commands run under one ``sh`` parent so one sampler sees them all as one tree.
    """
    errors = WORK / "stderr.log"
    WORK.mkdir(parents=True, exist_ok=True)
    with errors.open("wb") as err:
        start = time.perf_counter()
        # One parent for every shard: "wait" returns only the last status, so each command
        # writes its own status into the log instead.
        wrapped = " & ".join(f'({_quote(c)}; echo "rc=$?" >&2)' for c in commands) + " & wait"
        proc = subprocess.Popen(
            ["/bin/sh", "-c", wrapped], stdout=subprocess.DEVNULL, stderr=err, env=env or dict(os.environ)
        )
        with PeakSampler(proc.pid) as sampler:
            # wait4 returns the CPU time of the shell and of every descendant it (transitively)
            # waited for: all shards, worker pools and JVM threads.
            _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    text = errors.read_text(encoding="utf-8", errors="replace")
    codes = [int(line[3:]) for line in text.splitlines() if line.startswith("rc=") and line[3:].isdigit()]
    tail = "\n".join(line for line in text.splitlines() if not line.startswith("rc="))[-2000:]
    return Completed(seconds, usage.ru_utime + usage.ru_stime, sampler.peak, codes, tail)


def _quote(command: Sequence[str]) -> str:
    import shlex

    return " ".join(shlex.quote(part) for part in command)


def dicom_files(root: Path) -> list[Path]:
    """Every regular file below ``root``, sorted (corpora hold only DICOM files)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def total_bytes(paths: Iterable[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def count_outputs(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


def make_shards(files: Sequence[Path], root: Path, n: int) -> list[Path]:
    """Hard-link ``files`` round-robin into ``n`` folders, for tools that use one core only.

    Hard links are the same files to every tool (no symlink handling differences), cost no
    copy, and keep each file's own name; a shard's files all sit in one flat folder with
    unique names.
    """
    if root.exists():
        shutil.rmtree(root)
    shards = [root / f"shard{i}" for i in range(n)]
    for shard in shards:
        shard.mkdir(parents=True)
    for index, path in enumerate(files):
        os.link(path, shards[index % n] / f"{index:06d}.dcm")
    return shards


def warm(files: Iterable[Path]) -> None:
    """Read every file once so each tool starts with the corpus in the page cache."""
    for path in files:
        with path.open("rb") as fh:
            while fh.read(1 << 20):
                pass


def machine() -> dict[str, object]:
    """The facts a reader needs to compare our numbers with theirs."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    return {
        "commit": _commit(),
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(mem / 2**30, 1),
        "python": sys.version.split()[0],
        "kernel": platform.release(),
        "loadavg_at_start": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _commit() -> str:
    """The commit measured: bench/run.sh's snapshot, else the checkout's (dirty when src/ is)."""
    if os.environ.get("BENCH_SRC_COMMIT"):
        return os.environ["BENCH_SRC_COMMIT"] + " (src/ snapshot by bench/run.sh)"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes in src/" if dirty else "")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def mb(n: float) -> str:
    return f"{n / 1e6:.0f}"


def save_results(name: str, payload: dict[str, object]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"

    def default(obj: object) -> object:
        if isinstance(obj, Measurement):
            return {
                **asdict(obj),
                "files_per_s": obj.files_per_s,
                "mb_per_s": obj.mb_per_s,
                "cpu_ms_per_file": obj.cpu_ms_per_file,
            }
        if isinstance(obj, Path):
            return str(obj)
        raise TypeError(type(obj))

    path.write_text(json.dumps(payload, indent=2, default=default), encoding="utf-8")
    return path
