#pragma once

// Kafka's sasl.jaas.config syntax, one login module:
//   <class> <required|requisite|sufficient|optional> [key=value ...];
// values bare words or double-quoted strings (\" and \\ escaped inside).
#include "security/plain.h"

#include <map>

namespace trib::security {

struct jaas_entry {
    std::string login_module;
    std::string flag;
    std::map<std::string, std::string, std::less<>> options;
};

outcome<jaas_entry> parse_jaas(std::string_view text);

inline constexpr std::string_view plain_login_module = "org.apache.kafka.common.security.plain.PlainLoginModule";

// The PLAIN users (options user_<name>="<password>") of a PlainLoginModule entry; fails on bad
// syntax or another login module.
outcome<plain_users> plain_users_from_jaas(std::string_view text);

} // namespace trib::security
