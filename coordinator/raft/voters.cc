#include "coordinator/raft/types.h"

#include <algorithm>

namespace trib::coordinator::raft {

bytes encode_voters(const voter_set& voters) {
    bytes out(4);
    store_be32(out.data(), uint32_t(voters.size()));
    for (const auto& v : voters) {
        size_t at = out.size();
        out.resize(at + 4 + 2 + v.host.size() + 2);
        store_be32(out.data() + at, uint32_t(v.id.value()));
        store_be16(out.data() + at + 4, uint16_t(v.host.size()));
        std::copy(v.host.begin(), v.host.end(), out.begin() + long(at + 6));
        store_be16(out.data() + at + 6 + v.host.size(), v.port);
    }
    return out;
}

std::optional<voter_set> decode_voters(bytes_view payload) {
    if (payload.size() < 4) {
        return std::nullopt;
    }
    uint32_t n = load_be32(payload.data());
    size_t at = 4;
    voter_set out;
    // Each voter takes at least 8 bytes: a count the payload cannot hold is refused before
    // anything is reserved.
    if (n > (payload.size() - 4) / 8) {
        return std::nullopt;
    }
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
        if (payload.size() - at < 6) {
            return std::nullopt;
        }
        voter v;
        v.id = node_id(int32_t(load_be32(payload.data() + at)));
        size_t len = load_be16(payload.data() + at + 4);
        at += 6;
        if (payload.size() - at < len + 2) {
            return std::nullopt;
        }
        v.host.assign(reinterpret_cast<const char*>(payload.data() + at), len);
        v.port = load_be16(payload.data() + at + len);
        at += len + 2;
        if (v.id.value() < 0 || (!out.empty() && out.back().id >= v.id)) {
            return std::nullopt;
        }
        out.push_back(std::move(v));
    }
    if (at != payload.size()) {
        return std::nullopt;
    }
    return out;
}

bool has_voter(const voter_set& voters, node_id id) {
    return std::any_of(voters.begin(), voters.end(), [&](const voter& v) { return v.id == id; });
}

} // namespace trib::coordinator::raft
