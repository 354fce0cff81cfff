#!/usr/bin/env bash
# End-to-end HTTP comparison: an axum server with and without steadfast's server-side stack
# (load from wrk), and a hyper client with and without the client-side stack (against the bare
# server). Prints a markdown table of requests per second and p50/p99 latency, each also as a
# ratio to its bare setup.
#
#   bash benches/e2e.sh [seconds per run, default 5] [connections, default 32] [rounds, default 3]
#
# The process under test and the process that loads it each get a core of their own (taskset,
# and one tokio worker for the Rust processes), so that neither steals the other's CPU: the
# server is measured on core 0 against wrk on core 1, the client on core 1 against the bare
# server on core 0. Each setup runs ROUNDS times, alternating with the others, and the median
# run (by requests per second) is reported. On a machine with fewer than two cores nothing is
# pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-5}"
CONNS="${2:-32}"
ROUNDS="${3:-3}"

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

stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
trap stop_server EXIT

# wrk's report: requests/sec, and the 50% and 99% latency lines (converted to microseconds).
to_us() {
    awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); print v+0 } else if (v ~ /ms$/) { sub(/ms$/,"",v); print v*1000 } else if (v ~ /s$/) { sub(/s$/,"",v); print v*1000000 } }'
}
run_wrk() {
    local out rps p50 p99
    out=$("${ON_LOAD_CORE[@]}" wrk -t1 -c"$CONNS" -d"${SECS}s" --latency "http://127.0.0.1:$PORT/")
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}' | to_us)
    p99=$(echo "$out" | awk '$1=="99%" {print $2}' | to_us)
    echo "$rps $p50 $p99 0"
}

# The median of a setup's runs, by requests per second (one "rps p50 p99 errors" per line).
median() { sort -n -k1,1 | awk '{ a[NR] = $0 } END { print a[int((NR + 1) / 2)] }'; }

echo "server side (wrk -t1 -c$CONNS -d${SECS}s, $ROUNDS rounds)" >&2
S_BARE=(); S_STACK=(); S_OUTER=()
for _ in $(seq "$ROUNDS"); do
    start_server bare;  S_BARE+=("$(run_wrk)");  stop_server
    start_server stack; S_STACK+=("$(run_wrk)"); stop_server
    start_server outer; S_OUTER+=("$(run_wrk)"); stop_server
done
S_BARE=$(printf '%s\n' "${S_BARE[@]}" | median)
S_STACK=$(printf '%s\n' "${S_STACK[@]}" | median)
S_OUTER=$(printf '%s\n' "${S_OUTER[@]}" | median)

echo "client side ($CONNS connections, ${SECS}s, $ROUNDS rounds, against the bare server)" >&2
start_server bare
C_BARE=(); C_STACK=(); C_CORE=(); C_TOWER=()
client_run() { "${ON_LOAD_CORE[@]}" "$BIN" client "$1" "http://127.0.0.1:$PORT/" "$SECS" "$CONNS"; }
for _ in $(seq "$ROUNDS"); do
    C_BARE+=("$(client_run bare)")
    C_STACK+=("$(client_run stack)")
    C_CORE+=("$(client_run core)")
    C_TOWER+=("$(client_run tower)")
done
stop_server
C_BARE=$(printf '%s\n' "${C_BARE[@]}" | median)
C_STACK=$(printf '%s\n' "${C_STACK[@]}" | median)
C_CORE=$(printf '%s\n' "${C_CORE[@]}" | median)
C_TOWER=$(printf '%s\n' "${C_TOWER[@]}" | median)

row() {
    local name=$1 base=$2 this=$3
    python3 - "$name" "$base" "$this" <<'PY'
import sys
name, base, this = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
b = [float(x) for x in base[:3]]; t = [float(x) for x in this[:3]]
ratio = lambda a, z: f"{a / z:.3f}" if z else "—"
errors = this[3] if len(this) > 3 else "0"
print(f"| {name} | {t[0]:,.0f} | {ratio(t[0], b[0])} | {t[1]:.0f} | {ratio(t[1], b[1])} | {t[2]:.0f} | {ratio(t[2], b[2])} | {errors} |")
PY
}

echo
echo "| setup | req/s | × bare | p50 µs | × bare | p99 µs | × bare | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
row "server, bare" "$S_BARE" "$S_BARE"
row "server, steadfast stack (Router::layer)" "$S_BARE" "$S_STACK"
row "server, steadfast stack around the router" "$S_BARE" "$S_OUTER"
row "client, bare" "$C_BARE" "$C_BARE"
row "client, steadfast stack (seven layers)" "$C_BARE" "$C_STACK"
row "client, steadfast timeout, retry, breaker" "$C_BARE" "$C_CORE"
row "client, tower timeout, retry" "$C_BARE" "$C_TOWER"
