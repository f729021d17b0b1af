#!/usr/bin/env bash
# Memory per connection: the broker's RSS idle, holding COUNT keep-alive connections that each
# sent one GET /healthz, and after they close.
#
#   bench/connections.sh                  # COUNT=10000, DATABASE_URL defaults to the local server
#   HEAPTRACK=1 bench/connections.sh      # the same under heaptrack (Debian package), then its summary
#   FEATURES=jemalloc bench/connections.sh  # another allocator (features mimalloc, jemalloc)
#   BIN=path/to/tokenbroker bench/connections.sh  # a binary built elsewhere (an older commit)
#   TLS=1 bench/connections.sh            # HTTPS with a throw-away certificate (openssl CLI)
#
# Builds a release binary, starts one broker on a scratch database of the local PostgreSQL with
# production logging (info, text), and runs bench/hold_connections.py on loopback. Both
# processes need COUNT+ open files: the script raises `ulimit -n` to the hard limit and stops if
# that is not enough. Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
COUNT=${COUNT:-10000}
SETTLE=${SETTLE:-3}
# After the connections close: longer than jemalloc's 10 s dirty-page decay, so each allocator
# has had its chance to give memory back.
CLOSE_SETTLE=${CLOSE_SETTLE:-12}
PORT=${PORT:-18482}
DB=tb_conn_bench_$$

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((COUNT + 200)) ]; then
  echo "open-files limit $(ulimit -n) is below COUNT+200=$((COUNT + 200)); raise the hard limit (ulimit -Hn) or lower COUNT" >&2
  exit 1
fi
if [ -n "${HEAPTRACK:-}" ] && ! command -v heaptrack >/dev/null; then
  apt-get update -qq && apt-get install -y -qq heaptrack >/dev/null
fi
BIN=${BIN:-}
if [ -z "$BIN" ]; then
  cargo build --release -q ${FEATURES:+--features "$FEATURES"}
  BIN=target/release/tokenbroker
fi

psql "$ADMIN_URL" -q -c "create database $DB"
BASE=${ADMIN_URL%/*}
cleanup() {
  [ -n "${CLIENT_PID:-}" ] && kill "$CLIENT_PID" 2>/dev/null || true
  [ -n "${BROKER_PID:-}" ] && kill "$BROKER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  psql "$ADMIN_URL" -q -c "drop database if exists $DB with (force)" || true
}
trap cleanup EXIT

SCHEME=http
CURL_TLS=()
CLIENT_TLS=()
if [ -n "${TLS:-}" ]; then
  mkdir -p target/bench-tls
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout target/bench-tls/key.pem -out target/bench-tls/cert.pem 2>/dev/null
  SCHEME=https
  CURL_TLS=(--cacert target/bench-tls/cert.pem)
  CLIENT_TLS=(target/bench-tls/cert.pem)
  export TOKENBROKER_TLS_CERT_FILE=target/bench-tls/cert.pem TOKENBROKER_TLS_KEY_FILE=target/bench-tls/key.pem
fi

WRAP=()
HEAPTRACK_OUT=target/heaptrack-connections
if [ -n "${HEAPTRACK:-}" ]; then
  rm -f "$HEAPTRACK_OUT".*
  WRAP=(heaptrack -o "$HEAPTRACK_OUT")
fi
DATABASE_URL="$BASE/$DB" TOKENBROKER_MASTER_KEYS="$("$BIN" gen-master-key)" \
TOKENBROKER_LISTEN=127.0.0.1:$PORT TOKENBROKER_BOOTSTRAP_ADMIN_KEY=bench-admin-key-0123456789abcdef0123456789 \
TOKENBROKER_MAX_CONNECTIONS=$((COUNT + 100)) TOKENBROKER_IDLE_TIMEOUT_MS=600000 RUST_LOG=info \
  "${WRAP[@]}" "$BIN" serve >target/connections-bench.log 2>&1 &
BROKER_PID=$!
B=$SCHEME://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -sf "${CURL_TLS[@]}" $B/readyz >/dev/null && break; sleep 0.2; done
curl -sf "${CURL_TLS[@]}" $B/readyz >/dev/null || { echo "broker did not start:" >&2; cat target/connections-bench.log >&2; exit 1; }
# Under heaptrack the broker is heaptrack's child: measure that process, not the wrapper.
PID=$BROKER_PID
if [ -n "${HEAPTRACK:-}" ]; then PID=$(pgrep -f -n -P "$BROKER_PID" tokenbroker || pgrep -n -f "$BIN serve"); fi

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$PID/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; }

sleep "$SETTLE"
IDLE=$(rss_kib)

coproc CLIENT { python3 bench/hold_connections.py 127.0.0.1 "$PORT" "$COUNT" /healthz "${CLIENT_TLS[@]}"; }
CLIENT_PID=$CLIENT_PID
STARTED=$(date +%s.%N)
read -r OPENED <&"${CLIENT[0]}"
ELAPSED=$(awk -v s="$STARTED" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
sleep "$SETTLE"
HELD=$(rss_kib)
ESTABLISHED=$(ss -Htn state established "( sport = :$PORT )" | wc -l)

echo >&"${CLIENT[1]}"
read -r _ <&"${CLIENT[0]}"
wait "$CLIENT_PID" || true
CLIENT_PID=
sleep "$CLOSE_SETTLE"
AFTER=$(rss_kib)

echo "## $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), COUNT=$COUNT, settle ${SETTLE}s/${CLOSE_SETTLE}s, allocator ${FEATURES:-system}${TLS:+, TLS}${HEAPTRACK:+, under heaptrack}"
echo "RSS idle:                      $(mib "$IDLE")"
echo "RSS holding ${OPENED#open } connections:   $(mib "$HELD") (${ESTABLISHED} established; opened in ${ELAPSED}s)"
echo "per connection:                $(awk -v h="$HELD" -v i="$IDLE" -v n="$COUNT" 'BEGIN {printf "%.1f KiB", (h - i) / n}')"
echo "RSS ${CLOSE_SETTLE}s after they closed: $(mib "$AFTER")"

if [ -n "${HEAPTRACK:-}" ]; then
  kill -INT "$PID"
  wait "$BROKER_PID" || true
  BROKER_PID=
  FILE=$(ls "$HEAPTRACK_OUT".* | head -n 1)
  echo "### heaptrack: $FILE (peak and leaked allocations by call site)"
  heaptrack_print -f "$FILE" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
    --peak-limit 12 --sub-peak-limit 4 2>/dev/null | sed -n '/PEAK MEMORY CONSUMERS/,/^$/p;/peak heap memory/p' | head -n 150
fi
