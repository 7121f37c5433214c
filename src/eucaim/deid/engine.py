"""The de-identification engine: applies a profile's rules to one pydicom.Dataset, in place.

Every element at every depth gets exactly one action (see ``rules.RuleSet``); UIDs map through
the keyed ``derive_uid`` so references between instances survive; dates move by the patient's
keyed day offset; private blocks go unless a safe list keeps them. The output declares itself
(PatientIdentityRemoved, DeidentificationMethod, DeidentificationMethodCodeSequence) and is a
pure function of (profile, secret, input), so re-runs produce identical bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import pydicom
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import BaseTag

from eucaim.deid.actions import DUMMY_TEXT, Action, dummy_value
from eucaim.deid.burned_in import burned_in_risk
from eucaim.deid.dates import shift_da, shift_dt
from eucaim.deid.declare import declare, rebuild_file_meta
from eucaim.deid.descriptors import IDENTIFYING_TAGS, Scrubber, collect_identifiers
from eucaim.deid.elements import (
    audit_name,
    dictionary_vr,
    holds_identifier,
    is_emptied_text_item,
    set_values,
    value_list,
    vr_of,
    writes_implicit,
)
from eucaim.deid.ocr import find_text_boxes, tesseract_available
from eucaim.deid.pixels import TextFinder, clean_burned_in, load_regions
from eucaim.deid.profile import Profile
from eucaim.deid.pseudonym import (
    DEFAULT_PSEUDONYM_FORMAT,
    derive_day_offset,
    derive_input_hash,
    derive_patient_pseudonym,
    derive_uid,
)
from eucaim.deid.quiet import pydicom_quiet
from eucaim.deid.raw_values import RAW_CHANGED_VRS, as_value_list, decoded_items, encoded
from eucaim.deid.rules import EXEMPT_UID_TAGS, RuleSet
from eucaim.errors import DeidentificationError

logger = logging.getLogger(__name__)


WELL_KNOWN_UID_PREFIX = "1.2.840.10008."
_SCRUBBED_VRS = frozenset({"LO", "SH", "CS"})
_LONG_TEXT_VRS = frozenset({"LT", "ST", "UT", "UC", "PN"})
# Sequences are walked and kept short text is checked for the dataset's identifiers; code
# strings (CS) are enumerated values and are left undecoded.
_KEEP_SCRUBBED_VRS = frozenset({"LO", "SH"})
_NEEDS_VALUE_ON_KEEP = _KEEP_SCRUBBED_VRS | {"SQ"}
# Kept VRs whose raw bytes are checked for the patient's identifiers: numbers, ages and AE titles
# have no business holding a name. Not CS: enumerated values ("PRE", "HEAD") match name parts.
_BYTE_CHECKED_VRS = frozenset({"AE", "AS", "DS", "IS", "UR", "UN"})
_TAG_PATIENT_ID = 0x00100020
_TAG_PATIENT_NAME = 0x00100010
# Sequences whose items are text and nothing else once cleaned: SR ContentSequence (TEXT items)
# and a presentation state's TextObjectSequence.
_TEXT_ITEM_SEQUENCES = frozenset({0x0040A730, 0x00700008})
# Values from controlled vocabularies (code macro): never free text, never scrubbed.
_CODED_TAGS = frozenset({0x00080100, 0x00080102, 0x00080103, 0x00080119, 0x00080120, 0x0008010F, 0x00080105})


@dataclass(frozen=True)
class DeidOutcome:
    """A de-identified dataset and what the pipeline records about it (the audit holds no values)."""

    dataset: pydicom.Dataset
    original_patient_id: str
    pseudonym: str
    day_offset: int
    audit: dict[str, object]
    warnings: tuple[str, ...]


@dataclass
class _Run:
    """Per-instance state while one dataset is walked."""

    original_id: str
    pseudonym: str
    days: int
    scrubber: Scrubber
    # Raw (undecoded) elements can be written back as read only if they carry their VR or the
    # output is implicit VR too; a file whose body contradicts its transfer syntax needs decoding.
    raw_ok: bool = True
    actions: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


class Deidentifier:
    """Applies one profile with one site secret. Build one per process; it is picklable."""

    def __init__(
        self,
        profile: Profile,
        secret: bytes,
        *,
        pseudonym_format: str = DEFAULT_PSEUDONYM_FORMAT,
        text_finder: TextFinder | str | None = "auto",
    ) -> None:
        """``text_finder`` finds burned-in text for Clean Pixel Data: ``"auto"`` uses Tesseract
        when the profile cleans pixels and the binary is installed, None uses regions only."""
        derive_patient_pseudonym(secret, "format-check", fmt=pseudonym_format)  # fail early
        self.profile = profile
        self.rules = RuleSet(profile)
        self._secret = secret
        self._format = pseudonym_format
        self._cleans_pixels = "clean-pixel-data" in profile.options
        if text_finder == "auto":
            text_finder = find_text_boxes if self._cleans_pixels and tesseract_available() else None
        self._text_finder: TextFinder | None = text_finder if callable(text_finder) else None
        self._regions = load_regions() if self._cleans_pixels else []
        self._identifying_tags = tuple(
            t for t in IDENTIFYING_TAGS if self.rules.decide(t, dictionary_vr(t)) is not Action.KEEP
        )

    def input_hash(self, data: bytes) -> str:
        """The salted (keyed) hash of an input file's bytes, for the audit trail."""
        return derive_input_hash(self._secret, data)

    def __repr__(self) -> str:  # never show the secret
        return f"Deidentifier(profile={self.profile.name!r} {self.profile.version})"

    def deidentify(self, ds: pydicom.Dataset) -> DeidOutcome:
        """De-identify ``ds`` in place and return it with the outcome.

        ``ds`` is consumed: after an error it is half-cleaned and must be discarded.

        Raises:
            DeidentificationError: the instance cannot be de-identified safely (``reason`` says
                why); the caller quarantines it.
        """
        with pydicom_quiet() as caught:
            try:
                run = self._prepare(ds)
                self._clean(ds, (), "", run)
            except DeidentificationError:
                raise
            except Exception as exc:  # a value pydicom cannot parse: fail closed, never pass it on
                raise DeidentificationError(
                    f"cannot de-identify: {type(exc).__name__} while cleaning elements",
                    reason="malformed_element",
                ) from None
            if caught:
                # pydicom's messages can quote values; count them instead of repeating them.
                run.warnings.append(f"{len(caught)} warning(s) from the DICOM parser")
            if self.rules.decide(_TAG_PATIENT_ID, "LO") is Action.PSEUDONYM:
                ds.PatientID = run.pseudonym
            if self.rules.decide(_TAG_PATIENT_NAME, "PN") is Action.PSEUDONYM:
                ds.PatientName = run.pseudonym
            declare(ds, self.profile)
            rebuild_file_meta(ds)  # reads the kept SOPClassUID: still inside the quiet block
            new_uid = str(ds.get("SOPInstanceUID", ""))
        audit: dict[str, object] = {
            "profile": {
                "name": self.profile.name,
                "version": self.profile.version,
                "sha256": self.profile.sha256,
            },
            "options": list(self.profile.options),
            "sop_instance_uid": new_uid,
            "actions": dict(sorted(run.actions.items())),
            "warnings": list(run.warnings),
        }
        logger.debug("de-identified instance for %s: %d actions", run.pseudonym, len(run.actions))
        return DeidOutcome(ds, run.original_id, run.pseudonym, run.days, audit, tuple(run.warnings))

    def _prepare(self, ds: pydicom.Dataset) -> _Run:
        """Triage for burned-in text, then the patient's pseudonym, offset and identifiers."""
        risk = burned_in_risk(ds)
        original_id, warnings_ = self._patient_key(ds)
        if risk is not None:
            if self._cleans_pixels and "PixelData" in ds:
                warnings_.append(clean_burned_in(ds, risk, self._regions, self._text_finder))
            elif self.profile.burned_in == "quarantine":
                raise DeidentificationError(
                    f"possible burned-in identity: {risk}; quarantined (pixel cleaning is not enabled)",
                    reason="burned_in_risk",
                )
            else:
                warnings_.append(f"burned-in risk accepted by profile: {risk}")
        return _Run(
            original_id=original_id,
            pseudonym=derive_patient_pseudonym(self._secret, original_id, fmt=self._format),
            days=derive_day_offset(self._secret, original_id),
            scrubber=Scrubber(collect_identifiers(ds, self._identifying_tags)),
            warnings=warnings_,
            raw_ok=writes_implicit(ds),
        )

    def _patient_key(self, ds: pydicom.Dataset) -> tuple[str, list[str]]:
        patient_id = str(ds.get("PatientID", "") or "").strip()
        if patient_id:
            return patient_id, []
        study = str(ds.get("StudyInstanceUID", "") or "").strip()
        if not study:
            raise DeidentificationError(
                "instance has neither PatientID nor StudyInstanceUID; no stable pseudonym can be derived",
                reason="missing_patient_id",
                tag="(0010,0020)",
            )
        # One pseudonym per study keeps the study together without inventing a patient link.
        return f"study:{study}", ["PatientID empty: pseudonym and date offset derived from the study"]

    def _clean(self, ds: pydicom.Dataset, path: tuple[int, ...], prefix: str, run: _Run) -> None:
        private: list[int] = []
        decide, actions = self.rules.decide, run.actions
        # The dataset's own dict, keyed by pydicom's BaseTag: Dataset.keys()/get_item()/del by
        # int each build a Tag again, thousands of times a file.
        for key, raw in list(ds._dict.items()):
            tag = int(key)
            if (tag >> 16) & 1:
                private.append(tag)
                continue
            if raw.value is None and isinstance(raw, RawDataElement):
                raw = ds[key]  # as Dataset.get_item does: a value not read yet is read now
            vr = vr_of(raw, tag)
            action = decide(tag, vr, path)
            name = prefix + audit_name(tag)
            actions[name] = action.value
            if action is Action.REMOVE:
                del ds[key]
            elif action is Action.KEEP and vr not in _NEEDS_VALUE_ON_KEEP and (raw.VR or run.raw_ok):
                # Kept as read, undecoded (most of the dataset), unless the raw bytes hold one
                # of this patient's identifiers, typed into a field where it has no business.
                if vr in _BYTE_CHECKED_VRS and holds_identifier(raw, run.scrubber):
                    del ds[key]
                    actions[name] = Action.REMOVE.value
                    run.warnings.append(f"{name}: kept attribute held an identifying value; removed")
            elif not self._change_raw(ds, key, raw, vr, action, name, run):
                self._apply(ds, ds[key], action, (*path, tag), name, run)
        if private:
            self._clean_private(ds, private, path, prefix, run)

    def _change_raw(
        self,
        ds: pydicom.Dataset,
        key: BaseTag,
        raw: DataElement | RawDataElement,
        vr: str,
        action: Action,
        name: str,
        run: _Run,
    ) -> bool:
        """Remap UIDs and shift dates on the raw bytes, exactly as ``_apply`` would on the decoded
        value; False when the element needs ``_apply`` (see ``raw_values``)."""
        if vr not in RAW_CHANGED_VRS or not isinstance(raw, RawDataElement):
            return False
        if vr == "UI" and (action is Action.UID or action is Action.DUMMY):
            items = decoded_items(raw, vr)
            if items is None:
                return False
            values = items if int(key) in EXEMPT_UID_TAGS else self._remapped(as_value_list(items))
        elif action is Action.SHIFT and vr != "UI":
            items = decoded_items(raw, vr)
            if items is None:
                return False
            if vr == "TM":
                values = items  # times of day stay: only the day moves
            else:
                shift = shift_da if vr == "DA" else shift_dt
                moved = [shift(str(v), run.days) for v in as_value_list(items)]
                if None in moved:
                    run.warnings.append(f"{name}: unparseable {vr} value emptied")
                    moved = []
                values = [m for m in moved if m is not None]
        else:
            return False
        ds._dict[key] = encoded(raw, vr, values)
        return True

    def _clean_private(
        self, ds: pydicom.Dataset, tags: list[int], path: tuple[int, ...], prefix: str, run: _Run
    ) -> None:
        kept_creators: set[int] = set()
        for tag in tags:
            element = tag & 0xFFFF
            if 0x10 <= element <= 0xFF:
                continue  # creators are decided after their blocks
            action = Action.REMOVE
            creator_tag = (tag & 0xFFFF0000) | (element >> 8)
            if element > 0xFF and creator_tag in ds:
                creator = str(ds[creator_tag].value or "").strip()
                vr = vr_of(ds.get_item(tag), tag)
                action = self.rules.decide_private(creator, tag >> 16, element & 0xFF, vr)
            name = prefix + audit_name(tag)
            run.actions[name] = action.value
            if action is Action.REMOVE:
                del ds[tag]
            else:
                kept_creators.add(creator_tag)
                self._apply(ds, ds[tag], action, (*path, tag), name, run)
        for tag in tags:
            if 0x10 <= (tag & 0xFFFF) <= 0xFF and tag not in kept_creators:
                del ds[tag]

    def _apply(
        self,
        ds: pydicom.Dataset,
        elem: DataElement,
        action: Action,
        path: tuple[int, ...],
        name: str,
        run: _Run,
    ) -> None:
        vr = elem.VR
        if vr == "SQ":
            if action is Action.EMPTY:
                elem.value = []
                return
            for item in elem.value:
                self._clean(item, path, name + ">", run)
            if path[-1] in _TEXT_ITEM_SEQUENCES:
                self._drop_emptied_text_items(elem, name, run)
            return
        if action is Action.KEEP:
            if vr in _BYTE_CHECKED_VRS and holds_identifier(elem, run.scrubber):
                del ds[elem.tag]
                run.actions[name] = Action.REMOVE.value
                run.warnings.append(f"{name}: kept attribute held an identifying value; removed")
            elif vr in _KEEP_SCRUBBED_VRS and elem.value and path[-1] not in _CODED_TAGS:
                # Kept text is still checked against this dataset's own names and IDs: people
                # type identity into any field.
                values = [str(v) for v in value_list(elem.value)]
                cleaned = [run.scrubber.remove_identifiers(v) or DUMMY_TEXT for v in values]
                if cleaned != values:
                    run.actions[name] = "keep-scrubbed"
                    set_values(elem, cleaned)
            return
        if action is Action.EMPTY:
            elem.value = None
        elif action is Action.UID or (action is Action.DUMMY and vr == "UI"):
            if vr == "UI":
                self._remap_uids(elem, path[-1])
            else:
                elem.value = dummy_value(vr)
        elif action is Action.DUMMY:
            elem.value = dummy_value(vr)
        elif action is Action.SHIFT:
            self._shift(ds, elem, name, run)
        elif action is Action.CLEAN:
            self._scrub(ds, elem, run)
        elif action is Action.PSEUDONYM:
            if vr == "PN":
                elem.value = run.pseudonym
            elif vr in ("LO", "SH"):
                set_values(
                    elem,
                    [
                        derive_patient_pseudonym(self._secret, str(v), fmt=self._format)
                        for v in value_list(elem.value)
                    ],
                )
            else:
                del ds[elem.tag]

    def _drop_emptied_text_items(self, elem: DataElement, name: str, run: _Run) -> None:
        """Items that are only text (SR TEXT content items, presentation-state text objects)
        would be invalid once their text is removed: remove the whole item."""
        kept = [i for i in elem.value if not is_emptied_text_item(i)]
        if len(kept) != len(elem.value):
            run.actions[name + ">text item"] = Action.REMOVE.value
            elem.value = kept

    def _remap_uids(self, elem: DataElement, tag: int) -> None:
        if tag in EXEMPT_UID_TAGS:
            return
        set_values(elem, self._remapped(value_list(elem.value)))

    def _remapped(self, values: Sequence[object]) -> list[str]:
        out = []
        for value in values:
            text = str(value).strip().rstrip("\x00")
            out.append(text if text.startswith(WELL_KNOWN_UID_PREFIX) else derive_uid(self._secret, text))
        return out

    def _shift(self, ds: pydicom.Dataset, elem: DataElement, name: str, run: _Run) -> None:
        vr = elem.VR
        if vr == "TM":
            return  # times of day stay: only the day moves
        if vr not in ("DA", "DT"):
            del ds[elem.tag]
            return
        shift = shift_da if vr == "DA" else shift_dt
        out = []
        for value in value_list(elem.value):
            moved = shift(str(value), run.days)
            if moved is None:
                run.warnings.append(f"{name}: unparseable {vr} value emptied")
                elem.value = None
                return
            out.append(moved)
        set_values(elem, out)

    def _scrub(self, ds: pydicom.Dataset, elem: DataElement, run: _Run) -> None:
        if elem.VR in _LONG_TEXT_VRS:
            # Long free text cannot be cleaned reliably: remove it.
            del ds[elem.tag]
            return
        if elem.VR in _SCRUBBED_VRS:
            # A value scrubbed to nothing gets the dummy, so a required attribute stays present.
            set_values(elem, [run.scrubber.scrub(str(v)) or DUMMY_TEXT for v in value_list(elem.value)])
