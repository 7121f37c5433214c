"""The node on PostgreSQL: schema by migration, STOW, QIDO with counts and ranges, WADO, re-sends.

The whole node suite runs on PostgreSQL with EUCAIM_TEST_NODE_DATABASE=postgresql; this module keeps
the main flow covered on it in every run.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydicom.uid import generate_uid

from eucaim.dicomweb.status import FailureReason
from eucaim.dicomweb.store_response import parse_store_response
from eucaim.node.db import make_engine
from eucaim.node.migration import head_revision, upgrade_database
from eucaim.node.models import Base
from tests.support.node_server import RunningNode, deidentified_instance, stow_body


def test_schema_matches_models_on_postgresql(postgres_node: RunningNode) -> None:
    with postgres_node.context.engine.connect() as connection:
        assert connection.dialect.name == "postgresql"
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_main_flow_on_postgresql(postgres_node: RunningNode, tmp_path: Path) -> None:
    token = postgres_node.add_user("ing", "data-ingester")
    postgres_node.create_biobank("pg-bb", managers=["ing"])
    root = postgres_node.dicomweb_url("pg-bb")
    auth = {"Authorization": f"Bearer {token}"}
    study, series = generate_uid(), generate_uid()
    files = [tmp_path / f"{n}.dcm" for n in range(4)]
    for n, f in enumerate(files):
        deidentified_instance(f, study_uid=study, series_uid=series, instance_number=n, study_date="20210301")
    deidentified_instance(tmp_path / "id.dcm", identity_removed="NO")

    def send(order: int) -> httpx.Response:
        content_type, body = stow_body([*files[order:], *files[:order], tmp_path / "id.dcm"])
        return httpx.post(f"{root}/studies", content=body, headers=auth | {"Content-Type": content_type})

    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(send, range(3)))
    assert [r.status_code for r in responses] == [202] * 3
    for response in responses:
        result = parse_store_response(response.json())
        assert len(result.stored) == 4
        assert [f.failure_reason for f in result.failed] == [FailureReason.NOT_DEIDENTIFIED]

    (found,) = httpx.get(f"{root}/studies", params={"StudyDate": "20210101-20211231"}, headers=auth).json()
    assert found["00201208"]["Value"] == [4] and found["00201206"]["Value"] == [1]
    assert httpx.get(f"{root}/studies", params={"PatientID": "EUCAIM-*"}, headers=auth).json() == [found]
    instances = httpx.get(f"{root}/studies/{study}/series/{series}/instances", headers=auth).json()
    assert len(instances) == 4
    url = instances[0]["00081190"]["Value"][0]
    retrieved = httpx.get(url, headers=auth)
    assert retrieved.status_code == 200
    assert any(f.read_bytes() in retrieved.content for f in files)
    stored = postgres_node.stored_objects()
    assert sorted(obj.sha256 for obj in stored.values()) == sorted(
        hashlib.sha256(f.read_bytes()).hexdigest() for f in files
    )


def test_concurrent_upgrades_on_postgresql_take_turns(postgres_database: str) -> None:
    engines = [make_engine(postgres_database) for _ in range(3)]
    try:
        with ThreadPoolExecutor(3) as pool:
            revisions = list(pool.map(upgrade_database, engines))
        assert revisions == [head_revision()] * 3
    finally:
        for engine in engines:
            engine.dispose()
