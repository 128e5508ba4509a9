#!/usr/bin/env bash
# Installs everything Tributary needs to build, run, test and benchmark, on Debian bookworm,
# as root. Idempotent: packages already present are left alone, and the script is quick then.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  # toolchain
  build-essential cmake ninja-build ccache clang libclang-rt-14-dev pkg-config
  # libraries the programs link
  libboost-dev libboost-system-dev libyaml-cpp-dev libspdlog-dev libfmt-dev prometheus-cpp-dev libcpprest-dev libssl-dev
  zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev librdkafka-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  kcat python3-confluent-kafka python3-kafka python3-pytest python3-snappy python3-lz4 python3-zstandard
  gzip zstd lz4 burrow fio iperf3 procps curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# JavaScript test client (kafkajs), pinned by tests/integration/js/package-lock.json.
if [ -f tests/integration/js/package.json ] && [ ! -d tests/integration/js/node_modules/kafkajs ]; then
  (cd tests/integration/js && npm ci --no-audit --no-fund --silent)
fi
