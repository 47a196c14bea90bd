#!/usr/bin/env bash
# The fuzz harness (issue 18, fuzz/): libFuzzer through libfuzzer-sys, on stable Rust.
#
#   scripts/fuzz.sh [short|long] [TARGET...]
#
# short: ~10^5 executions per target from the seeds (fuzz/seeds/<target>/), corpus thrown away;
# long:  ~10^7 executions per target, the corpus kept in fuzz/corpus/<target>/ (git-ignored).
# Prints per target the executions, executions per second, crashes and slow units, and exits
# non-zero when any target crashed (a panic, a violated invariant, a time-out); the input that
# did it is in fuzz/artifacts/<target>/, to replay with `fuzz/target/.../<target> FILE`.
#
# Coverage comes from LLVM's SanitizerCoverage, which stable rustc switches on with `-C passes`
# and `-C llvm-args` (what cargo-fuzz passes too, less its nightly-only `-Z` flags). The target
# triple is given explicitly so that RUSTFLAGS reach the targets and not the build scripts and
# proc macros, which run on the host uninstrumented. Debug assertions and overflow checks are on
# in the crate under test (fuzz/Cargo.toml's release profile).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-short}
shift || true
case "$mode" in
  # short: a fixed seed, so the inputs of a round are the same each time (make test)
  short) runs=100000; keep_corpus=0; seed=(-seed=1) ;;
  long) runs=10000000; keep_corpus=1; seed=() ;;
  *) echo "usage: scripts/fuzz.sh [short|long] [TARGET...]" >&2; exit 2 ;;
esac

triple=x86_64-unknown-linux-gnu
export CARGO_TARGET_DIR="$PWD/fuzz/target"
export RUSTFLAGS="-C passes=sancov-module \
  -C llvm-args=-sanitizer-coverage-level=3 \
  -C llvm-args=-sanitizer-coverage-inline-8bit-counters \
  -C llvm-args=-sanitizer-coverage-pc-table \
  -C llvm-args=-sanitizer-coverage-trace-compares \
  --cfg fuzzing"

all_targets=$(cd fuzz/fuzz_targets && ls *.rs | sed 's/\.rs$//')
targets=${*:-$all_targets}

echo "fuzz: building ($mode round) with SanitizerCoverage"
cargo build --quiet --release --target "$triple" --manifest-path fuzz/Cargo.toml $(printf -- '--bin %s ' $targets)
bin="$CARGO_TARGET_DIR/$triple/release"

# which dictionary a target's mutations draw on (fuzz/dict/)
dict_of() {
  case "$1" in
    challenge | probe) echo challenge ;;
    callback | server_url) echo url ;;
    scopes) echo scopes ;;
    *) echo json ;;
  esac
}

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
failed=()
printf '\n%-18s %10s %9s %8s %11s %8s\n' target executions exec/s crashes slow-units time
for t in $targets; do
  seeds="fuzz/seeds/$t"
  if [ "$keep_corpus" = 1 ]; then
    corpus="fuzz/corpus/$t"
  else
    corpus="$logs/corpus-$t"
  fi
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  dict="fuzz/dict/$(dict_of "$t").dict"
  start=$(date +%s%N)
  set +e
  # -timeout: a unit over 10 s is a crash; -report_slow_units: one over 1 s is reported
  "$bin/$t" "$corpus" "$seeds" -runs="$runs" "${seed[@]}" -dict="$dict" -timeout=10 -report_slow_units=1 \
    -max_len=8192 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" >"$logs/$t.log" 2>&1
  rc=$?
  set -e
  ms=$((($(date +%s%N) - start) / 1000000))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" | tail -1)
  # libFuzzer's own average is in whole seconds; this is over the run's wall time
  speed=$(( ${execs:-0} * 1000 / (ms > 0 ? ms : 1) ))
  slow=$(grep -c '^Slowest unit:' "$logs/$t.log" || true)
  crashes=0
  if [ "$rc" != 0 ]; then
    crashes=1
    # a timing verdict (the linear-time checks) may be the machine's load, not the code: the
    # input that failed is run three times more, and counts only if it fails every time (a
    # panic or a broken invariant always does)
    artifact=$(ls -t "fuzz/artifacts/$t"/* 2>/dev/null | head -1)
    if [ -n "$artifact" ] && grep -q 'is not linear' "$logs/$t.log"; then
      again=0
      for _ in 1 2 3; do "$bin/$t" "$artifact" >/dev/null 2>&1 || again=$((again + 1)); done
      if [ "$again" != 3 ]; then
        echo "$t: a linear-time verdict did not reproduce ($again of 3 re-runs): counted as load, not a crash"
        crashes=0
      fi
    fi
    [ "$crashes" = 1 ] && failed+=("$t")
  fi
  printf '%-18s %10s %9s %8s %11s %7.1fs\n' "$t" "${execs:-?}" "$speed" "$crashes" "$slow" "$(awk "BEGIN { print $ms / 1000 }")"
  if [ "$rc" != 0 ]; then
    echo "---- $t exited $rc; the end of its log:"
    grep -v '^#[0-9]' "$logs/$t.log" | tail -40 | sed 's/^/    /'
    echo "----"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz: $mode round passed, no crashes"
