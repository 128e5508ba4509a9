# Sourced by bench/broker_bench.sh and bench/replication_bench.sh: helpers both share, and the
# machine limits both measure the same way (loopback with iperf3, writes to the data
# filesystem with dd). Expects $root, $build and $raw (the raw-results folder); the limits
# leave their files in $raw (iperf3.<i>.json, dd.txt, dd_parallel.txt, dd_direct.txt) and
# bench/bench_limits.py reads them back. `iperf_pidfile` and `dd_dir` are set while a
# measurement runs, so the caller's exit trap can stop and remove what it left.
iperf_pidfile= dd_dir=

# Builds TARGETS (Release, -DTRIB_BENCH=ON, no tests) into $build, unless BENCH_SKIP_BUILD is
# set; the logs go to $raw. build_bench TARGET...
build_bench() {
  [[ -z ${BENCH_SKIP_BUILD:-} ]] || return 0
  echo "== configure and build ($build)"
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTRIB_BENCH=ON \
    -DTRIB_TESTS=OFF >"$raw/cmake.log"
  ninja -C "$build" -j"${BENCH_JOBS:-2}" "$@" >"$raw/build.log" 2>&1 ||
    { echo "build failed, see $raw/build.log"; tail -20 "$raw/build.log"; exit 1; }
}

to_bytes() {  # to_bytes 4g: bytes (k/m/g = 2^10...)
  /usr/bin/python3 -c "
import sys; s=sys.argv[1]; m={'k':1<<10,'m':1<<20,'g':1<<30}
print(int(float(s[:-1])*m[s[-1].lower()]) if s[-1].lower() in m else int(s))" "$1"
}

stop_pid() {  # stop_pid PID SECONDS: SIGTERM, SIGKILL after SECONDS
  local p=$1 i
  [[ -n $p ]] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq $(( $2 * 10 ))); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
}

free_port() {
  /usr/bin/python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import harness; print(harness.free_port())' \
    "$root/tests/integration"
}

wait_port() {  # wait_port PORT PID LOG: until PORT accepts, while PID lives (10 s)
  for _ in $(seq 100); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { echo "exited:"; tail -20 "$3"; return 1; }
    sleep 0.1
  done
  echo "not listening after 10 s:"; tail -20 "$3"; return 1
}

proc_cpu() {  # utime + stime of PID, in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# Every measurement of new writes (the dd's and the produce scenarios) starts 5 s after the
# last memory was freed: a VM with free page reporting (virtio-balloon) hands freed memory
# back to the host about 2 s after it is freed, and writing into such pages again costs a
# host fault each, several times the cost of writing into memory freed a moment ago.
settle() { sync; sleep 5; }

# The systems in the order of round I (1-based): odd rounds as $systems gives them, even
# rounds reversed, so neither system always goes first.
order() {
  if (( $1 % 2 == 1 )); then echo "$systems"; else echo "$systems" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}

# The lines of machine.txt both benchmarks write (SYSTEMS: the systems measured).
machine_info() {
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F: '/model name/ {gsub(/^ +/, "", $2); print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -sr)"
  echo "mem_gib=$mem_gib"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "niceness=$(nice)"  # a benchmark started under nice yields to other jobs
  echo "librdkafka=$(pkg-config --modversion rdkafka 2>/dev/null || echo '?')"
  echo "fs=$(df -T "$build" | awk 'NR==2 {print $2}')"
  echo "commit=${BENCH_COMMIT:-$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet 2>/dev/null || echo '+dirty')}"
  echo "systems=$1"
  if [[ " $1 " == *" kafka "* ]]; then
    echo "kafka=$(basename "$(compgen -G "$root/tools/lib/kafka/kafka_2.13-*.jar" | head -1)" .jar | sed 's/^kafka_2.13-//')"
    echo "java=$("${JAVA_HOME:+$JAVA_HOME/bin/}java" -version 2>&1 | head -1 | tr -d '"')"
  fi
}

# Loopback bandwidth on this shared VM moves by a third from one run to the next (2.9-4.3
# GB/s seen the same day): measured RUNS times (iperf3, one TCP stream, 5 s), the median is
# the limit. measure_loopback RUNS
measure_loopback() {
  local i port iperf_json
  echo "== loopback limit (iperf3, 5 s, $1 runs)"
  iperf_pidfile=$(mktemp "$build/iperf3.XXXXXX.pid")
  for i in $(seq "$1"); do
    iperf_json=$raw/iperf3.$i.json
    echo '{}' >"$iperf_json"
    if command -v iperf3 >/dev/null; then
      port=$(free_port)
      : >"$iperf_pidfile"
      iperf3 -s -1 -D -B 127.0.0.1 -p "$port" -I "$iperf_pidfile" >/dev/null 2>&1 || true
      sleep 0.5
      timeout 20 iperf3 -c 127.0.0.1 -p "$port" -t 5 -J >"$iperf_json" 2>/dev/null || echo '{}' >"$iperf_json"
      if [[ -s $iperf_pidfile ]]; then stop_pid "$(cat "$iperf_pidfile")" 2; fi
    fi
  done
  rm -f "$iperf_pidfile"
  iperf_pidfile=
}

# Writes of new data to the data filesystem (the folder the brokers write to), MIB MiB each:
# buffered by one dd (into the page cache, no fsync: what a produce must at least do per
# byte), the same volume by WRITERS dd's in parallel (the limit that many cores have
# together), and with oflag=direct (Tributary appends big batches with O_DIRECT).
# measure_disk MIB WRITERS
measure_disk() {
  local mib=$1 writers=$2 i t0 t1
  echo "== page-cache write limit (dd, $mib MiB of new data, no fsync)"
  dd_dir=$(mktemp -d "$build/dd.XXXXXX")
  settle
  dd if=/dev/zero of="$dd_dir/f" bs=1M count="$mib" 2>"$raw/dd.txt" || true
  rm -rf "$dd_dir"
  tail -1 "$raw/dd.txt"
  dd_dir=$(mktemp -d "$build/dd.XXXXXX")
  settle
  t0=$(date +%s%N)
  for i in $(seq "$writers"); do
    dd if=/dev/zero of="$dd_dir/f$i" bs=1M count=$(( mib / writers )) 2>/dev/null &
  done
  wait
  t1=$(date +%s%N)
  echo "$(( mib / writers * writers * 1048576 )) $(( t1 - t0 )) $writers" >"$raw/dd_parallel.txt"
  rm -rf "$dd_dir"
  sync
  awk '{printf "%d writers in parallel: %.2f GB/s\n", $3, $1 / $2}' "$raw/dd_parallel.txt"
  echo "== direct write limit (dd oflag=direct, $mib MiB, bs=1M)"
  dd_dir=$(mktemp -d "$build/dd.XXXXXX")
  settle
  dd if=/dev/zero of="$dd_dir/f" bs=1M count="$mib" oflag=direct 2>"$raw/dd_direct.txt" || true
  rm -rf "$dd_dir"
  dd_dir=
  tail -1 "$raw/dd_direct.txt"
}
