#pragma once

// Parsers for the Kafka settings that describe network endpoints:
//   listeners / advertised.listeners   PLAINTEXT://0.0.0.0:9092,EXTERNAL://[::1]:9093
//   listener.security.protocol.map     PLAINTEXT:PLAINTEXT,EXTERNAL:SASL_SSL
//   controller.quorum.voters           1@host:9093,2@[::1]:9093
// They throw config_error with a message naming the bad entry. Listener names are
// normalized to upper case, as Kafka's ListenerName.normalised does.

#include "common/config.h"
#include "common/ids.h"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace trib::config {

struct host_port {
    std::string host;  // without IPv6 brackets; empty means all interfaces (listeners only)
    uint16_t port = 0;
    bool operator==(const host_port&) const = default;
};

struct listener {
    std::string name;  // upper case
    std::string host;  // without IPv6 brackets; empty means all interfaces
    uint16_t port = 0; // 0: any free port
    bool operator==(const listener&) const = default;
};

struct voter {
    node_id id;
    std::string host;
    uint16_t port = 0;
    bool operator==(const voter&) const = default;
};

// `host:port` or `[v6]:port` (Kafka also accepts an unbracketed v6 address: the port is
// after the last ':'). Port 0..65535.
host_port parse_host_port(std::string_view s, bool allow_empty_host = false);
// `host:port` with brackets around IPv6 addresses.
std::string format_host_port(std::string_view host, uint16_t port);

// Comma-separated NAME://host:port; names unique. Empty input gives no listeners.
std::vector<listener> parse_listeners(std::string_view s);
// NAME://host:port, the form parse_listeners reads.
std::string to_string(const listener& l);

// The security protocols Kafka has.
inline constexpr std::string_view security_protocols[] = {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"};
// Kafka's default listener.security.protocol.map.
inline constexpr std::string_view default_protocol_map =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";
// Comma-separated NAME:PROTOCOL -> {NAME: PROTOCOL}, both upper case; names unique,
// protocols among security_protocols.
std::map<std::string, std::string> parse_protocol_map(std::string_view s);

// Comma-separated id@host:port; ids >= 0 and unique, hosts non-empty, ports 1..65535.
std::vector<voter> parse_voters(std::string_view s);

// Validators for key_spec::validate built on the parsers above.
validator valid_listeners();
validator valid_protocol_map();
validator valid_voters();

} // namespace trib::config
