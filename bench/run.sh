#!/bin/sh
# Run a benchmark against a committed version of src/, not the live working tree.
#
# Other people edit src/ while benchmarks run; a half-saved file would make "ours" fail or
# measure code nobody committed. This extracts src/ at REF (default HEAD) into
# bench/work/src-<sha>/ with `git archive` (no change to the checkout or its git state) and puts
# it first on PYTHONPATH, ahead of the editable install, for the runner and every process it
# starts (eucaim-ingest, eucaim-node, the pydicom floor).
#
# Usage: sh bench/run.sh bench.deid.run [ARGS...]          (from the repository root)
#        BENCH_REF=abc1234 sh bench/run.sh bench.transfer.run --quick
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sha=$(git rev-parse --short "${BENCH_REF:-HEAD}")
dest="$root/bench/work/src-$sha"
if [ ! -d "$dest/src" ]; then
    mkdir -p "$dest"
    git archive "$sha" src | tar -x -C "$dest"
fi
export BENCH_SRC_COMMIT="$sha"
export PYTHONPATH="$dest/src:$root${PYTHONPATH:+:$PYTHONPATH}"
exec "$root/.venv/bin/python" -m "$@"
