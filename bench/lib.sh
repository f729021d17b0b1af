# Shared by the bench scripts (sourced, not run): a release broker on a scratch database of
# either backend, and the clean-up that removes them.
#
#   BACKEND=sqlite    the embedded default: a fresh file in a temporary directory (default)
#   BACKEND=postgres  a fresh database on DATABASE_URL's server (default: the local one)
#   BIN=path          a binary built elsewhere (an older commit); else a release build here
#   FEATURES=…        cargo features for that build (jemalloc, mimalloc)
#   RESULTS=file      also append `name value` lines for bench/run.sh's table

BACKEND=${BACKEND:-sqlite}
PG_ADMIN_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
ADMIN_KEY=bench-admin-key-0123456789abcdef0123456789
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/tb-bench.XXXXXX")
DB_PREFIX=tb_bench_$$_
DB_COUNT=0
PIDS=()

case $BACKEND in
  sqlite | postgres) ;;
  *) echo "BACKEND must be sqlite or postgres, not $BACKEND" >&2; exit 2 ;;
esac

bench_cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "$BACKEND" = postgres ] && [ "$DB_COUNT" -gt 0 ]; then
    local i
    for i in $(seq 1 "$DB_COUNT"); do
      psql "$PG_ADMIN_URL" -q -c "drop database if exists $DB_PREFIX$i with (force)" 2>/dev/null || true
    done
  fi
  rm -rf "$SCRATCH"
}
trap bench_cleanup EXIT

bench_build() {
  if [ -z "${BIN:-}" ]; then
    cargo build --release -q ${FEATURES:+--features "$FEATURES"}
    BIN=${CARGO_TARGET_DIR:-target}/release/tokenbroker
  fi
}

# Sets DB_URL to a database nobody has used (not a subshell: the clean-up must know it).
fresh_database() {
  DB_COUNT=$((DB_COUNT + 1))
  if [ "$BACKEND" = sqlite ]; then
    mkdir -p "$SCRATCH/db$DB_COUNT"
    DB_URL=sqlite://$SCRATCH/db$DB_COUNT/tokenbroker.db
  else
    psql "$PG_ADMIN_URL" -q -c "create database $DB_PREFIX$DB_COUNT"
    DB_URL=${PG_ADMIN_URL%/*}/$DB_PREFIX$DB_COUNT
  fi
}

# start_broker PORT [NAME=VALUE…]: the broker on DB_URL in the background (BROKER_PID), its
# output in $SCRATCH/broker-PORT.log. The embedded backend makes its own key file, as on a
# first start; PostgreSQL is given a key.
start_broker() {
  local port=$1
  shift
  local keys=()
  if [ "$BACKEND" = postgres ]; then keys=(TOKENBROKER_MASTER_KEYS="$("$BIN" gen-master-key)"); fi
  env DATABASE_URL="$DB_URL" "${keys[@]}" TOKENBROKER_LISTEN="127.0.0.1:$port" \
    TOKENBROKER_BOOTSTRAP_ADMIN_KEY=$ADMIN_KEY "$@" \
    "${WRAP[@]}" "$BIN" serve >"$SCRATCH/broker-$port.log" 2>&1 &
  BROKER_PID=$!
  PIDS+=("$BROKER_PID")
}

# wait_ready URL: until /readyz answers 200 (READY_SECS, 10 s by default), polling every 5 ms.
wait_ready() {
  local i
  for i in $(seq 1 $((${READY_SECS:-10} * 200))); do
    curl -sf -o /dev/null "${CURL_TLS[@]}" "$1/readyz" && return 0
    sleep 0.005
  done
  echo "the broker did not become ready:" >&2
  cat "$SCRATCH"/broker-*.log >&2
  exit 1
}

stop_broker() {
  kill "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
}

# result NAME VALUE: one figure for bench/run.sh.
result() {
  if [ -n "${RESULTS:-}" ]; then echo "$1 $2" >>"$RESULTS"; fi
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

# start_fake_vendor PORT: a one-endpoint vendor that answers every token request alike.
start_fake_vendor() {
  python3 - "$1" <<'PY' &
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('content-length', 0)))
        self.send_response(200); self.send_header('content-type', 'application/json'); self.end_headers()
        self.wfile.write(json.dumps({"access_token": "bench-token", "expires_in": 3600, "token_type": "Bearer"}).encode())
    def log_message(self, *a): pass
http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
PY
  PIDS+=($!)
}

# prepare_token BROKER_URL VENDOR_PORT: a service principal with a key (SVC) and a grant for
# bench-*, a qubs connection bench-qubs on the fake vendor, and its one vendor call.
prepare_token() {
  local b=$1 vendor_port=$2
  json() { curl -sf -H "Authorization: Bearer $ADMIN_KEY" -H 'Content-Type: application/json' "$@"; }
  json -X POST "$b/v1/principals" -d '{"id":"bench-svc","role":"service"}' >/dev/null
  SVC=$(json -X POST "$b/v1/principals/bench-svc/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
  json -X PUT "$b/v1/principals/bench-svc/grants/bench-*" >/dev/null
  json -X POST "$b/v1/connections" -d "{\"id\":\"bench-qubs\",\"provider\":\"qubs\",\"config\":{\"client_id\":\"c\",\"token_url\":\"http://127.0.0.1:$vendor_port/oauth2/token\"},\"secrets\":{\"client_secret\":\"s\"}}" >/dev/null
  curl -sf -H "Authorization: Bearer $SVC" "$b/v1/connections/bench-qubs/token" >/dev/null
}

CURL_TLS=()
WRAP=()
