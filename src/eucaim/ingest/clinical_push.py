"""Push a validated clinical file to the workspace's node: the use case behind `clinical push`.

Records are pseudonymised with the workspace's site secret and pseudonym format, so each lands
under the same pseudonym, with dates moved by the same per-patient offset, as the patient's
images. The node is asked what it holds first and only new or changed records are sent, in bulk
chunks; re-pushing an unchanged file sends nothing. A EUCAIM node answers per record (created,
updated, unchanged, rejected with reasons); an XNAT workspace goes through xnatpy instead
(``upload/xnat_clinical.py``). Every push writes a JSON and a CSV report into ``reports/``: by
pseudonym and source row, never an original patient ID.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from eucaim.clinical.pseudonymise import FreeText
from eucaim.clinical.upload import UploadItem, records_to_upload
from eucaim.clinical.validation import ValidationResult
from eucaim.ingest.upload.clinical_node import ClinicalNodeClient, NodeRecordResult
from eucaim.ingest.workspace import Workspace

logger = logging.getLogger(__name__)

DEFAULT_CHUNK = 200
STATUSES = ("created", "updated", "unchanged", "rejected")

# (records done, records to send): called after each chunk, for a progress bar.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class RecordOutcome:
    """What became of one row's record."""

    row: int
    subject: str
    status: str  # created, updated, unchanged or rejected
    sent: bool
    content_hash: str
    version: int | None = None
    problems: tuple[str, ...] = ()


@dataclass
class ClinicalPushSummary:
    """The outcome of one clinical push, and where its report was written."""

    file: str
    target: str
    biobank: str
    outcomes: list[RecordOutcome] = field(default_factory=list)
    report_json: Path | None = None
    report_csv: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        found = Counter(o.status for o in self.outcomes)
        return {status: found.get(status, 0) for status in STATUSES}

    @property
    def sent(self) -> int:
        return sum(o.sent for o in self.outcomes)

    @property
    def nothing_sent(self) -> bool:
        return self.sent == 0

    @property
    def rejected(self) -> list[RecordOutcome]:
        return [o for o in self.outcomes if o.status == "rejected"]

    @property
    def ok(self) -> bool:
        return not self.rejected

    def line(self) -> str:
        counts = self.counts
        return (
            f"clinical push of {self.file} to {self.target} {self.biobank}: {len(self.outcomes)} record(s), "
            f"{self.sent} sent; {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected"
        )


def chunks(items: Sequence[UploadItem], size: int) -> list[Sequence[UploadItem]]:
    """Split ``items`` into consecutive chunks of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def outcome_of(item: UploadItem, result: NodeRecordResult) -> RecordOutcome:
    """Combine a sent item with the node's verdict on it."""
    return RecordOutcome(
        row=item.row,
        subject=item.subject,
        status=result.status,
        sent=True,
        content_hash=result.content_hash or item.content_hash,
        version=result.version,
        problems=tuple(p.describe() for p in result.problems),
    )


def push_clinical(
    ws: Workspace,
    result: ValidationResult,
    *,
    baseline: Sequence[str] = (),
    free_text: FreeText = FreeText.DROP,
    chunk_size: int = DEFAULT_CHUNK,
    on_progress: ProgressCallback | None = None,
    client: ClinicalNodeClient | None = None,
) -> ClinicalPushSummary:
    """Send ``result``'s records to the workspace's node and write the report.

    ``client`` replaces the node client built from the workspace (tests).

    Raises:
        ClinicalDataError: the file has validation errors (nothing is sent).
        UploadError: the node refused the whole request (credentials, rights, unknown biobank).
        TransientError: the node stayed unreachable through every retry.
    """
    items = records_to_upload(
        result,
        ws.secret,
        free_text=free_text,
        baseline=baseline,
        pseudonym_format=ws.config.deid.pseudonym_format,
    )
    node = ws.config.node
    summary = ClinicalPushSummary(file=result.source.name, target=node.kind, biobank=node.biobank)
    if node.kind == "xnat":
        summary.outcomes = _push_xnat(ws, items, on_progress)
    else:
        own = client or ClinicalNodeClient(
            node.url,
            node.biobank,
            token_provider=lambda: ws.token,
            ca_bundle=ws.ca_bundle,
            timeout_s=node.timeout_s,
        )
        try:
            summary.outcomes = _push_node(own, items, chunk_size, on_progress)
        finally:
            if client is None:
                own.close()
    write_report(summary, ws.reports, now=datetime.now(UTC))
    logger.info(summary.line())
    return summary


def _unchanged(item: UploadItem) -> RecordOutcome:
    return RecordOutcome(item.row, item.subject, "unchanged", False, item.content_hash)


def _push_node(
    client: ClinicalNodeClient,
    items: Sequence[UploadItem],
    chunk_size: int,
    on_progress: ProgressCallback | None,
) -> list[RecordOutcome]:
    known = client.known_hashes()
    to_send = [i for i in items if known.get(i.subject) != i.content_hash]
    outcomes = {i.subject: _unchanged(i) for i in items if known.get(i.subject) == i.content_hash}
    done = 0
    if on_progress is not None:
        on_progress(done, len(to_send))
    for chunk in chunks(to_send, chunk_size):
        results = client.send([item.record.as_json() for item in chunk])
        for item, verdict in zip(chunk, results, strict=True):
            outcomes[item.subject] = outcome_of(item, verdict)
        done += len(chunk)
        if on_progress is not None:
            on_progress(done, len(to_send))
    return sorted(outcomes.values(), key=lambda o: o.row)


def _push_xnat(
    ws: Workspace, items: Sequence[UploadItem], on_progress: ProgressCallback | None
) -> list[RecordOutcome]:
    from eucaim.ingest.targets import xnatpy_connection
    from eucaim.ingest.upload.xnat import subject_label
    from eucaim.ingest.upload.xnat_clinical import known_clinical_hashes, push_clinical_xnat

    project = ws.config.node.project
    with xnatpy_connection(ws) as connection:
        known = known_clinical_hashes(connection, project)
        labels = {i.subject: subject_label(i.subject) for i in items}
        to_send = [i for i in items if known.get(labels[i.subject]) != i.content_hash]
        if on_progress is not None:
            on_progress(0, len(to_send))
        report = push_clinical_xnat(connection, project, [i.record for i in to_send])
    if on_progress is not None:
        on_progress(len(to_send), len(to_send))
    sent = set(report.sent)
    outcomes: list[RecordOutcome] = []
    for item in items:
        label = labels[item.subject]
        if label in report.failed:
            outcomes.append(
                RecordOutcome(
                    item.row, item.subject, "rejected", True, item.content_hash, None, (report.failed[label],)
                )
            )
        elif label in sent:
            status = "updated" if label in known else "created"
            outcomes.append(RecordOutcome(item.row, item.subject, status, True, item.content_hash))
        else:
            outcomes.append(_unchanged(item))
    return outcomes


def write_report(summary: ClinicalPushSummary, reports_dir: Path, *, now: datetime) -> None:
    """Write ``clinical-push-<time>.json`` and ``.csv`` and remember their paths in ``summary``."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    base = reports_dir / f"clinical-push-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
    json_path, csv_path = base.with_suffix(".json"), base.with_suffix(".csv")
    records = [
        {
            "row": o.row,
            "subject": o.subject,
            "status": o.status,
            "sent": o.sent,
            "version": o.version,
            "content_hash": o.content_hash,
            "problems": list(o.problems),
        }
        for o in summary.outcomes
    ]
    document = {
        "kind": "clinical-push",
        "file": summary.file,
        "target": summary.target,
        "biobank": summary.biobank,
        "finished_at": now.isoformat().replace("+00:00", "Z"),
        "counts": summary.counts,
        "sent": summary.sent,
        "records": records,
    }
    json_path.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["row", "subject", "status", "sent", "version", "content_hash", "problems"])
        for o in summary.outcomes:
            version = "" if o.version is None else o.version
            writer.writerow(
                [o.row, o.subject, o.status, o.sent, version, o.content_hash, "; ".join(o.problems)]
            )
    summary.report_json, summary.report_csv = json_path, csv_path
