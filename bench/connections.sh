#!/usr/bin/env bash
# Memory per connection: the broker's RSS idle, holding COUNT keep-alive connections that each
# sent one GET /healthz, and after they close.
#
#   bench/connections.sh                  # COUNT=10000, BACKEND=sqlite|postgres (bench/lib.sh)
#   HEAPTRACK=1 bench/connections.sh      # the same under heaptrack (Debian package), then its summary
#   FEATURES=mimalloc bench/connections.sh  # another build (features jemalloc, mimalloc)
#   BIN=path/to/tokenbroker bench/connections.sh  # a binary built elsewhere (an older commit)
#   TLS=1 bench/connections.sh            # HTTPS with a throw-away certificate (openssl CLI)
#
# Builds a release binary, starts one broker on a scratch database with production logging
# (info, text), and runs bench/hold_connections.py on loopback. Both processes need COUNT+
# open files: the script raises `ulimit -n` to the hard limit and stops if that is not enough.
# Results go to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

COUNT=${COUNT:-10000}
SETTLE=${SETTLE:-3}
# After the connections close: longer than jemalloc's 10 s dirty-page decay plus its
# background thread's wake-up, so the allocator has had its chance to give memory back.
CLOSE_SETTLE=${CLOSE_SETTLE:-20}
PORT=${PORT:-18482}

ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((COUNT + 200)) ]; then
  echo "open-files limit $(ulimit -n) is below COUNT+200=$((COUNT + 200)); raise the hard limit (ulimit -Hn) or lower COUNT" >&2
  exit 1
fi
if [ -n "${HEAPTRACK:-}" ] && ! command -v heaptrack >/dev/null; then
  apt-get update -qq && apt-get install -y -qq heaptrack >/dev/null
fi
bench_build

SCHEME=http
CLIENT_TLS=()
if [ -n "${TLS:-}" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$SCRATCH/key.pem" -out "$SCRATCH/cert.pem" 2>/dev/null
  SCHEME=https
  CURL_TLS=(--cacert "$SCRATCH/cert.pem")
  CLIENT_TLS=("$SCRATCH/cert.pem")
  export TOKENBROKER_TLS_CERT_FILE=$SCRATCH/cert.pem TOKENBROKER_TLS_KEY_FILE=$SCRATCH/key.pem
fi

HEAPTRACK_OUT=target/heaptrack-connections
if [ -n "${HEAPTRACK:-}" ]; then
  rm -f "$HEAPTRACK_OUT".*
  WRAP=(heaptrack -o "$HEAPTRACK_OUT")
fi
fresh_database
start_broker "$PORT" TOKENBROKER_MAX_CONNECTIONS=$((COUNT + 100)) TOKENBROKER_IDLE_TIMEOUT_MS=600000 RUST_LOG=info
B=$SCHEME://127.0.0.1:$PORT
wait_ready "$B"
# Under heaptrack the broker is heaptrack's child: measure that process, not the wrapper.
PID=$BROKER_PID
if [ -n "${HEAPTRACK:-}" ]; then PID=$(pgrep -f -n -P "$BROKER_PID" tokenbroker || pgrep -n -f "$BIN serve"); fi

sleep "$SETTLE"
IDLE=$(rss_kib "$PID")
coproc CLIENT { python3 bench/hold_connections.py 127.0.0.1 "$PORT" "$COUNT" /healthz "${CLIENT_TLS[@]}"; }
CLIENT_PID=$CLIENT_PID
PIDS+=("$CLIENT_PID")
STARTED=$(date +%s.%N)
read -r OPENED <&"${CLIENT[0]}"
ELAPSED=$(awk -v s="$STARTED" -v e="$(date +%s.%N)" 'BEGIN {printf "%.1f", e - s}')
sleep "$SETTLE"
HELD=$(rss_kib "$PID")
ESTABLISHED=$(ss -Htn state established "( sport = :$PORT )" | wc -l)

echo >&"${CLIENT[1]}"
read -r _ <&"${CLIENT[0]}"
wait "$CLIENT_PID" || true
CLIENT_PID=
sleep "$CLOSE_SETTLE"
AFTER=$(rss_kib "$PID")

PER=$(awk -v h="$HELD" -v i="$IDLE" -v n="$COUNT" 'BEGIN {printf "%.1f", (h - i) / n}')
echo "## $(date -u +%FT%TZ) $(nproc) cores, $(uname -r), backend $BACKEND, COUNT=$COUNT, settle ${SETTLE}s/${CLOSE_SETTLE}s, features ${FEATURES:-default}${TLS:+, TLS}${HEAPTRACK:+, under heaptrack}"
echo "RSS idle:                      $(mib "$IDLE") MiB"
echo "RSS holding ${OPENED#open } connections:   $(mib "$HELD") MiB (${ESTABLISHED} established; opened in ${ELAPSED}s)"
echo "per connection:                $PER KiB"
echo "RSS ${CLOSE_SETTLE}s after they closed: $(mib "$AFTER") MiB"
result rss_idle_mib "$(mib "$IDLE")"
result rss_held_mib "$(mib "$HELD")"
result per_connection_kib "$PER"
result rss_after_mib "$(mib "$AFTER")"

if [ -n "${HEAPTRACK:-}" ]; then
  kill -INT "$PID"
  wait "$BROKER_PID" || true
  FILE=$(ls "$HEAPTRACK_OUT".* | head -n 1)
  echo "### heaptrack: $FILE (peak and leaked allocations by call site)"
  heaptrack_print -f "$FILE" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
    --peak-limit 12 --sub-peak-limit 4 2>/dev/null | sed -n '/PEAK MEMORY CONSUMERS/,/^$/p;/peak heap memory/p' | head -n 150
fi
