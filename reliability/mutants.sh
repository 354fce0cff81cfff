#!/usr/bin/env bash
# Mutation testing of the decision logic with cargo-mutants, one area at a time.
#
#   reliability/mutants.sh [AREA...]      areas: classify backoff breaker budget http (default:
#                                         all), or jitter, the small area CI runs
#
# Each area mutates its own files and runs only the tests that exercise them: the library's unit
# tests and the integration test targets named below. Mutants are built in the source tree
# (`--in-place`, reusing the warm `target/`): do not edit files while it runs. A test run that
# takes longer than MUTANTS_TIMEOUT seconds (default 30) counts as a timeout, which
# cargo-mutants treats as caught (a mutant that makes a loop spin). Results are written to
# mutants.out/AREA/mutants.out (caught.txt, missed.txt, timeout.txt, unviable.txt).
#
# MUTANTS_SHARD=K/N tests every Nth mutant only, starting from the Kth (from 0): a uniform
# sample of the area, for a quicker estimate.
#
# MUTANTS_ITERATE=1 tests again only the mutants the area's last run did not catch (nor found
# unviable), and counts what that run caught as caught: for checking the tests added for its
# survivors.
#
# Prints caught / missed / timeout / unviable and the wall time per area; exits non-zero if any
# mutant was missed in the areas run (or if cargo-mutants itself failed).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION=27.1.0
TIMEOUT="${MUTANTS_TIMEOUT:-30}"
export CARGO_TERM_COLOR=never
# A failing property test is a caught mutant: no shrinking, and no regression file written into
# the source tree.
export PROPTEST_MAX_SHRINK_ITERS=0 PROPTEST_DISABLE_FAILURE_PERSISTENCE=1

if ! cargo mutants --version 2>/dev/null | grep -qx "cargo-mutants $VERSION"; then
    echo "== installing cargo-mutants $VERSION"
    cargo install cargo-mutants --version "$VERSION" --locked
fi

# The files of each area (globs, as cargo-mutants reads them) and the test targets that
# exercise them (arguments for `cargo test`).
area_package() {
    case "$1" in
        http) echo steadfast-http ;;
        *) echo steadfast ;;
    esac
}
area_files() {
    local s=crates/steadfast/src h=crates/steadfast-http/src
    case "$1" in
        classify) echo "$s/classify/*.rs $s/refine.rs" ;;
        backoff) echo "$s/backoff/*.rs $s/retry/start_jitter.rs" ;;
        jitter) echo "$s/backoff/jitter.rs" ;;
        breaker) echo "$s/circuit_breaker/state.rs $s/circuit_breaker/window.rs $s/circuit_breaker/metrics.rs" ;;
        budget) echo "$s/retry/budget/*.rs" ;;
        http) echo "$h/hint.rs $h/headers.rs $h/grpc_timeout.rs $h/grpc_code.rs $h/deadline.rs $h/attempt.rs" ;;
        *) return 1 ;;
    esac
}
area_targets() {
    case "$1" in
        classify) echo "--lib --test mutants_classify --test retry_hints --test circuit_breaker_run" ;;
        backoff) echo "--lib --test mutants_backoff --test retry_extras" ;;
        jitter) echo "--lib --test mutants_backoff" ;;
        breaker) echo "--lib --test mutants_breaker --test circuit_breaker --test circuit_breaker_metrics --test circuit_breaker_run" ;;
        budget) echo "--lib --test mutants_budget --test retry_service" ;;
        http) echo "--lib --test mutants_http --test hint_props --test grpc_status --test replay" ;;
    esac
}
# Unit tests of other parts that take seconds and cannot see the area's mutants: the
# cancellation token's, and the circuit breaker's outside the breaker area (in it, the
# keyed breakers' table and the ten-million-call window count).
area_skips() {
    case "$1" in
        http) ;;
        breaker) echo "--skip token:: --skip cancel:: --skip circuit_breaker::keyed:: --skip ten_million" ;;
        *) echo "--skip token:: --skip cancel:: --skip circuit_breaker::" ;;
    esac
}

areas=("$@")
if [ ${#areas[@]} -eq 0 ]; then
    areas=(classify backoff breaker budget http)
fi
for area in "${areas[@]}"; do
    area_files "$area" > /dev/null || { echo "unknown area: $area" >&2; exit 64; }
done

count() { if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi; }

failed=0
summary=()
for area in "${areas[@]}"; do
    echo "== mutants: $area"
    file_args=()
    for f in $(area_files "$area"); do file_args+=(--file "$f"); done
    # Given to every cargo command, so that only these targets are built for each mutant.
    target_args=()
    for t in $(area_targets "$area"); do target_args+=("--cargo-arg=$t"); done
    out="mutants.out/$area${MUTANTS_SHARD:+-shard-${MUTANTS_SHARD/\//-of-}}"
    iterate_args=()
    if [ -n "${MUTANTS_ITERATE:-}" ] && [ -d "$out/mutants.out" ]; then
        iterate_args=(--iterate)
    else
        rm -rf "$out"
        mkdir -p "$out"
    fi
    start=$(date +%s)
    rc=0
    shard_args=()
    if [ -n "${MUTANTS_SHARD:-}" ]; then
        shard_args=(--shard "$MUTANTS_SHARD" --sharding round-robin)
    fi
    # shellcheck disable=SC2046 # the skip arguments are words
    cargo mutants --in-place --no-shuffle --timeout "$TIMEOUT" --output "$out" \
        --package "$(area_package "$area")" "${file_args[@]}" "${target_args[@]}" "${shard_args[@]}" "${iterate_args[@]}" \
        -- -- $(area_skips "$area") || rc=$?
    secs=$(( $(date +%s) - start ))
    # cargo-mutants exits 0 when every mutant is caught, 2 when some are missed and 3 when
    # some time out (caught, for this count); anything else is a failure of the run itself.
    case "$rc" in
        0 | 2 | 3) ;;
        *) echo "cargo-mutants failed on $area (exit $rc)" >&2; failed=1 ;;
    esac
    dir="$out/mutants.out"
    # With MUTANTS_ITERATE, what an earlier run caught is listed in previously_caught.txt.
    caught=$(( $(count "$dir/caught.txt") + $(count "$dir/previously_caught.txt") ))
    missed=$(count "$dir/missed.txt")
    timeout=$(count "$dir/timeout.txt")
    unviable=$(count "$dir/unviable.txt")
    viable=$((caught + timeout + missed))
    pct=$(awk -v c=$((caught + timeout)) -v v="$viable" 'BEGIN { if (v) printf "%.1f", 100 * c / v; else print "-" }')
    summary+=("$(printf '%-9s %6s %6s %7s %8s %7s %7s %6ss' "$area" "$caught" "$missed" "$timeout" "$unviable" "$viable" "$pct" "$secs")")
    if [ "$missed" -gt 0 ]; then
        echo "-- missed in $area:"
        cat "$dir/missed.txt"
        failed=1
    fi
done

echo "== mutation testing summary (caught% = (caught + timeout) / viable)"
printf '%-9s %6s %6s %7s %8s %7s %7s %7s\n' area caught missed timeout unviable viable caught% time
printf '%s\n' "${summary[@]}"
exit "$failed"
