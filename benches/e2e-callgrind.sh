#!/usr/bin/env bash
# Instructions per request of the end-to-end setups, counted by callgrind: the number of
# instructions the process under test runs (its own code and its libraries, not the kernel),
# divided by the requests it served or sent. Unlike requests per second, the count does not
# depend on what else the machine is doing, so it compares setups exactly.
#
#   bash benches/e2e-callgrind.sh [seconds per run, default 6] [connections, default 8]
#
# Installs valgrind and wrk from the distribution's packages if they are missing. Each process
# runs on one tokio worker. Starting, connecting and stopping are left out of the counts (see
# server_run and client_run). The "requests" column is the requests the count covers.
set -euo pipefail
cd "$(dirname "$0")/.."

SECS="${1:-6}"
CONNS="${2:-8}"

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
    callgrind_control -z "$pid" >/dev/null
    n=$(wrk -t1 -c"$CONNS" -d"${SECS}s" "http://127.0.0.1:$port/" | awk '/requests in/ { print $1 }')
    callgrind_control -d "$pid" >/dev/null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$(total "$OUT/server-$mode.1") $n"
}

# A client under callgrind against the bare server, run for SECS and for twice as long: the
# difference between the two runs' counts, over the difference between their requests, leaves
# out starting up, connecting and shutting down. Prints "instructions requests".
client_run() {
    local mode=$1 port=$2 n1 n2 i1 i2
    n1=$(valgrind -q --tool=callgrind --callgrind-out-file="$OUT/client-$mode-1" \
        "$BIN" client "$mode" "http://127.0.0.1:$port/" "$SECS" "$CONNS" | awk '{ print $5 }')
    n2=$(valgrind -q --tool=callgrind --callgrind-out-file="$OUT/client-$mode-2" \
        "$BIN" client "$mode" "http://127.0.0.1:$port/" "$((2 * SECS))" "$CONNS" | awk '{ print $5 }')
    i1=$(total "$OUT/client-$mode-1")
    i2=$(total "$OUT/client-$mode-2")
    echo "$((i2 - i1)) $((n2 - n1))"
}

row() {
    python3 - "$@" <<'PY'
import sys
name, base, this = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
per = lambda r: int(r[0]) / int(r[1])
b, t = per(base), per(this)
print(f"| {name} | {int(this[1]):,} | {t:,.0f} | {t - b:+,.0f} | {t / b:.3f} |")
PY
}

echo "servers under callgrind (wrk -t1 -c$CONNS -d${SECS}s)" >&2
S_BARE=$(server_run bare)
S_STACK=$(server_run stack)
S_OUTER=$(server_run outer)

echo "clients under callgrind ($CONNS connections, ${SECS}s, against the bare server)" >&2
port=$(free_port)
"$BIN" server bare "$port" &
wait_port "$port"
C_BARE=$(client_run bare "$port")
C_STACK=$(client_run stack "$port")
C_CORE=$(client_run core "$port")
C_TOWER=$(client_run tower "$port")
C_TR=$(client_run tower-resilience "$port")
C_SEATBELT=$(client_run seatbelt "$port")

echo
echo "| setup | requests | instructions per request | over bare | × bare |"
echo "|---|---:|---:|---:|---:|"
row "server, bare" "$S_BARE" "$S_BARE"
row "server, steadfast stack (Router::layer)" "$S_BARE" "$S_STACK"
row "server, steadfast stack around the router" "$S_BARE" "$S_OUTER"
row "client, bare" "$C_BARE" "$C_BARE"
row "client, steadfast stack (seven layers)" "$C_BARE" "$C_STACK"
row "client, steadfast timeout, retry, breaker" "$C_BARE" "$C_CORE"
row "client, tower timeout, retry" "$C_BARE" "$C_TOWER"
row "client, tower-resilience time limiter, retry, breaker" "$C_BARE" "$C_TR"
row "client, seatbelt timeout, retry, breaker" "$C_BARE" "$C_SEATBELT"
