#!/usr/bin/env bash
# Builds the benchmarks (Release, -DTRIB_BENCH=ON) into build-bench/, measures the machine's
# limits in the same run, runs every *_bench executable, and writes
# bench/results/<date>-<host-kind>.md: each figure beside the limit it should be read against.
#
#   bench/run.sh                   everything
#   BENCH_FILTER=crc bench/run.sh  only benchmarks whose executable name matches
#   BENCH_MIN_TIME=0.2 ...         seconds per benchmark case (default 0.5)
#   TRIB_HOST_KIND=ci ...          the <host-kind> part of the file name
#   BENCH_SKIP_NET=1 ...           skip the loopback (iperf3) measurement
#
# Limits measured here: memcpy and sequential-read bandwidth (limits_bench), buffered
# sequential write of 1 GiB with fsync at the end (fio, in a temp dir under the build folder,
# so on the same filesystem the storage benchmarks use), and TCP loopback (iperf3 to 127.0.0.1).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${TRIB_BENCH_BUILD:-$root/build-bench}
min_time=${BENCH_MIN_TIME:-0.5}
filter=${BENCH_FILTER:-}
stamp=$(date -u +%Y-%m-%d)
source "$root/bench/host_kind.sh"
results_dir=$root/bench/results
raw=$build/bench-raw/$stamp-$host_kind
mkdir -p "$results_dir" "$raw"

echo "== configure and build ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIB_BENCH=ON \
  -DTRIB_TESTS=OFF >"$raw/cmake.log"
targets=()
for src in "$root"/bench/*_bench.cc; do
  name=$(basename "$src" .cc)
  if [[ -z $filter || $name == *$filter* || $name == limits_bench ]]; then
    targets+=("$name")
  fi
done
# One target at a time: a benchmark that doesn't build (someone's work in progress) is
# reported, not fatal to the others.
: >"$raw/build-failures.txt"
for t in "${targets[@]}"; do
  if ! ninja -C "$build" -j"${BENCH_JOBS:-2}" "$t" >"$raw/build-$t.log" 2>&1; then
    echo "$t" >>"$raw/build-failures.txt"
    echo "!! $t failed to build, see $raw/build-$t.log"
  fi
done

echo "== machine limits"
# fio: buffered sequential write, fsync at the end (what a log append ends up costing).
fio_json=$raw/fio.json
if command -v fio >/dev/null; then
  fio_dir=$(mktemp -d "$build/fio.XXXXXX")
  fio --name=seq --directory="$fio_dir" --rw=write --bs=1M --size=1G --direct=0 --end_fsync=1 \
    --output-format=json >"$fio_json" 2>"$raw/fio.err" || echo '{}' >"$fio_json"
  rm -rf "$fio_dir"
else
  echo '{}' >"$fio_json"
fi
# iperf3: TCP over loopback only, bounded (5 s), one-shot server.
iperf_json=$raw/iperf3.json
echo '{}' >"$iperf_json"
if [[ -z ${BENCH_SKIP_NET:-} ]] && command -v iperf3 >/dev/null; then
  port=$((20000 + RANDOM % 20000))
  iperf3 -s -1 -D -B 127.0.0.1 -p "$port" >/dev/null 2>&1 || true
  sleep 0.5
  timeout 20 iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$iperf_json" 2>/dev/null || echo '{}' >"$iperf_json"
fi

echo "== benchmarks"
for name in "${targets[@]}"; do
  exe=$build/bench/$name
  [[ -x $exe ]] || continue
  echo "-- $name"
  "$exe" --benchmark_format=json --benchmark_min_time="$min_time" >"$raw/$name.json" \
    2>"$raw/$name.err" || echo "$name failed, see $raw/$name.err"
done

out=$results_dir/$stamp-$host_kind.md
/usr/bin/python3 - "$raw" "$out" "$host_kind" <<'PY'
import glob, json, os, re, sys, platform

raw, out, host_kind = sys.argv[1:4]
GB = 1e9

def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}

benches = {}   # name -> benchmark entry
contexts = {}
for path in sorted(glob.glob(os.path.join(raw, "*_bench.json"))):
    doc = load(path)
    exe = os.path.basename(path)[:-5]
    contexts[exe] = doc.get("context", {})
    for b in doc.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration":
            continue
        b["_exe"] = exe
        benches[b["name"]] = b

def rate(name):
    b = benches.get(name)
    return b.get("bytes_per_second") if b else None

def find(pattern):
    return [n for n in benches if re.search(pattern, n)]

limits = {}
if rate("limits_memcpy/16384"):
    limits["memcpy 16 KiB (cache)"] = rate("limits_memcpy/16384")
if rate("limits_memcpy/67108864"):
    limits["memcpy 64 MiB (DRAM)"] = rate("limits_memcpy/67108864")
if rate("limits_read/67108864"):
    limits["sequential read 64 MiB (DRAM)"] = rate("limits_read/67108864")
fio = load(os.path.join(raw, "fio.json"))
try:
    limits["fio buffered seq write 1 GiB + fsync"] = fio["jobs"][0]["write"]["bw_bytes"]
except (KeyError, IndexError, TypeError):
    pass
iperf = load(os.path.join(raw, "iperf3.json"))
try:
    limits["TCP loopback (iperf3)"] = iperf["end"]["sum_received"]["bits_per_second"] / 8
except (KeyError, TypeError):
    pass

def fmt_rate(v):
    return "n/a" if v is None else "%.2f GB/s" % (v / GB)

# Issue targets: (label, benchmark name pattern, limit to compare with, target GB/s).
targets = [
    ("CRC32C hardware, 16 KiB", r"^crc32c_hardware/16384$", "memcpy 16 KiB (cache)", 8),
    ("CRC32C hardware, 1 MiB", r"^crc32c_hardware/1048576$", "memcpy 64 MiB (DRAM)", 8),
    ("parse+validate 16 KiB batch, 100 B values", r"^bm_validate/none_100B_values$",
     "memcpy 16 KiB (cache)", 3),
    ("parse+validate 16 KiB batch, 20 B values", r"^bm_validate/none_20B_values$",
     "memcpy 16 KiB (cache)", 3),
    ("buffered append", r"append", "fio buffered seq write 1 GiB + fsync", 1),
]

lines = []
ctx = next(iter(contexts.values()), {})
lines.append("# Benchmarks %s on %s" % (os.path.basename(out)[:10], host_kind))
lines.append("")
cpu = "?"
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
lines.append("Host: %s, %s CPUs at %s MHz, %s; load average at start %s. Tributary built "
             "Release." % (cpu, ctx.get("num_cpus", "?"), ctx.get("mhz_per_cpu", "?"),
                           platform.platform(),
                           ", ".join("%.2f" % x for x in ctx.get("load_avg", [])) or "?"))
lines.append("GB/s are 10^9 bytes per second of the benchmark's own input (for compressed "
             "batches: the compressed bytes; uncompressed figures are in the full table).")
lines.append("")
lines.append("## Machine limits (measured in this run)")
lines.append("")
lines.append("| limit | value |")
lines.append("| --- | --- |")
for k, v in limits.items():
    lines.append("| %s | %s |" % (k, fmt_rate(v)))
lines.append("")
lines.append("## Issue targets")
lines.append("")
lines.append("| figure | measured | limit | ratio to limit | target | met |")
lines.append("| --- | --- | --- | --- | --- | --- |")
for label, pattern, limit_name, target in targets:
    names = find(pattern)
    if not names:
        lines.append("| %s | not measured | | | >= %g GB/s | |" % (label, target))
        continue
    for n in names:
        v = rate(n)
        lim = limits.get(limit_name)
        ratio = "%.2f" % (v / lim) if v and lim else "n/a"
        met = "yes" if v and v / GB >= target else "NO"
        lines.append("| %s (`%s`) | %s | %s: %s | %s | >= %g GB/s | %s |" % (
            label, n, fmt_rate(v), limit_name, fmt_rate(lim), ratio, target, met))
lines.append("")
lines.append("## Every figure")
lines.append("")
lines.append("| benchmark | executable | time/iter | throughput | counters |")
lines.append("| --- | --- | --- | --- | --- |")
skip = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
        "iterations", "real_time", "cpu_time", "time_unit", "bytes_per_second",
        "items_per_second", "family_index", "per_family_instance_index", "_exe",
        "aggregate_name", "label", "error_occurred", "error_message"}
for n, b in benches.items():
    thr = fmt_rate(b.get("bytes_per_second")) if "bytes_per_second" in b else (
        "%.3g items/s" % b["items_per_second"] if "items_per_second" in b else "")
    extra = []
    for k, v in b.items():
        if k in skip:
            continue
        if isinstance(v, (int, float)):
            extra.append("%s=%s" % (k, "%.2f GB/s" % (v / GB) if k.endswith("per_second") else "%g" % v))
    if b.get("error_occurred"):
        extra.append("error: " + b.get("error_message", ""))
    wall = "real_time" in n  # measured in wall time (UseRealTime), else CPU time
    lines.append("| `%s` | %s | %.1f %s %s | %s | %s |" % (
        n, b["_exe"], b.get("real_time" if wall else "cpu_time", 0), b.get("time_unit", ""),
        "wall" if wall else "CPU", thr, ", ".join(extra)))
try:
    failed = [l.strip() for l in open(os.path.join(raw, "build-failures.txt")) if l.strip()]
except OSError:
    failed = []
if failed:
    lines.append("Did not build (not measured): " + ", ".join("`%s`" % f for f in failed) + ".")
lines.append("")
repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(out))))
lines.append("Raw JSON: `%s` (not committed)." % os.path.relpath(raw, repo))
with open(out, "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote", out)
PY
