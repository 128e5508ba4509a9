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
#   LS  L1a at each rate of BENCH_LS_RATES msg/s, BENCH_LS_RUNS runs each: where each system
#       meets issue 12 item 10's target for acks=all (p99 <= 5 ms, p99.9 <= 10 ms, medians of
#       5 runs); not in the default list (~30 minutes): BENCH_ONLY=LS
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
#   BENCH_LS_RATES="1000 2000 3000 5000 10000"  LS rates, msg/s
#   BENCH_LS_RUNS=5          LS runs per system and rate (L1's duration and warm-up)
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
ls_rates=${BENCH_LS_RATES:-1000 2000 3000 5000 10000}
ls_runs=${BENCH_LS_RUNS:-5}
fk_runs=${BENCH_FK_RUNS:-3}
fk_rate=${BENCH_FK_RATE:-1000}
fk_seconds=${BENCH_FK_SECONDS:-30}

source "$root/bench/bench_clusters.sh"

# Started in the background, stopped by cleanup: the clusters (bench_clusters.sh), brokers
# restarted after a kill, the running load generator.
child=
declare -A restarted=()
cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n $child ]] && kill -KILL "$child" 2>/dev/null
  if [[ -n $iperf_pidfile && -s $iperf_pidfile ]]; then kill -KILL "$(cat "$iperf_pidfile")" 2>/dev/null; fi
  local p
  for p in "${restarted[@]}"; do stop_pid "$p" 10; done
  stop_clusters
  rm -rf "$dd_dir" "$iperf_pidfile"
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

[[ " $systems " == *" tributary "* ]] && start_tributary repl-bench
[[ " $systems " == *" kafka "* ]] && start_kafka repl-bench

# bench_clusters.sh's sys_pids, with the brokers restarted after a kill: their CPU is the
# system's cost too.
sys_pids() {
  if [[ $1 == kafka ]]; then echo "${kjvm[@]}"; else pgrep -P "$runsh" | tr '\n' ' '; echo "${restarted[@]}"; fi
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
  local dir=$raw/$sys l0 c0 c1 o0=0 o1=0 m0 m1 t0 t1 rc=0
  echo "tributary-loadgen $*" >"$dir/$name.cmd"
  echo "-- $sys $name: tributary-loadgen $*"
  l0=$(cut -d' ' -f1 /proc/loadavg)
  c0=$(sys_cpu "$sys"); [[ -n $other ]] && o0=$(sys_cpu "$other")
  m0=$(machine_busy)
  t0=$(date +%s.%N)
  "$loadgen" "$@" --brokers "${boot_of[$sys]}" --label "$name" >"$dir/$name.out" 2>"$dir/$name.err" &
  child=$!
  [[ -n ${on_start:-} ]] && "$on_start" "$sys" "$name"
  wait "$child" || rc=$?
  child=
  t1=$(date +%s.%N)
  c1=$(sys_cpu "$sys"); [[ -n $other ]] && o1=$(sys_cpu "$other")
  m1=$(machine_busy)
  grep -v '^\[\|^%' "$dir/$name.err" | tail -1 >&2 || true
  /usr/bin/python3 - "$dir/$name" "$rc" "$c0" "$c1" "$o0" "$o1" "$(getconf CLK_TCK)" "$t0" "$t1" \
    "$l0" "$(cut -d' ' -f1 /proc/loadavg)" "$m0" "$m1" <<'PY'
import json, sys
base, rc, c0, c1, o0, o1, tck, t0, t1, l0, l1, m0, m1 = sys.argv[1:]
lines = [l for l in open(base + ".out") if l.startswith("{")]
doc = json.loads(lines[-1]) if lines else {}
try:
    doc.update(dict(l.strip().split("=", 1) for l in open(base + ".extra") if "=" in l))
except OSError:
    pass
tck = int(tck)
doc.update(exit_code=int(rc), cpu_s=(int(c1) - int(c0)) / tck, other_cpu_s=(int(o1) - int(o0)) / tck,
           wall_s=float(t1) - float(t0), loadavg_before=float(l0), loadavg_after=float(l1),
           machine_busy_s=(int(m1) - int(m0)) / tck)
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

# LS: L1a at each rate; within a round the rates go up and the systems alternate by round.
if want LS; then
  for i in $(seq "$ls_runs"); do
    for rate in $ls_rates; do
      for s in $(order "$i"); do
        settle
        run_loadgen "$s" "LS$rate.$i" latency --topic "ls$rate-$i" --partitions 16 --replication 3 \
          --topic-config min.insync.replicas=2 --record-size 1024 --rate "$rate" --seconds "$l1_seconds" \
          --warmup "$l1_warmup" --acks all --linger-ms 0 --batch-size 1048576 --compression none
        drop_topic "$s" "ls$rate-$i"
      done
    done
  done
fi

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
