"""Write the empty clinical CSV template, an example file, and a mapping skeleton for a schema."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from eucaim.clinical.schema import Schema
from eucaim.errors import ConfigError

TEMPLATE_NAME = "clinical-template.csv"
EXAMPLE_NAME = "clinical-example.csv"
MAPPING_NAME = "clinical-mapping.toml"

# Invented subjects, one per population, that pass the shipped schema.
_EXAMPLES: tuple[dict[str, str], ...] = (
    {
        "patient_id": "PAT0001", "population": "case", "sex": "female", "age_at_diagnosis": "54.3",
        "date_radiological_detection": "2020-01-10", "date_pathological_confirmation": "2020-01-20",
        "pathological_confirmation_method": "biopsy", "topography": "breast", "pathology": "8500/3",
        "imaging_protocol": "MRI breast with contrast", "treatment": "surgery|radiotherapy",
        "date_first_treatment": "2020-02-15",
    },
    {
        "patient_id": "PAT0002", "population": "control", "sex": "male", "acquisition_date": "2021-03-04",
        "age": "61.0", "topography": "prostate",
    },
)  # fmt: skip


def template_columns(schema: Schema) -> list[str]:
    """The header a site fills in: every uploadable field (the birth date is left out on purpose)."""
    return [f.name for f in schema.fields if not f.explicit_only]


def render_template(schema: Schema, *, with_examples: bool) -> str:
    out = io.StringIO()
    columns = template_columns(schema)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", extrasaction="ignore")
    writer.writeheader()
    if with_examples:
        writer.writerows(_EXAMPLES)
    return out.getvalue()


def render_mapping_skeleton(schema: Schema) -> str:
    """A commented TOML mapping listing every field, its requirement and its allowed codes."""
    lines = [
        f"# Column mapping for schema {schema.name} {schema.version}, read by",
        "# `eucaim-ingest clinical validate FILE --mapping THIS_FILE`. Uncomment and edit what you need.",
        "",
        '# encoding = "cp1252"          # CSV: skip encoding detection',
        '# delimiter = ";"              # CSV: skip delimiter detection',
        '# sheet = "Sheet1"             # Excel: which sheet (default: the first)',
        '# date_format = "%d/%m/%Y"     # how your dates are written (default: detected, day first)',
        "",
        "# Columns removed before anything else: names, addresses, phone numbers, free text ...",
        '# drop = ["Name", "Surname", "Address", "Comments"]',
        "",
        "[columns]",
        '# "Your column" = "schema field"; columns already named like a field need no entry.',
        '# "Date of birth" = "birth_date"   # only to check ages; never uploaded',
    ]
    for spec in (f for f in schema.fields if not f.explicit_only):
        need = ", ".join(sorted(spec.required_for)).replace("*", "all") or "optional"
        lines.append(f'# "..." = "{spec.name}"   # {spec.type}, required: {need}')
    lines += ["", "# Your values -> schema codes, one table per code field."]
    for spec in schema.fields:
        if not spec.codes:
            continue
        lines.append(f"[values.{spec.name}]")
        codes = ", ".join(c.code for c in spec.codes)
        lines.append(f'# "your value" = "<one of: {codes}>"')
        lines.append("")
    return "\n".join(lines)


def write_templates(directory: Path, schema: Schema, *, overwrite: bool = False) -> list[Path]:
    """Write template, example and mapping skeleton into ``directory``; refuse to overwrite by default."""
    files = {
        TEMPLATE_NAME: render_template(schema, with_examples=False),
        EXAMPLE_NAME: render_template(schema, with_examples=True),
        MAPPING_NAME: render_mapping_skeleton(schema),
    }
    targets = [directory / name for name in files]
    existing = [p.name for p in targets if p.exists()]
    if existing and not overwrite:
        raise ConfigError(
            f"{', '.join(existing)} already exist(s) in {directory}",
            hint="choose another folder or pass --force to overwrite",
        )
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in zip(targets, files.values(), strict=True):
        path.write_text(text, encoding="utf-8", newline="")
    return targets
