# Sourced after bench/bench_common.sh by the benchmarks that run three-broker clusters side by
# side (bench/replication_bench.sh, bench/reassign_bench.sh): Tributary's local cluster through
# scripts/run.sh and Apache Kafka 4.4 in KRaft mode (one controller, three brokers, each its
# own JVM with Kafka's stock start-up), each on free loopback ports with a fresh data dir
# under $build. Expects $root, $build, $raw, $results_dir and $systems. Sourcing it checks
# $systems, empties $raw and makes $raw/<system>/ for each, and sets the paths $broker_bin,
# $coordinator_bin, $loadgen and $kafka_tool. Sets, for the caller's use and its exit trap:
#   port_of[<system>:<node>]  client port of broker <node> (1-3) of <system>
#   boot_of[<system>]         the three brokers as a bootstrap list
#   data_of[<system>:<node>]  broker <node>'s log dir
#   runsh, tdata              run.sh's pid and Tributary's data dir
#   kjvm[<node>], kroot       Kafka's JVM pids (brokers 1-3, controller 100) and data dir
# stop_clusters stops both and removes their data (Kafka's server logs copied to $raw/kafka).
for s in $systems; do
  [[ $s == tributary || $s == kafka ]] || { echo "BENCH_SYSTEMS: unknown system '$s' (tributary, kafka)"; exit 2; }
done
mkdir -p "$results_dir" "$raw"
rm -rf "${raw:?}"/*
for s in $systems; do mkdir -p "$raw/$s"; done
broker_bin=$build/broker/tributary-broker
coordinator_bin=$build/coordinator/tributary-coordinator
loadgen=$build/bench/tributary-loadgen
kafka_tool=$root/tools/kafka
runsh= tdata= kroot= kcport=
declare -A kjvm=() port_of=() boot_of=() data_of=()
# Lines added to every Kafka node's properties (the caller's own settings).
kafka_extra_props=()

# N consecutive free loopback ports, the first printed.
free_ports() {
  local base i ok
  for _ in $(seq 50); do
    base=$(free_port) ok=1
    for i in $(seq 1 $(( $1 - 1 ))); do
      /usr/bin/python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' \
        $(( base + i )) 2>/dev/null || { ok=0; break; }
    done
    (( ok )) && { echo "$base"; return 0; }
  done
  echo "no $1 consecutive free ports" >&2; return 1
}

# Until broker NODE on PORT answers Metadata listing itself (registered and unfenced), while
# PID lives; bounded by SECONDS. wait_listed PORT NODE PID SECONDS
wait_listed() {
  /usr/bin/python3 - "$root/tests/integration" "$@" <<'PY'
import os, sys, time
sys.path.insert(0, sys.argv[1])
from harness import lists_itself
port, node, pid, secs = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + secs
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("process %d exited" % pid)
    if lists_itself(port, node, timeout=5):
        sys.exit(0)
    time.sleep(0.2)
sys.exit("node %d on port %d not listed after %.0f s" % (node, port, secs))
PY
}

# Tributary's local cluster: scripts/run.sh (three coordinators, brokers 1-3,
# default.replication.factor=3, min.insync.replicas=2). start_tributary PREFIX
start_tributary() {
  echo "== Tributary: 3 coordinators + 3 brokers (scripts/run.sh)"
  tdata=$(mktemp -d "$build/$1-tributary.XXXXXX")
  # run.sh takes its port, the next three (brokers) and the two after (coordinators); its
  # HTTP port and the next five likewise
  local tport thttp n
  tport=$(free_ports 6) thttp=$(free_ports 6)
  TRIB_BROKER=$broker_bin TRIB_COORDINATOR=$coordinator_bin TRIBUTARY_DATA=$tdata \
    TRIBUTARY_PORT=$tport TRIBUTARY_HTTP_PORT=$thttp "$root/scripts/run.sh" \
    >"$raw/tributary/cluster.log" 2>&1 &
  runsh=$!
  for _ in $(seq 600); do
    grep -q "tributary: ready" "$raw/tributary/cluster.log" && break
    kill -0 "$runsh" 2>/dev/null || { echo "run.sh exited:"; tail -30 "$raw/tributary/cluster.log"; exit 1; }
    sleep 0.1
  done
  grep -q "tributary: ready" "$raw/tributary/cluster.log" || { echo "Tributary not ready in 60 s"; exit 1; }
  for n in 1 2 3; do
    port_of[tributary:$n]=$(( tport + n ))
    data_of[tributary:$n]=$tdata/broker-$n
  done
  boot_of[tributary]=127.0.0.1:$(( tport + 1 )),127.0.0.1:$(( tport + 2 )),127.0.0.1:$(( tport + 3 ))
  echo "Tributary: coordinator 127.0.0.1:$tport, brokers ${boot_of[tributary]}, data in $tdata"
}

# Apache Kafka: node 100 the controller (a static voter set of one), nodes 1-3 brokers.
# Kafka's defaults except listeners, log.dirs and the replication settings run.sh gives
# Tributary's brokers, plus $kafka_extra_props.
kafka_props() {  # kafka_props NODE
  local n=$1 l
  echo "node.id=$n"
  echo "controller.quorum.voters=100@127.0.0.1:$kcport"
  echo "controller.listener.names=CONTROLLER"
  echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  echo "log.dirs=$kroot/node-$n/data"
  # on every node: brokers apply min.insync.replicas to acks=all, the controller applies
  # both when it creates topics and elects leaders (Kafka 4 warns when brokers alone have them)
  echo "default.replication.factor=3"
  echo "min.insync.replicas=2"
  for l in "${kafka_extra_props[@]}"; do echo "$l"; done
  if [[ $n == 100 ]]; then
    echo "process.roles=controller"
    echo "listeners=CONTROLLER://127.0.0.1:$kcport"
  else
    echo "process.roles=broker"
    echo "listeners=PLAINTEXT://127.0.0.1:${port_of[kafka:$n]}"
    echo "advertised.listeners=PLAINTEXT://127.0.0.1:${port_of[kafka:$n]}"
  fi
}
kafka_start() {  # kafka_start NODE: one JVM by Kafka's stock start-up (1 GiB heap, G1)
  KAFKA_HEAP_OPTS="-Xmx1G -Xms1G" KAFKA_LOG_DIR=$kroot/node-$1 \
    "$kafka_tool" kafka-server-start "$kroot/node-$1.properties" >>"$raw/kafka/node-$1.out" 2>&1 &
  kjvm[$1]=$!  # tools/kafka execs the JVM
}
start_kafka() {  # start_kafka PREFIX
  echo "== Apache Kafka: controller + 3 brokers"
  kroot=$(mktemp -d "$build/$1-kafka.XXXXXX")
  kcport=$(free_port)
  local cid n p fmt=()
  cid=$("$kafka_tool" kafka-storage random-uuid)
  for n in 100 1 2 3; do
    [[ $n == 100 ]] || port_of[kafka:$n]=$(free_port)
    [[ $n == 100 ]] || data_of[kafka:$n]=$kroot/node-$n/data
    mkdir -p "$kroot/node-$n"
    kafka_props "$n" >"$kroot/node-$n.properties"
    "$kafka_tool" kafka-storage format -t "$cid" -c "$kroot/node-$n.properties" >"$raw/kafka/format-$n.out" 2>&1 &
    fmt+=($!)
  done
  for p in "${fmt[@]}"; do wait "$p" || { echo "kafka-storage format failed:"; cat "$raw"/kafka/format-*.out; exit 1; }; done
  for n in 100 1 2 3; do kafka_start "$n"; done
  for n in 1 2 3; do
    wait_listed "${port_of[kafka:$n]}" "$n" "${kjvm[$n]}" 150 || { tail -30 "$kroot/node-$n/server.log"; exit 1; }
  done
  boot_of[kafka]=127.0.0.1:${port_of[kafka:1]},127.0.0.1:${port_of[kafka:2]},127.0.0.1:${port_of[kafka:3]}
  cp "$kroot/node-1.properties" "$raw/kafka/broker.properties"
  cp "$kroot/node-100.properties" "$raw/kafka/controller.properties"
  ps -o args= -p "${kjvm[1]}" | tr ' ' '\n' | grep -E '^-X|^kafka\.Kafka' | tr '\n' ' ' >"$raw/kafka/jvm.txt" || true
  echo "Apache Kafka: controller 127.0.0.1:$kcport, brokers ${boot_of[kafka]}, data in $kroot"
}

# For the exit trap: run.sh (it stops its brokers, then the coordinators), Kafka's brokers
# (their controlled shutdown needs the controller), then the controller; both data dirs go.
stop_clusters() {
  local p
  stop_pid "$runsh" 30
  for p in 1 2 3; do [[ -n ${kjvm[$p]:-} ]] && kill -TERM "${kjvm[$p]}" 2>/dev/null; done
  for p in 1 2 3 100; do [[ -n ${kjvm[$p]:-} ]] && stop_pid "${kjvm[$p]}" 30; done
  for p in 1 2 3 100; do
    [[ -n $kroot && -f $kroot/node-$p/server.log ]] && cp "$kroot/node-$p/server.log" "$raw/kafka/server-$p.log"
  done
  rm -rf "$tdata" "$kroot"
}

# The pids of SYSTEM's server processes now (brokers and coordinators/controller): their CPU
# is the system's cost. Tributary's are run.sh's children.
sys_pids() {
  if [[ $1 == kafka ]]; then echo "${kjvm[@]}"; else pgrep -P "$runsh" | tr '\n' ' '; fi
}
sys_cpu() {  # CPU ticks of SYSTEM's processes so far (those alive now)
  local p t=0
  for p in $(sys_pids "$1"); do t=$(( t + $(proc_cpu "$p") )); done
  echo "$t"
}
machine_busy() {  # CPU ticks the whole machine spent busy so far (/proc/stat: all but idle, iowait)
  awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
