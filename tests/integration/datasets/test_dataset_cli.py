"""`eucaim-ingest dataset ...` and `eucaim-node dataset ...` on a real node."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from eucaim.errors import Conflict, PermissionDenied
from eucaim.ingest.cli import app as ingest_app
from eucaim.ingest.dataset_client import parse_assignments
from eucaim.node.cli import app as node_app
from tests.integration.datasets.conftest import StudySpec, upload
from tests.support.node_server import SeededNode

runner = CliRunner()


def _ingest(ws: Path, *args: str) -> Result:
    return runner.invoke(ingest_app, [*args, "--workspace", str(ws)], env={"COLUMNS": "200"})


def _node(node: SeededNode, *args: str) -> Result:
    env = {"COLUMNS": "200"}
    if node.node.settings.database_url:  # the suite re-run on PostgreSQL
        env["EUCAIM_NODE_DATABASE_URL"] = node.node.settings.database_url
    return runner.invoke(node_app, [*args, "--data", str(node.node.data_dir)], env=env)


def _dataset_id(output: str) -> str:
    return output.split("dataset ", 1)[1].split()[0]


def test_create_set_release_publish_from_both_command_lines(seeded_node: SeededNode, tmp_path: Path) -> None:
    upload(seeded_node, tmp_path, [StudySpec("CLI-1"), StudySpec("CLI-2"), StudySpec("CLI-3")])
    ws = tmp_path / "ws"
    init = _ingest(
        ws, "init", "--node", seeded_node.url, "--biobank", "test-bb", "--token", seeded_node.ingester_token
    )
    assert init.exit_code == 0, init.output

    created = _ingest(ws, "dataset", "create", "--name", "CLI cohort", "--description", "two of three",
                      "--subjects", "CLI-1,CLI-2")  # fmt: skip
    assert created.exit_code == 0, created.output
    dataset_id = _dataset_id(created.output)
    assert "2 subjects, 2 studies, 2 series, 2 instances" in created.output
    flat = " ".join(created.output.split())
    assert "to release, set: " in flat
    missing = flat.split("to release, set: ", 1)[1]
    for field in ("version", "purpose", "type", "collectionMethod", "provenance", "license", "contact"):
        assert field in missing

    refused = _ingest(ws, "dataset", "release", dataset_id)
    assert isinstance(refused.exception, Conflict)
    assert "required metadata missing: version, purpose, type, collectionMethod, provenance, license" in str(
        refused.exception
    )

    edited = _ingest(ws, "dataset", "set", dataset_id, "version=1.0", "purpose=AI training", "type=original",
                     "collectionMethod=cohort", "provenance=Hospital X", "license.title=CC BY 4.0",
                     "license.url=https://creativecommons.org/licenses/by/4.0/", "contact.name=Data Office",
                     "contact.email=data@hospital.example", "keywords=lung,CT",
                     "cancerCondition=Lung cancer", "interoperabilityTier=tier 1")  # fmt: skip
    assert edited.exit_code == 0, edited.output
    assert "to release" not in edited.output
    released = _ingest(ws, "dataset", "release", dataset_id)
    assert released.exit_code == 0, released.output
    assert f"dataset {dataset_id} released" in released.output
    status = _ingest(ws, "dataset", "status")
    assert dataset_id in status.output and "released" in status.output and "finished" in status.output
    one = _ingest(ws, "dataset", "status", dataset_id)
    assert "creation job: finished (100%)" in one.output

    # The validator, on the node's command line.
    listed = _node(seeded_node, "dataset", "list", "--as", "validator")
    assert listed.exit_code == 0 and dataset_id in listed.output and "1 dataset(s)" in listed.output
    assert isinstance(
        _node(seeded_node, "dataset", "publish", dataset_id, "--as", "ingester").exception, PermissionDenied
    )
    assert (
        _node(seeded_node, "dataset", "reject", dataset_id, "--as", "validator").exit_code == 2
    )  # no --reason
    rejected = _node(
        seeded_node, "dataset", "reject", dataset_id, "--as", "validator", "--reason", "add a DOI"
    )
    assert rejected.output == f"dataset {dataset_id} is now draft\n"
    assert "rejected: add a DOI" in _ingest(ws, "dataset", "show", dataset_id).output
    assert _ingest(ws, "dataset", "release", dataset_id).exit_code == 0
    published = _node(seeded_node, "dataset", "publish", dataset_id, "--as", "validator")
    assert published.output == f"dataset {dataset_id} is now published\n"
    entry = httpx.get(f"{seeded_node.url}/catalogue/datasets/{dataset_id}").json()
    assert entry["name"] == "CLI cohort" and entry["aggregates"]["subjects"] == "<5"
    shown = _node(seeded_node, "dataset", "show", dataset_id, "--as", "admin")
    assert '"state": "published"' in shown.output
    assert (
        _node(seeded_node, "dataset", "invalidate", dataset_id, "--as", "admin", "--reason", "x").exit_code
        == 0
    )
    assert (
        "is now published" in _node(seeded_node, "dataset", "reactivate", dataset_id, "--as", "admin").output
    )


def test_create_reports_a_failed_job_and_bad_selections(seeded_node: SeededNode, tmp_path: Path) -> None:
    upload(seeded_node, tmp_path, [StudySpec("CLI-1")])
    ws = tmp_path / "ws"
    _ingest(
        ws, "init", "--node", seeded_node.url, "--biobank", "test-bb", "--token", seeded_node.ingester_token
    )
    failed = _ingest(ws, "dataset", "create", "--name", "missing", "--subjects", "NOPE")
    assert "the node could not create dataset" in str(failed.exception)
    assert "1 of the 1 selected subjects are not in this biobank (first: NOPE)" in str(failed.exception)
    assert "then run `eucaim-ingest dataset restart" in str(failed.exception)
    upload(seeded_node, tmp_path / "late", [StudySpec("NOPE")])
    restarted = _ingest(ws, "dataset", "restart", _dataset_id(str(failed.exception)).rstrip(":"))
    assert restarted.exit_code == 0, (restarted.output, restarted.exception)
    assert "creation restarted" in restarted.output and "1 subjects, 1 studies" in restarted.output
    both = _ingest(ws, "dataset", "create", "--name", "both", "--subjects", "A", "--studies", "1.2")
    assert "choose one of --subjects, --studies and --series" in str(both.exception)


def test_assignments_parse_into_a_patch_body() -> None:
    current = {"license": {"title": "CC BY 4.0", "url": "https://old.example"}}
    assert parse_assignments(["license.url=https://new.example", "keywords=a, b", "version=2"], current) == {
        "license": {"title": "CC BY 4.0", "url": "https://new.example"},
        "keywords": ["a", "b"],
        "version": "2",
    }
    assert parse_assignments(['contact={"name": "X", "email": "x@y.example"}'], {}) == {
        "contact": {"name": "X", "email": "x@y.example"}
    }
    with pytest.raises(Exception, match="is not key=value"):
        parse_assignments(["version"], {})
    with pytest.raises(Exception, match="version has no fields"):
        parse_assignments(["version.major=1"], {})
