#!/usr/bin/env bash
# Builds Tributary and starts a local cluster on this machine: three coordinators (the
# metadata quorum, voters 100-102 at 127.0.0.1:19091, :19095 and :19096) and three brokers for
# clients at 127.0.0.1:19092, :19093 and :19094, over TLS at :19097, :19098 and :19099, and
# over TLS with SASL (SCRAM-SHA-256/512, users made with kafka-configs) at :19100-19102
# (metrics and health at 127.0.0.1:19644, :19645, :19646; the coordinators' at :19647, :19648,
# :19649). Data lives in ./data (or $TRIBUTARY_DATA) and is kept across restarts, with the TLS
# listeners' certificates in data/tls: a CA made on the first start (clients trust
# data/tls/ca.crt) and a certificate per broker for 127.0.0.1 and localhost. Ctrl-C stops
# everything cleanly.
#
# Environment knobs (all optional; the tests use them to run this very script):
#   TRIBUTARY_DATA       data folder (default ./data)
#   TRIB_BROKER, TRIB_COORDINATOR
#                        the binaries to run; when both are set the build is skipped
#                        (default: build with scripts/build.sh and run build/...)
#   TRIBUTARY_PORT       the first coordinator's port; the brokers take the next three, the
#                        other two coordinators the two after, the brokers' TLS listeners the
#                        three after that, their SASL_SSL listeners the next three (default
#                        19091: brokers 19092-19094, coordinators 19091, 19095, 19096, TLS
#                        19097-19099, SASL_SSL 19100-19102)
#   TRIBUTARY_HTTP_PORT  metrics and health port of broker 1; brokers 2 and 3 take the next
#                        two, the coordinators the three after (default 19644)
#   TRIBUTARY_IO_THREADS each broker's num.io.threads (default: this machine's CPUs divided
#                        among the three brokers, at least one each, as broker pods with CPU
#                        limits would have; with more threads than cores, every hop between
#                        a broker's threads costs a context switch)
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
coordinators=3
stop() {
  trap - INT TERM
  echo "tributary: stopping"
  # Brokers first, and the coordinators only once they are gone, so each broker can still
  # reach the quorum while it shuts down.
  for ((i = ${#pids[@]} - 1; i >= coordinators; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i = ${#pids[@]} - 1; i >= coordinators; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  for ((i = 0; i < coordinators && i < ${#pids[@]}; i++)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap stop INT TERM

# A data folder from when run.sh started a single coordinator: its metadata log is voter 100's.
if [ -d "$data/coordinator" ] && [ ! -e "$data/coordinator-100" ]; then
  mv "$data/coordinator" "$data/coordinator-100"
fi
coordinator_ports=("$port" $((port + 4)) $((port + 5)))
voters=""
for i in 0 1 2; do
  voters+="${voters:+,}$((100 + i))@127.0.0.1:${coordinator_ports[i]}"
done
for i in 0 1 2; do
  "$coordinator" \
    --override node.id=$((100 + i)) \
    --override controller.quorum.voters="$voters" \
    --override listeners=CONTROLLER://127.0.0.1:"${coordinator_ports[i]}" \
    --override tributary.http.listener="127.0.0.1:$((http_port + 3 + i))" \
    --override default.replication.factor=3 \
    --override log.dirs="$data/coordinator-$((100 + i))" &
  pids+=($!)
done

# TLS: a CA made once (kept with the data, so clients keep trusting it) and each broker's key
# and certificate (127.0.0.1, localhost) in one PEM file, Kafka's PEM keystore layout.
tls="$data/tls"
mkdir -p "$tls"
if [ ! -s "$tls/ca.crt" ] || [ ! -s "$tls/ca.key" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
    -subj "/O=tributary/CN=tributary local CA" -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null
fi
for i in 1 2 3; do
  pem="$tls/broker-$i.pem"
  if [ -s "$pem" ] && openssl verify -CAfile "$tls/ca.crt" "$pem" >/dev/null 2>&1 &&
     openssl x509 -in "$pem" -noout -checkend $((30 * 24 * 3600)) >/dev/null; then
    continue
  fi
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/O=tributary/CN=broker-$i" \
    -keyout "$tls/broker-$i.key" -out "$tls/broker-$i.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' > "$tls/broker-$i.ext"
  openssl x509 -req -in "$tls/broker-$i.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 365 -extfile "$tls/broker-$i.ext" -out "$tls/broker-$i.crt" 2>/dev/null
  cat "$tls/broker-$i.key" "$tls/broker-$i.crt" "$tls/ca.crt" > "$pem"
  rm -f "$tls/broker-$i.key" "$tls/broker-$i.csr" "$tls/broker-$i.ext" "$tls/broker-$i.crt"
done

io_threads="${TRIBUTARY_IO_THREADS:-$(( $(nproc) / 3 ))}"
[ "$io_threads" -ge 1 ] || io_threads=1

bootstrap=()
tls_bootstrap=()
sasl_bootstrap=()
for i in 1 2 3; do
  ssl_port=$((port + 5 + i))
  sasl_port=$((port + 8 + i))
  "$broker" \
    --override node.id="$i" \
    --override controller.quorum.voters="$voters" \
    --override listeners="PLAINTEXT://127.0.0.1:$((port + i)),SSL://127.0.0.1:$ssl_port,SASL_SSL://127.0.0.1:$sasl_port" \
    --override advertised.listeners="PLAINTEXT://127.0.0.1:$((port + i)),SSL://127.0.0.1:$ssl_port,SASL_SSL://127.0.0.1:$sasl_port" \
    --override listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL \
    --override sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512 \
    --override inter.broker.listener.name=PLAINTEXT \
    --override ssl.keystore.type=PEM \
    --override ssl.keystore.location="$tls/broker-$i.pem" \
    --override tributary.http.listener="127.0.0.1:$((http_port + i - 1))" \
    --override default.replication.factor=3 \
    --override min.insync.replicas=2 \
    --override offsets.topic.replication.factor=3 \
    --override transaction.state.log.replication.factor=3 \
    --override num.io.threads="$io_threads" \
    --override log.dirs="$data/broker-$i" &
  pids+=($!)
  bootstrap+=("127.0.0.1:$((port + i))")
  tls_bootstrap+=("127.0.0.1:$ssl_port")
  sasl_bootstrap+=("127.0.0.1:$sasl_port")
done

# Ready when the coordinators (each has replayed its log and knows the active controller) and
# every broker say so.
for i in 0 1 2; do
  for _ in $(seq 1 300); do
    curl -sf "http://127.0.0.1:$((http_port + 3 + i))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$((http_port + i - 1))/readyz" >/dev/null 2>&1 && break
    sleep 0.1
  done
done
echo "tributary: ready: bootstrap servers $(IFS=,; echo "${bootstrap[*]}"), over TLS $(IFS=,; echo "${tls_bootstrap[*]}"), over SASL_SSL $(IFS=,; echo "${sasl_bootstrap[*]}") trusting $tls/ca.crt (Ctrl-C stops)"
wait
