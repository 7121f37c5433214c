"""Run a push: reconcile what is in flight, de-identify, send, verify, clean up, report.

Every step reads its work from the state DB and writes each outcome back at once, so running
``push`` again after any interruption continues where the last one stopped and never sends an
instance the node already holds.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from eucaim.errors import EucaimError
from eucaim.ingest.pipeline.deid_stage import run_deidentify
from eucaim.ingest.pipeline.events import EventHandler, Stage, ignore
from eucaim.ingest.pipeline.report import PushSummary, write_reports
from eucaim.ingest.pipeline.send_stage import run_send, run_verify
from eucaim.ingest.state.states import InstanceState
from eucaim.ingest.upload.base import Target
from eucaim.ingest.workspace import Workspace

logger = logging.getLogger(__name__)
S = InstanceState


@dataclass(frozen=True)
class PushOptions:
    workers: int
    concurrency: int
    batch_bytes: int
    keep_outbox: bool = False
    resend_rounds: int = 2


def options_from(ws: Workspace) -> PushOptions:
    t = ws.config.transfer
    return PushOptions(
        workers=t.workers, concurrency=t.concurrency, batch_bytes=t.batch_bytes, keep_outbox=t.keep_outbox
    )


def push(
    ws: Workspace, target: Target, options: PushOptions, *, on_event: EventHandler = ignore
) -> PushSummary:
    """Bring every indexed instance to ``verified`` on ``target``, or say why not."""
    state = ws.state
    run_id = state.start_run("push")
    summary = PushSummary()
    try:
        # Instances a previous run may have sent before it died: ask the node before anything else.
        in_flight = state.instances([S.DEIDENTIFIED, S.SENT])
        if in_flight:
            before = run_verify(state, target, in_flight, on_event=on_event, stage=Stage.RECONCILE)
            summary.already_on_node = before.verified
        _recover_outbox(ws)
        deid = run_deidentify(ws, state.instances([S.PENDING]), workers=options.workers, on_event=on_event)
        summary.deidentified, summary.quarantined_now = deid.done, deid.quarantined
        for _ in range(options.resend_rounds):
            to_send = state.instances([S.DEIDENTIFIED])
            if not to_send:
                break
            sent = run_send(
                state,
                target,
                to_send,
                batch_bytes=options.batch_bytes,
                concurrency=options.concurrency,
                on_event=on_event,
            )
            summary.sent += sent.sent
            summary.refused += sent.refused
            summary.unsettled += sent.unsettled
            summary.errors.extend(sent.errors)
            if sent.fatal is not None:
                summary.fatal = str(sent.fatal)
                break
            verify = run_verify(state, target, state.instances([S.SENT, S.DEIDENTIFIED]), on_event=on_event)
            summary.verified_now += verify.verified
            if verify.missing == 0 and not state.instances([S.DEIDENTIFIED]):
                break
        if not options.keep_outbox:
            _clean_outbox(ws)
    except EucaimError as exc:
        summary.fatal = str(exc)
        raise
    finally:
        summary.counts = {s.value: n for s, n in state.counts_by_state().items()}
        summary.totals = state.totals()
        summary.verified_totals = verified_totals(ws)
        summary.scan_problems = len(state.scan_problems())
        write_reports(state, summary, ws.reports, run_id)
        state.finish_run(run_id, "ok" if summary.ok else "incomplete", summary.report_json)
    return summary


def verified_totals(ws: Workspace) -> dict[str, int]:
    rows = ws.state.instances([S.VERIFIED])
    return {
        "patients": len({r.pseudonym for r in rows}),
        "studies": len({r.out_study_uid for r in rows}),
        "series": len({r.out_series_uid for r in rows}),
        "instances": len(rows),
        "bytes": sum(r.out_size or 0 for r in rows),
    }


def _recover_outbox(ws: Workspace) -> None:
    """A de-identified copy lost from the outbox is made again (de-identification is deterministic)."""
    lost = [
        r.id for r in ws.state.instances([S.DEIDENTIFIED]) if not (r.out_path and Path(r.out_path).exists())
    ]
    if lost:
        logger.info("%d outbox files are missing; they will be de-identified again", len(lost))
        ws.state.mark_many(lost, S.PENDING)


def _clean_outbox(ws: Workspace) -> None:
    for row in ws.state.instances([S.VERIFIED]):
        if row.out_path:
            Path(row.out_path).unlink(missing_ok=True)
