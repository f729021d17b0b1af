#!/usr/bin/env bash
# Start to ready: from starting the process to its first `GET /readyz` 200, on a database
# nobody has used (so migrations, and on the embedded backend the new key file, are included).
#
#   bench/startup.sh                 # RUNS=5, BACKEND=sqlite|postgres (see bench/lib.sh)
#
# Each run gets its own fresh database; /readyz is polled every 5 ms, so a figure can be up to
# that (plus one curl) late. Prints every run and the median.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

RUNS=${RUNS:-5}
PORT=${PORT:-18483}
bench_build

times=()
for _ in $(seq 1 "$RUNS"); do
  fresh_database
  started=$(date +%s%N)
  start_broker "$PORT" RUST_LOG=warn
  wait_ready "http://127.0.0.1:$PORT"
  times+=("$(( ($(date +%s%N) - started) / 1000000 ))")
  stop_broker
done

median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}')
echo "## $(date -u +%FT%TZ) $(nproc) cores, backend $BACKEND, start to /readyz 200 on a fresh database"
echo "runs (ms): ${times[*]}"
echo "median:    $median ms"
result start_ms "$median"
