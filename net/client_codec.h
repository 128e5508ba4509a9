#pragma once

// The client side of the Kafka wire, without sockets: the client connection's errors,
// request frames, decoding a response frame, the ApiVersions answer (with the v0 fallback),
// and the version both sides serve. Header-only on purpose: the clang-built fuzzers link only
// the socket-free modules (tests/fuzz/fuzz_client_response.cc includes this file), and
// kafka_client.h puts the connection on top.
#include "common/bytes.h"
#include "common/result.h"
#include "protocol/api.h"
#include "protocol/error_code.h"
#include "protocol/messages/api_versions.h"
#include "protocol/wire.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace trib::net {

// Why a client call failed. Kafka error codes inside a decoded response are not these: they
// reach the caller in the response.
enum class client_errc {
    not_connected = 1,    // the broker could not be reached, or its ApiVersions answer was unusable
    timed_out,            // the call's deadline passed (the connection is closed: see kafka_client)
    connection_lost,      // the connection failed while the call was outstanding
    bad_response,         // a frame that does not decode, answers another request, or is too big
    unsupported_version,  // no version of the API both sides serve
    closed,               // close() was called
};

inline std::string client_errc_message(client_errc e) {
    switch (e) {
    case client_errc::not_connected: return "not connected to the broker";
    case client_errc::timed_out: return "request timed out";
    case client_errc::connection_lost: return "connection to the broker lost";
    case client_errc::bad_response: return "malformed response from the broker";
    case client_errc::unsupported_version: return "no API version both sides serve";
    case client_errc::closed: return "client closed";
    }
    return "unknown kafka client error";
}

TRIB_ERROR_CATEGORY(kafka_client, client_errc, client_errc_message)

} // namespace trib::net

TRIB_REGISTER_ERRC(trib::net::client_errc)

namespace trib::net {

// A request frame: size prefix, request header (v1, or v2 for a flexible version), body.
// A request holding file slices (only the broker's Fetch answers do) is not supported.
template<typename Req>
bytes encode_request_frame(const Req& req, int16_t version, int32_t correlation_id, const std::string& client_id) {
    protocol::writer w;
    w.write_int32(0);
    protocol::request_header h;
    h.api_key = Req::api_key;
    h.api_version = version;
    h.correlation_id = correlation_id;
    h.client_id = client_id;
    protocol::encode_request_header(w, h);
    req.encode(w, version);
    bytes frame = w.take();
    store_be32(frame.data(), uint32_t(frame.size() - 4));
    return frame;
}

// Decodes a response frame (the bytes after the size prefix) to a request of
// (Resp::api_key, version) sent with `correlation_id`: the header (v0 or v1, as
// protocol::response_header_version says), then the body, which must end exactly at the
// frame's end. bad_response otherwise. Lengths inside are never trusted (protocol::reader).
template<typename Resp>
result<Resp> decode_response(bytes_view frame, int16_t version, int32_t correlation_id) {
    protocol::reader r(frame);
    auto corr = protocol::decode_response_header(r, protocol::response_header_version(Resp::api_key, version));
    if (!corr || *corr != correlation_id) {
        return client_errc::bad_response;
    }
    Resp out;
    out.decode(r, version);
    if (!r.ok() || r.remaining() != 0) {
        return client_errc::bad_response;
    }
    return out;
}

// An ApiVersions answer to a request sent at `version`. A broker that does not serve that
// version answers in the v0 layout (error UNSUPPORTED_VERSION and its ranges, DESIGN.md), so
// a body that does not decode at `version` is read again as v0, as Kafka's clients do.
inline result<protocol::api_versions_response> decode_api_versions(bytes_view frame, int16_t version,
                                                                   int32_t correlation_id) {
    auto r = decode_response<protocol::api_versions_response>(frame, version, correlation_id);
    if (!r && version != 0) {
        return decode_response<protocol::api_versions_response>(frame, 0, correlation_id);
    }
    return r;
}

// The ApiVersions version to ask again with after `resp` refused the one tried: the highest
// the broker lists for ApiVersions that we also speak, below the one tried. -1 when there
// is none (no UNSUPPORTED_VERSION, or no usable range).
inline int16_t api_versions_retry_version(const protocol::api_versions_response& resp, int16_t tried) {
    if (resp.error_code != int16_t(protocol::error_code::unsupported_version)) {
        return -1;
    }
    for (const auto& k : resp.api_keys) {
        if (k.api_key == protocol::api_versions_key) {
            int16_t v = std::min<int16_t>(k.max_version, int16_t(tried - 1));
            return v >= k.min_version && v >= protocol::api_versions_response::min_version ? v : int16_t(-1);
        }
    }
    return -1;
}

// The version ranges a broker serves, from its ApiVersions answer.
class api_version_table {
public:
    struct range {
        int16_t key = 0;
        int16_t min_version = 0;
        int16_t max_version = 0;
    };

    api_version_table() = default;
    explicit api_version_table(const protocol::api_versions_response& resp) {
        for (const auto& k : resp.api_keys) {
            _ranges.push_back({k.api_key, k.min_version, k.max_version});
        }
        // A key listed twice (a broken broker) counts once, as first listed.
        auto by_key = [](const range& a, const range& b) { return a.key < b.key; };
        std::stable_sort(_ranges.begin(), _ranges.end(), by_key);
        _ranges.erase(std::unique(_ranges.begin(), _ranges.end(),
                                  [](const range& a, const range& b) { return a.key == b.key; }),
                      _ranges.end());
    }

    bool empty() const noexcept { return _ranges.empty(); }
    const std::vector<range>& ranges() const noexcept { return _ranges; }

    // The highest version of `api_key` at most `wanted_max` that the broker serves and this
    // build has codecs for (protocol::find_api); unsupported_version when there is none.
    result<int16_t> version_for(int16_t api_key, int16_t wanted_max) const {
        const protocol::api_info* ours = protocol::find_api(api_key);
        auto it = std::lower_bound(_ranges.begin(), _ranges.end(), api_key,
                                   [](const range& r, int16_t k) { return r.key < k; });
        if (!ours || it == _ranges.end() || it->key != api_key) {
            return client_errc::unsupported_version;
        }
        int16_t hi = std::min({wanted_max, ours->max_version, it->max_version});
        int16_t lo = std::max(ours->min_version, it->min_version);
        if (hi < lo) {
            return client_errc::unsupported_version;
        }
        return hi;
    }

private:
    std::vector<range> _ranges;  // ascending by key
};

} // namespace trib::net
