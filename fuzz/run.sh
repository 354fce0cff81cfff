#!/usr/bin/env bash
# Fuzzes every target for SECONDS each (default 300), then minimizes each target's corpus.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (installed here if missing). Only a stable toolchain is needed:
# RUSTC_BOOTSTRAP lets cargo-fuzz pass the sanitizer-coverage flags it needs. The targets build
# with debug assertions and overflow checks on, and without a sanitizer: the code under test is
# safe Rust, and the sanitizer would only slow the search down.
#
# Each target's corpus is fuzz/corpus/TARGET: the run starts from it and from the hand-written
# boundary values in fuzz/seeds/TARGET, adds what it finds to the corpus, and `cargo fuzz cmin`
# keeps only the corpus inputs that reach new code (the seeds stay as written: a boundary value
# such as an attempt number of exactly 1 reaches no new code, but its answer matters). A crash stops the run with a
# reproducer under fuzz/artifacts/TARGET/. The figures of each run (executions, executions per
# second, corpus size) are printed at the end and kept in fuzz/target/logs/.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-300}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    targets=(retry_after rate_limit_reset grpc_pushback grpc_timeout deadline attempt)
fi

command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1

cargo fuzz build --sanitizer none
mkdir -p target/logs
summary=()
for target in "${targets[@]}"; do
    log="target/logs/$target.log"
    echo "== $target: ${seconds} s"
    mkdir -p "corpus/$target"
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 2>"$log" \
        || { tail -n 40 "$log"; echo "$target failed: see $log and artifacts/$target/" >&2; exit 1; }
    cargo fuzz cmin --sanitizer none "$target" "corpus/$target" >/dev/null 2>&1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    files=$(find "corpus/$target" -type f | wc -l)
    summary+=("$target: ${execs} execs in ${seconds} s (${rate} execs/s), corpus ${files} files after cmin")
done
echo "== summary"
printf '%s\n' "${summary[@]}"
