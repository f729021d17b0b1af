#!/usr/bin/env bash
# Instructions per request on the cached-token path and on /healthz, and where they go: the
# broker runs under callgrind (valgrind), which counts instructions rather than time, so the
# figures repeat on a busy machine where wrk's cannot.
#
#   bench/instructions.sh       # REQUESTS=2000, BACKEND=sqlite|postgres (bench/lib.sh), TOP=25
#
# Same set-up as bench/hot_path.sh (one service key, one qubs connection, one vendor call),
# then REQUESTS token requests and REQUESTS /healthz requests, one keep-alive connection each,
# with the counters zeroed before and dumped after each batch. Prints instructions per request
# for both and the functions with the largest inclusive share of the token batch; the profiles
# stay in target/bench/callgrind.* for callgrind_annotate or kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

REQUESTS=${REQUESTS:-2000}
TOP=${TOP:-25}
PORT=${PORT:-18484}
VENDOR_PORT=${VENDOR_PORT:-18485}
OUT=target/bench
mkdir -p "$OUT"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
bench_build

start_fake_vendor "$VENDOR_PORT"

rm -f "$OUT"/callgrind.*
fresh_database
WRAP=(valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.%p" --dump-instr=no --collect-jumps=no)
start_broker "$PORT" TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=true RUST_LOG=warn \
  TOKENBROKER_RATE_LIMIT_PER_SECOND=1000000 TOKENBROKER_RATE_LIMIT_BURST=1000000
B=http://127.0.0.1:$PORT
READY_SECS=60 wait_ready $B

prepare_token "$B" "$VENDOR_PORT"

# batch PATH [KEY]: REQUESTS sequential GETs on one keep-alive connection, each answer checked.
batch() {
  python3 - "$PORT" "$REQUESTS" "$@" <<'PY'
import http.client, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Authorization": f"Bearer {sys.argv[4]}"} if len(sys.argv) > 4 else {}
conn = http.client.HTTPConnection("127.0.0.1", port)
for _ in range(n):
    conn.request("GET", path, headers=headers)
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit(f"{path}: {r.status}")
PY
}

# Warm both paths (caches, lazily built state), then count each batch on its own.
batch /healthz
batch /v1/connections/bench-qubs/token "$SVC"
callgrind_control -z "$BROKER_PID" >/dev/null
batch /v1/connections/bench-qubs/token "$SVC"
callgrind_control -d token "$BROKER_PID" >/dev/null
callgrind_control -z "$BROKER_PID" >/dev/null
batch /healthz
callgrind_control -d healthz "$BROKER_PID" >/dev/null
stop_broker

profile() { ls "$OUT"/callgrind.*."$1"* 2>/dev/null | head -n 1; }
per_request() {
  callgrind_annotate "$(profile "$1")" 2>/dev/null |
    awk -v n="$REQUESTS" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f", $1 / n; exit}'
}
TOKEN=$(per_request 1)
HEALTHZ=$(per_request 2)
echo "## $(date -u +%FT%TZ) backend $BACKEND, $REQUESTS requests each, one keep-alive connection, under callgrind"
echo "instructions per request: /healthz $HEALTHZ, cached token $TOKEN ($(awk -v t="$TOKEN" -v h="$HEALTHZ" 'BEGIN {printf "%.2f", t / h}')x)"
result instr_healthz "$HEALTHZ"
result instr_token "$TOKEN"
echo "### cached token batch: functions by inclusive instructions (per request)"
callgrind_annotate --inclusive=yes "$(profile 1)" 2>/dev/null |
  awk -v n="$REQUESTS" -v top="$TOP" '
    /^-+$/ {sep++; next}
    sep >= 3 && $1 ~ /^[0-9,]+$/ && shown < top {
      v = $1; gsub(",", "", v); $1 = ""; $2 = $2; sub(/^ +/, "")
      sub(/ \[.*$/, "")
      printf "%9.0f  %s\n", v / n, substr($0, 1, 150); shown++ }'
