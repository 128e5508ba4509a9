#pragma once

#include "common/batch_header.h"
#include "storage/log.h"
#include "tests/fakes/storage_batches.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

namespace trib::storage::testing {

struct seen_batch {
    int64_t base;
    int64_t last;
    int64_t max_ts;
    uint32_t crc;
    size_t size;
};

// Splits `data` into batches, checking framing, CRC and that offsets are contiguous.
inline std::vector<seen_batch> parse_batches(bytes_view data) {
    std::vector<seen_batch> out;
    size_t pos = 0;
    while (pos < data.size()) {
        auto h = read_and_verify_batch(data.subspan(pos));
        EXPECT_TRUE(h) << "bad batch at " << pos << ": " << h.error().message();
        if (!h) {
            break;
        }
        if (!out.empty()) {
            EXPECT_EQ(h->base_offset, out.back().last + 1);
        }
        out.push_back({h->base_offset, h->last_offset(), h->max_timestamp, h->crc, h->total_size()});
        pos += h->total_size();
    }
    return out;
}

// Every batch from the log start to the end.
inline std::vector<seen_batch> read_all(log& l) {
    auto b = l.read_bytes(l.log_start_offset(), SIZE_MAX);
    EXPECT_TRUE(b) << b.error().message();
    if (!b) {
        return {};
    }
    return parse_batches(*b);
}

inline bytes read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return bytes(std::istreambuf_iterator<char>(in), {});
}

inline void write_file(const std::filesystem::path& p, bytes_view b) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline append_result append_ok(log& l, const batch_spec& s, std::optional<int32_t> epoch = {}) {
    auto b = make_batch(s);
    auto r = l.append(b, epoch);
    EXPECT_TRUE(r) << r.error().message();
    return r ? *r : append_result{};
}

} // namespace trib::storage::testing
