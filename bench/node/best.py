"""Merge rounds of bench.node.run: per receiver, the round with the most STOW instances/s, plus the range.

.venv/bin/python -m bench.node.best bench/results/node-load-A.json bench/results/node-load-B.json ...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from bench.node.run import render


def main() -> None:
    rounds = [json.loads(Path(p).read_text()) for p in sys.argv[1:]]
    n = int(rounds[0]["args"]["n"])
    by_name: dict[str, list[dict[str, object]]] = {}
    for r in rounds:
        assert int(r["args"]["n"]) == n, "rounds of different sizes"
        for row in r["rows"]:
            by_name.setdefault(row["name"], []).append(row)
    best = []
    spread = []
    for name, rows in by_name.items():
        rates = [float(row["stow"]["instances_per_s"]) for row in rows]  # type: ignore[index]
        best.append((name, max(rows, key=lambda row: float(row["stow"]["instances_per_s"]))))  # type: ignore[index]
        spread.append(f"{name}: {min(rates):.0f}-{max(rates):.0f} inst/s over {len(rates)} rounds")
    print(render(best, n))
    print()
    print("\n".join(f"- {line}" for line in spread))


if __name__ == "__main__":
    main()
