#!/usr/bin/env bash
# End-to-end HTTP comparison: an axum server with and without steadfast's server-side stack
# (load from wrk), and a hyper client with and without the client-side stack (against the bare
# server). Prints a markdown table: requests per second, and each setup's requests per second
# and p50/p99 latency as ratios to the bare setup; for the servers, also the CPU time (user and
# system) the server process spent per request.
#
#   bash benches/e2e.sh [seconds per run, default 3] [connections, default 32] [rounds, default 11]
#
# The process under test and the process that loads it each get a core of their own (taskset,
# and one tokio worker for the Rust processes), so that neither steals the other's CPU: the
# server is measured on core 0 against wrk on core 1, the client on core 1 against the bare
# server on core 0. A round runs every setup once, one after another; each setup is compared
# with the bare setup of the same round (the host's load, which moves a bare run by 20% from
# one minute to the next, then moves both alike), and the table gives the median of those
# paired ratios over the rounds and their range. On a machine with fewer than two cores nothing
# is pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-3}"
CONNS="${2:-32}"
ROUNDS="${3:-11}"

if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    ON_SERVER_CORE=(taskset -c 0)
    ON_LOAD_CORE=(taskset -c 1)
else
    ON_SERVER_CORE=()
    ON_LOAD_CORE=()
fi
export TOKIO_WORKER_THREADS=1

if ! command -v wrk >/dev/null; then
    echo "installing wrk from the distribution's packages" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq wrk >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
    fi
fi

cargo build -q --release -p steadfast-e2e
BIN=target/release/steadfast-e2e

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
    local mode=$1 port
    port=$(free_port)
    "${ON_SERVER_CORE[@]}" "$BIN" server "$mode" "$port" &
    SERVER_PID=$!
    for _ in $(seq 50); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
        sleep 0.1
    done
    PORT=$port
}

stop_server() {
    if [ -n "${SERVER_PID:-}" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    SERVER_PID=
}

# wrk's report: requests/sec, and the 50% and 99% latency lines (converted to microseconds).
to_us() {
    awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v+0 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000000 } }'
}
# CPU time (user + system, in clock ticks) the server process has used so far.
server_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
# One measured run against the running server, after a one-second warm-up: prints
# "rps p50_us p99_us errors cpu_us_per_request".
run_wrk() {
    local out rps p50 p99 n t0 t1
    "${ON_LOAD_CORE[@]}" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$PORT/" >/dev/null
    t0=$(server_ticks)
    out=$("${ON_LOAD_CORE[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/")
    t1=$(server_ticks)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
    n=$(echo "$out" | awk '/requests in/ {print $1}')
    echo "$rps $p50 $p99 0 $(python3 -c "import os,sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf(\"SC_CLK_TCK\") * 1e6 / int(sys.argv[3]):.3f}')" "$t0" "$t1" "$n")"
}

# Every run is kept as "setup round rps p50 p99 errors [cpu_us]" in $RUNS, for a closer look.
mkdir -p target
RUNS=target/e2e-runs.txt
: >"$RUNS"
trap stop_server EXIT

echo "server side (wrk -t1 -c$CONNS -d${SECS}s, $ROUNDS rounds)" >&2
for round in $(seq "$ROUNDS"); do
    for setup in bare stack outer; do
        start_server "$setup"
        echo "server-$setup $round $(run_wrk)" >>"$RUNS"
        stop_server
    done
done

echo "client side ($CONNS connections, ${SECS}s, $ROUNDS rounds, against the bare server)" >&2
start_server bare
for round in $(seq "$ROUNDS"); do
    for setup in bare stack core tower tower-resilience seatbelt; do
        echo "client-$setup $round $("${ON_LOAD_CORE[@]}" "$BIN" client "$setup" "http://127.0.0.1:$PORT/" "$SECS" "$CONNS")" >>"$RUNS"
    done
done
stop_server

# Each setup against the bare setup of the same round (run minutes, not hours, apart, so that
# the host's load moves both alike): the median of those paired ratios, and their range.
python3 - "$RUNS" <<'PY'
import statistics, sys
from collections import defaultdict
runs = defaultdict(dict)
for line in open(sys.argv[1]):
    f = line.split()
    runs[f[0]][int(f[1])] = [float(x) for x in f[2:]]
rows = [
    ("server, bare", "server-bare"),
    ("server, steadfast stack (Router::layer)", "server-stack"),
    ("server, steadfast stack around the router", "server-outer"),
    ("client, bare", "client-bare"),
    ("client, steadfast stack (seven layers)", "client-stack"),
    ("client, steadfast timeout, retry, breaker", "client-core"),
    ("client, tower timeout, retry", "client-tower"),
    ("client, tower-resilience time limiter, retry, breaker", "client-tower-resilience"),
    ("client, seatbelt timeout, retry, breaker", "client-seatbelt"),
]
med = statistics.median
print()
print("| setup | req/s (median round) | × bare (median of rounds) | × bare (range) "
      "| p50 × bare | p99 × bare | server CPU µs/request | errors |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, key in rows:
    base = runs[key.split("-")[0] + "-bare"]
    mine = runs[key]
    rounds = sorted(set(base) & set(mine))
    ratio = lambda i: [mine[r][i] / base[r][i] for r in rounds if base[r][i]]
    rps = ratio(0)
    cpu = [mine[r][4] for r in rounds if len(mine[r]) > 4 and key.startswith("server")]
    errors = int(sum(mine[r][3] for r in rounds))
    print(f"| {name} | {med(m[0] for m in mine.values()):,.0f} | {med(rps):.3f} "
          f"| {min(rps):.3f}–{max(rps):.3f} | {med(ratio(1)):.3f} | {med(ratio(2)):.3f} "
          f"| {f'{med(cpu):.2f}' if cpu else '—'} | {errors} |")
print()
print(f"Every run: {sys.argv[1]}. Per round, requests per second × bare (rounds 1 to {max(max(r) for r in runs.values())}):")
for name, key in rows[1:3] + rows[4:]:
    base = runs[key.split("-")[0] + "-bare"]
    mine = runs[key]
    print(f"- {name}: " + ", ".join(f"{mine[r][0] / base[r][0]:.3f}" for r in sorted(mine) if r in base))
PY
