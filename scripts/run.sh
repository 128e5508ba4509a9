#!/usr/bin/env bash
# Builds Tributary and starts a local cluster on this machine: a broker listening on
# 127.0.0.1:19092. Data lives in ./data and is kept across restarts. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
data="$PWD/data"
mkdir -p "$data/broker-1"
echo "tributary: data in $data"
build/broker/tributary-broker \
  --override node.id=1 \
  --override listeners=PLAINTEXT://127.0.0.1:19092 \
  --override advertised.listeners=PLAINTEXT://127.0.0.1:19092 \
  --override log.dirs="$data/broker-1" &
pids=($!)
stop() {
  echo "tributary: stopping"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  exit 0
}
trap stop INT TERM
echo "tributary: brokers at 127.0.0.1:19092 (Ctrl-C stops)"
wait "${pids[@]}"
