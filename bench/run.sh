#!/usr/bin/env bash
# Every footprint and hot-path figure, on each backend, side by side with its goal.
#
#   bench/run.sh        # BACKENDS="sqlite postgres"; DATABASE_URL names the PostgreSQL server
#                       # (default: the local one); FEATURES, ROUNDS, DURATION, COUNT pass through
#
# Runs bench/startup.sh, bench/hot_path.sh, bench/connections.sh and bench/instructions.sh
# (callgrind: instructions per request, which repeat on a busy machine) on each backend with one
# release build, keeps their own output in target/bench/, and prints the table that
# BENCHMARKS.md records. The machine should be otherwise quiet: wrk and the broker share it.
set -euo pipefail
cd "$(dirname "$0")/.."

BACKENDS=${BACKENDS:-sqlite postgres}
LOAD=$(cut -d" " -f1-3 /proc/loadavg)
cargo build --release -q ${FEATURES:+--features "$FEATURES"}
export BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release/tokenbroker}
OUT=target/bench
mkdir -p "$OUT"

for backend in $BACKENDS; do
  export BACKEND=$backend RESULTS=$OUT/results-$backend
  : >"$RESULTS"
  for script in startup hot_path connections instructions; do
    echo "== $backend: bench/$script.sh" >&2
    bench/"$script".sh >"$OUT/$script-$backend.txt"
    cat "$OUT/$script-$backend.txt" >&2
  done
done

value() { awk -v k="$2" '$1 == k {print $2}' "$OUT/results-$1"; }
row() {
  local label=$1 goal=$2 name=$3 unit=${4:-} line backend
  line="| $label | $goal |"
  for backend in $BACKENDS; do line="$line $(value "$backend" "$name")$unit |"; done
  echo "$line"
}
rate() {
  local label=$1 rps=$2 p50=$3 p99=$4 line backend
  line="| $label | |"
  for backend in $BACKENDS; do
    line="$line $(value "$backend" "$rps") req/s, p50 $(value "$backend" "$p50") ms, p99 $(value "$backend" "$p99") ms |"
  done
  echo "$line"
}

echo
echo "## $(date -u +%F) $(nproc) cores, $(uname -r), $(git rev-parse --short HEAD)${FEATURES:+, features $FEATURES}, load average at start: $LOAD"
echo
echo "| figure | goal |$(for b in $BACKENDS; do printf ' %s |' "$b"; done)"
echo "|---|---|$(for _ in $BACKENDS; do printf -- '---|'; done)"
row "start to /readyz 200, fresh database (median of 5)" "≤ 500 ms" start_ms " ms"
row "RSS idle" "≤ 20 MiB" rss_idle_mib " MiB"
row "RSS with 10,000 idle keep-alive connections" "≤ 128 MiB" rss_held_mib " MiB"
row "per connection" "≤ 12 KiB" per_connection_kib " KiB"
row "RSS after they closed" "near idle" rss_after_mib " MiB"
rate "GET /healthz (median of rounds)" h_rps h_p50 h_p99
rate "cached token (median of rounds)" t_rps t_p50 t_p99
row "cached token / healthz throughput (median of the rounds' ratios)" "≥ 0.9" ratio
row "the same, all token requests over all /healthz requests" "" total_ratio
row "cached token p99 / healthz p99" "≤ 1.2" p99_ratio
row "instructions per /healthz (callgrind)" "" instr_healthz
row "instructions per cached token (callgrind)" "" instr_token
