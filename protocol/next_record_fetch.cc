#include "protocol/next_record_fetch.h"

#include "protocol/records.h"

#include <algorithm>

namespace trib::protocol {

void next_record_fetch::want(const std::string& topic, int32_t partition, int64_t offset) {
    auto& offsets = _wanted[{topic, partition}];
    if (std::find(offsets.begin(), offsets.end(), offset) == offsets.end()) {
        offsets.push_back(offset);
    }
}

std::optional<fetch_request> next_record_fetch::request(size_t round) const {
    fetch_request req;
    req.replica_id = -1;  // a consumer
    req.max_wait_ms = 0;
    req.min_bytes = 0;
    req.max_bytes = 1 << 20;
    for (const auto& [tp, offsets] : _wanted) {
        if (round >= offsets.size()) {
            continue;
        }
        if (req.topics.empty() || req.topics.back().topic != tp.first) {
            req.topics.emplace_back().topic = tp.first;
        }
        auto& p = req.topics.back().partitions.emplace_back();
        p.partition = tp.second;
        p.fetch_offset = offsets[round];
        p.partition_max_bytes = 1;
    }
    if (req.topics.empty()) {
        return std::nullopt;
    }
    return req;
}

void next_record_fetch::take(const fetch_response& resp, size_t round) {
    for (const auto& t : resp.responses) {
        for (const auto& p : t.partitions) {
            auto w = _wanted.find({t.topic, p.partition_index});
            if (w == _wanted.end() || round >= w->second.size() || p.error_code != 0 || !p.records ||
                p.records->data.empty()) {
                continue;
            }
            const int64_t offset = w->second[round];
            auto rec = record_at_or_after(bytes_view(p.records->data), offset);
            if (rec && *rec) {
                _found[{t.topic, p.partition_index, offset}] = (*rec)->timestamp;
            }
        }
    }
}

std::optional<int64_t> next_record_fetch::timestamp(const std::string& topic, int32_t partition, int64_t offset) const {
    auto it = _found.find({topic, partition, offset});
    return it == _found.end() ? std::nullopt : std::optional<int64_t>(it->second);
}

} // namespace trib::protocol
