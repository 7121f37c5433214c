"""Audit lines, the dry-run preview and the encrypted pseudonym vault."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from eucaim.deid.audit import AuditLog, audit_line, audit_record
from eucaim.deid.engine import Deidentifier
from eucaim.deid.files import deidentify_file
from eucaim.deid.preview import preview
from eucaim.deid.pseudonym import derive_input_hash
from eucaim.deid.vault import Vault
from eucaim.errors import ConfigError, Conflict, PermissionDenied

from .conftest import PHI, SECRET, make_instance

AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def test_audit_line_has_hash_profile_actions_and_no_phi(
    tmp_path: Path, eucaim: Deidentifier, write_instance: Callable[..., Path]
) -> None:
    src = write_instance()
    outcome = deidentify_file(src, tmp_path / "o.dcm", eucaim)
    log = AuditLog(tmp_path / "audit" / "deid.jsonl")
    log.append(audit_record(at=AT, input_hash=str(outcome.audit["input_hash"]), outcome=outcome))
    log.append(audit_record(at=AT, input_hash="ab" * 32, quarantine_reason="burned_in_risk"))
    text = (tmp_path / "audit" / "deid.jsonl").read_text()
    assert text.count("\n") == 2
    first, second = log.read()
    assert first["input_hash"] == derive_input_hash(SECRET, src.read_bytes())
    assert first["sop_instance_uid"] == outcome.sop_instance_uid
    assert first["profile"] == {"name": "eucaim", "version": "1", "sha256": eucaim.profile.sha256}
    assert first["actions"]["PatientName"] == "pseudonym"  # type: ignore[index]
    assert second == {"at": AT.isoformat(), "input_hash": "ab" * 32, "quarantine_reason": "burned_in_risk"}
    for value in PHI.values():
        assert value not in text
    assert src.name not in text  # file names can carry patient names


def test_audit_record_needs_exactly_one_of_outcome_or_reason() -> None:
    with pytest.raises(ValueError):
        audit_record(at=AT, input_hash="x")


def test_audit_line_is_canonical() -> None:
    assert audit_line({"b": 1, "a": [1, 2]}) == '{"a":[1,2],"b":1}\n'


def test_preview_counts_actions_quarantines_and_patients(eucaim: Deidentifier) -> None:
    risky = make_instance(sop_uid="1.2.3.4.9")
    risky.BurnedInAnnotation = "YES"
    items = [
        ("a.dcm", make_instance()),
        ("b.dcm", make_instance(sop_uid="1.2.3.4.8", patient_id="OTHER")),
        ("c.dcm", risky),
    ]
    result = preview(items, eucaim)
    assert result.instances == 3 and result.will_send == 2
    assert result.patients == 2
    assert result.quarantined == (("c.dcm", "burned_in_risk"),)
    assert result.collisions == ()
    by_path = {t.path: t.actions for t in result.tags}
    assert by_path["PatientName"] == {"pseudonym": 2}
    assert by_path["SOPAuthorizationComment"] == {"remove": 2}
    assert PHI["name"] not in repr(result)


def test_preview_reports_pseudonym_collisions() -> None:
    from eucaim.deid.profile import load_profile

    # "{hex:.1}" keeps one hex character: 16 possible pseudonyms, so 40 patients must collide.
    tiny = Deidentifier(load_profile("eucaim"), SECRET, pseudonym_format="P-{hex:.1}")
    items = [(str(i), make_instance(patient_id=f"patient-{i}")) for i in range(40)]
    result = preview(items, tiny)
    assert result.patients <= 16
    assert result.collisions
    assert sum(n for _, n in result.collisions) > 16


def test_vault_round_trip_and_export_needs_authorisation(tmp_path: Path) -> None:
    path = tmp_path / "vault.jsonl"
    vault = Vault(path, SECRET)
    assert vault.record(PHI["patient_id"], "EUCAIM-AAAA", -400) is True
    assert vault.record(PHI["patient_id"], "EUCAIM-AAAA", -400) is False  # idempotent
    assert PHI["patient_id"].encode() not in path.read_bytes()  # encrypted at rest
    again = Vault(path, SECRET)
    assert len(again) == 1
    entry = again.lookup("EUCAIM-AAAA")
    assert entry is not None and entry.original_patient_id == PHI["patient_id"] and entry.day_offset == -400
    with pytest.raises(PermissionDenied):
        again.export(authorised=False)
    assert [e.pseudonym for e in again.export(authorised=True)] == ["EUCAIM-AAAA"]


def test_vault_refuses_collisions(tmp_path: Path) -> None:
    vault = Vault(tmp_path / "v.jsonl", SECRET)
    vault.record("patient-1", "EUCAIM-X", -400)
    with pytest.raises(Conflict, match="another patient"):
        vault.record("patient-2", "EUCAIM-X", -400)


def test_vault_with_the_wrong_secret_says_so(tmp_path: Path) -> None:
    Vault(tmp_path / "v.jsonl", SECRET).record("patient-1", "EUCAIM-X", -400)
    with pytest.raises(ConfigError, match="cannot be decrypted"):
        Vault(tmp_path / "v.jsonl", b"a-different-secret-0123")


def test_vault_detects_tampering(tmp_path: Path) -> None:
    path = tmp_path / "v.jsonl"
    Vault(path, SECRET).record("patient-1", "EUCAIM-X", -400)
    data = bytearray(path.read_bytes())
    data[20] = ord("A") if data[20] != ord("A") else ord("B")
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigError):
        Vault(path, SECRET)


def test_kept_text_loses_the_patients_own_name(eucaim: Deidentifier) -> None:
    ds = make_instance()
    ds.SequenceName = f"{PHI['name_part']}_T1"  # SH in an acquisition group: kept
    ds.PerformedStationName = "x"
    out = eucaim.deidentify(ds).dataset
    assert PHI["name_part"] not in str(out.get("SequenceName", ""))
    json.dumps(eucaim.deidentify(make_instance()).audit)  # the audit is JSON-able


def test_preview_of_files_counts_unreadable_ones_as_quarantined(tmp_path: Path, eucaim: Deidentifier) -> None:
    from eucaim.deid.files import read_for_preview

    good = tmp_path / "scan" / "a" / "good.dcm"
    good.parent.mkdir(parents=True)
    make_instance().save_as(good, enforce_file_format=True)
    (tmp_path / "scan" / "notes.dcm").write_text("not dicom")
    (tmp_path / "scan" / "empty.dcm").write_bytes(b"")
    paths = sorted((tmp_path / "scan").rglob("*.dcm"))
    result = preview(read_for_preview(paths, tmp_path / "scan"), eucaim)
    assert result.instances == 3 and result.will_send == 1
    assert sorted(result.quarantined) == [("empty.dcm", "empty"), ("notes.dcm", "not_dicom")]


def test_vault_export_csv(tmp_path: Path) -> None:
    from eucaim.deid.vault import export_csv

    vault = Vault(tmp_path / "v.jsonl", SECRET)
    vault.record("Doe, John", "EUCAIM-B", -400)
    vault.record("patient-1", "EUCAIM-A", -365)
    text = export_csv(vault.export(authorised=True))
    assert (
        text
        == 'original_patient_id,pseudonym,day_offset\npatient-1,EUCAIM-A,-365\n"Doe, John",EUCAIM-B,-400\n'
    )
