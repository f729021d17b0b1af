#!/usr/bin/env bash
# The cached-token hot path against an empty HTTP response, measured with wrk on loopback.
#
#   bench/hot_path.sh                 # DATABASE_URL defaults to the local server
#
# Starts a release broker on a scratch database, a one-endpoint fake vendor, fetches one
# token (the only vendor call), then runs wrk against GET /healthz (an empty-ish answer
# through the same HTTP stack and middleware) and GET /v1/connections/{id}/token with a
# service key (authentication, grant check, cached token, JSON). Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}
PORT=18480
VENDOR_PORT=18481
DB=tb_bench_$$

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q

psql "$ADMIN_URL" -q -c "create database $DB"
BASE=${ADMIN_URL%/*}
cleanup() {
  kill "${BROKER_PID:-}" "${VENDOR_PID:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -q -c "drop database if exists $DB with (force)" || true
}
trap cleanup EXIT

python3 - "$VENDOR_PORT" <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('content-length', 0)))
        self.send_response(200); self.send_header('content-type', 'application/json'); self.end_headers()
        self.wfile.write(json.dumps({"access_token": "bench-token", "expires_in": 3600, "token_type": "Bearer"}).encode())
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
VENDOR_PID=$!

ADMIN=bench-admin-key-0123456789abcdef0123456789
# wrk's connections are one principal asking far past any fair rate: the per-principal limit is
# raised, not turned off, so its check stays on the measured path.
DATABASE_URL="$BASE/$DB" TOKENBROKER_MASTER_KEYS="$(target/release/tokenbroker gen-master-key)" \
TOKENBROKER_LISTEN=127.0.0.1:$PORT TOKENBROKER_BOOTSTRAP_ADMIN_KEY=$ADMIN \
TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=true RUST_LOG=warn \
TOKENBROKER_RATE_LIMIT_PER_SECOND=1000000 TOKENBROKER_RATE_LIMIT_BURST=1000000 \
  target/release/tokenbroker serve >/dev/null 2>&1 &
BROKER_PID=$!
B=http://127.0.0.1:$PORT
for _ in $(seq 1 50); do curl -sf $B/readyz >/dev/null && break; sleep 0.2; done

json() { curl -sf -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' "$@"; }
json -X POST $B/v1/principals -d '{"id":"bench-svc","role":"service"}' >/dev/null
SVC=$(json -X POST $B/v1/principals/bench-svc/keys | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
json -X PUT "$B/v1/principals/bench-svc/grants/bench-*" >/dev/null
json -X POST $B/v1/connections -d "{\"id\":\"bench-qubs\",\"provider\":\"qubs\",\"config\":{\"client_id\":\"c\",\"token_url\":\"http://127.0.0.1:$VENDOR_PORT/oauth2/token\"},\"secrets\":{\"client_secret\":\"s\"}}" >/dev/null
curl -sf -H "Authorization: Bearer $SVC" $B/v1/connections/bench-qubs/token >/dev/null

# The broker's own CPU time (utime + stime, in clock ticks) and memory, for resource requests.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"; }
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$BROKER_PID/status"; }
idle_rss=$(status_kb VmRSS)

echo "## $(date -u +%FT%TZ) $(nproc) cores, wrk -t$THREADS -c$CONNECTIONS -d$DURATION"
echo "### GET /healthz"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency $B/healthz | grep -E "Requests/sec|Latency|50%|99%"
echo "### GET /v1/connections/bench-qubs/token (service key, cached token)"
ticks_before=$(cpu_ticks)
out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $SVC" \
  $B/v1/connections/bench-qubs/token)
ticks=$(( $(cpu_ticks) - ticks_before ))
echo "$out" | grep -E "Requests/sec|Latency|50%|99%|Non-2xx"
requests=$(echo "$out" | awk '/requests in/ {print $1}')
echo "### broker resources"
awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$requests" -v idle="$idle_rss" -v peak="$(status_kb VmHWM)" 'BEGIN {
  printf "CPU: %.1f s for %d token answers = %.3f ms per answer (%.1f%% of one core per 100 answers/s)\n", t / hz, n, 1000 * t / hz / n, 100 * (t / hz / n) * 100
  printf "memory: RSS %.1f MiB idle (one connection, one token), peak %.1f MiB\n", idle / 1024, peak / 1024 }'
