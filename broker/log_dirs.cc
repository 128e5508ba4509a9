#include "broker/log_dirs.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>

namespace trib::broker {

namespace {

// "<topic>-<partition>", the partition a non-negative decimal.
std::optional<topic_partition> parse_tp(std::string_view name) {
    auto dash = name.rfind('-');
    if (dash == std::string_view::npos || dash == 0 || dash + 1 == name.size()) {
        return std::nullopt;
    }
    auto digits = name.substr(dash + 1);
    int32_t p = -1;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), p);
    if (ec != std::errc() || end != digits.data() + digits.size() || p < 0 || digits[0] == '+') {
        return std::nullopt;
    }
    return topic_partition{std::string(name.substr(0, dash)), p};
}

} // namespace

std::optional<partition_dir_name> parse_partition_dir(const std::string& name) {
    static constexpr std::string_view future_suffix = "-future";
    std::string_view n = name;
    if (n.ends_with(future_suffix)) {
        n.remove_suffix(future_suffix.size());
        auto dot = n.rfind('.');
        if (dot == std::string_view::npos || dot + 1 == n.size()) {
            return std::nullopt;
        }
        auto id = n.substr(dot + 1);
        if (!std::all_of(id.begin(), id.end(), [](char c) { return std::isxdigit(uint8_t(c)); })) {
            return std::nullopt;
        }
        auto tp = parse_tp(n.substr(0, dot));
        if (!tp) {
            return std::nullopt;
        }
        return partition_dir_name{std::move(*tp), true};
    }
    auto tp = parse_tp(n);
    if (!tp || tp->topic == "__cluster_metadata") {
        return std::nullopt;
    }
    return partition_dir_name{std::move(*tp), false};
}

std::string partition_dir(const topic_partition& tp) { return tp.topic + "-" + std::to_string(tp.partition); }

std::string future_partition_dir(const topic_partition& tp, const std::string& id) {
    return partition_dir(tp) + "." + id + "-future";
}

std::optional<size_t> choose_log_dir(const std::vector<size_t>& partitions_in, const std::vector<bool>& usable) {
    std::optional<size_t> best;
    for (size_t d = 0; d < partitions_in.size(); ++d) {
        if (d < usable.size() && usable[d] && (!best || partitions_in[d] < partitions_in[*best])) {
            best = d;
        }
    }
    return best;
}

log_dirs_scan scan_log_dirs(const std::vector<std::string>& dirs, const std::vector<std::vector<std::string>>& listing) {
    log_dirs_scan out;
    for (size_t d = 0; d < listing.size() && !out.conflict; ++d) {
        for (const auto& name : listing[d]) {
            auto parsed = parse_partition_dir(name);
            if (!parsed) {
                continue;
            }
            if (!parsed->future) {
                auto [it, added] = out.current.emplace(parsed->tp, d);
                if (!added) {
                    out.conflict = "partition " + partition_dir(parsed->tp) + " is in two log directories, " +
                                   dirs.at(it->second) + " and " + dirs.at(d) +
                                   ": remove the copy that is not wanted";
                    break;
                }
                continue;
            }
            auto [it, added] = out.future.emplace(parsed->tp, std::make_pair(d, name));
            if (!added) {
                out.conflict = "partition " + partition_dir(parsed->tp) + " has two future copies, " +
                               (std::filesystem::path(dirs.at(it->second.first)) / it->second.second).string() +
                               " and " + (std::filesystem::path(dirs.at(d)) / name).string() +
                               ": remove one";
                break;
            }
        }
    }
    return out;
}

void move_quota::set_rate(std::optional<int64_t> bytes_per_second) {
    _rate = bytes_per_second;
    if (_rate) {
        _credit = std::min(_credit, double(*_rate) / 10);
    }
}

uint64_t move_quota::grant(double now_s, uint64_t want) {
    if (!_rate) {
        return want;
    }
    if (_last >= 0 && now_s > _last) {
        _credit = std::min(_credit + double(*_rate) * (now_s - _last), double(*_rate) / 10);
    }
    _last = std::max(_last, now_s);
    if (_credit < 1) {
        return 0;
    }
    auto granted = std::min<uint64_t>(want, uint64_t(_credit));
    _credit -= double(granted);
    return granted;
}

void move_quota::settle(uint64_t granted, uint64_t used) {
    if (_rate) {
        _credit += double(granted) - double(used);
    }
}

double move_quota::wait_s() const {
    if (!_rate || *_rate == 0) {
        return 0.1;  // no limit, or nothing allowed: look again for a new rate
    }
    return std::clamp((1 - _credit) / double(*_rate), 0.005, 0.1);
}

} // namespace trib::broker
