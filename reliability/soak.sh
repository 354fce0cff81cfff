#!/usr/bin/env bash
# The full soak: a million requests at concurrency 64 through steadfast's whole HTTP client
# stack, against a local chaos server (see docs/reliability.md, "Soak"). Extra flags are passed
# on, e.g. `reliability/soak.sh --requests 200000 --seed 7`. Exits non-zero if a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release -q -p steadfast-reliability --bin soak
exec target/release/soak --requests 1000000 --concurrency 64 "$@"
