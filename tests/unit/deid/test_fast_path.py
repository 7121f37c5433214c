"""The fast de-identification path writes exactly what the reference path wrote, byte for byte.

Two checks. The golden corpus (``golden.py``: pydicom's test files under both profiles, the
synthetic cohort, a highdicom SEG) must give the same output digests as the reference commit.
And the writer must give, for every dataset the engine returns, the bytes pydicom's own
``save_as`` gives for it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .golden import GOLDEN, compute


def test_every_golden_output_is_unchanged(tmp_path: Path) -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = compute(tmp_path)
    assert sorted(now) == sorted(golden), "the golden corpus changed: regenerate golden_outputs.json"
    changed_input = [name for name in golden if golden[name]["input"] != now[name]["input"]]
    assert changed_input == [], "inputs changed (pydicom or highdicom upgraded?): regenerate"
    changed = {name: now[name]["output"] for name in golden if golden[name]["output"] != now[name]["output"]}
    assert changed == {}, f"{len(changed)} of {len(golden)} outputs differ from the reference"
