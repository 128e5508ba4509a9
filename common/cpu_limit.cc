#include "common/cpu_limit.h"

#include "common/config.h"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <thread>

namespace trib {
namespace {

std::optional<int64_t> to_int(std::string_view s) {
    s = config::trim_view(s);
    int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

std::optional<double> ratio(std::optional<int64_t> quota, std::optional<int64_t> period) {
    if (!quota || !period || *quota <= 0 || *period <= 0) {
        return std::nullopt;
    }
    return double(*quota) / double(*period);
}

std::optional<std::string> slurp(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void tighten(std::optional<double>& limit, std::optional<double> found) {
    if (found && (!limit || *found < *limit)) {
        limit = found;
    }
}

// Calls `look(dir)` for the cgroup directory of `path` under `mount` and each parent up to the
// mount point itself.
template<typename F>
void walk_up(const std::string& mount, std::string path, F look) {
    for (;;) {
        look(mount + path);
        if (path.empty() || path == "/") {
            return;
        }
        auto slash = path.find_last_of('/');
        path = slash == std::string::npos || slash == 0 ? std::string() : path.substr(0, slash);
    }
}

} // namespace

std::optional<double> cgroup_v2_cpus(std::string_view cpu_max) {
    cpu_max = config::trim_view(cpu_max);
    auto space = cpu_max.find(' ');
    if (space == std::string_view::npos) {
        return std::nullopt;
    }
    auto quota = cpu_max.substr(0, space);
    if (quota == "max") {
        return std::nullopt;
    }
    return ratio(to_int(quota), to_int(cpu_max.substr(space + 1)));
}

std::optional<double> cgroup_v1_cpus(std::string_view quota, std::string_view period) {
    return ratio(to_int(quota), to_int(period));
}

std::optional<std::string> cgroup_path(std::string_view text, std::string_view controller) {
    while (!text.empty()) {
        auto nl = text.find('\n');
        auto line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        // hierarchy-ID:controller-list:path
        auto c1 = line.find(':');
        auto c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string_view::npos) {
            continue;
        }
        auto list = line.substr(c1 + 1, c2 - c1 - 1);
        bool match = controller.empty() ? (line.substr(0, c1) == "0" && list.empty()) : false;
        while (!controller.empty() && !list.empty()) {
            auto comma = list.find(',');
            if (list.substr(0, comma) == controller) {
                match = true;
                break;
            }
            list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        }
        if (match) {
            return std::string(line.substr(c2 + 1));
        }
    }
    return std::nullopt;
}

size_t cpu_limit::usable() const {
    size_t n = std::max<size_t>(1, online);
    if (cgroup) {
        n = std::min(n, std::max<size_t>(1, size_t(std::ceil(*cgroup - 1e-9))));
    }
    return n;
}

cpu_limit read_cpu_limit() {
    cpu_limit out;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
        out.online = size_t(CPU_COUNT(&set));
    } else {
        out.online = std::max(1u, std::thread::hardware_concurrency());
    }
    auto self = slurp("/proc/self/cgroup");
    if (!self) {
        return out;
    }
    if (auto path = cgroup_path(*self, "")) {
        walk_up("/sys/fs/cgroup", *path, [&](const std::string& dir) {
            if (auto text = slurp(dir + "/cpu.max")) {
                tighten(out.cgroup, cgroup_v2_cpus(*text));
            }
        });
    }
    if (auto path = cgroup_path(*self, "cpu")) {
        for (const char* mount : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
            walk_up(mount, *path, [&](const std::string& dir) {
                auto quota = slurp(dir + "/cpu.cfs_quota_us");
                auto period = slurp(dir + "/cpu.cfs_period_us");
                if (quota && period) {
                    tighten(out.cgroup, cgroup_v1_cpus(*quota, *period));
                }
            });
        }
    }
    return out;
}

} // namespace trib
