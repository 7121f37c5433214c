"""Pushes through a faulty network to our node and to Orthanc still store every instance exactly once.

Each test puts one kind of fault between the pipeline and a real DICOMweb server (see
``tests/support/fault_proxy.py``), runs ``push`` as a user would (again if a run ends incomplete)
and checks the server's own index: every de-identified instance once, nothing else.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from pathlib import Path

import pytest

from eucaim.dicom.synthetic import generate_cohort
from eucaim.ingest.pipeline.runner import PushOptions
from eucaim.ingest.scanner import scan_paths
from eucaim.ingest.state.states import InstanceState
from tests.integration.transfer.conftest import (
    Endpoint,
    SleepLog,
    Transfer,
    assert_exactly_once,
    fast_retry,
    push_until_done,
)
from tests.support.fault_proxy import Drop

pytestmark = pytest.mark.integration
logger = logging.getLogger(__name__)

# Small batches (a few instances each) so one push makes many requests for faults to hit.
OPTIONS = PushOptions(workers=2, concurrency=2, batch_bytes=8 * 1024)


def _report(name: str, endpoint: Endpoint, sleeps: SleepLog, started: float, runs: int) -> None:
    stats = endpoint.proxy.stats
    logger.warning(
        "%s/%s: %d runs, %.1f s, %d requests, %d forwarded, injected %s, dropped %s, delayed %d, "
        "413 %d, 401 %d, %d retry waits",
        name,
        endpoint.name,
        runs,
        time.monotonic() - started,
        stats.requests,
        stats.forwarded,
        dict(stats.injected),
        dict(stats.dropped),
        stats.delayed,
        stats.too_large,
        stats.statuses()[401],
        len(sleeps.waits),
    )
    assert stats.upstream_errors == [], "the server itself failed (not an injected fault)"


def test_random_500_and_503_are_retried_honouring_retry_after(endpoint: Endpoint, transfer: Transfer) -> None:
    endpoint.proxy.faults.error_rate = 0.3
    endpoint.proxy.faults.retry_after = "1"
    sleeps, started = SleepLog(), time.monotonic()

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS)

    _report("5xx", endpoint, sleeps, started, len(runs))
    assert len(runs) == 1 and runs[0].ok, runs[-1].why_not_ok()  # the retries absorb every error
    assert_exactly_once(endpoint, transfer)
    injected = endpoint.proxy.stats.injected
    assert injected[500] > 0 and injected[503] > 0
    # Every injected error cost one retry, and each 503 made the client wait its Retry-After.
    assert len(sleeps.waits) == injected[500] + injected[503]
    assert sum(1 for w in sleeps.waits if w >= 1.0) == injected[503]


def test_dropped_connections_mid_body_and_before_the_answer(endpoint: Endpoint, transfer: Transfer) -> None:
    endpoint.proxy.faults.drop_rate = 0.3
    sleeps, started = SleepLog(), time.monotonic()

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS)

    _report("drops", endpoint, sleeps, started, len(runs))
    assert len(runs) == 1 and runs[0].ok, runs[-1].why_not_ok()  # the retries absorb every drop
    dropped = endpoint.proxy.stats.dropped
    # Every kind happened: the server saw cut bodies, and handled requests whose answer was lost
    # or cut short (so the retry re-sent instances it already held: they must not be stored twice).
    assert all(dropped[mode] > 0 for mode in Drop)
    assert_exactly_once(endpoint, transfer)


@pytest.mark.slow
def test_answers_slower_than_the_client_timeout_are_retried(endpoint: Endpoint, transfer: Transfer) -> None:
    endpoint.proxy.faults.delay_rate = 0.25
    endpoint.proxy.faults.delay_s = 1.2
    endpoint.proxy.faults.methods = frozenset({"POST"})
    sleeps, started = SleepLog(), time.monotonic()
    options = PushOptions(workers=2, concurrency=2, batch_bytes=32 * 1024)

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps), timeout_s=1.0), options)

    _report("slow", endpoint, sleeps, started, len(runs))
    assert runs[-1].ok, runs[-1].why_not_ok()
    assert endpoint.proxy.stats.delayed > 0
    assert len(sleeps.waits) >= endpoint.proxy.stats.delayed  # each late answer was a timeout, retried
    assert_exactly_once(endpoint, transfer)


@pytest.mark.parametrize(
    ("endpoint", "linger"),
    [("node", True), ("orthanc", True), ("node", False)],  # how the proxy closes is server-independent
    ids=["node-lingering-close", "orthanc-lingering-close", "node-hard-close"],
    indirect=["endpoint"],
)
def test_413_splits_batches_until_they_fit(endpoint: Endpoint, transfer: Transfer, linger: bool) -> None:
    sizes = sorted(r.size for r in transfer.ws.state.instances())
    limit = 3 * sizes[-1] + 1024  # about three instances per request
    endpoint.proxy.faults.max_body_bytes = limit
    # Like nginx, or like a proxy that closes at once (the client may then see a reset, not the 413).
    endpoint.proxy.faults.linger_413 = linger
    sleeps, started = SleepLog(), time.monotonic()
    options = PushOptions(workers=2, concurrency=2, batch_bytes=1 << 20)  # whole studies per batch

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), options)

    _report("413", endpoint, sleeps, started, len(runs))
    assert len(runs) == 1 and runs[0].ok, runs[-1].why_not_ok()
    stats = endpoint.proxy.stats
    assert stats.too_large > 0
    stows = [r for r in stats.log if r.method == "POST" and r.outcome == "forwarded"]
    assert stows and max(r.body_bytes for r in stows) <= limit
    if linger:
        assert sleeps.waits == []  # a 413 that reaches the client is split at once, not retried
    assert_exactly_once(endpoint, transfer)


def test_an_instance_above_the_size_limit_is_quarantined_until_the_limit_is_raised(
    endpoint: Endpoint, transfer: Transfer, tmp_path: Path
) -> None:
    big = generate_cohort(tmp_path / "big", patients=1, image_size=64, slices=(1, 1), seed=7)
    scan_paths(transfer.ws.state, [big.root])
    small_max = max(r.size for r in transfer.ws.state.instances() if not r.path.startswith(str(big.root)))
    endpoint.proxy.faults.max_body_bytes = 2 * small_max + 1024
    sleeps = SleepLog()

    first = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS, max_runs=1)[0]

    assert not first.ok
    quarantined = transfer.ws.state.instances([InstanceState.QUARANTINED])
    assert sorted(r.path for r in quarantined) == sorted(str(p) for p in big.files)
    assert all(
        "larger than the node accepts in one request (413)" in (r.last_error or "") for r in quarantined
    )
    verified = transfer.ws.state.instances([InstanceState.VERIFIED])
    assert endpoint.stored() == Counter(r.out_sop_uid for r in verified)  # the rest went through

    # The operator raises the limit; the user retries the quarantined instances.
    endpoint.proxy.faults.max_body_bytes = None
    assert transfer.ws.state.requeue_quarantined() == len(big.files)
    second = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS, max_runs=1)[0]
    assert second.ok, second.why_not_ok()
    transfer.cohort = dataclasses.replace(transfer.cohort, files=transfer.cohort.files + big.files)
    assert_exactly_once(endpoint, transfer)


@pytest.mark.slow
def test_every_fault_at_once_with_four_requests_in_flight(endpoint: Endpoint, transfer: Transfer) -> None:
    faults = endpoint.proxy.faults
    faults.error_rate, faults.retry_after = 0.15, "1"
    faults.drop_rate = 0.15
    # A request gets a delay only when no error and no drop was drawn for it (0.85 x 0.85 x rate):
    # at 0.05 about one run in eight drew no delay at all once pushes needed fewer requests.
    faults.delay_rate, faults.delay_s = 0.25, 1.2
    faults.max_body_bytes = 4 * max(r.size for r in transfer.ws.state.instances()) + 1024
    rotated: list[int] = []

    def expire_token(number: int, method: str, path: str) -> None:
        if number >= 20 and not rotated:
            endpoint.rotate_token()
            rotated.append(number)

    endpoint.proxy.before_forward = expire_token
    sleeps, started = SleepLog(), time.monotonic()
    options = PushOptions(workers=2, concurrency=4, batch_bytes=16 * 1024)

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps), timeout_s=1.0), options)

    _report("all", endpoint, sleeps, started, len(runs))
    assert runs[-1].ok, runs[-1].why_not_ok()
    stats = endpoint.proxy.stats
    assert rotated and stats.too_large > 0 and stats.delayed > 0
    assert sum(stats.injected.values()) > 0 and sum(stats.dropped.values()) > 0
    assert_exactly_once(endpoint, transfer)


def test_a_token_expiring_halfway_is_read_again_once(endpoint: Endpoint, transfer: Transfer) -> None:
    rotated: list[int] = []

    def expire_token(number: int, method: str, path: str) -> None:
        if method == "POST" and not rotated and number >= 6:
            endpoint.rotate_token()  # the old token stops working; the file now holds a new one
            rotated.append(number)

    endpoint.proxy.before_forward = expire_token
    sleeps, started = SleepLog(), time.monotonic()

    runs = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS)

    _report("401", endpoint, sleeps, started, len(runs))
    assert len(runs) == 1 and runs[0].ok, runs[-1].why_not_ok()
    assert rotated
    log = endpoint.proxy.stats.log
    refused = [r for r in log if r.status == 401]
    # One refusal per request in flight when the token changed (concurrency 2), no more.
    assert 1 <= len(refused) <= OPTIONS.concurrency
    new_token = f"Bearer {endpoint.token_file.token}"
    assert all(r.authorization == new_token for r in log if r.number > max(x.number for x in refused))
    assert_exactly_once(endpoint, transfer)


@pytest.mark.parametrize("endpoint", ["node"], indirect=True)  # the client's rule, whatever the server
def test_a_token_refused_twice_stops_the_push_and_a_new_token_finishes_it(
    endpoint: Endpoint, transfer: Transfer
) -> None:
    endpoint.proxy.faults.status_on_request = {5: 401, 6: 401}
    sleeps = SleepLog()
    target = endpoint.target(fast_retry(sleeps))
    options = PushOptions(workers=2, concurrency=1, batch_bytes=8 * 1024)

    runs = push_until_done(transfer.ws, lambda: target, options, max_runs=1)

    assert not runs[0].ok
    assert "refused our credentials (401)" in (runs[0].fatal or "")
    counts = transfer.ws.state.counts_by_state()
    assert counts[InstanceState.QUARANTINED] == 0  # nothing was given up on
    again = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), options, max_runs=1)
    assert again[0].ok, again[0].why_not_ok()
    assert_exactly_once(endpoint, transfer)


@pytest.mark.parametrize("endpoint", ["node"], indirect=True)  # the summary's wording, whatever the server
def test_a_node_that_keeps_failing_is_named_in_the_one_line_summary(
    endpoint: Endpoint, transfer: Transfer
) -> None:
    endpoint.proxy.faults.error_rate, endpoint.proxy.faults.error_statuses = 1.0, (503,)
    endpoint.proxy.faults.methods = frozenset({"POST"})
    options = PushOptions(workers=2, concurrency=2, batch_bytes=1 << 20)

    [down] = push_until_done(
        transfer.ws, lambda: endpoint.target(fast_retry(SleepLog())), options, max_runs=1
    )

    assert not down.ok
    # The data manager reads why, not only which state the instances are left in.
    assert f"not complete: {len(transfer.cohort.files)} deidentified" in down.why_not_ok()
    assert "failed 8 times; last error: node answered 503" in down.why_not_ok()
    endpoint.proxy.faults.error_rate = 0.0
    [up] = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(SleepLog())), options, max_runs=1)
    assert up.ok, up.why_not_ok()
    assert_exactly_once(endpoint, transfer)
