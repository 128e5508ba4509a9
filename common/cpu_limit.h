#pragma once

// How many CPUs this process may use: the CPUs its affinity allows, lowered by a cgroup CPU
// limit (a Kubernetes container's `resources.limits.cpu` becomes cgroup v2 `cpu.max` or v1
// `cpu.cfs_quota_us` / `cpu.cfs_period_us`). std::thread::hardware_concurrency counts every
// CPU of the node, so a broker limited to 2 CPUs on a 64-CPU node would start 64 io threads,
// each woken for cross-core hops the quota then throttles. The JVM's availableProcessors and
// Go's GOMAXPROCS also round a limit up to whole CPUs.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace trib {

// CPUs allowed by one cgroup v2 `cpu.max` text ("max 100000", "150000 100000"): nullopt when
// unlimited or unreadable.
std::optional<double> cgroup_v2_cpus(std::string_view cpu_max);

// CPUs allowed by cgroup v1 `cpu.cfs_quota_us` and `cpu.cfs_period_us` texts (quota -1:
// unlimited).
std::optional<double> cgroup_v1_cpus(std::string_view quota, std::string_view period);

// The cgroup path of `controller` ("" for cgroup v2's unified line "0::/path") in a
// /proc/self/cgroup text; nullopt when absent.
std::optional<std::string> cgroup_path(std::string_view proc_self_cgroup, std::string_view controller);

struct cpu_limit {
    size_t online = 1;              // CPUs this process's affinity allows
    std::optional<double> cgroup;   // the tightest cgroup limit on the way to the root, if any
    size_t usable() const;          // min(online, cgroup rounded up), at least 1
};

// Reads the affinity mask and the cgroup limits of this process (v2 and v1), walking from its
// own cgroup up to the root: a parent's limit bounds its children too.
cpu_limit read_cpu_limit();

} // namespace trib
