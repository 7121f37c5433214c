"""Fault-test plumbing: a fault proxy in front of our node or Orthanc, and the exactly-once checks.

The ``endpoint`` fixture is parametrised over both real servers, so every fault scenario runs
against each. An :class:`Endpoint` builds the :class:`DicomwebTarget` a test pushes through (via
the proxy), rotates the bearer token the way an expiring token would, and checks what the server
ended up holding: every expected instance exactly once, nothing else.
"""

from __future__ import annotations

import base64
import hashlib
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import func, select

from eucaim.dicom.synthetic import Cohort, generate_cohort
from eucaim.ingest.config import NodeConfig
from eucaim.ingest.pipeline.report import PushSummary
from eucaim.ingest.pipeline.runner import PushOptions, push
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.dicomweb import DicomwebTarget
from eucaim.ingest.upload.http import RetryPolicy
from eucaim.ingest.workspace import Workspace
from eucaim.node.db import session_scope
from eucaim.node.models import Instance
from eucaim.node.services.accounts import get_user, issue_token, revoke_tokens
from tests.support.fault_proxy import FaultProxy
from tests.support.node_server import SeededNode
from tests.support.orthanc import OrthancServer


@dataclass
class SleepLog:
    """A RetryPolicy sleep that records every wait and sleeps only a few milliseconds."""

    waits: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        time.sleep(min(seconds, 0.005))


def fast_retry(sleep: SleepLog, *, max_attempts: int = 8, seed: int = 0) -> RetryPolicy:
    """The production policy's shape with a 1 ms base delay, so a test retries many times fast."""
    return RetryPolicy(
        max_attempts=max_attempts, base_s=0.001, cap_s=0.01, sleep=sleep, rng=random.Random(seed)
    )


class Endpoint(Protocol):
    """A real DICOMweb server behind a fault proxy."""

    name: str
    proxy: FaultProxy
    token_file: TokenFile

    def target(self, retry: RetryPolicy, *, timeout_s: float = 30.0) -> DicomwebTarget: ...

    def rotate_token(self) -> None: ...

    def stored(self) -> Counter[str]: ...

    def check_store(self, ws: Workspace) -> None: ...


class TokenFile:
    """The workspace's token file: what the client re-reads after a 401."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.reads = 0

    def __call__(self) -> str:
        self.reads += 1
        return self.token


@dataclass
class NodeEndpoint:
    """Our node: the client sends the ingester's bearer token, the node checks it."""

    seeded: SeededNode
    proxy: FaultProxy
    token_file: TokenFile
    name: str = "node"

    def target(self, retry: RetryPolicy, *, timeout_s: float = 30.0) -> DicomwebTarget:
        return DicomwebTarget(
            f"{self.proxy.url}/biobanks/{self.seeded.biobank}/dicom-web",
            token_provider=self.token_file,
            retry=retry,
            timeout_s=timeout_s,
        )

    def rotate_token(self) -> None:
        """Revoke the ingester's token on the node and write a new one to the token file."""
        node = self.seeded.node
        with session_scope(node.context.sessions) as session:
            user = get_user(session, name="ingester")
            now = datetime.now(UTC)
            revoke_tokens(session, user=user, now=now)
            self.token_file.token = issue_token(session, user=user, now=now, ttl=timedelta(hours=1))

    def stored(self) -> Counter[str]:
        """Index rows per SOPInstanceUID in the seeded biobank (straight from the node's DB)."""
        with session_scope(self.seeded.node.context.sessions) as session:
            rows = session.execute(
                select(Instance.sop_instance_uid, func.count()).group_by(Instance.sop_instance_uid)
            ).all()
        return Counter({str(uid): int(n) for uid, n in rows})

    def check_store(self, ws: Workspace) -> None:
        """One file per verified instance in the store, byte-identical to the outbox copy sent."""
        store = self.seeded.node.store_dir
        files = sorted(p for p in store.rglob("*") if p.is_file())
        assert [p for p in files if p.suffix != ".dcm"] == [], "staging files left in the store"
        by_uid = Counter(p.stem for p in files)
        rows = ws.state.instances([InstanceState.VERIFIED])
        assert by_uid == Counter(r.out_sop_uid for r in rows)
        digests = {p.stem: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
        assert all(digests[r.out_sop_uid or ""] == r.out_sha256 for r in rows)
        spools = self.seeded.node.settings.tmp_dir
        assert not spools.exists() or list(spools.iterdir()) == [], "request spools left behind"


@dataclass
class OrthancEndpoint:
    """Orthanc behind the proxy acting as an auth gateway: bearer tokens in, Basic auth out."""

    orthanc: OrthancServer
    proxy: FaultProxy
    token_file: TokenFile
    name: str = "orthanc"

    def target(self, retry: RetryPolicy, *, timeout_s: float = 30.0) -> DicomwebTarget:
        return DicomwebTarget(
            f"{self.proxy.url}/dicom-web", token_provider=self.token_file, retry=retry, timeout_s=timeout_s
        )

    def rotate_token(self) -> None:
        new = "gw-" + hashlib.sha256(self.token_file.token.encode()).hexdigest()[:16]
        self.proxy.faults.accept_bearer = {new}
        self.token_file.token = new

    def stored(self) -> Counter[str]:
        return Counter(self.orthanc.instances())

    def check_store(self, ws: Workspace) -> None:
        pass  # Orthanc's own storage is its business; its index is checked by stored()


@pytest.fixture(params=["node", "orthanc"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[Endpoint]:
    """Each real server in turn, behind a fresh fault proxy (no faults until the test sets them)."""
    if request.param == "node":
        seeded: SeededNode = request.getfixturevalue("seeded_node")
        with FaultProxy(seeded.url, seed=4) as proxy:
            yield NodeEndpoint(seeded, proxy, TokenFile(seeded.ingester_token))
    else:
        orthanc: OrthancServer = request.getfixturevalue("orthanc_clean")
        basic = base64.b64encode(f"{orthanc.username}:{orthanc.password}".encode()).decode()
        with FaultProxy(orthanc.http_url, seed=4) as proxy:
            proxy.faults.accept_bearer = {"gw-initial"}
            proxy.faults.upstream_headers = {"Authorization": f"Basic {basic}"}
            yield OrthancEndpoint(orthanc, proxy, TokenFile("gw-initial"))


@dataclass
class Transfer:
    """A scanned workspace ready to push, and the cohort it came from."""

    ws: Workspace
    cohort: Cohort


@pytest.fixture
def transfer(tmp_path: Path) -> Iterator[Transfer]:
    """Three patients, short series of 16x16 images (about 40 instances of ~1.5 kB), scanned."""
    cohort = generate_cohort(tmp_path / "cohort", patients=3, image_size=16, slices=(2, 3))
    ws = Workspace.create(tmp_path / "ws", NodeConfig(url="http://127.0.0.1:1", biobank="X"), token="t")
    scan_paths(ws.state, [cohort.root])
    try:
        yield Transfer(ws, cohort)
    finally:
        ws.close()


def push_until_done(
    ws: Workspace, make_target: Callable[[], DicomwebTarget], options: PushOptions, *, max_runs: int = 4
) -> list[PushSummary]:
    """Run push the way a user would: again after an incomplete run, up to ``max_runs`` times."""
    summaries: list[PushSummary] = []
    for _ in range(max_runs):
        target = make_target()
        try:
            summaries.append(push(ws, target, options))
        except Exception as exc:  # a fatal error also ends a run; the user runs push again
            summaries.append(PushSummary(fatal=f"{type(exc).__name__}: {exc}"))
        finally:
            target.close()
        if summaries[-1].ok:
            break
    return summaries


def assert_exactly_once(endpoint: Endpoint, transfer: Transfer) -> None:
    """Every indexed instance verified, and the server holds each exactly once, nothing else."""
    ws = transfer.ws
    counts = ws.state.counts_by_state()
    assert counts[InstanceState.VERIFIED] == len(transfer.cohort.files), counts
    expected = Counter(r.out_sop_uid for r in ws.state.instances([InstanceState.VERIFIED]))
    assert len(expected) == len(transfer.cohort.files)  # de-identified UIDs are distinct
    assert endpoint.stored() == expected
    endpoint.check_store(ws)
