#!/usr/bin/env bash
# Runs every fuzz target for a bounded time and fails on any finding, naming the input that
# crashed and how to replay it.
#
#   FUZZ_SECONDS=60 fuzz/run.sh            # every target, 60 s each (the default)
#   FUZZ_SECONDS=10 fuzz/run.sh grant_pattern token_response
#
# Each target starts from its committed seeds (fuzz/corpus/<target>), copied to
# fuzz/target/work/<target> so a run never writes into the repository; crashing inputs go to
# fuzz/artifacts/<target>/. Both are gitignored. Built by cargo-fuzz (optimized, with debug
# assertions and overflow checks) without a sanitizer: the crate forbids unsafe code, so what
# is looked for is panics, overflows and broken invariants, and the build stays lean.
#
# Toolchain: nightly when rustup has it, else the default one with RUSTC_BOOTSTRAP=1.
# cargo-fuzz: the one on PATH, else a pinned version installed once under $CARGO_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
CARGO_FUZZ_VERSION=0.13.2
TARGETS=(sealed_value token_response provider_config grant_pattern)
if [ "$#" -gt 0 ]; then
  TARGETS=("$@")
fi

log() { printf '\n--> %s\n' "$*"; }

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  # cargo-fuzz runs `cargo`, which takes the toolchain from RUSTUP_TOOLCHAIN.
  export RUSTUP_TOOLCHAIN=nightly
else
  export RUSTC_BOOTSTRAP=1
fi

if command -v cargo-fuzz >/dev/null 2>&1; then
  cargo_fuzz=(cargo-fuzz)
else
  tools="${CARGO_HOME:-$HOME/.cargo}/tools/cargo-fuzz-$CARGO_FUZZ_VERSION"
  if [ ! -x "$tools/bin/cargo-fuzz" ]; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
    cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION" --root "$tools"
  fi
  cargo_fuzz=("$tools/bin/cargo-fuzz")
fi

# 16 codegen units: a much faster build on two cores for slightly slower runs.
build_flags=(--sanitizer none --codegen-units 16)
log "building the fuzz targets ($(rustc --version), $("${cargo_fuzz[@]}" --version))"
started=$SECONDS
mkdir -p fuzz/target/work
if ! "${cargo_fuzz[@]}" fuzz build "${build_flags[@]}" --fuzz-dir fuzz >fuzz/target/work/build.log 2>&1; then
  grep -v '^ *Compiling ' fuzz/target/work/build.log >&2
  echo "building the fuzz targets failed (fuzz/target/work/build.log)" >&2
  exit 1
fi
bin_dir=fuzz/target/x86_64-unknown-linux-gnu/release
for target in "${TARGETS[@]}"; do
  if [ ! -x "$bin_dir/$target" ]; then
    echo "fuzz target $target was not built ($bin_dir/$target)" >&2
    exit 1
  fi
done
echo "built in $((SECONDS - started)) s"

failed=()
summary=()
for target in "${TARGETS[@]}"; do
  work="fuzz/target/work/$target"
  artifacts="fuzz/artifacts/$target"
  rm -rf "$work"
  mkdir -p "$work" "$artifacts"
  cp -R "fuzz/corpus/$target/." "$work/"
  log "fuzzing $target for ${FUZZ_SECONDS}s (seeds: $(ls "fuzz/corpus/$target" | wc -l))"
  status=0
  # One process: the machine's other core stays free.
  "$bin_dir/$target" "$work" \
    -max_total_time="$FUZZ_SECONDS" \
    -rss_limit_mb=2048 \
    -timeout=10 \
    -max_len=4096 \
    -print_final_stats=1 \
    -artifact_prefix="$artifacts/" \
    >"fuzz/target/work/$target.log" 2>&1 || status=$?
  grep -E '^(#[0-9]+ +DONE|Done [0-9]+ runs)' "fuzz/target/work/$target.log" | tail -n 2 || true
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "fuzz/target/work/$target.log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "fuzz/target/work/$target.log" | tail -n 1)
  if [ "$status" -ne 0 ]; then
    tail -n 40 "fuzz/target/work/$target.log"
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "fuzz/target/work/$target.log" | tail -n 1)
    echo "FINDING in $target (exit $status): ${crash:-no input saved, see fuzz/target/work/$target.log}" >&2
    [ -n "$crash" ] && echo "replay: $bin_dir/$target $crash" >&2
    failed+=("$target: ${crash:-fuzz/target/work/$target.log}")
  fi
  summary+=("$(printf '%-16s %10s runs %8s exec/s  %s' "$target" "${execs:-?}" "${rate:-?}" \
    "$([ "$status" -eq 0 ] && echo ok || echo FINDING)")")
done

log "fuzzing summary (${FUZZ_SECONDS}s per target)"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'crashing input: %s\n' "${failed[@]}" >&2
  exit 1
fi
