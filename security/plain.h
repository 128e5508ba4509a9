#pragma once

// SASL PLAIN (RFC 4616): one client message, authzid NUL authcid NUL password.
#include "security/sasl.h"

#include <map>

namespace trib::security {

struct plain_message {
    std::string authzid;   // empty: act as authcid
    std::string authcid;   // the user name
    std::string password;
};

// Parses a PLAIN message. Fails (with the reason) on a missing NUL, an empty user or
// password, more than two NULs, or an authzid other than the user (Kafka's rule: no
// impersonation).
outcome<plain_message> parse_plain(std::string_view msg);

// user name -> password, as listed in the PlainLoginModule options (user_<name>="<password>").
using plain_users = std::map<std::string, std::string, std::less<>>;

// PLAIN against a fixed user table; the password compare is constant-time.
std::unique_ptr<sasl_server> make_plain_server(const plain_users& users);

// The client: one message, no authzid; the server's (empty) answer ends the exchange.
std::unique_ptr<sasl_client> make_plain_client(std::string username, std::string password);

} // namespace trib::security
