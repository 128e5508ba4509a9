#!/usr/bin/env bash
# Builds Tributary and starts a local cluster on this machine: one coordinator (the metadata
# quorum, 127.0.0.1:19091) and three brokers for clients at 127.0.0.1:19092, :19093 and
# :19094 (metrics and health at 127.0.0.1:19644, :19645, :19646; the coordinator's at
# 127.0.0.1:19647). Data lives in ./data (or
# $TRIBUTARY_DATA) and is kept across restarts. Ctrl-C stops everything cleanly.
#
# Environment knobs (all optional; the tests use them to run this very script):
#   TRIBUTARY_DATA       data folder (default ./data)
#   TRIB_BROKER, TRIB_COORDINATOR
#                        the binaries to run; when both are set the build is skipped
#                        (default: build with scripts/build.sh and run build/...)
#   TRIBUTARY_PORT       the coordinator's port; the brokers take the next three
#                        (default 19091: brokers 19092-19094)
#   TRIBUTARY_HTTP_PORT  metrics and health port of broker 1; brokers 2 and 3 take the next
#                        two, the coordinator the one after (default 19644)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TRIB_BROKER:-}" ] || [ -z "${TRIB_COORDINATOR:-}" ]; then
  scripts/build.sh >/dev/null
fi
data="${TRIBUTARY_DATA:-$PWD/data}"
broker="${TRIB_BROKER:-$PWD/build/broker/tributary-broker}"
coordinator="${TRIB_COORDINATOR:-$PWD/build/coordinator/tributary-coordinator}"
port="${TRIBUTARY_PORT:-19091}"
http_port="${TRIBUTARY_HTTP_PORT:-19644}"
mkdir -p "$data"
echo "tributary: data in $data"

pids=()
stop() {
  trap - INT TERM
  echo "tributary: stopping"
  # Brokers first, and the coordinator only once they are gone, so each broker can still
  # reach it while it shuts down.
  for ((i = ${#pids[@]} - 1; i >= 1; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= 1; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  [ ${#pids[@]} -gt 0 ] && kill -TERM "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM

voters="100@127.0.0.1:$port"
"$coordinator" \
  --override node.id=100 \
  --override controller.quorum.voters="$voters" \
  --override listeners=CONTROLLER://127.0.0.1:"$port" \
  --override tributary.http.listener="127.0.0.1:$((http_port + 3))" \
  --override default.replication.factor=3 \
  --override log.dirs="$data/coordinator" &
pids+=($!)

bootstrap=()
for i in 1 2 3; do
  "$broker" \
    --override node.id="$i" \
    --override controller.quorum.voters="$voters" \
    --override listeners="PLAINTEXT://127.0.0.1:$((port + i))" \
    --override advertised.listeners="PLAINTEXT://127.0.0.1:$((port + i))" \
    --override tributary.http.listener="127.0.0.1:$((http_port + i - 1))" \
    --override default.replication.factor=3 \
    --override min.insync.replicas=2 \
    --override offsets.topic.replication.factor=3 \
    --override transaction.state.log.replication.factor=3 \
    --override log.dirs="$data/broker-$i" &
  pids+=($!)
  bootstrap+=("127.0.0.1:$((port + i))")
done

# Ready when the coordinator (it has replayed its log and knows the active controller) and
# every broker say so.
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$((http_port + 3))/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$((http_port + i - 1))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
echo "tributary: ready: bootstrap servers $(IFS=,; echo "${bootstrap[*]}") (Ctrl-C stops)"
wait
