#!/usr/bin/env bash
# Load-test the authoritative DNS server with dnsperf (Debian: apt-get install dnsperf).
# Serves a generated 10,000-record zone on loopback and prints queries per second.
# Usage: testdata/dns/bench.sh   (env: DURATION=10 PORT=53539 CLIENTS=4 OUTSTANDING=200)
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DURATION:-10}
PORT=${PORT:-53539}
CLIENTS=${CLIENTS:-4}
OUTSTANDING=${OUTSTANDING:-200}

command -v dnsperf >/dev/null || { echo "dnsperf not found (apt-get install dnsperf)" >&2; exit 1; }

tmp=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/benchserver" ./testdata/dns/benchserver
"$tmp/benchserver" -addr "127.0.0.1:$PORT" -queries "$tmp/queries.txt" &
pid=$!

for _ in $(seq 100); do
	[ -f "$tmp/queries.txt" ] && break
	kill -0 "$pid" 2>/dev/null || { echo "benchserver exited" >&2; exit 1; }
	sleep 0.1
done
[ -f "$tmp/queries.txt" ] || { echo "benchserver not ready" >&2; exit 1; }

dnsperf -s 127.0.0.1 -p "$PORT" -d "$tmp/queries.txt" -l "$DURATION" -c "$CLIENTS" -q "$OUTSTANDING" | tee "$tmp/out.txt"
qps=$(awk '/Queries per second/ {print $4}' "$tmp/out.txt")
echo "QPS: $qps"
