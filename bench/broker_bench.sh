#!/usr/bin/env bash
# The broker benchmark: builds tributary-broker and tributary-loadgen (Release,
# -DTRIB_BENCH=ON) into build-bench/, measures TCP loopback bandwidth (iperf3) and buffered
# writes of new data to the data filesystem (dd) in the same
# run, starts a fresh single-node broker on a free loopback port with a temp data dir, runs the
# issue's scenarios against it, and writes bench/results/<date>-broker-<host-kind>.md.
#
#   P1  produce 1 KiB records to 16 partitions, acks=1        MB/s / loopback   >= 0.25
#       by BENCH_P1_CLIENTS producers splitting the partitions; P1x1 at the end does the
#       same with one producer, for comparison
#   C1d the first read of what P1 wrote (4 GiB): the broker wrote it around the page cache
#       (direct writes), so this reads from disk (for comparison, not a target)
#   C1  consume what P1 wrote from the page cache (C1d put it there) MB/s / loopback >= 0.4
#       by BENCH_C1_CLIENTS consumers splitting the partitions (a consumer group's way
#       to read faster); C1x1 then reads it again with one consumer, for comparison
#   P2  produce 100 B records to 6 partitions, one producer   records/s         >= 820,000
#   L1  end-to-end latency, 50,000 msg/s x 1 KiB               p99               <= 5 ms
#   broker CPU-seconds per GB (/proc/<pid>/stat) and peak RSS (VmHWM, reset before each
#   scenario through /proc/<pid>/clear_refs)                   RSS under P1      <= 256 MiB
#
# Settings (environment):
#   TRIB_HOST_KIND=ci        the <host-kind> part of the file name (as bench/run.sh)
#   TRIB_BENCH_BUILD=dir     build folder (build-bench/)
#   BENCH_C1_BYTES=4g        bytes P1 writes and C1 reads back (k/m/g = 2^10...)
#   BENCH_P2_SECONDS=15      P2 duration
#   BENCH_L1_SECONDS=20      L1 measured duration (after BENCH_L1_WARMUP=3 s)
#   BENCH_L1_RATE=50000      L1 messages per second
#   BENCH_L1_RUNS=3          L1 runs (each on a topic of its own); the run with the median
#                            p99 is reported, every run's p99 beside it
#   BENCH_C1_CLIENTS=2       consumers sharing C1's partitions
#   BENCH_P1_CLIENTS=2       producers sharing P1's partitions
#   BENCH_P1_RUNS=3          P1 runs; the run with the median MB/s is reported
#   BENCH_LOOP_RUNS=3        iperf3 runs; the median is the loopback limit
#   BENCH_IO_THREADS=nproc   the broker's num.io.threads
#   BENCH_PERF=1             perf record -g the broker during each scenario (raw folder)
#   BENCH_SKIP_BUILD=1       use the binaries already in the build folder
#   BENCH_ONLY="P1 C1"       run only these scenarios (C1d, C1, C1x1 need P1's data)
#   BENCH_COMMIT=abc123      the commit to name in the results (default: git rev-parse)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${TRIB_BENCH_BUILD:-$root/build-bench}
stamp=$(date -u +%Y-%m-%d)
source "$root/bench/host_kind.sh"
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
only=${BENCH_ONLY:-P1 C1d C1 C1x1 P2 L1 P1x1}
mkdir -p "$results_dir" "$raw"
rm -f "$raw"/*.json "$raw"/*.err "$raw"/*.txt "$raw"/*.cmd "$raw"/*.out "$raw"/*.perf.data

c1_records=$(( $(/usr/bin/python3 -c "
import sys; s=sys.argv[1]; m={'k':1<<10,'m':1<<20,'g':1<<30}
print(int(float(s[:-1])*m[s[-1].lower()]) if s[-1].lower() in m else int(s))" "$c1_bytes") / 1024 ))
broker_bin=$build/broker/tributary-broker
loadgen=$build/bench/tributary-loadgen

if [[ -z ${BENCH_SKIP_BUILD:-} ]]; then
  echo "== configure and build ($build)"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIB_BENCH=ON \
    -DTRIB_TESTS=OFF >"$raw/cmake.log"
  ninja -C "$build" -j"${BENCH_JOBS:-2}" tributary-broker tributary-loadgen >"$raw/build.log" 2>&1 ||
    { echo "build failed, see $raw/build.log"; tail -20 "$raw/build.log"; exit 1; }
fi
[[ -x $broker_bin && -x $loadgen ]] || { echo "missing $broker_bin or $loadgen"; exit 1; }

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

echo "== machine"
{
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -sr)"
  echo "mem_gib=$mem_gib"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"
  echo "fs=$(df -T "$build" | awk 'NR==2 {print $2}')"
  echo "commit=${BENCH_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')}"
} >"$raw/machine.txt"
cat "$raw/machine.txt"

# Loopback bandwidth on this shared VM moves by a third from one run to the next (2.9-4.3
# GB/s seen the same day): measured BENCH_LOOP_RUNS times, the median is the limit.
loop_runs=${BENCH_LOOP_RUNS:-3}
echo "== loopback limit (iperf3, 5 s, $loop_runs runs)"
for i in $(seq "$loop_runs"); do
  iperf_json=$raw/iperf3.$i.json
  echo '{}' >"$iperf_json"
  if command -v iperf3 >/dev/null; then
    port=$(free_port)
    iperf3 -s -1 -D -B 127.0.0.1 -p "$port" >/dev/null 2>&1 || true
    sleep 0.5
    timeout 20 iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$iperf_json" 2>/dev/null || echo '{}' >"$iperf_json"
  fi
done

echo "== page-cache write limit (dd, $c1_bytes of new data, no fsync)"
# What a produce must at least do per byte: write new data into the page cache of the data
# filesystem (new pages, the filesystem's block reservation, dirty throttling past the
# background ratio). Same volume as P1, same folder the broker writes to.
# Every measurement of new writes (both dd's and P1) starts 5 s after the last memory was
# freed: a VM with free page reporting (virtio-balloon) hands freed memory back to the
# host about 2 s after it is freed, and writing into such pages again costs a host fault
# each, several times the cost of writing into memory freed a moment ago.
settle() { sync; sleep 5; }
dd_dir=$(mktemp -d "$build/dd.XXXXXX")
settle
dd if=/dev/zero of="$dd_dir/f" bs=1M count=$(( c1_records / 1024 )) 2>"$raw/dd.txt" || true
rm -rf "$dd_dir"
tail -1 "$raw/dd.txt"
# The broker writes from num.io.threads cores at once: the same volume by that many dd's in
# parallel is the limit those cores have together.
dd_dir=$(mktemp -d "$build/dd.XXXXXX")
settle
dd_t0=$(date +%s%N)
for i in $(seq "$io_threads"); do
  dd if=/dev/zero of="$dd_dir/f$i" bs=1M count=$(( c1_records / 1024 / io_threads )) 2>/dev/null &
done
wait
dd_t1=$(date +%s%N)
echo "$(( c1_records / 1024 / io_threads * io_threads * 1048576 )) $(( dd_t1 - dd_t0 )) $io_threads" >"$raw/dd_parallel.txt"
rm -rf "$dd_dir"
sync
awk '{printf "%d writers in parallel: %.2f GB/s\n", $3, $1 / $2}' "$raw/dd_parallel.txt"

# The broker appends big batches with O_DIRECT (tributary.log.direct.writes): the device's
# limit for such writes, same volume, one writer and as many as the broker has io threads.
echo "== direct write limit (dd oflag=direct, $c1_bytes, bs=1M)"
dd_dir=$(mktemp -d "$build/dd.XXXXXX")
settle
dd if=/dev/zero of="$dd_dir/f" bs=1M count=$(( c1_records / 1024 )) oflag=direct 2>"$raw/dd_direct.txt" || true
rm -rf "$dd_dir"
tail -1 "$raw/dd_direct.txt"

echo "== broker"
data=$(mktemp -d "$build/broker-bench.XXXXXX")
bport=$(free_port)
"$broker_bin" --override node.id=1 \
  --override listeners=PLAINTEXT://127.0.0.1:$bport \
  --override advertised.listeners=PLAINTEXT://127.0.0.1:$bport \
  --override log.dirs="$data/log" --override num.io.threads="$io_threads" \
  >"$raw/broker.log" 2>&1 &
bpid=$!
perf_pid=
cleanup() {
  [[ -n $perf_pid ]] && kill -INT "$perf_pid" 2>/dev/null || true
  if kill -0 "$bpid" 2>/dev/null; then
    kill -TERM "$bpid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$bpid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$bpid" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT
for _ in $(seq 100); do
  (echo >/dev/tcp/127.0.0.1/$bport) 2>/dev/null && break
  kill -0 "$bpid" 2>/dev/null || { echo "broker exited:"; tail -20 "$raw/broker.log"; exit 1; }
  sleep 0.1
done
echo "broker pid $bpid on 127.0.0.1:$bport, data in $data, num.io.threads=$io_threads"
brokers=127.0.0.1:$bport
clk_tck=$(getconf CLK_TCK)

broker_cpu() {  # utime + stime of the broker, in clock ticks
  awk '{print $14 + $15}' "/proc/$bpid/stat"
}
broker_kib() {  # VmHWM or VmRSS in KiB
  awk -v k="$1:" '$1 == k {print $2}' "/proc/$bpid/status"
}

# run_scenario NAME loadgen-args...: loadgen's JSON line plus the broker's CPU and peak RSS
# during the run, merged into $raw/NAME.json.
run_scenario() {
  local name=$1; shift
  echo "-- $name: tributary-loadgen $*"
  echo "tributary-loadgen $*" >"$raw/$name.cmd"
  echo 5 >"/proc/$bpid/clear_refs" 2>/dev/null || true  # resets VmHWM to the current RSS
  local load0 cpu0 cpu1 t0 t1 hwm rss rc=0
  load0=$(cut -d' ' -f1 /proc/loadavg)
  if [[ -n ${BENCH_PERF:-} ]] && command -v perf >/dev/null; then
    perf record -F 499 -g -p "$bpid" -o "$raw/$name.perf.data" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  cpu0=$(broker_cpu); t0=$(date +%s.%N)
  "$loadgen" "$@" --brokers "$brokers" --label "$name" >"$raw/$name.out" 2>"$raw/$name.err" || rc=$?
  cpu1=$(broker_cpu); t1=$(date +%s.%N)
  if [[ -n $perf_pid ]]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" || true; perf_pid=; fi
  hwm=$(broker_kib VmHWM); rss=$(broker_kib VmRSS)
  tail -1 "$raw/$name.err" >&2 || true
  kill -0 "$bpid" 2>/dev/null || { echo "broker died during $name:"; tail -20 "$raw/broker.log"; exit 1; }
  /usr/bin/python3 - "$raw/$name.out" "$raw/$name.json" "$rc" "$cpu0" "$cpu1" "$clk_tck" \
    "$t0" "$t1" "$hwm" "$rss" "$load0" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import json, sys
out, dst, rc, c0, c1, tck, t0, t1, hwm, rss, l0, l1 = sys.argv[1:]
try:
    doc = json.loads([l for l in open(out) if l.strip().startswith("{")][-1])
except (IndexError, ValueError):
    doc = {}
doc.update(exit_code=int(rc), broker_cpu_s=(int(c1) - int(c0)) / int(tck),
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
    settle
    topic=p1; [[ $i -gt 1 ]] && topic=p1-$i
    run_scenario "P1.$i" produce --topic "$topic" --partitions 16 --record-size 1024 \
      --records "$c1_records" --clients "$p1_clients" "${prod_common[@]}"
  done
fi
# Page-cache residency of the log P1 wrote: resident_bytes total_bytes.
residency() {
  if command -v fincore >/dev/null; then
    find "$data/log" -name '*.log' -print0 | xargs -0 -r fincore -b -n -o RES,SIZE 2>/dev/null |
      awk '{r += $1; s += $2} END {printf "%.0f %.0f\n", r, s}' >"$1" || true
  fi
}
if want C1d; then
  sync
  residency "$raw/C1d.fincore.txt"
  run_scenario C1d consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients "$c1_clients"
fi
if want C1; then
  residency "$raw/C1.fincore.txt"  # to show C1 reads from memory
  sync  # dirty pages written back first, so C1 doesn't compete with writeback
  run_scenario C1 consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients "$c1_clients"
fi
if want C1x1; then
  run_scenario C1x1 consume --topic p1 --bytes "$c1_bytes" --seconds 600 --clients 1
fi
if want P2; then
  settle
  run_scenario P2 produce --topic p2 --partitions 6 --record-size 100 --seconds "$p2_seconds" \
    "${prod_common[@]}"
fi
if want L1; then
  # Latency: Kafka's EndToEndLatency tool's settings (linger.ms=0, acks=1, fetch.min.bytes=1,
  # fetch.wait.max.ms default 500: the broker must answer a waiting fetch when data arrives).
  # Tail latency on a shared 2-core machine swings from run to run with what else runs on
  # the host, so it is measured several times and the median run reported.
  for i in $(seq "$l1_runs"); do
    settle  # earlier gigabytes written back first: L1 measures the broker, not writeback
    run_scenario "L1.$i" latency --topic "l1-$i" --partitions 16 --record-size 1024 \
      --rate "$l1_rate" --seconds "$l1_seconds" --warmup "$l1_warmup" --acks 1 --linger-ms 0 \
      --batch-size 1048576 --compression none
  done
fi
if want P1x1; then
  settle
  run_scenario P1x1 produce --topic p1x1 --partitions 16 --record-size 1024 --records "$c1_records" \
    --clients 1 "${prod_common[@]}"
fi
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/machine.txt"
du -sb "$data/log" | awk '{print "data_bytes=" $1}' >>"$raw/machine.txt"
grep -ciE 'error|warn' "$raw/broker.log" | awk '{print "broker_log_warnings=" $1}' >>"$raw/machine.txt" || true

out=$results_dir/$stamp-broker-$host_kind.md
/usr/bin/python3 - "$raw" "$out" "$host_kind" "$c1_bytes" "$io_threads" <<'PY'
import json, os, sys

raw, out, host_kind, c1_bytes, io_threads = sys.argv[1:6]
GB = 1e9

def load(name):
    try:
        with open(os.path.join(raw, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

machine = {}
for line in open(os.path.join(raw, "machine.txt")):
    k, _, v = line.strip().partition("=")
    machine[k] = v
loops = []
for i in range(1, 100):
    try:
        loops.append(load("iperf3.%d.json" % i)["end"]["sum_received"]["bits_per_second"] / 8)
    except (KeyError, TypeError):
        pass
loop = sorted(loops)[(len(loops) - 1) // 2] if loops else None
SCENARIOS = ("P1", "C1d", "C1", "C1x1", "P2", "L1", "P1x1")
sc = {n: load(n + ".json") for n in SCENARIOS}
def runs(name, key):
    """The runs NAME.1, NAME.2, ... that measured `key`, and the number of the median one,
    which then stands for NAME."""
    all_ = [(i, load("%s.%d.json" % (name, i))) for i in range(1, 100)
            if os.path.exists(os.path.join(raw, "%s.%d.json" % (name, i)))]
    all_ = [(i, d) for i, d in all_ if d.get(key) is not None]
    if not all_:
        return all_, None
    mid = sorted(all_, key=lambda x: x[1][key])[(len(all_) - 1) // 2]
    sc[name] = dict(mid[1])
    return all_, mid[0]
l1_all, l1_pick = runs("L1", "p99_ms")
p1_all, p1_pick = runs("P1", "mb_per_s")
def dd_rate(name):  # dd's "N bytes (...) copied, S s, ..." as bytes per second
    import re
    try:
        m = re.search(r"^(\d+) bytes .* copied, ([0-9.]+) s", open(os.path.join(raw, name)).read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) / float(m.group(2)) if m and float(m.group(2)) > 0 else None
pagecache = dd_rate("dd.txt")
direct = dd_rate("dd_direct.txt")
pagecache_par, dd_writers = None, None  # "bytes nanoseconds writers"
try:
    b_, ns_, w_ = open(os.path.join(raw, "dd_parallel.txt")).read().split()
    if int(ns_) > 0:
        pagecache_par, dd_writers = int(b_) / (int(ns_) / 1e9), int(w_)
except (OSError, ValueError):
    pass

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

def cmd(n):
    try:
        return open(os.path.join(raw, n + ".cmd")).read().strip()
    except OSError:
        return ""

def valid(d, n):
    if not d:
        return "not run"
    if n.startswith("C1"):
        ok = d.get("errors", 1) == 0 and d.get("complete") == 1
    elif n == "L1":
        ok = d.get("delivery_errors", 1) == 0 and d.get("lost", 1) == 0
    else:
        ok = d.get("delivery_errors", 1) == 0
    return "" if ok and d.get("exit_code") == 0 else " (INVALID RUN: errors, see raw)"

def gbps(v):
    return "n/a" if v is None else "%.2f GB/s" % (v / GB)

rows = []
def row(fig, meas, limit, ratio, target, met):
    rows.append("| %s | %s | %s | %s | %s | %s |" % (fig, meas, limit, ratio, target, met))

lim = "loopback %s" % gbps(loop)
p1, c1, p2, l1 = sc["P1"], sc["C1"], sc["P2"], sc["L1"]
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
    d = sc[n]
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
    row("L1 end-to-end latency, %.0f msg/s x 1 KiB%s" % (l1.get("rate_target", 0),
                                                       "".join(sorted({valid(d, "L1") for _, d in l1_all}))),
        "p50 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms (%.0f msg/s achieved)" % (
            l1["p50_ms"], l1["p99_ms"], l1["p999_ms"], l1["max_ms"], l1["rate_achieved"])
        + ("; run %d of %d, the median p99 (every run's p99: %s)" % (
            l1_pick, len(l1_all), ", ".join("%.2f ms" % d["p99_ms"] for _, d in l1_all))
           if len(l1_all) > 1 else ""),
        "", "", "p99 <= 5 ms", "yes" if l1["p99_ms"] <= 5 else "NO")
p1x1 = sc["P1x1"]
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

res = []
res.append("# Broker benchmark %s on %s" % (os.path.basename(out)[:10], host_kind))
res.append("")
res.append("Host: %s, %s CPUs, %s, %s GiB RAM, data on %s; librdkafka %s; Tributary %s (Release). "
           "Load average at start %s, at end %s (the machine is shared with other builds: the "
           "broker, the load generator and iperf3 all share these CPUs)." % (
               machine.get("cpu", "?"), machine.get("nproc", "?"), machine.get("kernel", "?"),
               machine.get("mem_gib", "?"), machine.get("fs", "?"), machine.get("librdkafka", "?"),
               machine.get("commit", "?"), machine.get("loadavg_start", "?"),
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
    res.append("| the same volume by %d dd's in parallel (the broker's num.io.threads) | %s |" % (
        dd_writers, gbps(pagecache_par)))
res.append("| direct write to the data filesystem, dd %s bs=1M oflag=direct | %s |" % (c1_bytes, gbps(direct)))
res.append("")
res.append("The targets are ratios to loopback. Every byte a producer sends must also be written to "
           "disk: the broker appends batches of 64 KiB and more with O_DIRECT (the default "
           "tributary.log.direct.writes=true) and smaller ones through the page cache, so produce "
           "figures are also given as ratios to both disk limits.")
res.append("")
res.append("## Issue targets")
res.append("")
res.append("| figure | measured | limit (same run) | ratio | target | met |")
res.append("| --- | --- | --- | --- | --- | --- |")
res.extend(rows)
res.append("")
res.append("MB are 10^6 bytes of record values (1 KiB = 1024 B records); GB 10^9 bytes.")
res.append("")
res.append("## Broker cost per scenario")
res.append("")
res.append("| scenario | payload | wall | broker CPU | broker cores busy | broker CPU-s per GB | "
           "broker peak RSS | load generator CPU | load avg before/after |")
res.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for n in SCENARIOS:
    d = sc[n]
    if not d:
        continue
    payload = d.get("bytes")
    if n == "L1":
        payload = d.get("sent", 0) * d.get("record_size", 1024)  # written once, read once
    secs = d.get("seconds") or (d.get("warmup_s", 0) + d.get("measure_s", 0))
    res.append("| %s | %.2f GB | %.1f s | %.1f s | %.2f | %.1f | %.0f MiB | %.1f s | %.2f / %.2f |" % (
        n, payload / GB, secs, d["broker_cpu_s"], d["broker_cpu_s"] / d["wall_s"],
        d["broker_cpu_s"] / (payload / GB) if payload else 0, d["broker_vmhwm_kib"] / 1024,
        d.get("client_cpu_s", 0), d["loadavg_before"], d["loadavg_after"]))
res.append("")
res.append("Broker CPU is utime+stime from /proc/<pid>/stat around the load generator's run "
           "(so it includes connection set-up and the latency run's warm-up); peak RSS is VmHWM "
           "from /proc/<pid>/status, reset through /proc/<pid>/clear_refs before each scenario. "
           "\"Cores busy\" is broker CPU over the load generator's wall time.")
for n in ("C1d", "C1"):
    try:
        r_, s_ = open(os.path.join(raw, n + ".fincore.txt")).read().split()
        res.append("Before %s, %.1f%% of the log files' %.2f GB were resident in the page cache "
                   "(fincore)." % (n, 100.0 * int(r_) / max(int(s_), 1), int(s_) / GB))
    except (OSError, ValueError):
        pass
res.append("")
res.append("## Commands and settings")
res.append("")
res.append("Broker: `tributary-broker --override node.id=1 --override listeners=PLAINTEXT://127.0.0.1:<port> "
           "--override advertised.listeners=... --override log.dirs=<temp dir under build-bench/> "
           "--override num.io.threads=%s` (fresh data dir; every other setting default)." % io_threads)
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
for n in SCENARIOS:
    if cmd(n):
        res.append("%s: %s" % (n, cmd(n)))
    elif n == "L1" and l1_pick and cmd("L1.%d" % l1_pick):
        res.append("L1 (run %d of %d; the others on topics l1-<run>): %s" % (
            l1_pick, len(l1_all), cmd("L1.%d" % l1_pick)))
    elif n == "P1" and p1_pick and cmd("P1.%d" % p1_pick):
        res.append("P1 (run %d of %d; run 1 on topic p1, the others on p1-<run>): %s" % (
            p1_pick, len(p1_all), cmd("P1.%d" % p1_pick)))
res.append("```")
res.append("")
res.append("Loopback: `iperf3 -s -1 -D -B 127.0.0.1 -p <port>` then `iperf3 -c 127.0.0.1 -p <port> -t 5 -J` "
           "(one TCP stream; client and server on this machine, as the broker and load generator are), "
           "%d times; the median is the limit every ratio uses." % len(loops))
res.append("")
res.append("Reproduce: `bench/broker_bench.sh` (see bench/README.md). Raw JSON lines and the broker log: "
           "`%s` (not committed)." % os.path.relpath(raw, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(out))))))
with open(out, "w") as f:
    f.write("\n".join(res) + "\n")
print("wrote", out)
PY
