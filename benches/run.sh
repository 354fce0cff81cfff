#!/usr/bin/env bash
# Runs every benchmark of steadfast-benches, then draws docs/img/overhead.svg from criterion's
# results and prints the figures as tables (see docs/benchmarks.md).
#
# Usage: benches/run.sh [criterion options]
# Without options the benchmarks use a 1 s warm-up and 3 s of measurement each. The results
# land in $CARGO_TARGET_DIR/criterion (default: target/criterion).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$#" -eq 0 ]; then
    set -- --warm-up-time 1 --measurement-time 3
fi

for bench in retry circuit_breaker cancel hedge peers reload; do
    echo "== cargo bench --bench $bench"
    cargo bench -p steadfast-benches --bench "$bench" -- "$@"
done

if command -v redis-server >/dev/null 2>&1; then
    echo "== cargo bench --bench fleet"
    cargo bench -p steadfast-benches --bench fleet -- "$@"
else
    echo "== fleet skipped: no redis-server (install it with reliability/redis.sh)"
fi

echo "== allocations per call"
cargo bench -p steadfast-benches --bench allocs

echo "== plot"
python3 benches/plot/overhead.py \
    --criterion "${CARGO_TARGET_DIR:-target}/criterion" \
    --out docs/img/overhead.svg
