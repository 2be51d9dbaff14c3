#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other (never two at once:
# the machine has two shared cores), and prints the executions per target.
#   fuzz/run.sh 60            # all targets, 60 s each
#   fuzz/run.sh 300 rule_eval # one target
# Needs nightly and cargo-fuzz (installed if missing). Corpora go to fuzz/corpus/<target>, crashes
# to fuzz/artifacts/<target>, logs to fuzz/artifacts/logs (all ignored by git); committed inputs in
# fuzz/crashers/<target> seed every run. A crash does not stop the other targets;
# the script exits 1 if any target crashed.
# Built with -O -a: optimised, but with debug assertions and overflow checks (cargo-fuzz turns
# them off with -O alone, and then an i64 overflow wraps silently instead of being found).
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET="${1:-60}"
shift || true
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  TARGETS=(snapshot_decode state_import compile_bytes compile_json rule_eval model_rule token)
fi
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -O -a >/dev/null 2>&1 || { echo "fuzz build failed"; exit 2; }
mkdir -p artifacts/logs
status=0
printf '%-16s %12s %8s %s\n' target executions seconds result
for t in "${TARGETS[@]}"; do
  mkdir -p "corpus/$t" "crashers/$t" "artifacts/$t"
  log="artifacts/logs/$t.log"
  cargo +nightly fuzz run -O -a "$t" "corpus/$t" "crashers/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -max_len=4096 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  result=ok
  if [ $rc -ne 0 ]; then
    result="CRASH (exit $rc, see $log and artifacts/$t)"
    status=1
  fi
  printf '%-16s %12s %8s %s\n' "$t" "${execs:-?}" "$SECONDS_PER_TARGET" "$result"
done
exit $status
