#!/usr/bin/env bash
# Builds the Release tree in build/ (dependencies first). Used by run.sh and test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --base
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIB_WERROR=ON "$@" >/dev/null
cmake --build build -j"$(nproc)"
