#!/usr/bin/env bash
# Tail latency over HTTP with and without hedging: a server on 127.0.0.1 whose answers take 1 to
# 5 ms, except 2% that take 200 ms (chosen per request by a seeded generator), and a hyper client
# sending the same requests at a fixed concurrency through no hedging, tower's `hedge` (p95) and
# steadfast's hedge layer (latency mode, p95 delay, a budget of 5% extra requests). Prints, for
# each seed, p50, p99, p99.9 and the slowest request of each setup, and the extra requests the
# server received.
#
#   bash benches/hedge-tail.sh [requests per setup, default 100000] [in flight, default 32] [seeds, default "1 2 3"]
#
# Exits non-zero when steadfast's hedge grossly misses its targets in a run (p99.9 less than
# 3 times lower than without hedging, or more than 7% extra requests).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUESTS="${1:-100000}"
CONCURRENCY="${2:-32}"
SEEDS="${3:-1 2 3}"

cargo build -q --release -p steadfast-e2e --bin hedge_tail
for seed in $SEEDS; do
    echo
    target/release/hedge_tail --requests "$REQUESTS" --concurrency "$CONCURRENCY" --seed "$seed" --check
done
