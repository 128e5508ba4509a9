#include "coordinator/raft/quorum_state.h"

#include "common/crc32c.h"
#include "coordinator/raft/store_errc.h"
#include "storage/file.h"

#include <fmt/format.h>

#include <cstring>
#include <stdexcept>

namespace trib::coordinator::raft {

namespace {

constexpr uint8_t magic[4] = {'T', 'R', 'Q', 'S'};
constexpr uint16_t version = 1;
constexpr size_t file_size = 24;

} // namespace

bytes encode_hard_state(const hard_state& hs) {
    bytes out(file_size, 0);
    std::memcpy(out.data(), magic, 4);
    store_be16(out.data() + 4, version);
    store_be64(out.data() + 8, uint64_t(hs.term.value()));
    store_be32(out.data() + 16, uint32_t(hs.voted_for.value()));
    store_be32(out.data() + 20, crc32c::value(bytes_view(out).first(20)));
    return out;
}

result<hard_state> decode_hard_state(bytes_view data, std::string& why) {
    if (data.size() != file_size) {
        why = fmt::format("{} bytes, expected {}", data.size(), file_size);
        return store_errc::bad_message;
    }
    if (std::memcmp(data.data(), magic, 4) != 0) {
        why = "wrong magic";
        return store_errc::bad_message;
    }
    if (load_be32(data.data() + 20) != crc32c::value(data.first(20))) {
        why = "CRC mismatch";
        return store_errc::bad_message;
    }
    if (load_be16(data.data() + 4) != version || load_be16(data.data() + 6) != 0) {
        why = fmt::format("unknown version {}", load_be16(data.data() + 4));
        return store_errc::bad_message;
    }
    hard_state hs;
    hs.term = term_id(int64_t(load_be64(data.data() + 8)));
    hs.voted_for = node_id(int32_t(load_be32(data.data() + 16)));
    if (hs.term.value() < 0 || hs.voted_for.value() < -1) {
        why = fmt::format("impossible term {} or vote {}", hs.term.value(), hs.voted_for.value());
        return store_errc::bad_message;
    }
    return hs;
}

quorum_state quorum_state::open(const std::filesystem::path& dir) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    auto path = dir / quorum_state_file;
    auto data = storage::read_small_file(path, file_size);
    if (!data) {
        throw std::runtime_error(fmt::format("cannot read the raft quorum state {}: {}", path.string(),
                                             data.error().message()));
    }
    if (!*data) {
        return quorum_state(dir, hard_state{});
    }
    std::string why;
    auto hs = decode_hard_state(**data, why);
    if (!hs) {
        throw std::runtime_error(fmt::format(
            "the raft quorum state {} is damaged ({}): refusing to start, as forgetting this node's vote could "
            "elect two leaders in one term. Remove the file only if this node never voted or its whole "
            "metadata log is gone",
            path.string(), why));
    }
    return quorum_state(dir, *hs);
}

result<void> quorum_state::save(const hard_state& hs) {
    if (hs.term < _current.term ||
        (hs.term == _current.term && _current.voted_for != node_id(-1) && hs.voted_for != _current.voted_for)) {
        throw std::logic_error(fmt::format("raft hard state going back: term {} vote {} after term {} vote {}",
                                           hs.term.value(), hs.voted_for.value(), _current.term.value(),
                                           _current.voted_for.value()));
    }
    if (hs == _current) {
        return success();
    }
    auto data = encode_hard_state(hs);
    if (auto r = storage::replace_file(_dir, quorum_state_file, data); !r) {
        return r;
    }
    _current = hs;
    return success();
}

} // namespace trib::coordinator::raft
