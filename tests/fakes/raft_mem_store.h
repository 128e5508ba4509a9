#pragma once

// The durable side of one simulated Raft node: its log, snapshot and hard state, in memory.
// It survives the node's "crash" (the sim destroys the raft::node and builds a new one over
// the same store); what the driver had not written when it crashed is not here.
#include "coordinator/raft/node.h"

#include <algorithm>
#include <stdexcept>

namespace trib::fakes {

class raft_mem_store final : public coordinator::raft::log_reader {
public:
    using entry = coordinator::raft::entry;

    coordinator::raft::snapshot_meta snap;
    bytes snap_data;
    std::vector<entry> log;  // contiguous from snap.end
    coordinator::raft::hard_state hard;

    offset first() const override { return snap.end; }
    offset end() const override { return log.empty() ? snap.end : log.back().end(); }

    std::optional<term_id> term_at(offset at) const override {
        if (at == first() - 1) {
            return first().value() == 0 ? term_id(0) : snap.term;
        }
        if (at < first() || at >= end()) {
            return std::nullopt;
        }
        return holding(at)->term;
    }

    result<std::vector<entry>> entries(offset from, size_t max_bytes) const override {
        if (from < first() || from >= end()) {
            return std::make_error_code(std::errc::invalid_argument);
        }
        std::vector<entry> out;
        size_t bytes = 0;
        for (auto it = holding(from); it != log.end(); ++it) {
            if (!out.empty() && bytes + it->payload.size() > max_bytes) {
                break;
            }
            bytes += it->payload.size();
            out.push_back(*it);
        }
        return out;
    }

    coordinator::raft::snapshot_meta snapshot() const override { return snap; }

    result<bytes> snapshot_chunk(uint64_t at, size_t max_bytes) const override {
        if (at > snap_data.size()) {
            return std::make_error_code(std::errc::invalid_argument);
        }
        size_t n = std::min<size_t>(max_bytes, snap_data.size() - at);
        return bytes(snap_data.begin() + long(at), snap_data.begin() + long(at + n));
    }

    uint64_t snapshot_size() const override { return snap_data.size(); }

    // -- what the driver does with a ready --
    void install(const coordinator::raft::snapshot_install& s) {
        snap = s.meta;
        snap_data = s.data;
        log.clear();
    }
    void truncate(offset from) {
        while (!log.empty() && log.back().at >= from) {
            log.pop_back();
        }
        if (end() != from && from < end()) {
            throw std::logic_error("mem store: truncation inside an entry");
        }
    }
    void append(const entry& e) {
        if (e.at != end()) {
            throw std::logic_error("mem store: non-contiguous append at " + std::to_string(e.at.value()) +
                                   ", log end " + std::to_string(end().value()));
        }
        log.push_back(e);
    }
    // A local snapshot at meta.end: drops the entries below it.
    void compact(const coordinator::raft::snapshot_meta& meta, bytes data) {
        while (!log.empty() && log.front().at < meta.end) {
            log.erase(log.begin());
        }
        snap = meta;
        snap_data = std::move(data);
    }

private:
    std::vector<entry>::const_iterator holding(offset at) const {
        auto it = std::upper_bound(log.begin(), log.end(), at, [](offset o, const entry& e) { return o < e.at; });
        return std::prev(it);
    }
};

} // namespace trib::fakes
