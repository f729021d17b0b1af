#!/usr/bin/env bash
# Property-based API fuzzing: schemathesis (pinned in requirements.txt) with every check on,
# against a real broker started from target/debug/tokenbroker, inside a network namespace that
# has only loopback (unshare -n), so no generated request or fuzzed connection can reach
# anything outside. PostgreSQL is reached through its unix socket, which the namespace keeps.
# Bounded and repeatable: a fixed seed and FUZZ_MAX_EXAMPLES cases per operation and phase.
# One worker: hypothesis' source inspection is not thread-safe on CPython 3.11 (it reported
# "AST constructor recursion depth mismatch" as Runtime Errors with two).
# Needs root (for unshare) and DATABASE_URL (its user and password; the database is made fresh).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SEED=${FUZZ_SEED:-20261130}
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-100}
PG_SOCKET_DIR=${PG_SOCKET_DIR:-/var/run/postgresql}
REPORT=$CLIENTS/fuzz-report

if [ "${1:-}" != "--inside" ]; then
  [ "$(id -u)" -eq 0 ] || die "fuzz.sh needs root: it runs the broker in a network namespace (unshare -n)"
  need unshare "util-linux (Debian: apt-get install util-linux)"
  need ip "iproute2 (Debian: apt-get install iproute2)"
  [ -S "$PG_SOCKET_DIR/.s.PGSQL.5432" ] \
    || die "no PostgreSQL socket at $PG_SOCKET_DIR/.s.PGSQL.5432: the namespace reaches PostgreSQL only through it (set PG_SOCKET_DIR)"
  ensure_python_tools
  ensure_broker_binary
  create_database
  trap drop_database EXIT
  trap 'exit 143' TERM INT
  db_user=$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).username or "postgres")' "$DATABASE_URL")
  db_password=$(python3 -c 'import sys, urllib.parse as u; print(u.unquote(u.urlsplit(sys.argv[1]).password or ""))' "$DATABASE_URL")
  PGPASSWORD=$db_password psql -h "$PG_SOCKET_DIR" -U "$db_user" -d "$DB_NAME" -qXAtc 'select 1' >/dev/null \
    || die "cannot log in through $PG_SOCKET_DIR as $db_user: pg_hba.conf must let DATABASE_URL's user in over the socket"
  # Same user and password as DATABASE_URL, through the socket directory instead of TCP.
  FUZZ_DATABASE_URL=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
cred = p.username or "postgres"
if p.password: cred += ":" + u.quote(p.password, safe="")
host = u.quote(sys.argv[3], safe="/")
print(f"postgres://{cred}@localhost/{sys.argv[2]}?host={host}")' "$DATABASE_URL" "$DB_NAME" "$PG_SOCKET_DIR")
  export FUZZ_DATABASE_URL SEED MAX_EXAMPLES
  rm -rf "$REPORT"
  mkdir -p "$REPORT"
  log "schemathesis in a loopback-only network namespace (seed $SEED, $MAX_EXAMPLES examples per operation)"
  unshare -n "$0" --inside
  exit $?
fi

# Inside the namespace from here on.
ip link set lo up
# The point of the namespace: only loopback exists.
if ip -o link show | grep -v ': lo:' | grep -q .; then
  die "the namespace has an interface besides loopback: $(ip -o link show)"
fi

BROKER_PID=""
trap 'stop_pid "$BROKER_PID"' EXIT
trap 'exit 143' TERM INT
export DATABASE_URL=$FUZZ_DATABASE_URL
TOKENBROKER_MASTER_KEYS=$("$BROKER" gen-master-key)
export TOKENBROKER_MASTER_KEYS TOKENBROKER_BOOTSTRAP_ADMIN_KEY
TOKENBROKER_BOOTSTRAP_ADMIN_KEY=$(random_key)
# No fuzzed connection may even point somewhere odd.
export TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=false
start_broker "$REPORT/broker.log"

# schemathesis gets an admin of its own; clients/fuzz_hooks.py keeps it from deleting it.
FUZZ_KEY=$(python3 - "$BROKER_URL" "$TOKENBROKER_BOOTSTRAP_ADMIN_KEY" <<'PY'
import json, sys, urllib.request
base, key = sys.argv[1], sys.argv[2]
def call(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as resp:
        text = resp.read()
        return json.loads(text) if text else None
call("POST", "/v1/principals", {"id": "fuzz-admin", "role": "admin", "description": "schemathesis"})
call("POST", "/v1/principals", {"id": "fuzz-decoy", "role": "admin", "description": "deleted instead of fuzz-admin"})
# Something for the connection and token operations to find (schemathesis reuses ids it has
# seen): a preset whose vendor is a public https URL, unreachable from the namespace.
call("POST", "/v1/connections", {"id": "fuzz-qubs", "provider": "qubs", "description": "seeded",
                                 "config": {"client_id": "fuzz"}, "secrets": {"client_secret": "fuzz-secret"}})
call("POST", "/v1/principals", {"id": "fuzz-svc", "role": "service"})
call("PUT", "/v1/principals/fuzz-svc/grants/fuzz-*")
print(call("POST", "/v1/principals/fuzz-admin/keys")["api_key"])
PY
)

set +e
# hypothesis keeps a .hypothesis directory in the working directory: the report's, not the repo's.
cd "$REPORT"
PYTHONPATH=$CLIENTS SCHEMATHESIS_HOOKS=fuzz_hooks "$VENV/bin/st" --config-file "$CLIENTS/schemathesis.toml" run "$ROOT/openapi/openapi.json" \
  --url "$BROKER_URL" \
  -H "Authorization: Bearer $FUZZ_KEY" \
  --checks all \
  --seed "$SEED" \
  --max-examples "$MAX_EXAMPLES" \
  --generation-database none \
  --suppress-health-check all \
  --request-timeout 30 \
  --workers 1 \
  --no-color \
  --report junit,ndjson --report-dir "$REPORT"
status=$?
set -e
# schemathesis judges answers; the log shows what it cannot see. The broker's own errors (a
# cause chain behind a 500, say) fail the run; tower-http's line for each documented 502/503 of
# an unreachable vendor does not.
if grep '"level":"ERROR"' "$REPORT/broker.log" | grep -v '"classification":"Status code: 50[23] ' | grep -q .; then
  log "the broker logged errors:"
  grep '"level":"ERROR"' "$REPORT/broker.log" | grep -v '"classification":"Status code: 50[23] ' | head -n 20 >&2
  status=1
fi
exit $status
