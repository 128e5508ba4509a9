#!/usr/bin/env bash
# The replication benchmark (issue 12 item 9): builds tributary-broker, tributary-coordinator
# and tributary-loadgen (Release, -DTRIB_BENCH=ON) into build-bench/, measures the machine's
# limits as broker_bench.sh does (loopback with iperf3, writes with dd), then starts side by
# side on loopback, each with a fresh temp data dir under build-bench/:
#   - Tributary's local cluster through scripts/run.sh: a coordinator and three brokers,
#     default.replication.factor=3, min.insync.replicas=2;
#   - Apache Kafka 4.4 in KRaft mode: one controller and three brokers (each its own JVM with
#     Kafka's stock start-up, 1 GiB heap, G1), default.replication.factor=3,
#     min.insync.replicas=2;
# and runs, alternating the systems as broker_bench.sh does:
#
#   R3  records/s of 100 B records, acks=all, 6 partitions RF=3 (min.insync=2), one producer,
#       BENCH_R_SECONDS s (P2's load with acks=all on three replicas)
#   R1  the same on a topic with RF=1 (min.insync.replicas=1 as its topic config: acks=all
#       on one replica); R3/R1 per system, Tributary/Kafka per scenario
#   L1a end-to-end latency, 50,000 msg/s x 1 KiB paced, consumed concurrently, acks=all, RF=3
#   L1r the same with acks=1 on RF=3
#   L11 the same with acks=1 on RF=1 (broker_bench.sh's L1, for reference)
#       BENCH_L1_RUNS runs each; the run with the median p99 is reported
#   FK  time from SIGKILL of a partition's leader to the next acknowledged acks=all produce
#       on that partition: tributary-loadgen gap produces paced (BENCH_FK_RATE msg/s) to a
#       1-partition RF=3 topic and names the leader; the script kills that broker and
#       restarts it after the run; BENCH_FK_RUNS runs per system
#
# and writes bench/results/<date>-replication-<host-kind>.md.
#
# Settings (environment):
#   TRIB_HOST_KIND, TRIB_BENCH_BUILD, BENCH_SKIP_BUILD, BENCH_LOOP_RUNS, BENCH_COMMIT: as
#                            broker_bench.sh
#   BENCH_SYSTEMS="tributary kafka"  the systems measured, in this order within a round
#   BENCH_ONLY="R3 R1 L1a L1r L11 FK"  the scenarios run
#   BENCH_R_SECONDS=15       R3/R1 duration
#   BENCH_R_RUNS=3           R3/R1 runs per system; the median records/s is reported
#   BENCH_L1_SECONDS=20      L1 measured duration (after BENCH_L1_WARMUP=3 s)
#   BENCH_L1_RATE=50000      L1 messages per second
#   BENCH_L1_RUNS=3          L1 runs per system and variant
#   BENCH_FK_RUNS=3          leader kills per system
#   BENCH_FK_RATE=1000       FK produce rate, messages per second (100 B each)
#   BENCH_FK_SECONDS=30      FK run length; the kill comes once a second of acks is back
#   BENCH_DD_MIB=2048        volume of each dd write measurement
#
# Every process this script starts (run.sh and its cluster, the Kafka JVMs, restarted
# brokers, iperf3, dd, load generators) is stopped on any exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${TRIB_BENCH_BUILD:-$root/build-bench}
stamp=$(date -u +%Y-%m-%d)
source "$root/bench/host_kind.sh"
raw=$build/bench-raw/$stamp-replication-$host_kind
source "$root/bench/bench_common.sh"
results_dir=$root/bench/results
systems=${BENCH_SYSTEMS:-tributary kafka}
only=${BENCH_ONLY:-R3 R1 L1a L1r L11 FK}
r_seconds=${BENCH_R_SECONDS:-15}
r_runs=${BENCH_R_RUNS:-3}
l1_seconds=${BENCH_L1_SECONDS:-20}
l1_warmup=${BENCH_L1_WARMUP:-3}
l1_rate=${BENCH_L1_RATE:-50000}
l1_runs=${BENCH_L1_RUNS:-3}
fk_runs=${BENCH_FK_RUNS:-3}
fk_rate=${BENCH_FK_RATE:-1000}
fk_seconds=${BENCH_FK_SECONDS:-30}
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

# Started in the background, stopped by cleanup: run.sh (Tributary's cluster), the Kafka
# JVMs by node id, brokers restarted after a kill, the running load generator.
runsh= child= tdata= kroot=
declare -A kjvm=() restarted=() pids_of=() boot_of=()
cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n $child ]] && kill -KILL "$child" 2>/dev/null
  if [[ -n $iperf_pidfile && -s $iperf_pidfile ]]; then kill -KILL "$(cat "$iperf_pidfile")" 2>/dev/null; fi
  local p
  for p in "${restarted[@]}"; do stop_pid "$p" 10; done
  stop_pid "$runsh" 30  # run.sh stops its brokers, then the coordinator
  # Kafka's brokers first (their controlled shutdown needs the controller), then the controller
  for p in 1 2 3; do [[ -n ${kjvm[$p]:-} ]] && kill -TERM "${kjvm[$p]}" 2>/dev/null; done
  for p in 1 2 3 100; do [[ -n ${kjvm[$p]:-} ]] && stop_pid "${kjvm[$p]}" 30; done
  for p in 1 2 3 100; do
    [[ -n $kroot && -f $kroot/node-$p/server.log ]] && cp "$kroot/node-$p/server.log" "$raw/kafka/server-$p.log"
  done
  rm -rf "$tdata" "$kroot" "$dd_dir" "$iperf_pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_bench tributary-broker tributary-coordinator tributary-loadgen
[[ -x $broker_bin && -x $coordinator_bin && -x $loadgen ]] || { echo "missing binaries in $build"; exit 1; }
if [[ " $systems " == *" kafka "* ]] && ! compgen -G "$root/tools/lib/kafka/kafka_2.13-*.jar" >/dev/null; then
  echo "no Apache Kafka jars in tools/lib/kafka: run scripts/install-deps.sh"; exit 1
fi

# Every run's topic is deleted after it, so at most one run's data (every replica's copy) is
# on disk at once: R3 at up to 100 MB/s, or L1 at its rate.
need=$(( r_seconds * 3 * 100000000 ))
(( need > (l1_seconds + l1_warmup) * l1_rate * 1100 * 3 )) || need=$(( (l1_seconds + l1_warmup) * l1_rate * 1100 * 3 ))
avail=$(( $(df -Pk "$build" | awk 'NR==2 {print $4}') * 1024 ))
echo "data to write: up to $(( need / 1000000000 )) GB at once; free: $(( avail / 1000000000 )) GB"
(( avail >= need + 2000000000 )) || { echo "not enough free space: lower BENCH_R_SECONDS / BENCH_L1_SECONDS"; exit 1; }

echo "== machine"
machine_info "$systems" >"$raw/machine.txt"
cat "$raw/machine.txt"
measure_loopback "${BENCH_LOOP_RUNS:-3}"
# One writer and nproc writers: the seven broker processes write from both cores at once.
measure_disk "${BENCH_DD_MIB:-2048}" "$(nproc)"

# N consecutive free loopback ports, the first printed (run.sh takes its port and the next
# three for the brokers).
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

declare -A port_of=()  # "<system>:<node id>" -> client port
if [[ " $systems " == *" tributary "* ]]; then
  echo "== Tributary: coordinator + 3 brokers (scripts/run.sh)"
  tdata=$(mktemp -d "$build/repl-bench-tributary.XXXXXX")
  tport=$(free_ports 4) thttp=$(free_ports 3)
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
  for n in 1 2 3; do port_of[tributary:$n]=$(( tport + n )); done
  boot_of[tributary]=127.0.0.1:$(( tport + 1 )),127.0.0.1:$(( tport + 2 )),127.0.0.1:$(( tport + 3 ))
  echo "Tributary: coordinator 127.0.0.1:$tport, brokers ${boot_of[tributary]}, data in $tdata"
fi

# Apache Kafka: node 100 the controller (a static voter set of one), nodes 1-3 brokers.
# Kafka's defaults except listeners, log.dirs and the replication settings run.sh gives
# Tributary's brokers.
kafka_props() {  # kafka_props NODE
  local n=$1
  echo "node.id=$n"
  echo "controller.quorum.voters=100@127.0.0.1:$kcport"
  echo "controller.listener.names=CONTROLLER"
  echo "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  echo "log.dirs=$kroot/node-$n/data"
  # on every node: brokers apply min.insync.replicas to acks=all, the controller applies
  # both when it creates topics and elects leaders (Kafka 4 warns when brokers alone have them)
  echo "default.replication.factor=3"
  echo "min.insync.replicas=2"
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
if [[ " $systems " == *" kafka "* ]]; then
  echo "== Apache Kafka: controller + 3 brokers"
  kroot=$(mktemp -d "$build/repl-bench-kafka.XXXXXX")
  kcport=$(free_port)
  cid=$("$kafka_tool" kafka-storage random-uuid)
  fmt=()
  for n in 100 1 2 3; do
    [[ $n == 100 ]] || port_of[kafka:$n]=$(free_port)
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
fi

# The pids of SYSTEM's processes now (brokers and coordinator/controller); their CPU is the
# system's cost.
sys_pids() {
  if [[ $1 == kafka ]]; then echo "${kjvm[@]}"; else pgrep -P "$runsh" | tr '\n' ' '; echo "${restarted[@]}"; fi
}
sys_cpu() {  # CPU ticks of SYSTEM's processes so far (those alive now)
  local p t=0
  for p in $(sys_pids "$1"); do t=$(( t + $(proc_cpu "$p") )); done
  echo "$t"
}
node_pid() {  # node_pid SYSTEM NODE: the pid of broker NODE
  if [[ $1 == kafka ]]; then echo "${kjvm[$2]}"; return; fi
  local p
  for p in $(sys_pids tributary); do
    tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q -- "tributary-broker .*node.id=$2 " && { echo "$p"; return; }
  done
}
# Brings back broker NODE of SYSTEM after a kill: the same command line (Tributary's from the
# killed process, saved before the kill), then waits until it is listed again.
restart_node() {  # restart_node SYSTEM NODE CMDLINE-FILE
  if [[ $1 == kafka ]]; then
    kafka_start "$2"
  else
    local -a argv
    mapfile -d '' argv <"$3"
    "${argv[@]}" >>"$raw/tributary/broker-$2-restarted.log" 2>&1 &
    restarted[$2]=$!
  fi
  wait_listed "${port_of[$1:$2]}" "$2" "$(node_pid "$1" "$2")" 120
}
drop_topic() {  # drop_topic SYSTEM TOPIC: frees the disk a run wrote
  "$kafka_tool" kafka-topics --bootstrap-server "${boot_of[$1]}" --delete --topic "$2" \
    >>"$raw/$1/delete-topics.out" 2>&1 || echo "(deleting $2 on $1 failed, see $raw/$1/delete-topics.out)"
}

# run SYSTEM NAME ARGS...: one tributary-loadgen run against SYSTEM; its last JSON line plus
# the CPU both systems' processes used meanwhile and the load average go to
# $raw/SYSTEM/NAME.json. Extra fields for that file can be put in $raw/SYSTEM/NAME.extra
# (KEY=VALUE lines) before the merge, by whoever runs alongside (FK's kill).
run_loadgen() {
  local sys=$1 name=$2 other= s; shift 2
  for s in $systems; do [[ $s == "$sys" ]] || other=$s; done
  local dir=$raw/$sys l0 c0 c1 o0=0 o1=0 t0 t1 rc=0
  echo "tributary-loadgen $*" >"$dir/$name.cmd"
  echo "-- $sys $name: tributary-loadgen $*"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(sys_cpu "$sys"); [[ -n $other ]] && o0=$(sys_cpu "$other")
  t0=$(date +%s.%N)
  "$loadgen" "$@" --brokers "${boot_of[$sys]}" --label "$name" >"$dir/$name.out" 2>"$dir/$name.err" &
  child=$!
  [[ -n ${on_start:-} ]] && "$on_start" "$sys" "$name"
  wait "$child" || rc=$?
  child=
  t1=$(date +%s.%N)
  c1=$(sys_cpu "$sys"); [[ -n $other ]] && o1=$(sys_cpu "$other")
  grep -v '^\[\|^%' "$dir/$name.err" | tail -1 >&2 || true
  /usr/bin/python3 - "$dir/$name" "$rc" "$c0" "$c1" "$o0" "$o1" "$(getconf CLK_TCK)" "$t0" "$t1" \
    "$l0" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
base, rc, c0, c1, o0, o1, tck, t0, t1, l0, l1 = sys.argv[1:]
lines = [l for l in open(base + ".out") if l.startswith("{")]
doc = json.loads(lines[-1]) if lines else {}
try:
    doc.update(dict(l.strip().split("=", 1) for l in open(base + ".extra") if "=" in l))
except OSError:
    pass
tck = int(tck)
doc.update(exit_code=int(rc), cpu_s=(int(c1) - int(c0)) / tck, other_cpu_s=(int(o1) - int(o0)) / tck,
           wall_s=float(t1) - float(t0), loadavg_before=float(l0), loadavg_after=float(l1))
json.dump(doc, open(base + ".json", "w"))
PY
}
want() { [[ " $only " == *" $1 "* ]]; }

# R3/R1: P2's producer (linger.ms=5, batch.size=1 MiB, no compression) with acks=all.
prod=(--record-size 100 --partitions 6 --acks all --linger-ms 5 --batch-size 1048576 --compression none)
for i in $(seq "$r_runs"); do
  for sc in R3 R1; do
    want "$sc" || continue
    for s in $(order "$i"); do
      settle
      if [[ $sc == R3 ]]; then
        run_loadgen "$s" "R3.$i" produce --topic "r3-$i" --replication 3 --seconds "$r_seconds" "${prod[@]}"
      else
        run_loadgen "$s" "R1.$i" produce --topic "r1-$i" --replication 1 \
          --topic-config min.insync.replicas=1 --seconds "$r_seconds" "${prod[@]}"
      fi
      drop_topic "$s" "$(tr 'A-Z' 'a-z' <<<"$sc")-$i"
    done
  done
done

# L1 variants: broker_bench.sh's L1 (Kafka's EndToEndLatency settings: linger.ms=0,
# fetch.min.bytes=1, fetch.wait.max.ms 500) with the acks and replication factor given.
declare -A l1_acks=([L1a]=all [L1r]=1 [L11]=1) l1_rf=([L1a]=3 [L1r]=3 [L11]=1)
for i in $(seq "$l1_runs"); do
  for sc in L1a L1r L11; do
    want "$sc" || continue
    for s in $(order "$i"); do
      settle
      topic=$(tr 'A-Z' 'a-z' <<<"$sc")-$i
      run_loadgen "$s" "$sc.$i" latency --topic "$topic" --partitions 16 --replication "${l1_rf[$sc]}" \
        --topic-config min.insync.replicas=$(( l1_rf[$sc] == 3 ? 2 : 1 )) --record-size 1024 \
        --rate "$l1_rate" --seconds "$l1_seconds" --warmup "$l1_warmup" --acks "${l1_acks[$sc]}" \
        --linger-ms 0 --batch-size 1048576 --compression none
      drop_topic "$s" "$topic"
    done
  done
done

# FK: once the load generator names the partition's leader (a second of acks back), that
# broker is SIGKILLed; the time of the kill goes into the run's record. The broker comes back
# after the run, and the next run waits for a full ISR on its own topic first.
kill_leader() {  # kill_leader SYSTEM NAME (on_start hook of run_loadgen)
  local dir=$raw/$1 leader= pid
  for _ in $(seq 900); do  # 90 s: topic creation, ISR, a second of acks
    leader=$(grep -o '"event":"leader".*"leader":[0-9]*' "$dir/$2.out" 2>/dev/null | grep -o '[0-9]*$' || true)
    [[ -n $leader ]] && break
    kill -0 "$child" 2>/dev/null || return 0
    sleep 0.1
  done
  [[ -n $leader ]] || { echo "no leader named in 90 s"; return 0; }
  pid=$(node_pid "$1" "$leader")
  [[ -n $pid ]] || { echo "no process for node $leader"; return 0; }
  cp "/proc/$pid/cmdline" "$dir/$2.victim-cmdline"
  echo "killed_node=$leader" >"$dir/$2.extra"
  echo "kill_ns=$(date +%s%N)" >>"$dir/$2.extra"
  kill -KILL "$pid"
  echo "kill_done_ns=$(date +%s%N)" >>"$dir/$2.extra"
  echo "   SIGKILL node $leader (pid $pid)"
}
if want FK; then
  for i in $(seq "$fk_runs"); do
    for s in $(order "$i"); do
      on_start=kill_leader run_loadgen "$s" "FK.$i" gap --topic "fk-$i" --partitions 1 --replication 3 \
        --record-size 100 --rate "$fk_rate" --seconds "$fk_seconds" --acks all
      n=$(sed -n 's/^killed_node=//p' "$raw/$s/FK.$i.extra" 2>/dev/null || true)
      if [[ -n $n ]]; then
        t0=$(date +%s.%N)
        restart_node "$s" "$n" "$raw/$s/FK.$i.victim-cmdline" || { echo "$s node $n did not come back"; exit 1; }
        echo "   node $n back in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
      fi
    done
  done
fi

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/machine.txt"

out=$results_dir/$stamp-replication-$host_kind.md
PYTHONPATH="$root/bench" /usr/bin/python3 "$root/bench/replication_report.py" "$raw" "$out" "$systems"
