#pragma once

#include "common/bytes.h"
#include "protocol/wire.h"

#include <vector>

namespace trib::net {

// An encoded response ready to send: the size prefix and header and body in `data`, with
// file ranges to splice in at the given positions (zero-copy Fetch).
struct outgoing_frame {
    bytes data;
    std::vector<protocol::splice> splices;

    size_t splice_bytes() const noexcept {
        size_t n = 0;
        for (const auto& s : splices) {
            n += s.slice.len;
        }
        return n;
    }
};

} // namespace trib::net
