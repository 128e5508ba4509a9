#include "storage/checkpoint.h"

#include "common/crc32c.h"
#include "common/log.h"
#include "storage/file.h"

#include <cstring>

namespace trib::storage {

namespace {
constexpr uint8_t magic[4] = {'T', 'R', 'L', 'C'};
constexpr uint16_t version = 2;
} // namespace

result<std::optional<checkpoint>> checkpoint::read(const std::filesystem::path& dir) {
    auto path = dir / file_name;
    auto got = read_small_file(path, size);
    if (!got) {
        return got.error();
    }
    if (!*got) {
        return std::optional<checkpoint>{};
    }
    const uint8_t* buf = (*got)->data();
    const size_t n = (*got)->size();
    const uint16_t v = n >= 6 ? load_be16(buf + 4) : 0;
    const size_t body = v == 1 ? size_v1 - 4 : size - 4;
    if (!((v == 1 && n == size_v1) || (v == version && n == size)) || std::memcmp(buf, magic, 4) != 0 ||
        crc32c::extend(0, buf, body) != load_be32(buf + body)) {
        TLOG_WARN("storage: {} is damaged; recovering without it", path.string());
        return std::optional<checkpoint>{};
    }
    checkpoint c;
    c.clean = buf[6] == 1;
    c.recovery_point = offset(int64_t(load_be64(buf + 8)));
    c.log_start_offset = offset(int64_t(load_be64(buf + 16)));
    c.nonce = v == 1 ? 0 : load_be64(buf + 24);
    return std::optional<checkpoint>(c);
}

result<void> checkpoint::write(const std::filesystem::path& dir) const {
    uint8_t buf[size] = {};
    std::memcpy(buf, magic, 4);
    store_be16(buf + 4, version);
    buf[6] = clean ? 1 : 0;
    store_be64(buf + 8, uint64_t(recovery_point.value()));
    store_be64(buf + 16, uint64_t(log_start_offset.value()));
    store_be64(buf + 24, nonce);
    store_be32(buf + 32, crc32c::extend(0, buf, 32));

    return replace_file(dir, file_name, bytes_view(buf, size));
}

} // namespace trib::storage
