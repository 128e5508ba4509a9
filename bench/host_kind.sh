# Sourced by bench/run.sh and bench/broker_bench.sh: names this machine for results files.
# Sets mem_gib and host_kind (TRIB_HOST_KIND overrides it, e.g. "ci"), like 2cpu-24g-amd-epyc.
mem_gib=$(awk '/MemTotal/ {printf "%d", $2 / 1048576 + 0.5}' /proc/meminfo)
cpu_slug=$(awk -F: '/model name/ {print $2; exit}' /proc/cpuinfo | tr 'A-Z' 'a-z' |
  sed -E 's/\(r\)|\(tm\)|cpu|processor|[0-9]+-core//g; s/@.*//; s/[^a-z0-9]+/-/g; s/^-+|-+$//g')
host_kind=${TRIB_HOST_KIND:-$(nproc)cpu-${mem_gib}g-${cpu_slug:-unknown}}
