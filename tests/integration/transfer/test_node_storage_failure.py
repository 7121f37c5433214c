"""A node that cannot write (disk full, store unavailable) delays instances; it does not quarantine them.

Our node answers such a STOW with FailedSOPSequence reason 0xA700 "out of resources ... retry
later". The instances themselves are fine, so the pipeline keeps them for the next push instead of
quarantining them as refused, and the push after the node recovers sends them all, once.
"""

from __future__ import annotations

import shutil

import pytest

from eucaim.ingest.pipeline.runner import PushOptions
from eucaim.ingest.state.states import InstanceState
from tests.integration.transfer.conftest import (
    Endpoint,
    SleepLog,
    Transfer,
    assert_exactly_once,
    fast_retry,
    push_until_done,
)

pytestmark = pytest.mark.integration
OPTIONS = PushOptions(workers=2, concurrency=2, batch_bytes=8 * 1024)


@pytest.mark.slow
@pytest.mark.parametrize("endpoint", ["node"], indirect=True)
def test_a_node_that_cannot_write_for_a_while_loses_nothing(endpoint: Endpoint, transfer: Transfer) -> None:
    store = endpoint.seeded.node.store_dir / endpoint.seeded.biobank  # type: ignore[attr-defined]
    shutil.rmtree(store, ignore_errors=True)
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_bytes(b"")  # a file where the biobank's folder should be: every write fails
    sleeps = SleepLog()

    failed = push_until_done(transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS, max_runs=1)[0]

    assert not failed.ok
    assert endpoint.stored() == {}
    counts = transfer.ws.state.counts_by_state()
    assert counts[InstanceState.QUARANTINED] == 0, "a node that cannot write is not the instances' fault"
    assert "out of resources" in " ".join(r.last_error or "" for r in transfer.ws.state.instances())

    store.unlink()  # the operator frees the disk; the user runs push again
    recovered = push_until_done(
        transfer.ws, lambda: endpoint.target(fast_retry(sleeps)), OPTIONS, max_runs=1
    )[0]
    assert recovered.ok, recovered.why_not_ok()
    assert_exactly_once(endpoint, transfer)
