"""Read, map and validate one clinical file: the use case the CLI and the web UI share."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from eucaim.clinical.loader import load_table
from eucaim.clinical.mapping import ColumnMapping, load_mapping
from eucaim.clinical.schema import DEFAULT_SCHEMA, load_schema
from eucaim.clinical.validation import ValidationResult, validate

logger = logging.getLogger(__name__)


def check_file(
    path: Path,
    *,
    mapping_path: Path | None = None,
    schema: str | None = None,
    extensions: Sequence[Path] = (),
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
    today: date,
) -> ValidationResult:
    """Validate ``path``; the schema is ``schema``, else the mapping's ``schema`` key, else the default.

    ``encoding``, ``delimiter`` and ``sheet`` win over the mapping's, which win over detection.
    Raises ``ClinicalDataError`` when the file cannot be read at all and ``ConfigError`` for a bad
    mapping or schema; every problem inside the file is a finding in the result instead.
    """
    mapping = load_mapping(mapping_path) if mapping_path is not None else ColumnMapping()
    loaded = load_schema(schema or mapping.schema or DEFAULT_SCHEMA, extensions=extensions)
    table = load_table(
        path,
        encoding=encoding or mapping.encoding,
        delimiter=delimiter or mapping.delimiter,
        sheet=sheet or mapping.sheet,
    )
    result = validate(table, loaded, mapping, today=today)
    # File name, format and counts only: cell values never reach the log.
    logger.info(
        "validated %s (%s) against %s %s: %d %s(s), %d error(s), %d warning(s)",
        table.source.name,
        table.source.describe(),
        loaded.name,
        loaded.version,
        len(result.rows),
        table.source.row_noun,
        len(result.errors),
        len(result.warnings),
    )
    return result
