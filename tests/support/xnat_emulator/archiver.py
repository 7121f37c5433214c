"""Move a prearchive session into the archive, as XNAT's ``PrearcSessionArchiver`` does.

Used by the import service (``dest=/archive`` or an auto-archiving project) and by
``POST /data/services/archive``. ``overwrite`` decides what happens when the session exists:
``none`` refuses (409, session marked CONFLICT), ``append`` adds scans and files (a file that exists
with other content is still a conflict), ``delete`` replaces the session's scans.
"""

from __future__ import annotations

from .http_error import HttpError
from .model import Experiment, PrearchiveSession, Project, Scan
from .store import Store

OVERWRITE_MODES = frozenset({"none", "append", "delete"})


def archive_session(
    store: Store,
    session: PrearchiveSession,
    *,
    project: Project,
    subject_label: str,
    label: str,
    overwrite: str,
    insert_user: str,
) -> Experiment:
    """Archive ``session`` as experiment ``label`` of subject ``subject_label``; drop it from the prearchive.

    Raises:
        HttpError: 400 for a bad ``overwrite``; 409 when the session exists and ``overwrite`` forbids
            changing it, or belongs to another subject, or a file would change content.
    """
    if overwrite not in OVERWRITE_MODES:
        raise HttpError(400, f"overwrite={overwrite!r} is not one of none, append, delete")
    subject = store.subject_in(project, subject_label)
    existing = store.experiment_in(project, label)
    if existing is not None:
        _check_conflicts(store, session, existing, project, subject_label, overwrite)
    if subject is None:
        subject = store.new_subject(project, subject_label)
        subject.data_fields["insert_user"] = insert_user
    if existing is None:
        experiment = store.new_experiment(project, subject, label, session.session_xsi_type)
    else:
        experiment = existing
        if overwrite == "delete":
            for scan in experiment.scans.values():
                store.drop_blobs(scan)
            experiment.scans.clear()
    for key, value in session.session_fields.items():
        experiment.data_fields.setdefault(key, value)
    for scan in session.scans.values():
        _merge_scan(store, experiment, scan)
    store.delete_prearchive_session(session, keep_blobs=True)
    return experiment


def _check_conflicts(
    store: Store,
    session: PrearchiveSession,
    existing: Experiment,
    project: Project,
    subject_label: str,
    overwrite: str,
) -> None:
    owner = store.subjects[existing.data_fields["subject_ID"]]
    if owner.label != subject_label and owner.id != subject_label:
        session.status = "CONFLICT"
        raise HttpError(
            409,
            f"Session {existing.label} already exists in project {project.id} for another subject;"
            " choose another session label",
        )
    if overwrite == "none":
        session.status = "CONFLICT"
        raise HttpError(
            409,
            f"Session {existing.label} already exists in project {project.id}; "
            "import with overwrite=append to add to it or overwrite=delete to replace it",
        )
    if overwrite == "append":
        for scan in session.scans.values():
            target = _scan_with_uid(existing, scan.data_fields.get("UID", ""))
            if target is None:
                continue
            old = target.resources.get("DICOM")
            new = scan.resources.get("DICOM")
            if old is None or new is None:
                continue
            for name, stored in new.files.items():
                if name in old.files and old.files[name].digest != stored.digest:
                    session.status = "CONFLICT"
                    raise HttpError(
                        409,
                        f"File {name} of scan {target.id} in session {existing.label} exists with different"
                        " content; import with overwrite=delete to replace the session",
                    )


def _scan_with_uid(experiment: Experiment, uid: str) -> Scan | None:
    return next((s for s in experiment.scans.values() if uid and s.data_fields.get("UID") == uid), None)


def _merge_scan(store: Store, experiment: Experiment, scan: Scan) -> None:
    target = _scan_with_uid(experiment, scan.data_fields.get("UID", ""))
    if target is None:
        scan_id = free_scan_id(experiment.scans, scan.id, scan.data_fields.get("modality", ""))
        scan.data_fields["ID"] = scan_id
        scan.data_fields["image_session_ID"] = experiment.id
        experiment.scans[scan_id] = scan
        return
    new = scan.resources.get("DICOM")
    if new is None:
        return
    old = target.resources.get("DICOM") or store.new_resource(
        target, "DICOM", file_format="DICOM", content="RAW"
    )
    for name, stored in new.files.items():
        if name in old.files:
            # Same bytes (checked before): keep what is archived and drop the duplicate.
            stored.blob.unlink(missing_ok=True)
        else:
            old.files[name] = stored
    target.data_fields["frames"] = str(len(old.files))


def free_scan_id(scans: dict[str, Scan], wanted: str, modality: str) -> str:
    """``wanted`` if free, else XNAT's clash name ``{wanted}-{MODALITY}{n}`` (e.g. ``1-MR1``)."""
    if wanted not in scans:
        return wanted
    prefix = (modality or "OT").upper()[:2]
    n = 1
    while f"{wanted}-{prefix}{n}" in scans:
        n += 1
    return f"{wanted}-{prefix}{n}"
