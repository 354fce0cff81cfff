#!/usr/bin/env bash
# Instructions per request of the end-to-end setups, counted by callgrind: the number of
# instructions the process under test runs (its own code and its libraries, not the kernel),
# divided by the requests it served or sent. Unlike requests per second, the count does not
# depend on what else the machine is doing, so it compares setups exactly.
#
#   bash benches/e2e-callgrind.sh [--quick] [--check] [seconds per run, default 6] [connections, default 8]
#
# --quick  runs 2 s per run instead of 6 (about a minute and a half in all, counts a little
#          less steady); a seconds argument overrides it.
# --check  exits 1 when a target in the second table is missed (it is printed either way).
#
# Installs valgrind and wrk from the distribution's packages if they are missing. Each process
# runs on one tokio worker. Starting, connecting and stopping are left out of the counts (see
# server_run and client_run). The "requests" column is the requests the count covers.
#
# It prints two markdown tables: every setup against the bare server or client, and the
# contender pairs with the targets they are held to: steadfast's cancel layer in its HTTP form
# against tower-http's `TimeoutLayer`, steadfast's timeout, retry and breaker against the best
# of tower-resilience's and seatbelt's same three layers, the server stack around the router and
# the seven-layer client against bare.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS=6
CONNS=8
CHECK=0
positional=()
for arg in "$@"; do
    case "$arg" in
        --quick) SECS=2 ;;
        --check) CHECK=1 ;;
        -*) echo "unknown option $arg" >&2; exit 2 ;;
        *) positional+=("$arg") ;;
    esac
done
SECS="${positional[0]:-$SECS}"
CONNS="${positional[1]:-$CONNS}"

for tool in valgrind wrk; do
    if ! command -v "$tool" >/dev/null; then
        echo "installing $tool from the distribution's packages" >&2
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null
        else
            sudo apt-get update -qq && sudo apt-get install -y -qq "$tool" >/dev/null
        fi
    fi
done

cargo build -q --release -p steadfast-e2e
BIN=target/release/steadfast-e2e
export TOKIO_WORKER_THREADS=1
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
        sleep 0.1
    done
}
total() { callgrind_annotate "$1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }

# A server under callgrind: warmed up by wrk for a second, its counters zeroed, then loaded by
# wrk for SECS and its counters dumped, so the count covers exactly the measured requests.
# Prints "instructions requests".
server_run() {
    local mode=$1 port pid n
    port=$(free_port)
    valgrind -q --tool=callgrind --callgrind-out-file="$OUT/server-$mode" "$BIN" server "$mode" "$port" &
    pid=$!
    wait_port "$port"
    wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$port/" >/dev/null
    callgrind_control -z "$pid" >/dev/null 2>&1
    wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port/" >"$OUT/wrk-$mode"
    callgrind_control -d "$pid" >/dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    # Every counted request must have been answered "200 OK": a setup that refuses requests
    # would count its refusals.
    if grep -q "Non-2xx" "$OUT/wrk-$mode"; then
        echo "server $mode: $(grep "Non-2xx" "$OUT/wrk-$mode" | sed 's/^ *//')" >&2
        exit 1
    fi
    n=$(awk '/requests in/ { print $1 }' "$OUT/wrk-$mode")
    echo "$(total "$OUT/server-$mode.1") $n"
}

# A client under callgrind against the bare server, run for SECS and for twice as long: the
# difference between the two runs' counts, over the difference between their requests, leaves
# out starting up, connecting and shutting down. Prints "instructions requests".
client_run() {
    local mode=$1 port=$2 n1 n2 i1 i2 run
    for run in 1 2; do
        valgrind -q --tool=callgrind --callgrind-out-file="$OUT/client-$mode-$run" \
            "$BIN" client "$mode" "http://127.0.0.1:$port/" "$((run * SECS))" "$CONNS" \
            >"$OUT/client-$mode-$run.line"
        # Columns: rate, p50, p99, errors, requests. A request that failed would be counted
        # among the instructions but not among the requests.
        if [ "$(awk '{ print $4 }' "$OUT/client-$mode-$run.line")" != 0 ]; then
            echo "client $mode: $(awk '{ print $4 }' "$OUT/client-$mode-$run.line") requests failed" >&2
            exit 1
        fi
    done
    n1=$(awk '{ print $5 }' "$OUT/client-$mode-1.line")
    n2=$(awk '{ print $5 }' "$OUT/client-$mode-2.line")
    if [ "$((n2 - n1))" -lt "$((n1 / 2))" ]; then
        echo "  $mode: the longer run sent only $((n2 - n1)) requests more; its count is less steady (the machine is busy: run again)" >&2
    fi
    i1=$(total "$OUT/client-$mode-1")
    i2=$(total "$OUT/client-$mode-2")
    echo "$((i2 - i1)) $((n2 - n1))"
}

# One line per setup, "side mode instructions requests", for the tables below.
RESULTS="$OUT/results"
: >"$RESULTS"

echo "servers under callgrind (wrk -t1 -c$CONNS -d${SECS}s)" >&2
for mode in $("$BIN" modes server); do
    echo "  $mode" >&2
    counted=$(server_run "$mode")
    echo "server $mode $counted" >>"$RESULTS"
done

echo "clients under callgrind ($CONNS connections, ${SECS}s and $((2 * SECS))s, against the bare server)" >&2
port=$(free_port)
"$BIN" server bare "$port" &
wait_port "$port"
for mode in $("$BIN" modes client); do
    echo "  $mode" >&2
    counted=$(client_run "$mode" "$port")
    echo "client $mode $counted" >>"$RESULTS"
done

python3 - "$RESULTS" "$CHECK" <<'PY'
import sys

NAMES = {
    ("server", "bare"): "server, bare",
    ("server", "stack"): "server, steadfast stack (`Router::layer`), handler takes the token",
    ("server", "outer"): "server, steadfast stack around the router, handler takes the token (`outer`)",
    ("server", "outer-notoken"): "server, steadfast stack around the router, handler without the token (`outer-notoken`)",
    ("server", "towerhttp-timeout"): "server, tower-http `TimeoutLayer` (`towerhttp-timeout`)",
    ("server", "towerhttp-timeout-body"): "server, tower-http `TimeoutLayer` + `RequestBodyTimeoutLayer` (`towerhttp-timeout-body`)",
    ("server", "cancel-timeout"): "server, steadfast `CancelLayer` timeout `.for_http()` (`cancel-timeout`)",
    ("client", "bare"): "client, bare",
    ("client", "stack"): "client, steadfast stack (seven layers)",
    ("client", "core"): "client, steadfast timeout, retry, breaker (`core`)",
    ("client", "tower"): "client, tower timeout, retry",
    ("client", "tower-resilience"): "client, tower-resilience time limiter, retry, breaker",
    ("client", "seatbelt"): "client, seatbelt timeout, retry, breaker",
}

rows = {}
order = []
for line in open(sys.argv[1]):
    side, mode, instr, reqs = line.split()
    instr, reqs = int(instr), int(reqs)
    if reqs <= 0:
        sys.exit(f"{side} {mode}: no requests counted")
    rows[(side, mode)] = (reqs, instr / reqs)
    order.append((side, mode))

def per(side, mode):
    return rows[(side, mode)][1]

def over(side, mode):
    return per(side, mode) - per(side, "bare")

print()
print("| setup | requests counted | instructions per request | over bare | × bare |")
print("|---|---:|---:|---:|---:|")
for side, mode in order:
    reqs, p = rows[(side, mode)]
    b = per(side, "bare")
    o = "—" if mode == "bare" else f"{p - b:+,.0f}"
    print(f"| {NAMES.get((side, mode), f'{side}, {mode}')} | {reqs:,} | {p:,.0f} | {o} | {p / b:.3f} |")

cancel = per("server", "cancel-timeout")
timeout = per("server", "towerhttp-timeout")
timeout_body = per("server", "towerhttp-timeout-body")
core = over("client", "core")
peers = {m: over("client", m) for m in ("tower-resilience", "seatbelt")}
best = min(peers, key=peers.get)

# (comparison, figure, target text, met)
targets = [
    (
        "server stack around the router, handler without the token, over bare",
        f"{over('server', 'outer-notoken'):+,.0f}",
        "≤ +1,500",
        over("server", "outer-notoken") <= 1500,
    ),
    (
        "server stack around the router, handler takes the token, over bare",
        f"{over('server', 'outer'):+,.0f}",
        "≤ +1,800",
        over("server", "outer") <= 1800,
    ),
    (
        "`cancel-timeout` minus `towerhttp-timeout`",
        f"{cancel - timeout:+,.0f}",
        "≤ +150",
        cancel - timeout <= 150,
    ),
    (
        "`cancel-timeout` minus `towerhttp-timeout-body`",
        f"{cancel - timeout_body:+,.0f}",
        "(no target)",
        None,
    ),
    (
        f"client three layers over bare: steadfast against the best peer ({best})",
        f"{core:+,.0f} against {peers[best]:+,.0f}: {core / peers[best]:.1%}"
        if peers[best] > 0
        else f"{core:+,.0f} against {peers[best]:+,.0f}",
        f"≤ 90% (≤ {0.9 * peers[best]:+,.0f})",
        core <= 0.9 * peers[best],
    ),
    (
        "client seven layers over bare",
        f"{over('client', 'stack'):+,.0f}",
        "≤ +7,000",
        over("client", "stack") <= 7000,
    ),
]

print()
print("| comparison | instructions per request | target | status |")
print("|---|---:|---|---|")
for name, figure, target, met in targets:
    status = "—" if met is None else ("met" if met else "missed")
    print(f"| {name} | {figure} | {target} | {status} |")

missed = [name for name, _, _, met in targets if met is False]
if sys.argv[2] == "1" and missed:
    print(f"\n{len(missed)} target(s) missed", file=sys.stderr)
    sys.exit(1)
PY
