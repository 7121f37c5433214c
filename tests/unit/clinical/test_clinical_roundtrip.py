"""Property: whatever delimiter, encoding and quoting an export uses, the same cells come back."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eucaim.clinical.loader import load_table

# ASCII plus accented letters whose Windows-1252 bytes are never UTF-8 continuation bytes, so a
# single-byte file can never also be valid UTF-8 (which would make the encoding undecidable).
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .-/àçéñóüÉ"
cells = st.text(alphabet=LETTERS + ";,\t|\"'", min_size=1, max_size=12).map(str.strip).filter(bool)
headers = st.lists(st.from_regex(r"[a-z][a-z_]{1,10}", fullmatch=True), min_size=2, max_size=6, unique=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    header=headers,
    data=st.data(),
    delimiter=st.sampled_from([";", ",", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
)
def test_cells_survive_any_delimiter_and_encoding(
    tmp_path: Path, header: list[str], data: st.DataObject, delimiter: str, encoding: str
) -> None:
    rows = data.draw(
        st.lists(st.lists(cells, min_size=len(header), max_size=len(header)), min_size=1, max_size=5)
    )
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    path = tmp_path / "export.csv"
    path.write_bytes(out.getvalue().encode(encoding))
    table = load_table(path)
    assert table.source.delimiter == delimiter
    assert list(table.columns) == header
    assert [list(r.cells.values()) for r in table.rows] == rows
