#pragma once

// Request and response headers, and the registry of the APIs this project implements.
//
//   request header v1: api_key int16, api_version int16, correlation_id int32,
//                      client_id nullable string (int16 length, even in v2)
//   request header v2: v1 + tagged fields
//   response header v0: correlation_id int32
//   response header v1: v0 + tagged fields
//
// A request header is v2 when the request's version is flexible, v1 otherwise (v0, without
// client_id, only ever served ControlledShutdown v0, which we do not implement). A response
// header is v1 when flexible, v0 otherwise, except ApiVersions: always v0, so a client can
// read the reply before it knows which versions the broker speaks.

#include "protocol/api_list.h"
#include "protocol/wire.h"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace trib::protocol {

struct request_header {
    int16_t api_key = 0;
    int16_t api_version = 0;
    int32_t correlation_id = 0;
    std::optional<std::string> client_id;
    tagged_fields unknown_tags;
    bool operator==(const request_header&) const = default;
};

struct api_info {
    int16_t key;
    std::string_view name;  // Kafka's name: "Produce"
    int16_t min_version, max_version, flexible_from;

    bool supports(int16_t version) const noexcept {
        return version >= min_version && version <= max_version;
    }
    bool flexible(int16_t version) const noexcept { return version >= flexible_from; }
};

// Per-API tables (the broker's dispatch, its request metrics) index APIs densely: Kafka's
// keys 0..127 keep their own slot, Tributary's own client APIs (keys from 10200, "tributary"
// in protocol/defs) take the slots after them. nullopt: a key no table has room for.
inline constexpr int16_t tributary_api_base = 10200;
inline constexpr size_t kafka_api_slots = 128;
inline constexpr size_t api_slots = kafka_api_slots + 16;
constexpr std::optional<size_t> api_slot(int16_t key) noexcept {
    if (key >= 0 && size_t(key) < kafka_api_slots) {
        return size_t(key);
    }
    if (key >= tributary_api_base && size_t(key - tributary_api_base) < api_slots - kafka_api_slots) {
        return kafka_api_slots + size_t(key - tributary_api_base);
    }
    return std::nullopt;
}

// Every API with definitions, ascending by key (built from TRIB_FOR_EACH_API).
std::span<const api_info> all_apis() noexcept;
// nullptr for a key we do not implement.
const api_info* find_api(int16_t key) noexcept;

inline constexpr int16_t api_versions_key = 18;

// Header versions for a request of (key, version). For a key we do not know, the version
// is read as not flexible.
int16_t request_header_version(int16_t key, int16_t version) noexcept;
int16_t response_header_version(int16_t key, int16_t version) noexcept;

// Reads a request header: key, version, correlation id, client id and, when the request is
// flexible (a known API at or above its flexible_from), the tagged fields. Returns r.ok().
bool decode_request_header(reader& r, request_header& h);
void encode_request_header(writer& w, const request_header& h);

void encode_response_header(writer& w, int32_t correlation_id, int16_t header_version);
// Reads a response header; returns the correlation id, or nullopt on bad input.
std::optional<int32_t> decode_response_header(reader& r, int16_t header_version);

} // namespace trib::protocol
