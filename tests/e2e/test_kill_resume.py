"""`eucaim-ingest push` killed with SIGKILL again and again still ends with every instance once on the node.

A push of over a thousand instances runs as its own process against a real node and is killed
(``kill -9``, no chance to clean up) at seeded random points: twice while de-identifying, twice
while sending, all through a network that answers some requests with 503 and drops some connections
(tests/support/fault_proxy.py). After each kill a third of the outbox copies are deleted too, and
``push`` is simply started again. In the end the node holds exactly the expected de-identified
instances, each once and byte-identical to what the workspace recorded, every row is verified, and
one more ``push`` says there is nothing to do.

The other kills: the node itself (``eucaim-node serve``) killed mid-push and restarted, and the
push's de-identification workers killed under it (once, and over and over).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.workspace import Workspace
from eucaim.node.db import session_scope
from eucaim.node.models import Instance
from tests.support.fault_proxy import FaultProxy, Faults
from tests.support.node_server import SeededNode

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
logger = logging.getLogger(__name__)

SEED = 20261125
PUSH_TIMEOUT_S = 120.0
POLL_S = 0.01


def _push_process(ws: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from eucaim.ingest.cli import main; main()",
            "push",
            "--workspace",
            str(ws),
            "--workers",
            "2",
            "--concurrency",
            "2",
            "--batch-mb",
            "0.05",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        start_new_session=True,  # its own session: finds de-identification workers it leaves behind
    )


def _progress(state_db: Path) -> Counter[str]:
    """Rows per state, read the way another process would (WAL lets it read during writes)."""
    with sqlite3.connect(f"file:{state_db}?mode=ro", uri=True, timeout=5) as conn:
        return Counter(
            {state: n for state, n in conn.execute("SELECT state, COUNT(*) FROM instances GROUP BY state")}
        )


def _node_instances(node: SeededNode) -> Counter[str]:
    with session_scope(node.node.context.sessions) as session:
        rows = session.execute(
            select(Instance.sop_instance_uid, func.count()).group_by(Instance.sop_instance_uid)
        ).all()
    return Counter({str(uid): int(n) for uid, n in rows})


def _node_count(node: SeededNode) -> int:
    with session_scope(node.node.context.sessions) as session:
        return int(session.scalar(select(func.count()).select_from(Instance)) or 0)


def _session_members(sid: int) -> list[int]:
    """PIDs of live processes in session ``sid`` (what a killed push left running)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass
class Kill:
    """Kill the push once ``ready()`` turns true."""

    label: str
    ready: Callable[[], bool]


@dataclass
class KillOutcome:
    label: str
    at_s: float
    progress: Counter[str]
    node_held: int
    orphans: int


def _run_until(ws: Path, kill: Kill | None) -> tuple[subprocess.Popen[str], float, bool]:
    """Start a push; SIGKILL it when ``kill`` is ready. Returns (process, seconds, killed)."""
    started = time.monotonic()
    process = _push_process(ws)
    while process.poll() is None:
        if kill is not None and kill.ready():
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
            return process, time.monotonic() - started, True
        if time.monotonic() - started > PUSH_TIMEOUT_S:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError(f"push did not finish within {PUSH_TIMEOUT_S} s")
        time.sleep(POLL_S)
    return process, time.monotonic() - started, False


def _reap_orphans(sid: int) -> int:
    """Count processes the killed push left behind, give them a moment to exit, then kill them."""
    orphans = _session_members(sid)
    deadline = time.monotonic() + 5.0  # workers check for their parent every 0.5 s
    while orphans and time.monotonic() < deadline:
        time.sleep(0.05)
        orphans = _session_members(sid)
    for pid in orphans:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(orphans)


@pytest.fixture
def flaky_node(seeded_node: SeededNode) -> Iterator[FaultProxy]:
    """The node behind a mildly faulty network: some 503s and some dropped connections."""
    with FaultProxy(seeded_node.url, Faults(error_rate=0.05, drop_rate=0.05), seed=SEED) as proxy:
        yield proxy


def test_push_killed_four_times_ends_with_every_instance_once(
    seeded_node: SeededNode, flaky_node: FaultProxy, tmp_path: Path
) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=12, image_size=16, slices=(15, 17))
    total = len(cohort.files)
    assert total >= 1000
    ws_path = tmp_path / "ws"
    node_config = NodeConfig(url=flaky_node.url, biobank=seeded_node.biobank)
    with Workspace.create(ws_path, node_config, token=seeded_node.ingester_token) as ws:
        scan_paths(ws.state, [cohort.root])
    state_db = ws_path / "state.db"
    rng = random.Random(SEED)

    def deidentified_at_least(fraction: float) -> Callable[[], bool]:
        return lambda: total - _progress(state_db)[InstanceState.PENDING] >= fraction * total

    def node_holds_at_least(fraction: float) -> Callable[[], bool]:
        return lambda: _node_count(seeded_node) >= fraction * total

    kills = [
        Kill("de-identifying", deidentified_at_least(rng.uniform(0.05, 0.25))),
        Kill("de-identifying", deidentified_at_least(rng.uniform(0.35, 0.6))),
        Kill("sending", node_holds_at_least(rng.uniform(0.4, 0.6))),
        Kill("sending", node_holds_at_least(rng.uniform(0.7, 0.9))),
    ]
    outcomes: list[KillOutcome] = []
    lost_copies = 0
    started = time.monotonic()
    for kill in kills:
        process, seconds, killed = _run_until(ws_path, kill)
        orphans = _reap_orphans(process.pid)
        progress = _progress(state_db)
        outcomes.append(
            KillOutcome(kill.label, seconds, progress, len(_node_instances(seeded_node)), orphans)
        )
        if not killed:
            out, err = process.communicate()
            raise AssertionError(
                f"push ended (exit {process.returncode}) before the {kill.label} kill "
                f"({dict(progress)}, node held {outcomes[-1].node_held}):\n{out[-2000:]}\n{err[-3000:]}"
            )
        # Some de-identified copies are lost too (a cleaned disk): they must come back identical.
        lost = sorted((ws_path / "outbox").glob("*.dcm"))[::3]
        for path in lost:
            path.unlink()
        lost_copies += len(lost)

    final, seconds, _ = _run_until(ws_path, None)
    out, err = final.communicate()
    logger.warning(
        "kill/resume: %d instances, %d outbox copies deleted, %.1f s in all, final push %.1f s; "
        "network: %d requests, injected %s, dropped %s; kills: %s",
        total,
        lost_copies,
        time.monotonic() - started,
        seconds,
        flaky_node.stats.requests,
        dict(flaky_node.stats.injected),
        dict(flaky_node.stats.dropped),
        "; ".join(
            f"{o.label} at {o.at_s:.1f} s ({dict(o.progress)}, node held {o.node_held}, {o.orphans} orphans)"
            for o in outcomes
        ),
    )
    assert final.returncode == 0, out + err

    with Workspace.open(ws_path) as ws:
        rows = ws.state.instances()
        assert Counter(r.state for r in rows) == {InstanceState.VERIFIED: total}
        expected = Counter(r.out_sop_uid for r in rows)
        assert len(expected) == total
        on_node = _node_instances(seeded_node)
        assert on_node == expected  # each once, nothing missing, nothing extra
        with session_scope(seeded_node.node.context.sessions) as session:
            digests = dict(session.execute(select(Instance.sop_instance_uid, Instance.sha256)).all())
        assert all(digests[r.out_sop_uid or ""] == r.out_sha256 for r in rows)
    stored_files = [p for p in seeded_node.node.store_dir.rglob("*") if p.is_file()]
    assert sorted(p.stem for p in stored_files) == sorted(str(u) for u in expected)
    # Verified copies leave the outbox, and no half-written copy of a killed worker stays behind.
    assert [p.name for p in (ws_path / "outbox").iterdir()] == []
    # A killed push leaves no de-identification worker running (they would live on forever).
    assert [o.orphans for o in outcomes] == [0] * len(kills)

    again = subprocess.run(
        [
            sys.executable,
            "-c",
            "from eucaim.ingest.cli import main; main()",
            "push",
            "--workspace",
            str(ws_path),
        ],
        capture_output=True,
        text=True,
        timeout=PUSH_TIMEOUT_S,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"nothing to do: all {total} instances are already verified" in again.stdout


NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]


def _node_cli(*args: str, data: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    done = subprocess.run(
        [*NODE, *args, "--data", str(data)], capture_output=True, text=True, env=env, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(data: Path, port: int) -> subprocess.Popen[str]:
    """Start ``eucaim-node serve`` and wait until it answers /health."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EUCAIM_NODE_")}
    server = subprocess.Popen(
        [*NODE, "serve", "--data", str(data), "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        assert server.poll() is None, "eucaim-node serve exited"
        assert time.monotonic() < deadline, "eucaim-node serve did not come up"
        time.sleep(0.05)


def _node_db_instances(data: Path) -> Counter[str]:
    with sqlite3.connect(f"file:{data / 'node.db'}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT sop_instance_uid, COUNT(*) FROM instances GROUP BY sop_instance_uid")
        return Counter({str(uid): int(n) for uid, n in rows})


def test_node_killed_mid_push_and_restarted(tmp_path: Path) -> None:
    data = tmp_path / "node"
    token = _node_cli("user", "add", "alice", "--role", "data-ingester", data=data).strip().splitlines()[-1]
    _node_cli("biobank", "create", "bb", "--name", "Crash test", "--manager", "alice", data=data)
    port = _free_port()
    server = _serve(data, port)
    cohort = generate_cohort(tmp_path / "cohort", patients=2, image_size=16, slices=(15, 17))
    total = len(cohort.files)
    ws_path = tmp_path / "ws"
    with Workspace.create(
        ws_path, NodeConfig(url=f"http://127.0.0.1:{port}", biobank="bb"), token=token
    ) as ws:
        scan_paths(ws.state, [cohort.root])
    crashes: list[int] = []
    started = time.monotonic()
    try:
        push = _push_process(ws_path)
        for fraction in (0.4,):
            while len(_node_db_instances(data)) < fraction * total:
                assert push.poll() is None, "push ended before the node was killed"
                time.sleep(POLL_S)
            server.kill()  # SIGKILL, mid-request most likely
            server.wait(10)
            crashes.append(len(_node_db_instances(data)))
            server = _serve(data, port)
        out, err = push.communicate(timeout=PUSH_TIMEOUT_S)
        runs = [push.returncode]
        if push.returncode != 0:  # a user would run push again
            again = _run_until(ws_path, None)[0]
            out, err = again.communicate()
            runs.append(again.returncode)
        logger.warning(
            "node crash: %d instances, node held %s at the kills, push exit codes %s, %.1f s",
            total,
            crashes,
            runs,
            time.monotonic() - started,
        )
        assert runs[-1] == 0, out + err
        with Workspace.open(ws_path) as ws:
            rows = ws.state.instances()
        assert Counter(r.state for r in rows) == {InstanceState.VERIFIED: total}
        assert _node_db_instances(data) == Counter(r.out_sop_uid for r in rows)
    finally:
        server.terminate()
        server.wait(15)
    store_files = [p for p in (data / "store").rglob("*") if p.is_file()]
    assert sorted(p.name for p in store_files) == sorted(f"{r.out_sop_uid}.dcm" for r in rows)


def _kill_workers(push: subprocess.Popen[str], *, until: Callable[[], bool]) -> int:
    """SIGKILL the push's de-identification workers (not the push) whenever they exist, until ``until()``."""
    killed = 0
    while push.poll() is None and not until():
        for pid in _session_members(push.pid):
            if pid != push.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
        time.sleep(POLL_S)
    return killed


def _kill_one_worker(push: subprocess.Popen[str], *, when: Callable[[], bool]) -> bool:
    """SIGKILL one of the push's de-identification workers once ``when()`` holds."""
    while push.poll() is None:
        if when():
            workers = [pid for pid in _session_members(push.pid) if pid != push.pid]
            if workers:
                os.kill(workers[0], signal.SIGKILL)
                return True
        time.sleep(POLL_S)
    return False


def test_dead_workers_are_replaced_and_workers_that_keep_dying_stop_the_push_clearly(
    seeded_node: SeededNode, tmp_path: Path
) -> None:
    cohort = generate_cohort(tmp_path / "cohort", patients=3, image_size=16, slices=(15, 17))
    total = len(cohort.files)
    ws_path = tmp_path / "ws"
    node_config = NodeConfig(url=seeded_node.url, biobank=seeded_node.biobank)
    with Workspace.create(ws_path, node_config, token=seeded_node.ingester_token) as ws:
        scan_paths(ws.state, [cohort.root])
    state_db = ws_path / "state.db"

    # Every worker is killed as soon as it appears (a machine out of memory): the push gives up
    # after a few fresh pools, with one line saying what to do, not a traceback.
    doomed = _push_process(ws_path)
    _kill_workers(doomed, until=lambda: False)
    out, err = doomed.communicate(timeout=PUSH_TIMEOUT_S)
    assert doomed.returncode == 1, out + err
    assert "de-identification workers died 4 times" in err and "Traceback" not in err, err
    assert _progress(state_db)[InstanceState.QUARANTINED] == 0

    # One worker dies once (the out-of-memory killer picked it): the push carries on and finishes.
    push = _push_process(ws_path)
    start = total - _progress(state_db)[InstanceState.PENDING]
    assert _kill_one_worker(
        push, when=lambda: total - _progress(state_db)[InstanceState.PENDING] > start + 20
    )
    out, err = push.communicate(timeout=PUSH_TIMEOUT_S)
    assert push.returncode == 0, out + err
    assert "a de-identification worker died" in out
    with Workspace.open(ws_path) as ws:
        rows = ws.state.instances()
    assert Counter(r.state for r in rows) == {InstanceState.VERIFIED: total}
    assert _node_instances(seeded_node) == Counter(r.out_sop_uid for r in rows)
