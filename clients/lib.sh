# Shared by clients/generate.sh, clients/run-e2e.sh and clients/fuzz.sh (sourced, not run).
# Tools live in gitignored, cached places: clients/.venv (PyPI, pinned in requirements.txt)
# and clients/typescript/node_modules (npm, pinned by package-lock.json). A missing tool
# fails the step, saying how to get it; nothing is skipped.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CLIENTS=$ROOT/clients
VENV=$CLIENTS/.venv
BROKER=$ROOT/target/debug/tokenbroker

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'clients: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is needed: $2"; }

ensure_python_tools() {
  need python3 "Python 3.11+ with venv (Debian: apt-get install python3 python3-venv)"
  # Reinstalled only when requirements.txt changes.
  if ! cmp -s "$CLIENTS/requirements.txt" "$VENV/.installed-requirements" 2>/dev/null; then
    log "installing $(grep -c '==' "$CLIENTS/requirements.txt") pinned Python tools into clients/.venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r "$CLIENTS/requirements.txt" \
      || die "pip install -r clients/requirements.txt failed (needs PyPI)"
    cp "$CLIENTS/requirements.txt" "$VENV/.installed-requirements"
  fi
}

ensure_node_tools() {
  need node "Node.js 20+ (Debian: apt-get install nodejs npm)"
  need npm "npm (Debian: apt-get install npm)"
  local dir=$CLIENTS/typescript
  if ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.installed-lock" 2>/dev/null; then
    log "installing the pinned npm packages (package-lock.json) into clients/typescript/node_modules"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed (needs the npm registry)"
    cp "$dir/package-lock.json" "$dir/node_modules/.installed-lock"
  fi
}

ensure_broker_binary() {
  need cargo "Rust (rustup)"
  log "cargo build (the broker under test)"
  (cd "$ROOT" && cargo build -q --bin tokenbroker) || die "cargo build failed"
}

# A fresh database on DATABASE_URL's server; sets DB_NAME and DB_URL, dropped by cleanup.
create_database() {
  need psql "the PostgreSQL client (Debian: apt-get install postgresql-client)"
  [ -n "${DATABASE_URL:-}" ] || die "DATABASE_URL is not set (postgres://user@host:port/db of a server to make a database on)"
  DB_NAME="tb_clients_$(date +%s)_$$"
  psql "$DATABASE_URL" -qXc "create database $DB_NAME" >/dev/null || die "cannot create a database on DATABASE_URL"
  DB_URL=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$DATABASE_URL" "$DB_NAME")
}

drop_database() {
  if [ -n "${DB_NAME:-}" ]; then
    psql "$DATABASE_URL" -qXc "drop database if exists $DB_NAME with (force)" >/dev/null 2>&1 || true
  fi
}

random_key() { python3 -c 'import secrets; print("tbk_" + secrets.token_urlsafe(32))'; }

# start_broker LOGFILE: starts target/debug/tokenbroker with the environment already exported
# (DATABASE_URL, keys, insecure-URL setting), on a free loopback port; sets BROKER_PID and
# BROKER_URL once it logs `listening`.
start_broker() {
  local logfile=$1
  TOKENBROKER_LISTEN=127.0.0.1:0 TOKENBROKER_LOG_FORMAT=json "$BROKER" serve >"$logfile" 2>&1 &
  BROKER_PID=$!
  local addr=""
  for _ in $(seq 1 300); do
    addr=$(python3 - "$logfile" <<'PY'
import json, sys
for line in open(sys.argv[1], errors="replace"):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "listening":
        print(fields["addr"])
        break
PY
)
    [ -n "$addr" ] && break
    kill -0 "$BROKER_PID" 2>/dev/null || { cat "$logfile" >&2; die "the broker exited before listening"; }
    sleep 0.1
  done
  [ -n "$addr" ] || { cat "$logfile" >&2; die "the broker did not log 'listening' within 30 s"; }
  BROKER_URL="http://$addr"
}

stop_pid() {
  if [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; then
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}
