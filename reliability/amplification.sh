#!/usr/bin/env bash
# The full amplification run: 100,000 requests per case against a backend that always fails (and
# one that answers one attempt in ten), with a ratio budget, a token bucket and no budget.
# Exits non-zero if a budget's bound is broken. Extra arguments go to the program.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run -q --release -p steadfast-reliability --bin amplification -- --requests 100000 "$@"
