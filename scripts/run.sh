#!/usr/bin/env bash
# Builds Tributary and starts a local cluster on this machine: one coordinator (the metadata
# quorum, 127.0.0.1:19091) and three brokers for clients at 127.0.0.1:19092, :19093 and
# :19094 (metrics and health at 127.0.0.1:19644, :19645, :19646). Data lives in ./data (or
# $TRIBUTARY_DATA) and is kept across restarts. Ctrl-C stops everything cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh >/dev/null
data="${TRIBUTARY_DATA:-$PWD/data}"
bin="$PWD/build"
mkdir -p "$data"
echo "tributary: data in $data"

pids=()
stop() {
  trap - INT TERM
  echo "tributary: stopping"
  # Brokers first, the coordinator last, like a rolling shutdown.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM

voters="100@127.0.0.1:19091"
"$bin/coordinator/tributary-coordinator" \
  --override node.id=100 \
  --override controller.quorum.voters="$voters" \
  --override listeners=CONTROLLER://127.0.0.1:19091 \
  --override log.dirs="$data/coordinator" &
pids+=($!)

for i in 1 2 3; do
  port=$((19091 + i))
  "$bin/broker/tributary-broker" \
    --override node.id="$i" \
    --override controller.quorum.voters="$voters" \
    --override listeners="PLAINTEXT://127.0.0.1:$port" \
    --override advertised.listeners="PLAINTEXT://127.0.0.1:$port" \
    --override tributary.http.listener="127.0.0.1:$((19643 + i))" \
    --override log.dirs="$data/broker-$i" &
  pids+=($!)
done

# Ready when every broker says so.
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$((19643 + i))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
echo "tributary: ready: bootstrap servers 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094 (Ctrl-C stops)"
wait
