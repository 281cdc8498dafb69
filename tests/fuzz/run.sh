#!/usr/bin/env bash
# Run each fuzz target for a set time and report what it did.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]     # default: 60 s each, every target
#
# Builds the targets with cargo fuzz (libFuzzer; `-s none`: no sanitizer, so the stable
# toolchain does; Rust code needs none to be memory safe, and debug assertions and overflow
# checks are on), then runs them one after the other on one core each. Each run starts from
# the committed seeds (tests/fuzz/corpus/TARGET, read only) and a working corpus that later
# runs continue from (tests/fuzz/work/TARGET, not committed). A finding is written to
# tests/fuzz/artifacts/TARGET/; reproduce it with
#   cargo fuzz run -s none --fuzz-dir tests/fuzz TARGET tests/fuzz/artifacts/TARGET/crash-…
# and, once fixed, copy it into tests/fuzz/corpus/TARGET/ so that the normal test suite
# (tests/it/fuzz.rs) replays it from then on.
#
# Prints one line per target: executions, executions per second, coverage, findings. Exits 1
# when any target found something. Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and
# a C++ compiler (libFuzzer is built from source).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${1:-60}
shift || true
all=(dns_udp dns_tcp tsig zone_file policy json_body dns_update)
targets=("${@:-${all[@]}}")

declare -A max_len=(
  [dns_udp]=4096 [dns_tcp]=8192 [tsig]=4096 [zone_file]=16384 [policy]=4096 [json_body]=16384 [dns_update]=4096
)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi
cargo fuzz build -s none --fuzz-dir tests/fuzz

summary=()
found=0
for t in "${targets[@]}"; do
  [ -n "${max_len[$t]:-}" ] || { echo "no target $t (${all[*]})" >&2; exit 2; }
  work=tests/fuzz/work/$t
  artifacts=tests/fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  log=$(mktemp)
  echo "== $t: ${seconds} s"
  set +e
  cargo fuzz run -s none --fuzz-dir tests/fuzz "$t" "$work" "tests/fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len="${max_len[$t]}" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
  status=$?
  set -e
  grep -E '^(INFO: seed corpus|#[0-9]+[[:space:]]+(INITED|DONE))|^==[0-9]+== ERROR|panicked at|^SUMMARY|^artifact_prefix|Test unit written' "$log" || true
  execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
  rate=$(grep -Eo 'stat::average_exec_per_sec: +[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
  cov=$(grep -Eo '^#[0-9]+[[:space:]]+DONE[[:space:]]+cov: [0-9]+ ft: [0-9]+' "$log" | tail -1 | grep -Eo 'cov: [0-9]+ ft: [0-9]+' || true)
  findings=$(find "$artifacts" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$findings" -gt 0 ]; then
    found=1
    echo "-- $t: exit $status; the end of its log:"
    tail -40 "$log"
  fi
  rm -f "$log"
  summary+=("$(printf '%-10s %12s executions %8s/s  %-22s findings: %s' "$t" "$execs" "$rate" "${cov:-}" "$findings")")
done

echo
echo "== fuzzing, ${seconds} s per target"
printf '%s\n' "${summary[@]}"
exit "$found"
