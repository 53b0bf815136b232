#!/usr/bin/env bash
# Fuzzes piade's parsers under AddressSanitizer and UndefinedBehaviorSanitizer
# (docs/reliability.md, "Fuzzing"):
#   tools/fuzz.sh [SECONDS]   (default 60 per fuzz target)
# Configures build-fuzz/ with clang-14 (-DPIADE_SANITIZE=ON -DPIADE_FUZZ=ON),
# builds the fuzz targets and the parsers' unit tests, runs those tests under
# the sanitizers, then each fuzzer for SECONDS on a copy of its seed corpus
# (tests/fuzz/corpus/<target>), two at a time. Writes the executions each
# reached to build-fuzz/fuzz-summary.txt; exits 1 on any finding, naming the
# input that caused it (reproduce: build-fuzz/tests/fuzz/<target> <input>).
set -euo pipefail

seconds=${1:-60}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${PIADE_FUZZ_BUILD_DIR:-$root/build-fuzz}
jobs=$(nproc)
# The parsers' unit tests: datasets (IDX, CIFAR-10, COIL-100, folders),
# the SDK's weights loader, and the grid reader is covered by its fuzzer.
unit_tests=(datasets_test sdk_weights_test)
targets=(fuzz_idx fuzz_idx_gz fuzz_cifar10 fuzz_safetensors fuzz_checkpoint_meta fuzz_ini fuzz_grid
         fuzz_coil100 fuzz_folder)

say() { printf '\n== %s\n' "$*"; }
start=$(date +%s)

say "configuring $build (clang-14, ASan + UBSan, libFuzzer)"
CC=clang-14 CXX=clang++-14 cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPIADE_SANITIZE=ON -DPIADE_FUZZ=ON -DPIADE_BUILD_BENCHMARKS=OFF >/dev/null
say "building ${#targets[@]} fuzz targets and ${unit_tests[*]}"
cmake --build "$build" -j "$jobs" --target "${targets[@]}" "${unit_tests[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

say "parser unit tests under the sanitizers"
for t in "${unit_tests[@]}"; do
  "$build/bin/$t" --gtest_brief=1
done

say "fuzzing each target for ${seconds}s"
work="$build/fuzz-work"
rm -rf "$work"
mkdir -p "$work"
run_one() {
  local target=$1 dir="$work/$1" status
  mkdir -p "$dir/corpus" "$dir/crashes"
  cp "$root/tests/fuzz/corpus/$target/"* "$dir/corpus/"
  # -rss_limit_mb / -malloc_limit_mb: an input that makes a parser allocate
  # gigabytes is a finding, not an out-of-memory kill.
  "$build/tests/fuzz/$target" -max_total_time="$seconds" -max_len=8192 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$dir/crashes/" "$dir/corpus" >"$dir/log" 2>&1 || status=$?
  echo "${status:-0}" >"$dir/rc"
}
running=0
for target in "${targets[@]}"; do
  run_one "$target" &
  running=$((running + 1))
  if ((running >= 2)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

summary="$build/fuzz-summary.txt"
failed=0
{
  printf '%-22s %12s %8s  %s\n' target executions seconds result
  for target in "${targets[@]}"; do
    dir="$work/$target"
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/log" | grep -o '[0-9]*$' | tail -1 || true)
    [[ -n $execs ]] || execs=$(grep -o '^#[0-9]*' "$dir/log" | tail -1 | tr -d '#' || true)
    crash=$(ls "$dir/crashes" 2>/dev/null | head -1)
    if [[ $(cat "$dir/rc") == 0 && -z $crash ]]; then
      result=ok
    else
      result="FINDING: ${crash:+$dir/crashes/$crash} (log: $dir/log)"
      failed=1
    fi
    printf '%-22s %12s %8s  %s\n' "$target" "${execs:-?}" "$seconds" "$result"
  done
  printf 'total time, build included: %ss\n' $(($(date +%s) - start))
} >"$summary"  # not a pipe into tee: `failed` must be set in this shell
cat "$summary"
if ((failed)); then
  echo "fuzz: findings above; reproduce with $build/tests/fuzz/<target> <input>" >&2
  exit 1
fi
