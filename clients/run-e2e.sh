#!/usr/bin/env bash
# End-to-end run of the generated clients: builds the broker, makes a fresh database on
# DATABASE_URL's server, starts the fake vendor (clients/fake_vendor.py) and one broker on
# loopback, generates both clients from the committed document, and drives the broker with
# clients/python/e2e.py and clients/typescript/e2e.ts. Exits non-zero on any failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

WORK=$(mktemp -d)
VENDOR_PID=""
BROKER_PID=""
cleanup() {
  stop_pid "$BROKER_PID"
  stop_pid "$VENDOR_PID"
  drop_database
  rm -rf "$WORK"
}
trap cleanup EXIT
# A timeout or ^C still stops the broker and the vendor and drops the database.
trap 'exit 143' TERM INT

"$CLIENTS/generate.sh"
ensure_broker_binary
create_database

python3 "$CLIENTS/fake_vendor.py" >"$WORK/vendor.out" 2>&1 &
VENDOR_PID=$!
for _ in $(seq 1 50); do grep -q '^port=' "$WORK/vendor.out" && break; sleep 0.1; done
VENDOR_PORT=$(sed -n 's/^port=//p' "$WORK/vendor.out")
[ -n "$VENDOR_PORT" ] || die "the fake vendor did not start: $(cat "$WORK/vendor.out")"

export DATABASE_URL=$DB_URL
TOKENBROKER_MASTER_KEYS=$("$BROKER" gen-master-key)
ADMIN_KEY=$(random_key)
export TOKENBROKER_MASTER_KEYS ADMIN_KEY TOKENBROKER_BOOTSTRAP_ADMIN_KEY=$ADMIN_KEY
# The fake vendor is plain http on loopback.
export TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=true
# Short enough to wait out: the clients check the 429 before and the replacement after.
export TOKENBROKER_REJECTED_TOKEN_MIN_AGE_SECS=2
start_broker "$WORK/broker.log"
export BROKER_URL VENDOR_TOKEN_URL="http://127.0.0.1:$VENDOR_PORT/token" RUN_ID=$$

failed=0
log "Python client against $BROKER_URL"
PYTHONPATH="$CLIENTS/python/generated" "$VENV/bin/python" "$CLIENTS/python/e2e.py" || failed=1
log "TypeScript client against $BROKER_URL"
(cd "$CLIENTS/typescript" && npx --no-install tsc -p . && node dist/e2e.js) || failed=1
if [ "$failed" -ne 0 ]; then
  log "broker log:"
  tail -n 50 "$WORK/broker.log" >&2
  die "client end-to-end run failed"
fi
log "both generated clients passed against a real broker"
