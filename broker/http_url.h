#pragma once

// The URL of an identity provider's JWKS endpoint (broker/jwks_https.h), parsed without I/O
// (tests/fuzz/fuzz_sasl.cc feeds it).
#include "security/sasl.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace trib::broker {

// An http: or https: URL: scheme://host[:port][/path][?query] (an IPv6 host in brackets; no
// user info; a #fragment is dropped, as HTTP clients do).
struct http_url {
    bool tls = true;
    std::string host;     // an IPv6 address without its brackets
    uint16_t port = 443;  // 80 for http:
    std::string target;   // path and query, at least "/"
    std::string host_header() const;
};
security::outcome<http_url> parse_http_url(std::string_view url);

} // namespace trib::broker
