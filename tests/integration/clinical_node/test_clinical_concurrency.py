"""Concurrent writers of one subject end with one gap-free version chain, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from eucaim.node.models import Base
from eucaim.node.roles import Role
from tests.support.node_server import RunningNode, SeededNode

from .conftest import IMAGED, ClinicalNode, record, seed_images

pytestmark = pytest.mark.integration
A, B = IMAGED
WRITERS = 8


def _race(clinical: ClinicalNode) -> None:
    """Eight PUTs of the same subject at once (four contents, each sent twice), then checks the chain."""
    bodies = [record(A, age_at_diagnosis=60 + n % 4) for n in range(WRITERS)]
    with ThreadPoolExecutor(WRITERS) as pool:
        responses = list(pool.map(lambda body: clinical.put(A, body), bodies))
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    statuses = Counter(r.json()["status"] for r in responses)
    assert statuses["created"] == 1
    history = clinical.get(A, history="true").json()
    versions = [h["version"] for h in history["history"]]
    # One version per stored change, numbered 1..n without gaps or duplicates.
    assert versions == list(range(1, len(versions) + 1))
    assert len(versions) == statuses["created"] + statuses["updated"]
    assert history["content_hash"] == history["history"][-1]["content_hash"]
    # Every answer names a version that exists with the hash the writer was told.
    by_version = {h["version"]: h["content_hash"] for h in history["history"]}
    for response in responses:
        body = response.json()
        assert by_version[body["version"]] == body["content_hash"]
    # Bulk requests racing on the same subjects as well.
    batch = [record(A, sex="male"), record(B)]
    with ThreadPoolExecutor(4) as pool:
        results = [r.json()["results"] for r in pool.map(lambda _: clinical.bulk(batch), range(4))]
    for subject_index in (0, 1):
        outcomes = Counter(res[subject_index]["status"] for res in results)
        assert outcomes["unchanged"] == 3 and outcomes["rejected"] == 0
    assert clinical.get().json()["total"] == 2


def test_concurrent_puts_of_one_subject_keep_one_chain(clinical_node: ClinicalNode) -> None:
    _race(clinical_node)


def test_clinical_records_on_postgresql(postgres_node: RunningNode, tmp_path: Path) -> None:
    with postgres_node.context.engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert [d for d in diff if "clinical" in str(d)] == []
    seeded = SeededNode(
        node=postgres_node,
        biobank="test-bb",
        ingester_token=postgres_node.add_user("ingester", Role.DATA_INGESTER),
        outsider_token=postgres_node.add_user("outsider", Role.DATA_INGESTER),
        validator_token=postgres_node.add_user("validator", Role.VALIDATOR),
        admin_token=postgres_node.add_user("admin", Role.ADMIN),
    )
    postgres_node.create_biobank("test-bb", managers=["ingester"])
    seed_images(seeded, tmp_path / "images")
    clinical = ClinicalNode(seeded)
    _race(clinical)
    refused = clinical.put("EUCAIM-NOIMAGES00000001", record("EUCAIM-NOIMAGES00000001"))
    assert refused.json()["problems"][0]["rule"] == "subject-without-images"
    clinical.configure(allow_clinical_only=True)
    assert clinical.put("EUCAIM-NOIMAGES00000001", record("EUCAIM-NOIMAGES00000001")).status_code == 201
    assert clinical.get(token=seeded.outsider_token).status_code == 403
