#include "protocol/api.h"

#include "protocol/messages.h"

#include <algorithm>
#include <array>

namespace trib::protocol {

namespace {

constexpr api_info make_info(int16_t key, std::string_view name, int16_t lo, int16_t hi,
                             int16_t flex) {
    return api_info{key, name, lo, hi, flex};
}

#define TRIB_API_INFO(name, key, kafka_name)                                                 \
    make_info(key, kafka_name, name##_request::min_version, name##_request::max_version,      \
              name##_request::flexible_from),
constexpr api_info api_table[] = {TRIB_FOR_EACH_API_NAME(TRIB_API_INFO)};
#undef TRIB_API_INFO

// The request and response of an API must agree on versions: the generator takes them from
// one line, this keeps the promise visible.
#define TRIB_API_CHECK(name, key)                                                            \
    static_assert(name##_request::api_key == key && name##_response::api_key == key);         \
    static_assert(name##_request::min_version == name##_response::min_version);               \
    static_assert(name##_request::max_version == name##_response::max_version);               \
    static_assert(name##_request::flexible_from == name##_response::flexible_from);
TRIB_FOR_EACH_API(TRIB_API_CHECK)
#undef TRIB_API_CHECK

constexpr bool sorted_by_key() {
    for (size_t i = 1; i < std::size(api_table); ++i) {
        if (api_table[i - 1].key >= api_table[i].key) return false;
    }
    return true;
}
static_assert(sorted_by_key());

bool flexible_request(int16_t key, int16_t version) noexcept {
    const api_info* api = find_api(key);
    return api && api->flexible(version);
}

} // namespace

std::span<const api_info> all_apis() noexcept { return api_table; }

const api_info* find_api(int16_t key) noexcept {
    auto it = std::lower_bound(std::begin(api_table), std::end(api_table), key,
                               [](const api_info& a, int16_t k) { return a.key < k; });
    return it != std::end(api_table) && it->key == key ? &*it : nullptr;
}

int16_t request_header_version(int16_t key, int16_t version) noexcept {
    return flexible_request(key, version) ? 2 : 1;
}

int16_t response_header_version(int16_t key, int16_t version) noexcept {
    if (key == api_versions_key) return 0;
    return flexible_request(key, version) ? 1 : 0;
}

bool decode_request_header(reader& r, request_header& h) {
    h.api_key = r.read_int16();
    h.api_version = r.read_int16();
    h.correlation_id = r.read_int32();
    h.client_id = r.read_nullable_string();
    h.unknown_tags.clear();
    if (r.ok() && request_header_version(h.api_key, h.api_version) >= 2) {
        r.read_tags([&](uint32_t tag, bytes_view data) {
            h.unknown_tags.push_back({tag, bytes(data.begin(), data.end())});
        });
    }
    return r.ok();
}

void encode_request_header(writer& w, const request_header& h) {
    w.write_int16(h.api_key);
    w.write_int16(h.api_version);
    w.write_int32(h.correlation_id);
    w.write_nullable_string(h.client_id);
    if (request_header_version(h.api_key, h.api_version) >= 2) w.write_tags({}, h.unknown_tags);
}

void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version) {
    w.write_int32(correlation_id);
    if (header_version >= 1) w.write_uvarint(0);
}

std::optional<int32_t> decode_response_header(reader& r, int16_t header_version) {
    int32_t id = r.read_int32();
    if (header_version >= 1) r.read_tags([](uint32_t, bytes_view) {});
    if (!r.ok()) return std::nullopt;
    return id;
}

} // namespace trib::protocol
