#!/usr/bin/env bash
# The reassignment benchmark (issue 15 item 7): the time and the client impact of moving
# BENCH_MOVE_GB of partition data from one broker to another, Tributary and Apache Kafka 4.4
# side by side, both moved by Apache Kafka's own kafka-reassign-partitions.
#
# Builds tributary-broker, tributary-coordinator and tributary-loadgen (Release,
# -DTRIB_BENCH=ON) into build-bench/, measures the machine's limits as broker_bench.sh does
# (loopback with iperf3, writes with dd), starts Tributary's local cluster (scripts/run.sh:
# three coordinators, three brokers) and Apache Kafka's (a KRaft controller, three brokers)
# side by side (bench/bench_clusters.sh), then, for each mode (BENCH_MOVE_MODES: "plain",
# then "throttled" with --throttle BENCH_MOVE_THROTTLE bytes/s), on each system (alternating
# which goes first, as the other benchmarks do):
#   1. a topic of BENCH_MOVE_PARTITIONS partitions, replication factor 1, every partition on
#      broker 1 (kafka-topics --replica-assignment), filled with BENCH_MOVE_GB GB by
#      tributary-loadgen produce (BENCH_MOVE_RECORD-byte records, acks=1);
#   2. a steady client load on another topic (6 partitions, RF 3, min.insync.replicas=2):
#      tributary-loadgen latency, BENCH_MOVE_LOAD_RATE msg/s x 1 KiB paced, acks=all, consumed
#      concurrently, every message's send time, ack and end-to-end latency logged; a baseline
#      window of BENCH_MOVE_BASELINE s before the move;
#   3. the move (bench/reassign_move.py): kafka-reassign-partitions --execute moving every
#      partition to broker 2, Metadata polled every 0.5 s until every partition's replicas and
#      ISR are [2], then --verify (which also removes the throttle); the load runs on through
#      the move and BENCH_MOVE_TAIL s after it, then is stopped (SIGTERM: it reports and exits);
#   4. both topics deleted, and the script waits for their files to leave the disk before the
#      next fill, so a system holds at most one copy pair at a time.
# bench/reassign_report.py writes bench/results/<date>-reassign-<host-kind>.md: per system and
# mode the move time, the move rate against the machine's limits, client throughput and
# p50/p99 latency in the baseline window against during the move, Tributary / Kafka ratios,
# and the load average beside every figure (the machine may be shared).
#
# Settings (environment):
#   TRIB_HOST_KIND, TRIB_BENCH_BUILD, BENCH_SKIP_BUILD, BENCH_LOOP_RUNS, BENCH_COMMIT: as
#                            broker_bench.sh
#   BENCH_SYSTEMS="tributary kafka"  the systems measured
#   BENCH_MOVE_MODES="plain throttled"  the moves per system, in this order
#   BENCH_MOVE_GB=10         data moved (10^9 bytes; fractions allowed), capped so that two
#                            copies and the load's topic fit in 60% of the free disk
#   BENCH_MOVE_PARTITIONS=4  partitions of the moved topic
#   BENCH_MOVE_RECORD=65536  record size of the fill, bytes
#   BENCH_MOVE_THROTTLE=50000000  --throttle of the throttled move, bytes/s
#   BENCH_MOVE_LOAD_RATE=5000  the client load, messages/s of 1 KiB
#   BENCH_MOVE_BASELINE=20   seconds of client load measured before the move
#   BENCH_MOVE_TAIL=5        seconds of client load after the move, before it stops
#   BENCH_MOVE_TIMEOUT       a move not done after this many seconds is reported as never
#                            completing (default: 3x the throttled time + 300)
#   BENCH_DD_MIB=2048        volume of each dd write measurement
#
# Every process this script starts (run.sh and its cluster, the Kafka JVMs, iperf3, dd, load
# generators, the move's tool) is stopped on any exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${TRIB_BENCH_BUILD:-$root/build-bench}
stamp=$(date -u +%Y-%m-%d)
source "$root/bench/host_kind.sh"
raw=$build/bench-raw/$stamp-reassign-$host_kind
source "$root/bench/bench_common.sh"
results_dir=$root/bench/results
systems=${BENCH_SYSTEMS:-tributary kafka}
modes=${BENCH_MOVE_MODES:-plain throttled}
partitions=${BENCH_MOVE_PARTITIONS:-4}
record=${BENCH_MOVE_RECORD:-65536}
throttle=${BENCH_MOVE_THROTTLE:-50000000}
load_rate=${BENCH_MOVE_LOAD_RATE:-5000}
baseline=${BENCH_MOVE_BASELINE:-20}
tail_s=${BENCH_MOVE_TAIL:-5}
# The client load's first seconds (connections, metadata, the consumer catching up) are left out
# of the baseline window. Every message is logged from the first (--warmup 0), so a window's
# acks all count, those of messages sent before it included.
load_warmup=3
want_bytes=$(/usr/bin/python3 -c 'import sys; print(int(float(sys.argv[1]) * 1e9))' "${BENCH_MOVE_GB:-10}")
source_node=1 target_node=2
(( throttle > 0 )) || { echo "BENCH_MOVE_THROTTLE: bytes per second, more than 0"; exit 2; }
for m in $modes; do
  [[ $m == plain || $m == throttled ]] || { echo "BENCH_MOVE_MODES: unknown mode '$m' (plain, throttled)"; exit 2; }
done
source "$root/bench/bench_clusters.sh"
# Kafka keeps a deleted topic's files (and a moved replica's old copy) for
# log.segment.delete.delay.ms, a minute by default; a second lets the next fill start on a
# disk holding one copy pair, as Tributary (which deletes at once) does.
kafka_extra_props=("log.segment.delete.delay.ms=1000")

# Started in the background, stopped by cleanup: the clusters, the load generator, the move.
child= load=
cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n $child ]] && kill -KILL "$child" 2>/dev/null
  [[ -n $load ]] && kill -KILL "$load" 2>/dev/null
  if [[ -n $iperf_pidfile && -s $iperf_pidfile ]]; then kill -KILL "$(cat "$iperf_pidfile")" 2>/dev/null; fi
  stop_clusters
  rm -rf "$dd_dir" "$iperf_pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_bench tributary-broker tributary-coordinator tributary-loadgen
[[ -x $loadgen ]] || { echo "missing tributary-loadgen in $build"; exit 1; }
if [[ " $systems " == *" tributary "* ]] && ! [[ -x $broker_bin && -x $coordinator_bin ]]; then
  echo "missing tributary-broker or tributary-coordinator in $build"; exit 1
fi
if [[ " $systems " == *" kafka "* ]] && ! compgen -G "$root/tools/lib/kafka/kafka_2.13-*.jar" >/dev/null; then
  echo "no Apache Kafka jars in tools/lib/kafka: run scripts/install-deps.sh"; exit 1
fi

# At most two copies of the moved data (source and target) and the load's topic (three
# replicas of 1 KiB messages for the longest move) on disk at once; the size is capped so that
# this fits in 60% of the free space.
longest=$(( 3 * want_bytes / throttle + 300 ))
timeout_s=${BENCH_MOVE_TIMEOUT:-$longest}
load_bytes=$(( (baseline + timeout_s / 3 + 60) * load_rate * 1100 * 3 ))
avail=$(( $(df -Pk "$build" | awk 'NR==2 {print $4}') * 1024 ))
move_bytes=$want_bytes
cap=$(( (avail * 6 / 10 - load_bytes) / 2 ))
(( move_bytes <= cap )) || move_bytes=$cap
(( move_bytes > 100000000 )) || { echo "not enough free space: $(( avail / 1000000000 )) GB free"; exit 1; }
records=$(( move_bytes / record ))
echo "moving $(( move_bytes / 1000000 )) MB ($records records of $record B)$( (( move_bytes < want_bytes )) &&
  echo ", capped from $(( want_bytes / 1000000 )) MB to fit 60% of the free disk")"

echo "== machine"
machine_info "$systems" >"$raw/machine.txt"
{
  echo "move_bytes_wanted=$want_bytes"
  echo "move_bytes=$(( records * record ))"
  echo "move_records=$records"
  echo "record_size=$record"
  echo "partitions=$partitions"
  echo "throttle=$throttle"
  echo "load_rate=$load_rate"
  echo "baseline_s=$baseline"
  echo "tail_s=$tail_s"
  echo "load_warmup_s=$load_warmup"
  echo "modes=$modes"
  echo "move_timeout_s=$timeout_s"
} >>"$raw/machine.txt"
cat "$raw/machine.txt"
measure_loopback "${BENCH_LOOP_RUNS:-3}"
measure_disk "${BENCH_DD_MIB:-2048}" "$(nproc)"

[[ " $systems " == *" tributary "* ]] && start_tributary reassign-bench
[[ " $systems " == *" kafka "* ]] && start_kafka reassign-bench

# meta FILE KEY=VALUE...: adds fields to the JSON object in FILE (made if missing).
meta() {
  /usr/bin/python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1]
try:
    doc = json.load(open(path))
except (OSError, ValueError):
    doc = {}
for kv in sys.argv[2:]:
    k, _, v = kv.partition("=")
    try:
        doc[k] = json.loads(v)
    except ValueError:
        doc[k] = v
json.dump(doc, open(path, "w"))
PY
}
last_json() {  # last_json OUT JSON: the last JSON line of a load generator's stdout
  grep '^{' "$1" | tail -1 >"$2" || echo '{}' >"$2"
}
loadavg1() { cut -d' ' -f1 /proc/loadavg; }
# Until no directory of TOPIC is left in any of SYSTEM's brokers' log dirs (Kafka renames a
# deleted partition's directory to <topic>-<p>.<id>-delete first). wait_gone SYSTEM TOPIC
wait_gone() {
  local n left
  for _ in $(seq 1200); do
    left=0
    for n in 1 2 3; do
      compgen -G "${data_of[$1:$n]}/$2-*" >/dev/null && left=1
    done
    (( left )) || return 0
    sleep 0.1
  done
  echo "($2's files still on $1's disk after 120 s)"
}
drop_topic() {  # drop_topic SYSTEM TOPIC
  "$kafka_tool" kafka-topics --bootstrap-server "${boot_of[$1]}" --delete --topic "$2" \
    >>"$raw/$1/delete-topics.out" 2>&1 || echo "(deleting $2 on $1 failed, see $raw/$1/delete-topics.out)"
  wait_gone "$1" "$2"
}

# one_move SYSTEM MODE: fill, baseline, move, tail; the figures go to $raw/SYSTEM/*-MODE.*
one_move() {
  local s=$1 mode=$2 dir=$raw/$1 topic=mv-$2 lat=lm-$2 t0 t1 c0 c1 c2 c3 w0 w1 w2 w3 l0 l1 l2 l3 rc=0
  local assign
  assign=$(printf "$source_node%.0s," $(seq "$partitions")); assign=${assign%,}
  echo "-- $s $mode: $topic ($partitions partitions on broker $source_node), fill"
  "$kafka_tool" kafka-topics --bootstrap-server "${boot_of[$s]}" --create --topic "$topic" \
    --replica-assignment "$assign" >"$dir/create-$mode.out" 2>&1 ||
    { echo "creating $topic on $s failed:"; cat "$dir/create-$mode.out"; exit 1; }
  settle
  l0=$(loadavg1) t0=$(date +%s.%N)
  echo "tributary-loadgen produce --topic $topic --partitions $partitions --replication 1 --record-size $record" \
    "--records $records --acks 1 --linger-ms 5 --batch-size 1048576 --compression none" >"$dir/fill-$mode.cmd"
  "$loadgen" produce --brokers "${boot_of[$s]}" --topic "$topic" --partitions "$partitions" --replication 1 \
    --record-size "$record" --records "$records" --acks 1 --linger-ms 5 --batch-size 1048576 \
    --compression none --label "fill-$mode" >"$dir/fill-$mode.out" 2>"$dir/fill-$mode.err" &
  child=$!
  wait "$child" || rc=$?
  child=
  t1=$(date +%s.%N)
  last_json "$dir/fill-$mode.out" "$dir/fill-$mode.json"
  meta "$dir/fill-$mode.json" exit_code=$rc wall_s="$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" \
    loadavg_before="$l0" loadavg_after="$(loadavg1)"
  grep -v '^\[\|^%' "$dir/fill-$mode.err" | tail -1 >&2 || true
  (( rc == 0 )) || { echo "the fill of $topic on $s failed"; exit 1; }
  settle

  echo "-- $s $mode: client load $lat ($load_rate msg/s x 1 KiB, acks=all, RF 3), ${baseline} s baseline"
  local lcmd=(latency --topic "$lat" --partitions 6 --replication 3 --topic-config min.insync.replicas=2
              --record-size 1024 --rate "$load_rate" --seconds 3600 --warmup 0 --acks all --linger-ms 0
              --batch-size 1048576 --compression none --slow-log "$dir/lat-$mode.log" --slow-ms 0)
  echo "tributary-loadgen ${lcmd[*]}" | sed "s|$dir/||" >"$dir/lat-$mode.cmd"
  "$loadgen" "${lcmd[@]}" --brokers "${boot_of[$s]}" --label "lat-$mode" \
    >"$dir/lat-$mode.out" 2>"$dir/lat-$mode.err" &
  load=$!
  for _ in $(seq 1200); do  # topic creation, its ISR, the consumer's start and the warm-up
    [[ -s $dir/lat-$mode.log ]] && break
    kill -0 "$load" 2>/dev/null || { echo "the client load exited:"; tail -5 "$dir/lat-$mode.err"; exit 1; }
    sleep 0.1
  done
  [[ -s $dir/lat-$mode.log ]] || { echo "no measured message from the client load in 120 s"; exit 1; }
  l1=$(loadavg1) w1=$(date +%s.%N) c1=$(sys_cpu "$s")
  sleep $(( load_warmup + baseline ))  # the load alone: its warm-up, then the baseline window

  echo "-- $s $mode: move $topic to broker $target_node$([[ $mode == throttled ]] && echo ", --throttle $throttle")"
  l2=$(loadavg1) w2=$(date +%s.%N) c2=$(sys_cpu "$s") rc=0
  /usr/bin/python3 "$root/bench/reassign_move.py" --bootstrap "${boot_of[$s]}" --topic "$topic" \
    --partitions "$partitions" --source "$source_node" --target "$target_node" --kafka-tool "$kafka_tool" \
    --target-dir "${data_of[$s:$target_node]}" --out "$dir/move-$mode.json" --timeout "$timeout_s" \
    $([[ $mode == throttled ]] && echo "--throttle $throttle") &
  child=$!
  wait "$child" || rc=$?
  child=
  l3=$(loadavg1) w3=$(date +%s.%N) c3=$(sys_cpu "$s")
  sleep "$tail_s"  # the load just after the move
  kill -TERM "$load" 2>/dev/null || true
  local lrc=0
  wait "$load" || lrc=$?
  load=
  last_json "$dir/lat-$mode.out" "$dir/lat-$mode.json"
  grep -v '^\[\|^%' "$dir/lat-$mode.err" | tail -1 >&2 || true
  local tck
  tck=$(getconf CLK_TCK)
  meta "$dir/lat-$mode.json" exit_code=$lrc loadavg_baseline_start="$l1" loadavg_move_start="$l2" \
    loadavg_move_end="$l3" \
    cpu_baseline_s="$(awk -v a="$c1" -v b="$c2" -v t="$tck" 'BEGIN {print (b - a) / t}')" \
    wall_baseline_s="$(awk -v a="$w1" -v b="$w2" 'BEGIN {print b - a}')" \
    cpu_move_s="$(awk -v a="$c2" -v b="$c3" -v t="$tck" 'BEGIN {print (b - a) / t}')" \
    wall_move_s="$(awk -v a="$w2" -v b="$w3" 'BEGIN {print b - a}')"
  meta "$dir/move-$mode.json" exit_code=$rc loadavg_before="$l2" loadavg_after="$l3"
  (( rc == 0 )) || echo "!! the move of $topic on $s did not complete (see $dir/move-$mode.json)"
  drop_topic "$s" "$topic"
  drop_topic "$s" "$lat"
}

i=0
for mode in $modes; do
  i=$(( i + 1 ))
  for s in $(order "$i"); do
    one_move "$s" "$mode"
  done
done

echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/machine.txt"
out=$results_dir/$stamp-reassign-$host_kind.md
PYTHONPATH="$root/bench" /usr/bin/python3 "$root/bench/reassign_report.py" "$raw" "$out" "$systems"
