#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) in build-fuzz/ and runs each one for
# the given number of seconds (default 60), starting from its seed corpus in
# tests/fuzz/corpus/<target>/ when there is one.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_C_COMPILER=clang -DTRIB_FUZZ=ON >/dev/null
targets=$(cd tests/fuzz && ls fuzz_*.cc | sed 's/\.cc$//')
# shellcheck disable=SC2086
cmake --build build-fuzz -j"$(nproc)" --target $targets >/dev/null
mkdir -p build-fuzz/artifacts
# Seeds for the request decoder: one frame per API and version, written by the unit tests of
# the regular build when it is there (scripts/test.sh builds it first).
if [ -x build/tests/protocol_tests ]; then
  mkdir -p build-fuzz/seeds/fuzz_request
  TRIB_FUZZ_SEEDS_DIR="$PWD/build-fuzz/seeds/fuzz_request" build/tests/protocol_tests \
    --gtest_filter='messages.fuzz_seeds_decode_back' >/dev/null
fi
# One target per core at a time: each is single-threaded, and the fuzz time is a large share of
# CI's budget. A crash fails the script and leaves the input in build-fuzz/artifacts/.
run_one() {
  local t="$1" work="build-fuzz/corpus/$1" seeds=()
  mkdir -p "$work"
  [ -d "tests/fuzz/corpus/$t" ] && seeds+=("tests/fuzz/corpus/$t")
  [ -d "build-fuzz/seeds/$t" ] && seeds+=("build-fuzz/seeds/$t")
  if ! build-fuzz/tests/fuzz/"$t" -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix=build-fuzz/artifacts/ "$work" "${seeds[@]}" > "build-fuzz/$t.log" 2>&1; then
    echo "fuzz: $t failed"
    tail -n 60 "build-fuzz/$t.log"
    return 1
  fi
  echo "fuzz: $t ran ${seconds}s"
  tail -n 4 "build-fuzz/$t.log"
}
export -f run_one
export seconds
# shellcheck disable=SC2086
if ! printf '%s\n' $targets | xargs -P "$(nproc)" -I{} bash -c 'run_one "$1" || exit 255' _ {}; then
  echo "fuzz: a target failed (its log is above)"
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a failure"
