#include "broker/http_url.h"

#include <boost/algorithm/string/case_conv.hpp>

#include <algorithm>
#include <cctype>

namespace trib::broker {

namespace {

template<typename T>
security::outcome<T> fail(std::string why) {
    return security::outcome<T>::failure(std::move(why));
}

} // namespace

std::string http_url::host_header() const {
    // Appended piece by piece: g++ 12's -Wrestrict misfires on "[" + host + "]" at -O3.
    std::string h;
    if (host.find(':') != std::string::npos) {
        h.append(1, '[').append(host).append(1, ']');
    } else {
        h = host;
    }
    if (port != (tls ? 443 : 80)) {
        h.append(1, ':').append(std::to_string(port));
    }
    return h;
}

security::outcome<http_url> parse_http_url(std::string_view url) {
    using R = http_url;
    http_url out;
    const auto colon = url.find("://");
    if (colon == std::string_view::npos) {
        return fail<R>("not an http: or https: URL");
    }
    const auto scheme = boost::algorithm::to_lower_copy(std::string(url.substr(0, colon)));
    if (scheme == "https") {
        out.tls = true;
        out.port = 443;
    } else if (scheme == "http") {
        out.tls = false;
        out.port = 80;
    } else {
        return fail<R>("the scheme is '" + scheme + "', not http or https");
    }
    auto rest = url.substr(colon + 3);
    if (const auto hash = rest.find('#'); hash != std::string_view::npos) {
        rest = rest.substr(0, hash);
    }
    const auto slash = rest.find_first_of("/?");
    auto authority = rest.substr(0, slash);
    out.target.assign(1, '/');
    if (slash != std::string_view::npos) {
        const auto path = rest.substr(rest[slash] == '/' ? slash + 1 : slash);
        out.target.append(path);
    }
    if (authority.find('@') != std::string_view::npos) {
        return fail<R>("user information in the URL is not supported");
    }
    std::string_view port;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return fail<R>("an IPv6 address without its closing ']'");
        }
        out.host = std::string(authority.substr(1, close - 1));
        auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (!after.starts_with(':')) {
                return fail<R>("unexpected text after the IPv6 address");
            }
            port = after.substr(1);
            if (port.empty()) {
                return fail<R>("an empty port");
            }
        }
    } else {
        const auto c = authority.find(':');
        out.host = std::string(authority.substr(0, c));
        if (c != std::string_view::npos) {
            port = authority.substr(c + 1);
            if (port.empty()) {
                return fail<R>("an empty port");
            }
        }
    }
    if (out.host.empty()) {
        return fail<R>("no host");
    }
    for (char ch : out.host) {
        if (std::isspace(static_cast<unsigned char>(ch)) || std::iscntrl(static_cast<unsigned char>(ch))) {
            return fail<R>("a space or control character in the host");
        }
    }
    for (char ch : out.target) {
        if (std::isspace(static_cast<unsigned char>(ch)) || std::iscntrl(static_cast<unsigned char>(ch))) {
            return fail<R>("a space or control character in the path (percent-encode it)");
        }
    }
    if (!port.empty()) {
        if (port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
            return fail<R>("the port '" + std::string(port) + "' is not a number");
        }
        const int p = std::stoi(std::string(port));
        if (p < 1 || p > 65535) {
            return fail<R>("the port " + std::string(port) + " is out of range");
        }
        out.port = uint16_t(p);
    }
    return out;
}

} // namespace trib::broker
