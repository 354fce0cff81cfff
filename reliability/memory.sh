#!/usr/bin/env bash
# The full bounded-memory run: 100,000 registered operations, 100,000 request tokens with three
# children each, and 1,000,000 keys through keyed breakers bounded to 10,000. Each part runs in a
# process of its own, so that the RSS it reports is its own. Exits non-zero if a check fails.
# Extra arguments go to the program.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q --release -p steadfast-reliability --bin memory
for part in operations tokens keys; do
    target/release/memory --only "$part" --entries 100000 --keys 1000000 --max-keys 10000 "$@"
done
