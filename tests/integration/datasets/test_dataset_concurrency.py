"""Concurrent lifecycle requests on SQLite and PostgreSQL: of two releases exactly one succeeds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.integration.datasets.conftest import (
    COMPLETE_METADATA,
    StudySpec,
    auth,
    create_dataset,
    upload,
)
from tests.support.node_server import SeededNode

ROUNDS = 3


def test_two_releases_at_once_exactly_one_succeeds(both_db_node: SeededNode, tmp_path: Path) -> None:
    node, url = both_db_node, both_db_node.url
    upload(node, tmp_path, [StudySpec("P1")])
    for _round in range(ROUNDS):
        dataset = create_dataset(url, node.ingester_token, metadata=COMPLETE_METADATA)
        # The author and an admin both may release; they press the button at the same moment.
        tokens = [node.ingester_token, node.admin_token]
        barrier = threading.Barrier(len(tokens))

        def release(
            token: str, dataset_id: str = dataset["id"], barrier: threading.Barrier = barrier
        ) -> httpx.Response:
            barrier.wait()
            return httpx.post(f"{url}/datasets/{dataset_id}/release", headers=auth(token), timeout=60)

        with ThreadPoolExecutor(len(tokens)) as pool:
            responses = list(pool.map(release, tokens))
        assert sorted(r.status_code for r in responses) == [200, 409], [r.text for r in responses]
    log = httpx.get(f"{url}/audit", headers=auth(node.admin_token)).json()
    assert log["verified"] is True
    assert [e["action"] for e in log["log"]].count("release") == ROUNDS


def test_concurrent_actions_on_different_datasets_keep_one_audit_chain(
    both_db_node: SeededNode, tmp_path: Path
) -> None:
    node, url = both_db_node, both_db_node.url
    upload(node, tmp_path, [StudySpec("P1")])
    ids = [create_dataset(url, node.ingester_token, metadata=COMPLETE_METADATA)["id"] for _ in range(4)]
    barrier = threading.Barrier(len(ids))

    def release(dataset_id: str) -> int:
        barrier.wait()
        return httpx.post(
            f"{url}/datasets/{dataset_id}/release", headers=auth(node.ingester_token)
        ).status_code

    with ThreadPoolExecutor(len(ids)) as pool:
        assert list(pool.map(release, ids)) == [200] * len(ids)
    log = httpx.get(f"{url}/audit", headers=auth(node.admin_token)).json()
    assert log["verified"] is True and log["entries"] == 3 * len(ids)  # create, ready, release
