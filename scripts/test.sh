#!/usr/bin/env bash
# Builds everything and runs every test: unit, integration (real binaries, stock clients)
# and the fuzzers for a bounded time. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 900
scripts/fuzz.sh "${TRIB_FUZZ_SECONDS:-60}"
