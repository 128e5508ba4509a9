#!/usr/bin/env bash
# The broker benchmark: builds tributary-broker and tributary-loadgen (Release,
# -DTRIB_BENCH=ON) into build-bench/, measures TCP loopback bandwidth (iperf3) and buffered
# writes of new data to the data filesystem (dd) in the same run, starts a fresh single-node
# Tributary broker and a fresh single-node Apache Kafka 4.4 (KRaft, broker+controller, its stock
# start-up: 1 GiB heap, G1) on free loopback ports with temp data dirs on that same filesystem,
# runs the issue's scenarios against both, alternating the two, and writes
# bench/results/<date>-broker-<host-kind>.md.
#
#   P1  produce 1 KiB records to 16 partitions, acks=1        MB/s / loopback   >= 0.25
#       by BENCH_P1_CLIENTS producers splitting the partitions; P1x1 at the end does the
#       same with one producer, for comparison
#   C1d the first read of what P1 wrote (4 GiB): Tributary wrote it around the page cache
#       (direct writes), so this reads from disk; Kafka's buffered writes left it resident
#       (for comparison, not a target)
#   C1  consume what P1 wrote from the page cache (C1d put it there) MB/s / loopback >= 0.4
#       by BENCH_C1_CLIENTS consumers splitting the partitions (a consumer group's way
#       to read faster); C1x1 then reads it again with one consumer, for comparison
#   P2  produce 100 B records to 6 partitions, one producer   records/s         >= 820,000
#   L1  end-to-end latency, 50,000 msg/s x 1 KiB               p99               <= 5 ms
#   PT  kafka-producer-perf-test (the Java producer) as a second load generator: 1 KiB
#       records to 16 partitions, acks=1, linger.ms=5, batch.size=1 MiB
#   broker CPU-seconds per GB (/proc/<pid>/stat) and peak RSS (VmHWM, reset before each
#   scenario through /proc/<pid>/clear_refs)                   RSS under P1      <= 256 MiB
#   Side by side (Tributary / Kafka): P1, P2, C1 throughput >= 1.2; L1 p99 <= 0.5;
#   peak RSS over the run <= 0.25.
#
# Settings (environment):
#   TRIB_HOST_KIND=ci        the <host-kind> part of the file name (as bench/run.sh)
#   TRIB_BENCH_BUILD=dir     build folder (build-bench/)
#   BENCH_SYSTEMS="tributary kafka"  the systems measured, in this order within a round
#   BENCH_C1_BYTES=4g        bytes P1 writes and C1 reads back (k/m/g = 2^10...)
#   BENCH_P2_SECONDS=15      P2 duration
#   BENCH_L1_SECONDS=20      L1 measured duration (after BENCH_L1_WARMUP=3 s)
#   BENCH_L1_RATE=50000      L1 messages per second
#   BENCH_L1_RUNS=3          L1 runs per system (each on a topic of its own); the run with the
#                            median p99 is reported, every run's p99 beside it
#   BENCH_C1_CLIENTS=2       consumers sharing C1's partitions
#   BENCH_P1_CLIENTS=2       producers sharing P1's partitions
#   BENCH_P1_RUNS=3          P1 runs per system; the run with the median MB/s is reported
#   BENCH_PT_RUNS=3          kafka-producer-perf-test runs per system (median reported)
#   BENCH_PT_BYTES=2g        bytes each kafka-producer-perf-test run sends (1 KiB records)
#   BENCH_LOOP_RUNS=3        iperf3 runs; the median is the loopback limit
#   BENCH_IO_THREADS=nproc   Tributary's num.io.threads (Kafka keeps its defaults)
#   BENCH_PERF=1             perf record -g each broker during each scenario (raw folder;
#                            the JVM's JIT frames stay unnamed)
#   BENCH_SKIP_BUILD=1       use the binaries already in the build folder
#   BENCH_ONLY="P1 C1"       run only these scenarios (C1d, C1, C1x1 need P1's data)
#   BENCH_COMMIT=abc123      the commit to name in the results (default: git rev-parse)
#
# Rounds alternate the systems: each scenario runs on every system before the next scenario,
# and repeated runs alternate which system goes first (T K, K T, T K, ...). Both brokers stay
# up for the whole run (the idle one's CPU during the other's scenario is recorded). Every
# process this script starts is stopped on any exit (trap).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${TRIB_BENCH_BUILD:-$root/build-bench}
stamp=$(date -u +%Y-%m-%d)
source "$root/bench/host_kind.sh"
source "$root/bench/bench_common.sh"
results_dir=$root/bench/results
raw=$build/bench-raw/$stamp-broker-$host_kind
c1_bytes=${BENCH_C1_BYTES:-4g}
p2_seconds=${BENCH_P2_SECONDS:-15}
l1_seconds=${BENCH_L1_SECONDS:-20}
l1_warmup=${BENCH_L1_WARMUP:-3}
l1_rate=${BENCH_L1_RATE:-50000}
l1_runs=${BENCH_L1_RUNS:-3}
io_threads=${BENCH_IO_THREADS:-$(nproc)}
c1_clients=${BENCH_C1_CLIENTS:-2}
p1_clients=${BENCH_P1_CLIENTS:-2}
p1_runs=${BENCH_P1_RUNS:-3}
pt_runs=${BENCH_PT_RUNS:-3}
pt_bytes=${BENCH_PT_BYTES:-2g}
systems=${BENCH_SYSTEMS:-tributary kafka}
only=${BENCH_ONLY:-P1 C1d C1 C1x1 P2 L1 P1x1 PT}
for s in $systems; do
  [[ $s == tributary || $s == kafka ]] || { echo "BENCH_SYSTEMS: unknown system '$s' (tributary, kafka)"; exit 2; }
done
mkdir -p "$results_dir" "$raw"
rm -rf "$raw"/*.json "$raw"/*.err "$raw"/*.txt "$raw"/*.cmd "$raw"/*.out "$raw"/*.perf.data \
  "$raw/tributary" "$raw/kafka"
for s in $systems; do mkdir -p "$raw/$s"; done

c1_records=$(( $(to_bytes "$c1_bytes") / 1024 ))
pt_records=$(( $(to_bytes "$pt_bytes") / 1024 ))
broker_bin=$build/broker/tributary-broker
loadgen=$build/bench/tributary-loadgen
kafka_tool=$root/tools/kafka

# Everything started in the background is recorded here and stopped by cleanup, on any exit.
# (iperf_pidfile and dd_dir: set by bench_common.sh's measurements)
bpid= kwrap= kpid= perf_pid= child= data= kafka_root=
declare -A pid_of=() addr_of=() logdir_of=()
cleanup() {
  trap - EXIT INT TERM
  set +e
  [[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null || true
  [[ -n $child ]] && kill -KILL "$child" 2>/dev/null || true
  if [[ -n $iperf_pidfile && -s $iperf_pidfile ]]; then kill -KILL "$(cat "$iperf_pidfile")" 2>/dev/null || true; fi
  local j; for j in $(jobs -p); do [[ $j == "$kwrap" || $j == "$bpid" ]] || kill -KILL "$j" 2>/dev/null || true; done
  stop_pid "$bpid" 10
  # apache_kafka.py stops the JVM on SIGTERM (SIGKILL after 20 s); the JVM too, in case the
  # wrapper is gone
  stop_pid "$kwrap" 30
  stop_pid "$kpid" 10
  [[ -n $kafka_root && -f $kafka_root/server.log ]] && cp "$kafka_root/server.log" "$raw/kafka/server.log" 2>/dev/null || true
  rm -rf "$data" "$kafka_root" "$dd_dir" "$iperf_pidfile"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_bench tributary-broker tributary-loadgen
[[ -x $broker_bin && -x $loadgen ]] || { echo "missing $broker_bin or $loadgen"; exit 1; }
if [[ " $systems " == *" kafka "* ]] && ! compgen -G "$root/tools/lib/kafka/kafka_2.13-*.jar" >/dev/null; then
  echo "no Apache Kafka jars in tools/lib/kafka: run scripts/install-deps.sh"; exit 1
fi

# What the run writes to the data filesystem, per system: P1's runs and P1x1, P2 (at most
# ~200 MB/s), L1, the perf-test runs; the run stops here rather than fill the disk midway.
n_sys=$(wc -w <<<"$systems")
need=$(( n_sys * ( (p1_runs + 1) * c1_records * 1024 + p2_seconds * 200000000
                   + l1_runs * (l1_seconds + l1_warmup) * l1_rate * 1100 + pt_runs * pt_records * 1024 ) ))
avail=$(( $(df -Pk "$build" | awk 'NR==2 {print $4}') * 1024 ))
echo "data to write: up to $(( need / 1000000000 )) GB; free on $(df -P "$build" | awk 'NR==2 {print $6}'): $(( avail / 1000000000 )) GB"
if (( avail < need + 2000000000 )); then
  echo "not enough free space for this run: lower BENCH_C1_BYTES / BENCH_P1_RUNS / BENCH_PT_RUNS"; exit 1
fi

echo "== machine"
machine_info "$systems" >"$raw/machine.txt"
cat "$raw/machine.txt"

measure_loopback "${BENCH_LOOP_RUNS:-3}"
# The dd's write P1's volume; io_threads writers in parallel: Tributary writes from
# num.io.threads cores at once.
measure_disk $(( c1_records / 1024 )) "$io_threads"

if [[ " $systems " == *" tributary "* ]]; then
  echo "== Tributary"
  data=$(mktemp -d "$build/broker-bench.XXXXXX")
  bport=$(free_port)
  "$broker_bin" --override node.id=1 \
    --override listeners=PLAINTEXT://127.0.0.1:$bport \
    --override advertised.listeners=PLAINTEXT://127.0.0.1:$bport \
    --override log.dirs="$data/log" --override num.io.threads="$io_threads" \
    >"$raw/tributary/broker.log" 2>&1 &
  bpid=$!
  wait_port "$bport" "$bpid" "$raw/tributary/broker.log"
  pid_of[tributary]=$bpid addr_of[tributary]=127.0.0.1:$bport logdir_of[tributary]=$data/log
  echo "Tributary pid $bpid on 127.0.0.1:$bport, data in $data, num.io.threads=$io_threads"
fi
if [[ " $systems " == *" kafka "* ]]; then
  echo "== Apache Kafka"
  # tests/integration/apache_kafka.py: formats the storage, starts kafka-server-start (1 GiB
  # heap, G1: Kafka's own start-up options) with default configs except listeners, log.dirs
  # and the internal topics' replication factor (one node), waits until the node answers
  # Metadata as an unfenced broker, prints "bootstrap jvm-pid", stops the JVM on SIGTERM.
  kafka_root=$(mktemp -d "$build/kafka-bench.XXXXXX")
  /usr/bin/python3 "$root/tests/integration/apache_kafka.py" "$kafka_root" \
    >"$raw/kafka/start.out" 2>"$raw/kafka/start.err" &
  kwrap=$!
  for _ in $(seq 1500); do  # 150 s: two JVMs format the storage, a third starts the node
    [[ -s $raw/kafka/start.out ]] && break
    kill -0 "$kwrap" 2>/dev/null || { echo "Apache Kafka did not start:"; tail -30 "$raw/kafka/start.err"; exit 1; }
    sleep 0.1
  done
  read -r kaddr kpid <"$raw/kafka/start.out" || { echo "Apache Kafka not up in 150 s"; exit 1; }
  kill -0 "$kpid" 2>/dev/null || { echo "Apache Kafka's JVM $kpid is not running"; exit 1; }
  pid_of[kafka]=$kpid addr_of[kafka]=$kaddr logdir_of[kafka]=$kafka_root/data
  echo "Apache Kafka JVM pid $kpid on $kaddr, data in $kafka_root/data (heap -Xmx1G -Xms1G, G1)"
  ps -o args= -p "$kpid" | tr ' ' '\n' | grep -E '^-X|^-server|^kafka\.Kafka|properties$' | tr '\n' ' ' >"$raw/kafka/jvm.txt" || true
  cp "$kafka_root/server.properties" "$raw/kafka/server.properties"
fi
clk_tck=$(getconf CLK_TCK)

proc_kib() {  # proc_kib PID VmHWM|VmRSS: in KiB
  awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"
}
children_cpu() {  # user + system seconds of this shell's finished children, from `times >FILE`
  awk 'NR == 2 { t = 0; for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] } print t }' "$1"
}

# run_scenario SYSTEM NAME KIND ARGS...: one load-generator run against SYSTEM's broker, its
# output plus the broker's CPU and peak RSS during the run (and the idle other broker's CPU)
# merged into $raw/SYSTEM/NAME.json. KIND loadgen: tributary-loadgen ARGS --brokers ...;
# KIND pt: kafka-producer-perf-test --bootstrap-server ... ARGS.
run_scenario() {
  local sys=$1 name=$2 kind=$3; shift 3
  local pid=${pid_of[$sys]} addr=${addr_of[$sys]} dir=$raw/$sys other= s
  for s in $systems; do [[ $s == "$sys" ]] || other=${pid_of[$s]}; done
  local -a cmd
  if [[ $kind == loadgen ]]; then
    cmd=("$loadgen" "$@" --brokers "$addr" --label "$name")
    echo "tributary-loadgen $*" >"$dir/$name.cmd"
  else
    # tools/kafka runs tools with the JIT's first tier only (quick start-ups); a load generator
    # gets the full JIT, as Kafka's own kafka-producer-perf-test.sh has (heap -Xmx512M as there)
    cmd=(env "KAFKA_OPTS=-XX:TieredStopAtLevel=4" "$kafka_tool" kafka-producer-perf-test
         --bootstrap-server "$addr" "$@")
    echo "KAFKA_OPTS=-XX:TieredStopAtLevel=4 tools/kafka kafka-producer-perf-test --bootstrap-server <broker> $*" >"$dir/$name.cmd"
  fi
  echo "-- $sys $name: $(cat "$dir/$name.cmd")"
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true  # resets VmHWM to the current RSS
  local load0 cpu0 cpu1 ocpu0=0 ocpu1=0 t0 t1 hwm rss ch0 ch1 rc=0
  load0=$(cut -d' ' -f1 /proc/loadavg)
  if [[ -n ${BENCH_PERF:-} ]] && command -v perf >/dev/null; then
    perf record -F 499 -g -p "$pid" -o "$dir/$name.perf.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  times >"$dir/.times"  # in this shell: a subshell's `times` would not see its parent's children
  ch0=$(children_cpu "$dir/.times")
  [[ -n $other ]] && ocpu0=$(proc_cpu "$other")
  cpu0=$(proc_cpu "$pid"); t0=$(date +%s.%N)
  # in the background and waited for, so a signal reaches the trap at once
  "${cmd[@]}" >"$dir/$name.out" 2>"$dir/$name.err" &
  child=$!
  wait "$child" || rc=$?
  child=
  cpu1=$(proc_cpu "$pid"); t1=$(date +%s.%N)
  [[ -n $other ]] && ocpu1=$(proc_cpu "$other")
  times >"$dir/.times"
  ch1=$(children_cpu "$dir/.times")
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" || true; perf_pid=; fi
  hwm=$(proc_kib "$pid" VmHWM); rss=$(proc_kib "$pid" VmRSS)
  grep -v '^\[' "$dir/$name.err" | tail -1 >&2 || true
  if [[ $kind == pt ]]; then tail -1 "$dir/$name.out" >&2 || true; fi
  kill -0 "$pid" 2>/dev/null || { echo "$sys broker died during $name"; exit 1; }
  /usr/bin/python3 - "$dir/$name.out" "$dir/$name.json" "$kind" "$rc" "$cpu0" "$cpu1" "$clk_tck" \
    "$t0" "$t1" "$hwm" "$rss" "$load0" "$(cut -d' ' -f1 /proc/loadavg)" "$ocpu0" "$ocpu1" \
    "$ch0" "$ch1" <<'PY'
import json, re, sys
out, dst, kind, rc, c0, c1, tck, t0, t1, hwm, rss, l0, l1, o0, o1, ch0, ch1 = sys.argv[1:]
doc = {}
if kind == "loadgen":
    try:
        doc = json.loads([l for l in open(out) if l.strip().startswith("{")][-1])
    except (IndexError, ValueError):
        pass
else:
    # kafka-producer-perf-test's summary: "N records sent, R records/sec (M MB/sec), A ms avg
    # latency, X ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th."
    summary = [l for l in open(out) if "99.9th" in l]
    m = re.match(r"\s*(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg "
                 r"latency, ([0-9.]+) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, "
                 r"(\d+) ms 99.9th", summary[-1] if summary else "")
    if m:
        n, rps = int(m.group(1)), float(m.group(2))
        size = 1024
        doc = dict(mode="perf-test", records=n, bytes=n * size, records_per_s=rps,
                   mb_per_s=rps * size / 1e6, seconds=n / rps if rps else 0,
                   avg_latency_ms=float(m.group(4)), max_latency_ms=float(m.group(5)),
                   p50_ms=int(m.group(6)), p95_ms=int(m.group(7)), p99_ms=int(m.group(8)),
                   p999_ms=int(m.group(9)), delivery_errors=0 if int(rc) == 0 else 1)
    doc["client_cpu_s"] = float(ch1) - float(ch0)  # the tool's JVM, start-up included
doc.update(exit_code=int(rc), broker_cpu_s=(int(c1) - int(c0)) / int(tck),
           other_broker_cpu_s=(int(o1) - int(o0)) / int(tck),
           wall_s=float(t1) - float(t0), broker_vmhwm_kib=int(hwm or 0),
           broker_vmrss_kib=int(rss or 0), loadavg_before=float(l0), loadavg_after=float(l1))
json.dump(doc, open(dst, "w"))
PY
}

want() { [[ " $only " == *" $1 "* ]]; }

# Producer settings, the way a fair Kafka throughput benchmark sets them (and librdkafka's own
# defaults for linger and batch): acks=1, linger.ms=5, batch.size=1 MiB, no compression, no
# idempotence, deep client queue. The loadgen spreads records round-robin over partitions.
prod_common=(--acks 1 --linger-ms 5 --batch-size 1048576 --compression none)

if want P1; then
  # Run 1 writes topic p1, which C1d/C1/C1x1 read; the others their own topics. The run with
  # the median throughput is reported, every run's figure beside it.
  for i in $(seq "$p1_runs"); do
    for s in $(order "$i"); do
      settle
      topic=p1; [[ $i -gt 1 ]] && topic=p1-$i
      run_scenario "$s" "P1.$i" loadgen produce --topic "$topic" --partitions 16 --record-size 1024 \
        --records "$c1_records" --clients "$p1_clients" "${prod_common[@]}"
    done
  done
fi
# Page-cache residency of topic p1's log files (what C1 reads): resident_bytes total_bytes.
residency() {
  if command -v fincore >/dev/null; then
    find "${logdir_of[$1]}" -regextype posix-extended -regex '.*/p1-[0-9]+/[^/]*\.log' -print0 |
      xargs -0 -r fincore -b -n -o RES,SIZE 2>/dev/null |
      awk '{r += $1; s += $2} END {printf "%.0f %.0f\n", r, s}' >"$2" || true
  fi
}
if want C1d; then
  sync
  for s in $systems; do residency "$s" "$raw/$s/C1d.fincore.txt"; done
  for s in $systems; do
    run_scenario "$s" C1d loadgen consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients "$c1_clients"
  done
fi
if want C1; then
  for s in $systems; do residency "$s" "$raw/$s/C1.fincore.txt"; done  # to show C1 reads from memory
  for s in $systems; do
    sync  # dirty pages written back first, so C1 doesn't compete with writeback
    run_scenario "$s" C1 loadgen consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients "$c1_clients"
  done
fi
if want C1x1; then
  for s in $systems; do
    run_scenario "$s" C1x1 loadgen consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients 1
  done
fi
if want P2; then
  for s in $systems; do
    settle
    run_scenario "$s" P2 loadgen produce --topic p2 --partitions 6 --record-size 100 --seconds "$p2_seconds" \
      "${prod_common[@]}"
  done
fi
if want L1; then
  # Latency: Kafka's EndToEndLatency tool's settings (linger.ms=0, acks=1, fetch.min.bytes=1,
  # fetch.wait.max.ms default 500: the broker must answer a waiting fetch when data arrives).
  # Tail latency on a shared 2-core machine swings from run to run with what else runs on
  # the host, so it is measured several times and the median run reported.
  for i in $(seq "$l1_runs"); do
    for s in $(order "$i"); do
      settle  # earlier gigabytes written back first: L1 measures the broker, not writeback
      run_scenario "$s" "L1.$i" loadgen latency --topic "l1-$i" --partitions 16 --record-size 1024 \
        --rate "$l1_rate" --seconds "$l1_seconds" --warmup "$l1_warmup" --acks 1 --linger-ms 0 \
        --batch-size 1048576 --compression none
    done
  done
fi
if want P1x1; then
  for s in $systems; do
    settle
    run_scenario "$s" P1x1 loadgen produce --topic p1x1 --partitions 16 --record-size 1024 \
      --records "$c1_records" --clients 1 "${prod_common[@]}"
  done
fi
if want PT; then
  # The second load generator: Kafka's own kafka-producer-perf-test (the Java producer, one
  # client), producer settings as above; the topic is made first with kafka-topics, 16 partitions.
  for i in $(seq "$pt_runs"); do
    for s in $(order "$i"); do
      "$kafka_tool" kafka-topics --bootstrap-server "${addr_of[$s]}" --create --topic "pt-$i" \
        --partitions 16 --replication-factor 1 >"$raw/$s/PT.$i.topic.out" 2>&1 ||
        { echo "kafka-topics --create pt-$i on $s failed:"; cat "$raw/$s/PT.$i.topic.out"; exit 1; }
      settle
      run_scenario "$s" "PT.$i" pt --topic "pt-$i" --num-records "$pt_records" --record-size 1024 \
        --throughput -1 --command-property acks=1 linger.ms=5 batch.size=1048576 compression.type=none
    done
  done
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/machine.txt"
for s in $systems; do
  du -sb "${logdir_of[$s]}" | awk -v s="$s" '{print s "_data_bytes=" $1}' >>"$raw/machine.txt"
done
if [[ -n $bpid ]]; then
  grep -ciE 'error|warn' "$raw/tributary/broker.log" | awk '{print "tributary_log_warnings=" $1}' >>"$raw/machine.txt" || true
fi
if [[ -n $kafka_root ]]; then
  grep -cE '^\[[^]]*\] (ERROR|WARN)' "$kafka_root/server.log" | awk '{print "kafka_log_warnings=" $1}' >>"$raw/machine.txt" || true
fi

out=$results_dir/$stamp-broker-$host_kind.md
PYTHONPATH="$root/bench" /usr/bin/python3 - "$raw" "$out" "$host_kind" "$c1_bytes" "$io_threads" "$systems" "$pt_bytes" <<'PY'
import json, os, re, sys
import bench_limits

raw, out, host_kind, c1_bytes, io_threads, systems, pt_bytes = sys.argv[1:8]
systems = systems.split()
GB = 1e9
NAME = {"tributary": "Tributary", "kafka": "Apache Kafka"}

def load(s, name):
    try:
        with open(os.path.join(raw, s, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

machine = bench_limits.machine(raw)
loops, loop = bench_limits.loopbacks(raw)
SCENARIOS = ("P1", "C1d", "C1", "C1x1", "P2", "L1", "P1x1", "PT")
sc = {s: {n: load(s, n + ".json") for n in SCENARIOS} for s in systems}

def runs(s, name, key):
    """System s's runs NAME.1, NAME.2, ... that measured `key`, and the number of the median
    one, which then stands for NAME."""
    all_ = [(i, load(s, "%s.%d.json" % (name, i))) for i in range(1, 100)
            if os.path.exists(os.path.join(raw, s, "%s.%d.json" % (name, i)))]
    all_ = [(i, d) for i, d in all_ if d.get(key) is not None]
    if not all_:
        return all_, None
    mid = sorted(all_, key=lambda x: x[1][key])[(len(all_) - 1) // 2]
    sc[s][name] = dict(mid[1])
    return all_, mid[0]
picks = {s: {"L1": runs(s, "L1", "p99_ms"), "P1": runs(s, "P1", "mb_per_s"),
             "PT": runs(s, "PT", "mb_per_s")} for s in systems}

pagecache = bench_limits.dd_rate(raw, "dd.txt")
direct = bench_limits.dd_rate(raw, "dd_direct.txt")
pagecache_par, dd_writers = bench_limits.dd_parallel(raw)

def gbps(v):
    return "n/a" if v is None else "%.2f GB/s" % (v / GB)

def pagecache_limits(v):
    """Produce throughput `v` (B/s) against the disk write limits."""
    out = ""
    if direct:
        out += "; direct write %s (ratio %.2f)" % (gbps(direct), v / direct)
    if pagecache:
        out += "; page-cache write %s (ratio %.2f)" % (gbps(pagecache), v / pagecache)
    if pagecache_par:
        out += ", %d writers %s (ratio %.2f)" % (dd_writers, gbps(pagecache_par), v / pagecache_par)
    return out

def disk_limits():
    return "".join("; %s %s" % (k, gbps(v)) for k, v in (("direct write", direct),
                                                         ("page-cache write", pagecache)) if v)

def cmd(s, n):
    try:
        return open(os.path.join(raw, s, n + ".cmd")).read().strip()
    except OSError:
        return ""

def ok(d, n):
    if not d or d.get("exit_code") != 0:
        return False
    if n.startswith("C1"):
        return d.get("errors", 1) == 0 and d.get("complete") == 1
    if n.startswith("L1"):
        return d.get("delivery_errors", 1) == 0 and d.get("lost", 1) == 0
    return d.get("delivery_errors", 1) == 0

def valid(d, n):
    if not d:
        return "not run"
    return "" if ok(d, n) else " (INVALID RUN: errors, see raw)"

def fincore(s, n):
    try:
        r_, s_ = open(os.path.join(raw, s, n + ".fincore.txt")).read().split()
        return int(r_), int(s_)
    except (OSError, ValueError):
        return None

def peak_rss(s):  # the highest VmHWM of any scenario (each reset at its start), KiB
    v = [d.get("broker_vmhwm_kib", 0) for d in sc[s].values() if d]
    for name in ("P1", "L1", "PT"):
        v += [d.get("broker_vmhwm_kib", 0) for _, d in picks[s][name][0]]
    return max(v) if v else None

def payload(n, d):
    if n == "L1":
        return d.get("sent", 0) * d.get("record_size", 1024)  # written once, read once
    return d.get("bytes") or 0

res = []
res.append("# Broker benchmark %s on %s" % (os.path.basename(out)[:10], host_kind))
res.append("")
res.append("Host: %s, %s CPUs, %s, %s GiB RAM, data on %s; librdkafka %s; Tributary %s (Release)%s. "
           "Load average at start %s, at end %s (the machine is shared with other builds: the "
           "brokers, the load generator and iperf3 all share these CPUs)." % (
               machine.get("cpu", "?"), machine.get("nproc", "?"), machine.get("kernel", "?"),
               machine.get("mem_gib", "?"), machine.get("fs", "?"), machine.get("librdkafka", "?"),
               machine.get("commit", "?"),
               "; Apache Kafka %s on %s" % (machine.get("kafka", "?"), machine.get("java", "?"))
               if "kafka" in systems else "",
               machine.get("loadavg_start", "?"),
               machine.get("loadavg_end", "?").split(" ")[0] if machine.get("loadavg_end") else "?"))
res.append("")
res.append("## Machine limit (measured in this run)")
res.append("")
res.append("| limit | value |")
res.append("| --- | --- |")
res.append("| TCP loopback, iperf3 -c 127.0.0.1 -t 5, one stream: median of %d runs (%s) | %s |" % (
    len(loops), ", ".join(gbps(v) for v in loops), gbps(loop)))
res.append("| buffered write of new data to the data filesystem, dd %s bs=1M, no fsync | %s |" % (
    c1_bytes, gbps(pagecache)))
if pagecache_par:
    res.append("| the same volume by %d dd's in parallel (Tributary's num.io.threads) | %s |" % (
        dd_writers, gbps(pagecache_par)))
res.append("| direct write to the data filesystem, dd %s bs=1M oflag=direct | %s |" % (c1_bytes, gbps(direct)))
res.append("")
res.append("The targets are ratios to loopback. Every byte a producer sends must also be written to "
           "disk: Tributary appends batches of 64 KiB and more with O_DIRECT (the default "
           "tributary.log.direct.writes=true) and smaller ones through the page cache, Kafka "
           "writes everything through the page cache, so produce figures are also given as "
           "ratios to both disk limits.")

lim = "loopback %s" % gbps(loop)

# ---- Tributary against the machine (the issue's absolute targets) ----
if "tributary" in systems:
    t = sc["tributary"]
    p1_all, p1_pick = picks["tributary"]["P1"]
    l1_all, l1_pick = picks["tributary"]["L1"]
    rows = []
    def row(fig, meas, limit, ratio, target, met):
        rows.append("| %s | %s | %s | %s | %s | %s |" % (fig, meas, limit, ratio, target, met))
    p1, c1, p2, l1 = t["P1"], t["C1"], t["P2"], t["L1"]
    if p1:
        v = p1["mb_per_s"] * 1e6
        r = v / loop if loop else None
        row("P1 produce 1 KiB x 16 partitions, acks=1, %d producers%s" % (
                p1.get("clients", 1), "".join(sorted({valid(d, "P1") for _, d in p1_all}))),
            "%.1f MB/s (%.0f records/s)" % (p1["mb_per_s"], p1["records_per_s"])
            + ("; run %d of %d, the median (every run: %s)" % (
                p1_pick, len(p1_all), ", ".join("%.0f MB/s" % d["mb_per_s"] for _, d in p1_all))
               if len(p1_all) > 1 else ""),
            lim + pagecache_limits(v),
            "%.3f" % r if r else "n/a", ">= 0.25 of loopback", "yes" if r and r >= 0.25 else "NO")
    if c1:
        v = c1["mb_per_s"] * 1e6
        r = v / loop if loop else None
        row("C1 consume %s from page cache, %d consumers%s" % (
                c1_bytes.upper().replace("G", " GiB"), c1.get("clients", 1), valid(c1, "C1")),
            "%.1f MB/s (%.2f GB in %.1f s)" % (c1["mb_per_s"], c1["bytes"] / GB, c1["seconds"]), lim,
            "%.3f" % r if r else "n/a", ">= 0.4 of loopback", "yes" if r and r >= 0.4 else "NO")
    for n, what in (("C1d", "the first read of P1's data, from disk: direct writes bypassed the page cache"),
                    ("C1x1", "the same, one consumer")):
        d = t[n]
        if d:
            r = d["mb_per_s"] * 1e6 / loop if loop else None
            row("(%s: %s%s)" % (n, what, valid(d, n)),
                "%.1f MB/s (%.2f GB in %.1f s)" % (d["mb_per_s"], d["bytes"] / GB, d["seconds"]),
                lim, "%.3f" % r if r else "n/a", "for comparison", "")
    if p2:
        v = p2["records_per_s"]
        row("P2 produce 100 B x 6 partitions, one producer" + valid(p2, "P2"),
            "%.0f records/s (%.1f MB/s)" % (v, p2["mb_per_s"]),
            lim + pagecache_limits(p2["mb_per_s"] * 1e6),
            "%.3f" % (p2["mb_per_s"] * 1e6 / loop) if loop else "n/a", ">= 820,000 records/s",
            "yes" if v >= 820000 else "NO")
    if l1:
        row("L1 end-to-end latency, %.0f msg/s x 1 KiB%s" % (
                l1.get("rate_target", 0), "".join(sorted({valid(d, "L1") for _, d in l1_all}))),
            "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%.0f msg/s achieved)" % (
                l1["p50_ms"], l1["p99_ms"], l1["p999_ms"], l1["max_ms"], l1["rate_achieved"])
            + ("; run %d of %d, the median p99 (every run's p99: %s)" % (
                l1_pick, len(l1_all), ", ".join("%.2f ms" % d["p99_ms"] for _, d in l1_all))
               if len(l1_all) > 1 else ""),
            "", "", "p99 <= 5 ms", "yes" if l1["p99_ms"] <= 5 else "NO")
    p1x1 = t["P1x1"]
    if p1x1:
        v = p1x1["mb_per_s"] * 1e6
        r = v / loop if loop else None
        row("(P1x1: P1 with one producer%s)" % valid(p1x1, "P1x1"),
            "%.1f MB/s (%.0f records/s)" % (p1x1["mb_per_s"], p1x1["records_per_s"]), lim + pagecache_limits(v),
            "%.3f" % r if r else "n/a", "for comparison", "")
    if p1:
        hwm = p1["broker_vmhwm_kib"] / 1024
        row("broker peak RSS under P1 (VmHWM)", "%.0f MiB" % hwm, "RAM %s GiB" % machine.get("mem_gib", "?"),
            "", "<= 256 MiB", "yes" if hwm <= 256 else "NO")
    res.append("")
    res.append("## Issue targets: Tributary against the machine")
    res.append("")
    res.append("| figure | measured | limit (same run) | ratio | target | met |")
    res.append("| --- | --- | --- | --- | --- | --- |")
    res.extend(rows)
    res.append("")
    res.append("MB are 10^6 bytes of record values (1 KiB = 1024 B records); GB 10^9 bytes.")

# ---- side by side ----
missed = []
if "tributary" in systems and "kafka" in systems:
    T, K = sc["tributary"], sc["kafka"]
    rows = []
    def both_valid(n, runs_t=None, runs_k=None):
        dt = [d for _, d in runs_t] if runs_t else [T[n]]
        dk = [d for _, d in runs_k] if runs_k else [K[n]]
        bad = [NAME[s] for s, ds in (("tributary", dt), ("kafka", dk)) if not all(ok(d, n) for d in ds)]
        return " (INVALID RUN on %s: errors, see raw)" % " and ".join(bad) if bad else ""
    def every(all_, key, fmt):
        return " (every run: %s)" % ", ".join(fmt % d[key] for _, d in all_) if len(all_) > 1 else ""
    def sbs(fig, tv, kv, tdesc, kdesc, limit, target, want_min=None, want_max=None):
        r = tv / kv if tv is not None and kv else None
        if r is None:
            met = "n/a"
        elif want_min is not None:
            met = "met" if r >= want_min else "missed"
        elif want_max is not None:
            met = "met" if r <= want_max else "missed"
        else:
            met = ""
        if met == "missed":
            missed.append(fig.split(" (")[0])
        rows.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            fig, tdesc, kdesc, "%.2f" % r if r is not None else "n/a", limit, target, met))
    def of_loop(v):
        return " (%.3f of loopback)" % (v * 1e6 / loop) if loop else ""
    pt_, pk_ = picks["tributary"]["P1"], picks["kafka"]["P1"]
    if T["P1"] and K["P1"]:
        sbs("P1 produce 1 KiB x 16 partitions, %d producers, MB/s%s" % (T["P1"].get("clients", 1),
                                                                    both_valid("P1", pt_[0], pk_[0])),
            T["P1"]["mb_per_s"], K["P1"]["mb_per_s"],
            "%.1f%s%s" % (T["P1"]["mb_per_s"], of_loop(T["P1"]["mb_per_s"]), every(pt_[0], "mb_per_s", "%.0f")),
            "%.1f%s%s" % (K["P1"]["mb_per_s"], of_loop(K["P1"]["mb_per_s"]), every(pk_[0], "mb_per_s", "%.0f")),
            lim + disk_limits(), ">= 1.2", want_min=1.2)
    if T["C1"] and K["C1"]:
        ft, fk = fincore("tributary", "C1"), fincore("kafka", "C1")
        res_ = ", ".join("%s %.0f%%" % (NAME[s], 100.0 * f[0] / max(f[1], 1))
                         for s, f in (("tributary", ft), ("kafka", fk)) if f)
        sbs("C1 consume %s from the page cache, %d consumers, MB/s%s%s" % (
                c1_bytes, T["C1"].get("clients", 1), " (resident before C1: %s)" % res_ if res_ else "",
                both_valid("C1")),
            T["C1"]["mb_per_s"], K["C1"]["mb_per_s"],
            "%.1f%s" % (T["C1"]["mb_per_s"], of_loop(T["C1"]["mb_per_s"])),
            "%.1f%s" % (K["C1"]["mb_per_s"], of_loop(K["C1"]["mb_per_s"])), lim, ">= 1.2", want_min=1.2)
    if T["P2"] and K["P2"]:
        sbs("P2 produce 100 B x 6 partitions, one producer, records/s" + both_valid("P2"),
            T["P2"]["records_per_s"], K["P2"]["records_per_s"],
            "%.0f (%.1f MB/s)" % (T["P2"]["records_per_s"], T["P2"]["mb_per_s"]),
            "%.0f (%.1f MB/s)" % (K["P2"]["records_per_s"], K["P2"]["mb_per_s"]), lim + disk_limits(),
            ">= 1.2", want_min=1.2)
    lt_, lk_ = picks["tributary"]["L1"], picks["kafka"]["L1"]
    if T["L1"] and K["L1"]:
        sbs("L1 end-to-end p99, %.0f msg/s x 1 KiB, ms%s" % (T["L1"].get("rate_target", 0),
                                                          both_valid("L1", lt_[0], lk_[0])),
            T["L1"]["p99_ms"], K["L1"]["p99_ms"],
            "%.2f%s" % (T["L1"]["p99_ms"], every(lt_[0], "p99_ms", "%.2f")),
            "%.2f%s" % (K["L1"]["p99_ms"], every(lk_[0], "p99_ms", "%.2f")), "", "<= 0.5", want_max=0.5)
    rt, rk = peak_rss("tributary"), peak_rss("kafka")
    if rt and rk:
        sbs("broker peak RSS over the run (highest VmHWM of any scenario), MiB", rt, rk,
            "%.0f" % (rt / 1024), "%.0f (the JVM's RSS includes the touched part of its 1 GiB heap)" % (rk / 1024),
            "RAM %s GiB" % machine.get("mem_gib", "?"), "<= 0.25", want_max=0.25)
    for n, what in (("C1d", "the first read after P1, MB/s; Tributary's direct writes leave its data "
                            "out of the page cache, Kafka's buffered writes leave it resident"),
                    ("C1x1", "C1 with one consumer, MB/s"), ("P1x1", "P1 with one producer, MB/s")):
        if T[n] and K[n]:
            extra = ""
            if n == "C1d":
                ft, fk = fincore("tributary", "C1d"), fincore("kafka", "C1d")
                res_ = ", ".join("%s %.0f%%" % (NAME[s], 100.0 * f[0] / max(f[1], 1))
                                 for s, f in (("tributary", ft), ("kafka", fk)) if f)
                extra = "; resident before: %s" % res_ if res_ else ""
            sbs("(%s: %s%s%s)" % (n, what, extra, both_valid(n)), T[n]["mb_per_s"], K[n]["mb_per_s"],
                "%.1f%s" % (T[n]["mb_per_s"], of_loop(T[n]["mb_per_s"])),
                "%.1f%s" % (K[n]["mb_per_s"], of_loop(K[n]["mb_per_s"])), lim, "for comparison")
    if T["L1"] and K["L1"]:
        for key, label in (("p50_ms", "p50"), ("p999_ms", "p99.9"), ("max_ms", "max")):
            sbs("(L1 %s of the median-p99 run, ms)" % label, T["L1"][key], K["L1"][key],
                "%.2f" % T["L1"][key], "%.2f" % K["L1"][key], "", "for comparison")
    if T["PT"] and K["PT"]:
        ptt, ptk = picks["tributary"]["PT"], picks["kafka"]["PT"]
        sbs("(PT: kafka-producer-perf-test, 1 KiB x 16 partitions, one Java producer, MB/s%s)"
            % both_valid("PT", ptt[0], ptk[0]),
            T["PT"]["mb_per_s"], K["PT"]["mb_per_s"],
            "%.1f%s%s" % (T["PT"]["mb_per_s"], of_loop(T["PT"]["mb_per_s"]), every(ptt[0], "mb_per_s", "%.0f")),
            "%.1f%s%s" % (K["PT"]["mb_per_s"], of_loop(K["PT"]["mb_per_s"]), every(ptk[0], "mb_per_s", "%.0f")),
            lim, "for comparison")
    for n in ("P1", "C1", "P2"):
        if T[n] and K[n] and payload(n, T[n]) and payload(n, K[n]):
            ct = T[n]["broker_cpu_s"] / (payload(n, T[n]) / GB)
            ck = K[n]["broker_cpu_s"] / (payload(n, K[n]) / GB)
            sbs("(broker CPU-seconds per GB under %s)" % n, ct, ck, "%.2f" % ct, "%.2f" % ck, "", "for comparison")
    res.append("")
    res.append("## Side by side: Tributary and Apache Kafka %s, same run, same load generator" % machine.get("kafka", ""))
    res.append("")
    res.append("Both brokers ran on this machine for the whole run, data on the same filesystem; each "
               "scenario ran on one then the other (repeated runs alternate which goes first), "
               "driven by the same tributary-loadgen with the same settings. The targets are the "
               "issue's for this 2-core machine: Tributary / Kafka.")
    res.append("")
    res.append("| figure | Tributary | Apache Kafka | Tributary / Kafka | limit (same run) | target | met |")
    res.append("| --- | --- | --- | --- | --- | --- | --- |")
    res.extend(rows)
    res.append("")
    if missed:
        res.append("Missed: %s. What limits each: see the cost table below (each side's CPU and "
                   "the load generator's), and a profile (`BENCH_PERF=1`, perf.data per "
                   "scenario in the raw folder)." % "; ".join(missed))
    else:
        res.append("Every side-by-side target met.")

# ---- cost per scenario ----
res.append("")
res.append("## Broker cost per scenario")
res.append("")
res.append("| scenario | system | figure | payload | wall | broker CPU | broker cores busy | broker CPU-s per GB | "
           "broker peak RSS | load generator CPU | other broker CPU (idle) | load avg before/after |")
res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
def figure(n, d):
    if n == "L1":
        return "p99 %.2f ms" % d.get("p99_ms", 0)
    if n == "P2":
        return "%.0f records/s" % d.get("records_per_s", 0)
    return "%.1f MB/s" % d.get("mb_per_s", 0)
for n in SCENARIOS:
    for s in systems:
        d = sc[s][n]
        if not d:
            continue
        pay = payload(n, d)
        secs = d.get("seconds") or (d.get("warmup_s", 0) + d.get("measure_s", 0))
        res.append("| %s | %s | %s | %.2f GB | %.1f s | %.1f s | %.2f | %.1f | %.0f MiB | %.1f s | %.1f s | %.2f / %.2f |" % (
            n, NAME[s], figure(n, d) + valid(d, n), pay / GB, secs, d["broker_cpu_s"], d["broker_cpu_s"] / d["wall_s"],
            d["broker_cpu_s"] / (pay / GB) if pay else 0, d["broker_vmhwm_kib"] / 1024,
            d.get("client_cpu_s", 0), d.get("other_broker_cpu_s", 0),
            d["loadavg_before"], d["loadavg_after"]))
res.append("")
res.append("P1, L1 and PT rows are the median runs. Broker CPU is utime+stime from /proc/<pid>/stat "
           "(Kafka: the JVM's pid) around the load generator's run (so it includes connection "
           "set-up and the latency run's warm-up); peak RSS is VmHWM from /proc/<pid>/status, reset "
           "through /proc/<pid>/clear_refs before each scenario; a JVM's RSS includes the pages of "
           "its heap it has touched. \"Cores busy\" is broker CPU over the load generator's wall "
           "time. \"Other broker CPU\" is what the idle system used meanwhile. The PT load "
           "generator's CPU is the tool's JVM, start-up included.")
for n in ("C1d", "C1"):
    for s in systems:
        f = fincore(s, n)
        if f:
            res.append("Before %s, %.1f%% of %s's %.2f GB of topic p1 log files were resident in the "
                       "page cache (fincore)." % (n, 100.0 * f[0] / max(f[1], 1), NAME[s], f[1] / GB))

# ---- second load generator ----
if any(picks[s]["PT"][0] for s in systems):
    res.append("")
    res.append("## Second load generator: kafka-producer-perf-test")
    res.append("")
    res.append("Kafka's own producer benchmark (the Java client, one producer) against each system, %s "
               "of 1 KiB records per run, the topic made first with kafka-topics (16 partitions). "
               "Latencies are the tool's, send to acknowledgement." % pt_bytes)
    res.append("")
    res.append("| system | run | records/s | MB/s | avg latency | p99 latency | tool CPU | broker CPU-s per GB | broker peak RSS |")
    res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for s in systems:
        all_, pick = picks[s]["PT"]
        for i, d in all_:
            res.append("| %s | %d%s%s | %.0f | %.1f | %.1f ms | %d ms | %.1f s | %.2f | %.0f MiB |" % (
                NAME[s], i, " (median)" if i == pick and len(all_) > 1 else "", valid(d, "PT"),
                d["records_per_s"], d["mb_per_s"], d["avg_latency_ms"], d["p99_ms"], d["client_cpu_s"],
                d["broker_cpu_s"] / (d["bytes"] / GB) if d.get("bytes") else 0, d["broker_vmhwm_kib"] / 1024))
    res.append("")
    res.append("kafka-consumer-perf-test is not run: it always consumes as a member of a consumer group "
               "(subscribe() with a group id, `--group` defaults to perf-consumer-<n>), and Tributary has "
               "no group coordinator yet (FindCoordinator answers COORDINATOR_NOT_AVAILABLE), so "
               "against Tributary it reads nothing. C1 (assign(), no group) stands for consumption.")

# ---- commands ----
res.append("")
res.append("## Commands and settings")
res.append("")
if "tributary" in systems:
    res.append("Tributary: `tributary-broker --override node.id=1 --override listeners=PLAINTEXT://127.0.0.1:<port> "
               "--override advertised.listeners=... --override log.dirs=<temp dir under build-bench/> "
               "--override num.io.threads=%s` (fresh data dir; every other setting default)." % io_threads)
    res.append("")
if "kafka" in systems:
    try:
        jvm = open(os.path.join(raw, "kafka", "jvm.txt")).read().strip()
    except OSError:
        jvm = "?"
    try:
        props = [l.strip() for l in open(os.path.join(raw, "kafka", "server.properties")) if l.strip()]
    except OSError:
        props = []
    res.append("Apache Kafka: `tests/integration/apache_kafka.py <temp dir under build-bench/>`, which runs "
               "`kafka-storage format --standalone` then `tools/kafka kafka-server-start server.properties` "
               "with KAFKA_HEAP_OPTS=\"-Xmx1G -Xms1G\": the JVM ran `%s` (Kafka's stock "
               "kafka-server-start options: 1 GiB heap, G1, MaxGCPauseMillis=20). server.properties, "
               "everything else Kafka's defaults (num.network.threads=3, num.io.threads=8, flushes "
               "left to the OS):" % re.sub(r"/\S*/", "", jvm))
    res.append("")
    res.append("```")
    for l in props:
        l = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", l)
        res.append(re.sub(r"=/\S+", "=<temp dir>/data", l) if l.startswith("log.dirs") else l)
    res.append("```")
    res.append("")
res.append("Producers (P1, P1x1, P2): acks=1, linger.ms=5, batch.size=1048576, batch.num.messages=1000000, "
           "compression.type=none, enable.idempotence=false, max.in.flight=5, "
           "queue.buffering.max.messages=2000000, queue.buffering.max.kbytes=1048576, null keys, "
           "records spread round-robin over the partitions, one payload buffer (not copied); the "
           "clock runs from the first produce() to the end of flush(); P1's producers are each their "
           "own librdkafka client (own connection and threads) producing to its share of the "
           "partitions (partition p to producer p mod N), the records split evenly. Consumers (C1d, C1, C1x1): each its own "
           "librdkafka client (own connection and threads) assign()ing its share of the partitions "
           "(partition p to consumer p mod N) at the beginning, as the members of a consumer group "
           "split a topic; librdkafka defaults (fetch.max.bytes 50 MiB, "
           "max.partition.fetch.bytes 1 MiB, fetch.wait.max.ms 500), clock from first to last "
           "record. Latency (L1): the producer sends at a fixed rate (paced every 100 us) with "
           "linger.ms=0, acks=1, the send time (steady clock) in the first 8 bytes of the value; a "
           "consumer in the same process assign()ed at the end offsets reads concurrently with "
           "librdkafka's defaults (fetch.min.bytes 1, fetch.wait.max.ms 500); percentiles are over "
           "every message sent after the warm-up, from a sorted vector.")
res.append("")
res.append("```")
for s in systems:
    for n in SCENARIOS:
        if cmd(s, n):
            res.append("%s %s: %s" % (NAME[s], n, cmd(s, n)))
        elif n in ("P1", "L1", "PT"):
            all_, pick = picks[s][n]
            if pick and cmd(s, "%s.%d" % (n, pick)):
                res.append("%s %s (run %d of %d; the others on topics of their own): %s" % (
                    NAME[s], n, pick, len(all_), cmd(s, "%s.%d" % (n, pick))))
res.append("```")
res.append("")
res.append("Loopback: `iperf3 -s -1 -D -B 127.0.0.1 -p <port>` then `iperf3 -c 127.0.0.1 -p <port> -t 5 -J` "
           "(one TCP stream; client and server on this machine, as the broker and load generator are), "
           "%d times; the median is the limit every ratio uses." % len(loops))
res.append("")
res.append("Reproduce: `bench/broker_bench.sh` (see bench/README.md). Raw JSON lines and the brokers' logs: "
           "`%s` (not committed)." % os.path.relpath(raw, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(out))))))
with open(out, "w") as f:
    f.write("\n".join(res) + "\n")
print("wrote", out)
PY
