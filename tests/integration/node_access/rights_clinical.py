"""Rights of the clinical-record endpoints: managers and admins write; managers, validators, admins read.

A record for a subject the biobank holds no images of is refused with 422 after the rights check,
and an unknown subject reads as 404: both prove the caller got past authorisation.
"""

from __future__ import annotations

SUBJECT = "/biobanks/{code}/subjects/{pseudonym}/clinical"

RIGHTS: dict[str, str] = {
    "GET /biobanks/{code}/clinical": "401 ok 403 ok ok",
    "POST /biobanks/{code}/clinical": "401 ok 403 403 ok",
    f"GET {SUBJECT}": "401 404 403 404 404",
    f"PUT {SUBJECT}": "401 422 403 403 422",
}

PROBES: dict[str, dict[str, object]] = {
    "POST /biobanks/{code}/clinical": {"json": []},
    f"GET {SUBJECT}": {"params": {"pseudonym": "EUCAIM-NOSUCHSUBJECT"}},
    f"PUT {SUBJECT}": {
        "params": {"pseudonym": "EUCAIM-NOSUCHSUBJECT"},
        "json": {
            "subject": "EUCAIM-NOSUCHSUBJECT",
            "schema": "eucaim-minimum",
            "schema_version": "1.0",
            "dates": "shifted",
            "fields": {"population": "control", "sex": "F"},
        },
    },
}
