#include "admin/plan_json.h"

#include <fmt/format.h>

namespace trib::admin {

namespace balancer = coordinator::balancer;

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '\r': out += "\\r"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", int(c));
            } else {
                out += c;
            }
        }
    }
    return out + "\"";
}

namespace {

std::string assignment_json(const balancer::plan& p, bool new_lists) {
    std::string out = "{\"version\":1,\"partitions\":[";
    bool first = true;
    for (const auto& c : p.changes) {
        const auto& replicas = new_lists ? c.new_replicas : c.old_replicas;
        std::string ids, dirs;
        for (size_t i = 0; i < replicas.size(); ++i) {
            ids += fmt::format("{}{}", i ? "," : "", replicas[i].value());
            dirs += i ? ",\"any\"" : "\"any\"";
        }
        out += fmt::format("{}\n{{\"topic\":{},\"partition\":{},\"replicas\":[{}],\"log_dirs\":[{}]}}", first ? "" : ",",
                           json_string(c.topic), c.index.value(), ids, dirs);
        first = false;
    }
    return out + (first ? "]}\n" : "\n]}\n");
}

std::string human_bytes(int64_t b) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(b);
    size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", b) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string list_text(const std::vector<node_id>& l) {
    std::string s;
    for (size_t i = 0; i < l.size(); ++i) {
        s += fmt::format("{}{}", i ? "," : "", l[i].value());
    }
    return s;
}

} // namespace

std::string reassignment_json(const balancer::plan& p) {
    return assignment_json(p, true);
}

std::string rollback_json(const balancer::plan& p) {
    return assignment_json(p, false);
}

std::string summary_text(const balancer::plan& p) {
    const auto& s = p.summary;
    std::string out = fmt::format("{} partitions change, {} replica moves, {} to copy\n", p.changes.size(),
                                  s.replica_moves, human_bytes(s.bytes_moved));
    for (const auto& c : p.changes) {
        out += fmt::format("  {}-{}: [{}] -> [{}]\n", c.topic, c.index.value(), list_text(c.old_replicas),
                           list_text(c.new_replicas));
    }
    out += fmt::format("{:>8} {:>17} {:>17} {:>25}\n", "broker", "replicas", "pref. leaders", "bytes");
    for (const auto& b : s.brokers) {
        out += fmt::format("{:>8} {:>7} -> {:<7} {:>7} -> {:<7} {:>10} -> {:<10}{}\n", b.id.value(), b.replicas_before,
                           b.replicas_after, b.leaders_before, b.leaders_after, human_bytes(b.bytes_before),
                           human_bytes(b.bytes_after), b.leaving ? " (leaving)" : "");
    }
    for (const auto& k : p.skipped) {
        out += fmt::format("skipped {}-{}: {}\n", k.topic, k.index.value(), k.reason);
    }
    if (s.left_on_leaving > 0) {
        out += fmt::format("WARNING: {} replicas stay on leaving brokers\n", s.left_on_leaving);
    }
    if (s.move_limit_reached) {
        out += "WARNING: stopped at the move limit (--max-moves)\n";
    }
    out += fmt::format("replica counts {}, leader counts {}, bytes {}\n",
                       s.replicas_balanced ? "balanced" : "NOT balanced", s.leaders_balanced ? "balanced" : "NOT balanced",
                       s.bytes_balanced ? "balanced" : "not within the tolerance");
    return out;
}

} // namespace trib::admin
