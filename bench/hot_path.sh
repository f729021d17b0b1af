#!/usr/bin/env bash
# The cached-token hot path against an empty HTTP answer, measured with wrk on loopback.
#
#   bench/hot_path.sh      # BACKEND=sqlite|postgres, ROUNDS=11, DURATION=5s, CONNECTIONS=64, THREADS=2
#
# Starts a release broker on a scratch database (bench/lib.sh), a one-endpoint fake vendor,
# fetches one token (the only vendor call), then alternates wrk runs against GET /healthz
# (a tiny answer through the same HTTP stack and middleware) and GET
# /v1/connections/{id}/token with a service key (authentication, rate limit, grant check,
# cached token, JSON), ROUNDS times each. Each round's pair runs back to back, so the ratios
# compare like with like; the medians over the rounds are reported.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

ROUNDS=${ROUNDS:-11}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
PORT=${PORT:-18480}
VENDOR_PORT=${VENDOR_PORT:-18481}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
bench_build

start_fake_vendor "$VENDOR_PORT"

fresh_database
# wrk's connections are one principal asking far past any fair rate: the per-principal limit is
# raised, not turned off, so its check stays on the measured path.
start_broker "$PORT" TOKENBROKER_ALLOW_INSECURE_VENDOR_URLS=true RUST_LOG=warn \
  TOKENBROKER_RATE_LIMIT_PER_SECOND=1000000 TOKENBROKER_RATE_LIMIT_BURST=1000000
B=http://127.0.0.1:$PORT
wait_ready $B

prepare_token "$B" "$VENDOR_PORT"

# The broker's own CPU time (utime + stime, in clock ticks) and memory, for resource requests.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$BROKER_PID/stat"; }
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$BROKER_PID/status"; }
idle_rss=$(status_kb VmRSS)

# wrk's summary as `requests_per_second p50_ms p99_ms non_2xx`.
measure() {
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ {rps = $2}
    $1 == "50%" {p50 = ms($2)}
    $1 == "99%" {p99 = ms($2)}
    /requests in/ {n = $1}
    /Non-2xx/ {bad = $4}
    END {printf "%.0f %.3f %.3f %d %d\n", rps, p50, p99, bad, n}'
}

echo "## $(date -u +%FT%TZ) $(nproc) cores, backend $BACKEND, wrk -t$THREADS -c$CONNECTIONS -d$DURATION, $ROUNDS rounds"
printf '%-6s %-28s %-28s %s\n' round "/healthz req/s p50 p99" "cached token req/s p50 p99" "ratios (throughput, p99)"
rounds=()
ticks=0
answers=0
for round in $(seq 1 "$ROUNDS"); do
  read -r h_rps h_p50 h_p99 _ _ < <(measure $B/healthz)
  before=$(cpu_ticks)
  read -r t_rps t_p50 t_p99 t_bad t_n < <(measure -H "Authorization: Bearer $SVC" $B/v1/connections/bench-qubs/token)
  ticks=$((ticks + $(cpu_ticks) - before))
  answers=$((answers + t_n))
  if [ "$t_bad" -ne 0 ]; then echo "the token run had $t_bad answers that were not 2xx" >&2; exit 1; fi
  line=$(awk -v hr="$h_rps" -v tr="$t_rps" -v hp="$h_p99" -v tp="$t_p99" 'BEGIN {printf "%.3f %.3f", tr / hr, tp / hp}')
  rounds+=("$h_rps $h_p50 $h_p99 $t_rps $t_p50 $t_p99 $line")
  printf '%-6s %-28s %-28s %s\n' "$round" "$h_rps ${h_p50}ms ${h_p99}ms" "$t_rps ${t_p50}ms ${t_p99}ms" "$line"
done

# The median of each column over the rounds.
medians=$(printf '%s\n' "${rounds[@]}" | awk '
  {for (i = 1; i <= NF; i++) v[i, NR] = $i} END {
    for (i = 1; i <= NF; i++) {
      n = 0; for (r = 1; r <= NR; r++) a[++n] = v[i, r]
      for (x = 1; x <= n; x++) for (y = x + 1; y <= n; y++) if (a[y] < a[x]) {t = a[x]; a[x] = a[y]; a[y] = t}
      printf "%s%s", a[int((n + 1) / 2)], (i < NF ? " " : "\n")
    }}')
read -r h_rps h_p50 h_p99 t_rps t_p50 t_p99 ratio p99_ratio <<<"$medians"
printf '%-6s %-28s %-28s %s\n' median "$h_rps ${h_p50}ms ${h_p99}ms" "$t_rps ${t_p50}ms ${t_p99}ms" "$ratio $p99_ratio"
# Also every round's token rate over every round's /healthz rate: a second estimator of the
# same ratio, less swayed by one round the machine slowed down in.
total_ratio=$(printf '%s\n' "${rounds[@]}" | awk '{h += $1; t += $4} END {printf "%.3f", t / h}')
echo "all token requests / all /healthz requests: $total_ratio"
for name in h_rps h_p50 h_p99 t_rps t_p50 t_p99 ratio p99_ratio total_ratio; do result "$name" "${!name}"; done

echo "### broker resources during the token runs"
awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$answers" -v idle="$idle_rss" -v peak="$(status_kb VmHWM)" 'BEGIN {
  printf "CPU: %.1f s for %d token answers = %.3f ms per answer (%.1f%% of one core per 100 answers/s)\n", t / hz, n, 1000 * t / hz / n, 100 * (t / hz / n) * 100
  printf "memory: RSS %.1f MiB idle (one connection, one token), peak %.1f MiB\n", idle / 1024, peak / 1024 }'
