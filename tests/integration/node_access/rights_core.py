"""Rights of the node's core endpoints: health, accounts, biobank requests, DICOMweb.

One line per endpoint: ``"METHOD /path/{template}": "anonymous own other validator admin"``, where
*own* is a data ingester managing the biobank in the path (or owning the request), *other* a data
ingester managing another biobank, and each word is ``ok`` (any 2xx) or the exact status expected.
Another feature area adds a ``rights_<area>.py`` next to this file with its own ``RIGHTS`` (and
``PROBES`` for bodies or path values its endpoints need); the matrix test reads them all.
"""

from __future__ import annotations

DW = "/biobanks/{code}/dicom-web"

RIGHTS: dict[str, str] = {
    # operations and accounts
    "GET /health": "ok ok ok ok ok",
    "GET /.well-known/eucaim-node": "ok ok ok ok ok",
    "GET /me": "401 ok ok ok ok",
    # biobank requests: ingesters ask (and see their own), admins decide
    "POST /biobank-requests": "401 ok ok 403 403",
    "GET /biobank-requests": "401 ok ok 403 ok",
    "GET /biobank-requests/{request_id}": "401 ok 404 404 ok",
    "POST /biobank-requests/{request_id}/approve": "401 403 403 403 ok",
    "POST /biobank-requests/{request_id}/decline": "401 403 403 403 ok",
    # DICOMweb: managers and admins write; managers, validators and admins read
    f"POST {DW}/studies": "401 ok 403 403 ok",
    f"POST {DW}/studies/{{study}}": "401 ok 403 403 ok",
    f"GET {DW}/studies": "401 ok 403 ok ok",
    f"GET {DW}/series": "401 ok 403 ok ok",
    f"GET {DW}/instances": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/instances": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/metadata": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series/{{series}}": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series/{{series}}/instances": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series/{{series}}/metadata": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series/{{series}}/instances/{{instance}}": "401 ok 403 ok ok",
    f"GET {DW}/studies/{{study}}/series/{{series}}/instances/{{instance}}/metadata": "401 ok 403 ok ok",
}

# How to call an endpoint, where path values or a body are needed beyond the shared ones
# (code, study, series, instance, request_id): "params" override path values by name, "json" is
# a body (a callable gets the probe and returns one), "stow" sends a fresh instance.
PROBES: dict[str, dict[str, object]] = {
    "POST /biobank-requests": {"json": lambda probe: {"code": probe.unique("req"), "name": "Asked for"}},
    "POST /biobank-requests/{request_id}/approve": {"params": {"request_id": "approvable_request"}},
    "POST /biobank-requests/{request_id}/decline": {
        "params": {"request_id": "declinable_request"},
        "json": {"reason": "duplicate of LUNG-01"},
    },
    f"POST {DW}/studies": {"stow": True},
    f"POST {DW}/studies/{{study}}": {"stow": True},
}
