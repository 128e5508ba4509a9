#include "common/listeners.h"

#include <algorithm>
#include <charconv>

namespace trib::config {
namespace {

std::string upper(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'a' && c <= 'z') {
            c = char(c - 'a' + 'A');
        }
    }
    return out;
}

bool valid_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

// The characters Kafka's listener regex allows in a host (including v6 and zone ids).
bool valid_host(std::string_view host) {
    return std::all_of(host.begin(), host.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '%' || c == '.' || c == '_' || c == ':';
    });
}

// Returns an error reason, or empty on success.
std::string split_host_port(std::string_view s, bool allow_empty_host, host_port& out) {
    std::string_view host;
    std::string_view port;
    if (!s.empty() && s.front() == '[') {
        auto close = s.find(']');
        if (close == std::string_view::npos) {
            return "missing ']' after IPv6 address";
        }
        host = s.substr(1, close - 1);
        auto rest = s.substr(close + 1);
        if (rest.empty() || rest.front() != ':') {
            return "expected ':port' after ']'";
        }
        port = rest.substr(1);
        if (host.empty()) {
            return "empty IPv6 address";
        }
    } else {
        auto colon = s.rfind(':');
        if (colon == std::string_view::npos) {
            return "missing ':port'";
        }
        host = s.substr(0, colon);
        port = s.substr(colon + 1);
    }
    if (host.empty() && !allow_empty_host) {
        return "missing host";
    }
    if (!valid_host(host)) {
        return "invalid host '" + std::string(host) + "'";
    }
    uint32_t p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p > 65535) {
        return "invalid port '" + std::string(port) + "' (expected 0..65535)";
    }
    out.host = std::string(host);
    out.port = uint16_t(p);
    return {};
}

config_error bad(std::string_view what, std::string_view entry, std::string_view reason) {
    return config_error(std::string(what) + " '" + std::string(entry) + "': " + std::string(reason));
}

template<typename F>
validator validator_from(F parse) {
    return [parse](const std::string& s) -> std::optional<std::string> {
        try {
            parse(s);
        } catch (const config_error& e) {
            return e.what();
        }
        return std::nullopt;
    };
}

} // namespace

host_port parse_host_port(std::string_view s, bool allow_empty_host) {
    host_port out;
    if (auto reason = split_host_port(trim_view(s), allow_empty_host, out); !reason.empty()) {
        throw bad("address", s, reason);
    }
    return out;
}

std::string format_host_port(std::string_view host, uint16_t port) {
    std::string h(host);
    if (h.find(':') != std::string::npos) {
        h = "[" + h + "]";
    }
    return h + ":" + std::to_string(port);
}

std::vector<listener> parse_listeners(std::string_view s) {
    std::vector<listener> out;
    for (std::string_view entry : split_list(s)) {
        auto sep = entry.find("://");
        if (sep == std::string_view::npos) {
            throw bad("listener", entry, "expected NAME://host:port");
        }
        auto name = entry.substr(0, sep);
        if (!valid_name(name)) {
            throw bad("listener", entry, "the name must be letters, digits, '_' or '-'");
        }
        host_port hp;
        if (auto reason = split_host_port(entry.substr(sep + 3), true, hp); !reason.empty()) {
            throw bad("listener", entry, reason);
        }
        listener l{upper(name), std::move(hp.host), hp.port};
        if (std::any_of(out.begin(), out.end(), [&](const listener& o) { return o.name == l.name; })) {
            throw bad("listener", entry, "the name " + l.name + " is used twice");
        }
        out.push_back(std::move(l));
    }
    return out;
}

std::string to_string(const listener& l) { return l.name + "://" + format_host_port(l.host, l.port); }

std::map<std::string, std::string> parse_protocol_map(std::string_view s) {
    std::map<std::string, std::string> out;
    for (std::string_view entry : split_list(s)) {
        auto colon = entry.find(':');
        if (colon == std::string_view::npos) {
            throw bad("listener security protocol", entry, "expected NAME:PROTOCOL");
        }
        auto name = trim_view(entry.substr(0, colon));
        auto protocol = upper(trim_view(entry.substr(colon + 1)));
        if (!valid_name(name)) {
            throw bad("listener security protocol", entry, "the name must be letters, digits, '_' or '-'");
        }
        if (std::find(std::begin(security_protocols), std::end(security_protocols), protocol) ==
            std::end(security_protocols)) {
            throw bad("listener security protocol", entry,
                      "unknown protocol (expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)");
        }
        if (!out.emplace(upper(name), protocol).second) {
            throw bad("listener security protocol", entry, "the name " + upper(name) + " is mapped twice");
        }
    }
    return out;
}

std::vector<voter> parse_voters(std::string_view s) {
    std::vector<voter> out;
    for (std::string_view entry : split_list(s)) {
        auto at = entry.find('@');
        if (at == std::string_view::npos) {
            throw bad("controller quorum voter", entry, "expected id@host:port");
        }
        auto id_text = entry.substr(0, at);
        int32_t id = -1;
        auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
        if (id_text.empty() || ec != std::errc{} || end != id_text.data() + id_text.size() || id < 0) {
            throw bad("controller quorum voter", entry, "the id must be a non-negative integer");
        }
        host_port hp;
        if (auto reason = split_host_port(entry.substr(at + 1), false, hp); !reason.empty()) {
            throw bad("controller quorum voter", entry, reason);
        }
        if (hp.port == 0) {
            throw bad("controller quorum voter", entry, "the port must be 1..65535");
        }
        if (std::any_of(out.begin(), out.end(), [&](const voter& v) { return v.id == node_id(id); })) {
            throw bad("controller quorum voter", entry, "the id " + std::to_string(id) + " is used twice");
        }
        out.push_back({node_id(id), std::move(hp.host), hp.port});
    }
    return out;
}

validator valid_listeners() { return validator_from(parse_listeners); }
validator valid_protocol_map() { return validator_from(parse_protocol_map); }
validator valid_voters() { return validator_from(parse_voters); }

} // namespace trib::config
