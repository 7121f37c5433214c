"""Send de-identified studies to an XNAT project through its import service, verify by file digests.

Each batch (one study, capped by bytes) becomes one DICOM zip written next to the outbox and
streamed to ``POST /data/services/import?import-handler=DICOM-zip&overwrite=append`` with project,
subject and session named explicitly, so XNAT's DICOM routing never guesses:

- subject label = the pseudonym (PatientID of the de-identified files);
- session label = ``<pseudonym>_<first 10 hex of SHA-256(de-identified StudyInstanceUID)>``:
  deterministic, unique per study, and valid as an XNAT label (letters, digits, ``_``, ``-``).

XNAT's import answer says nothing per instance, so after each import the session's files are
listed with their MD5 digests and an instance counts as stored when a file with its MD5 is there.
The MD5s are computed while zipping and kept in ``xnat.db`` (see :mod:`.xnat_index`), which is how
``list_instances`` maps XNAT's listing back to SOPInstanceUIDs. ``overwrite=append`` makes a
re-send of a partly imported study complete it without duplicates (same name, same bytes).

Failures: a 400 naming one zip member marks that instance failed and re-sends the rest at once
(a 400 naming none is narrowed down by halves); leftovers of a refused or interrupted import are
removed from the prearchive; a 403 stops the run (no write rights); a dropped connection or a
5xx is retried by the one :class:`~eucaim.ingest.upload.http.RetryPolicy`, which re-reads the zip
from disk.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pydicom

from eucaim.errors import UploadError
from eucaim.ingest.pipeline.pacing import RateLimiter
from eucaim.ingest.upload.base import OutgoingInstance, SendResult
from eucaim.ingest.upload.xnat_index import XnatIndex
from eucaim.ingest.upload.xnat_listing import archived_digests, prearchive_digests, prearchive_entries
from eucaim.ingest.upload.xnat_session import XnatSession, check_status
from eucaim.ingest.upload.xnat_zip import SessionZip, sop_uid_of_member, write_session_zip

logger = logging.getLogger(__name__)

LISTING_TTL_S = 30.0
_BAD_MEMBER = re.compile(r"Unable to parse (\S+)")
_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def session_label(pseudonym: str, study_uid: str) -> str:
    """The XNAT session label of a de-identified study (see the module docstring)."""
    digest = hashlib.sha256(study_uid.encode("ascii")).hexdigest()[:10]
    return f"{subject_label(pseudonym)}_{digest}"


def subject_label(pseudonym: str) -> str:
    """The pseudonym as an XNAT label (characters XNAT refuses become ``_``)."""
    return _LABEL_CHARS.sub("_", pseudonym)


def read_pseudonym(path: Path) -> str:
    """PatientID of a de-identified file (the pseudonym); raise UploadError if it has none."""
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["PatientID"])
    except (OSError, pydicom.errors.InvalidDicomError) as exc:
        raise UploadError(f"cannot read the de-identified file {path.name}: {exc}") from exc
    value = str(ds.get("PatientID", "") or "").strip()
    if not value:
        raise UploadError(
            f"the de-identified file {path.name} has no PatientID, so it has no XNAT subject",
            hint="the de-identification profile must write the pseudonym into PatientID",
        )
    return value


class XnatTarget:
    """An XNAT project reached through one :class:`XnatSession`."""

    name = "xnat"

    def __init__(
        self,
        session: XnatSession,
        project: str,
        *,
        index: XnatIndex,
        zip_dir: Path,
        dest: str = "archive",
        rate_limiter: RateLimiter | None = None,
    ) -> None:
        self.session = session
        self.project = project
        self.index = index
        self.zip_dir = zip_dir
        self.dest = dest
        self._rate = rate_limiter
        self._listings: dict[str, tuple[float, Counter[str]]] = {}
        self._lock = threading.Lock()
        self._import_locks: dict[str, threading.Lock] = {}

    def close(self) -> None:
        self.session.close()
        self.index.close()

    # -- sending ---------------------------------------------------------------------------------

    def send(self, study_uid: str, batch: Sequence[OutgoingInstance]) -> SendResult:
        """Import ``batch`` as one zip into its session; settle each instance from the session's digests."""
        subject, label = self._session_for(study_uid, batch[0].path)
        failed: dict[str, str] = {}
        # One import at a time per session: XNAT merges concurrent imports of one session badly,
        # and the prearchive clean-up below must not touch an import still in flight.
        with self._session_lock(label):
            self._import_all(list(batch), study_uid, subject, label, failed)
            # XNAT keeps what it read before a refused member or a dropped connection in the
            # prearchive; those leftovers are clutter (and an auto-archiving project would archive
            # them again). In prearchive mode only the incomplete (RECEIVING) ones go.
            self._clean_prearchive(label, only_receiving=self.dest != "archive")
            digests = self._digests(label, fresh=True)
        md5s = self.index.members(study_uid)
        stored = frozenset(
            i.sop_instance_uid
            for i in batch
            if i.sop_instance_uid not in failed and digests[md5s.get(i.sop_instance_uid, "")] > 0
        )
        return SendResult(stored=stored, failed=failed)

    def _import_all(
        self,
        batch: list[OutgoingInstance],
        study_uid: str,
        subject: str,
        label: str,
        failed: dict[str, str],
    ) -> None:
        """Import ``batch``, setting aside members XNAT refuses (400) and importing the rest.

        A 400 that names the member drops that member; one that does not is narrowed down by
        halves, so one bad file costs a few extra imports instead of blocking its whole batch.
        """
        while batch:
            refused = self._import_once(batch, study_uid, subject, label)
            if refused is None:
                return
            uid, reason = refused
            if uid is None and len(batch) > 1:
                half = len(batch) // 2
                self._import_all(batch[:half], study_uid, subject, label, failed)
                self._import_all(batch[half:], study_uid, subject, label, failed)
                return
            if uid is None:
                # A single file and a 400 that names nothing: once more, in case the 400 was
                # about the request rather than the file, before calling the file bad.
                refused = self._import_once(batch, study_uid, subject, label)
                if refused is None:
                    return
                uid, reason = batch[0].sop_instance_uid, refused[1]
            failed[uid] = reason
            batch = [i for i in batch if i.sop_instance_uid != uid]
            logger.info("XNAT refused one file for session %s; importing the rest", label)

    def _session_lock(self, label: str) -> threading.Lock:
        with self._lock:
            return self._import_locks.setdefault(label, threading.Lock())

    def _session_for(self, study_uid: str, first_file: Path) -> tuple[str, str]:
        known = self.index.session_of(study_uid)
        if known is not None:
            return known
        subject = subject_label(read_pseudonym(first_file))
        label = session_label(subject, study_uid)
        self.index.record_session(study_uid, subject, label)
        return subject, label

    def _import_once(
        self, batch: Sequence[OutgoingInstance], study_uid: str, subject: str, label: str
    ) -> tuple[str | None, str] | None:
        """Send one zip. None when XNAT took it; on a 400, the member it names (if any) and why."""
        packed = write_session_zip(batch, self.zip_dir)
        try:
            # Recorded before the request leaves: if XNAT stores the files and we die before the
            # answer, the next run still maps its digests back to these instances.
            self.index.record_members(
                (i.sop_instance_uid, study_uid, i.series_instance_uid, packed.md5[i.sop_instance_uid])
                for i in batch
            )
            response = self._post_import(packed, subject, label, len(batch))
        finally:
            packed.remove()
        with self._lock:
            self._listings.pop(label, None)
        if response.status_code == 400:
            text = response.text.strip()[:300]
            match = _BAD_MEMBER.search(text)
            uid = sop_uid_of_member(match[1]) if match else None
            known = uid is not None and any(i.sop_instance_uid == uid for i in batch)
            return (uid if known else None), f"XNAT could not import this file (400): {text}"
        check_status(response, f"the import of {len(batch)} instances into session {label}")
        logger.info("imported %d instances into XNAT session %s", len(batch), label)
        return None

    def _post_import(self, packed: SessionZip, subject: str, label: str, count: int) -> httpx.Response:
        dest = "/archive" if self.dest == "archive" else f"/prearchive/projects/{self.project}"
        params = {
            "import-handler": "DICOM-zip",
            "dest": dest,
            "overwrite": "append",
            "project": self.project,
            "subject": subject,
            "session": label,
            # Spelled correctly here (xnatpy sends "tiggerPipelines"): no pipelines on our imports.
            "triggerPipelines": "false",
        }

        def paced() -> Iterator[bytes]:
            for chunk in packed.chunks():
                if self._rate is not None:
                    self._rate.consume(len(chunk))
                yield chunk

        def body() -> tuple[dict[str, str], Iterator[bytes]]:
            headers = {"Content-Type": "application/zip", "Content-Length": str(packed.size)}
            return headers, paced()

        return self.session.request(
            "POST",
            "data/services/import",
            what=f"the import of {count} instances into session {label}",
            params=params,
            body=body,
        )

    def _clean_prearchive(self, label: str, *, only_receiving: bool) -> None:
        """Delete prearchive entries named ``label`` (left by refused or interrupted imports)."""
        try:
            for entry in prearchive_entries(self.session, self.project, label):
                if only_receiving and entry.get("status") != "RECEIVING":
                    continue
                response = self.session.request(
                    "POST",
                    "data/services/prearchive/delete",
                    what=f"removing a partial import of {label} from the prearchive",
                    params={"src": entry.get("url", "")},
                )
                check_status(response, "removing a partial import from the prearchive")
        except UploadError as exc:
            # Leftovers in the prearchive do not make the archive wrong; say so and carry on.
            logger.warning("could not remove a partial import of %s from the prearchive: %s", label, exc)

    # -- verification ----------------------------------------------------------------------------

    def _digests(self, label: str, *, fresh: bool = False) -> Counter[str]:
        """MD5 → count of the session's files, cached briefly so one study's series share a listing."""
        now = time.monotonic()
        with self._lock:
            cached = self._listings.get(label)
        if cached is not None and not fresh and now - cached[0] < LISTING_TTL_S:
            return cached[1]
        if self.dest == "archive":
            digests = archived_digests(self.session, self.project, label) or Counter()
        else:
            digests = prearchive_digests(self.session, self.project, label)
            digests.update(archived_digests(self.session, self.project, label) or Counter())
        with self._lock:
            self._listings[label] = (now, digests)
        return digests

    def forget_listings(self) -> None:
        """Drop cached session listings, so the next checks ask XNAT afresh (e.g. before a release)."""
        with self._lock:
            self._listings.clear()

    def list_instances(self, study_uid: str, series_uid: str) -> set[str]:
        """SOPInstanceUIDs of the series whose MD5 (recorded when zipped) XNAT lists in the session."""
        known = self.index.session_of(study_uid)
        if known is None:
            return set()  # never zipped by this workspace, so nothing of it can be recognised
        digests = self._digests(known[1])
        return {uid for uid, md5 in self.index.members(study_uid, series_uid).items() if digests[md5] > 0}

    def duplicates(self) -> dict[str, int]:
        """Session label → number of files XNAT holds more than once (0 everywhere when all is well)."""
        found: dict[str, int] = {}
        for _, _, label in self.index.sessions():
            extra = sum(n - 1 for n in self._digests(label, fresh=True).values() if n > 1)
            if extra:
                found[label] = extra
        return found
