// The SASL message parsers, servers and clients on arbitrary input: PLAIN messages, SCRAM
// client messages (both steps) to the server, SCRAM server messages (both steps) to the
// client, and the JAAS option syntax. Nothing may crash or read out of bounds.
#include "security/jaas.h"
#include "security/plain.h"
#include "security/scram.h"

#include <cstddef>
#include <cstdint>
#include <string_view>

using namespace trib::security;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    (void)parse_plain(in);
    (void)plain_users_from_jaas(in);
    (void)parse_scram_client_first(in);
    (void)parse_scram_client_final(in);
    (void)base64_decode(in);

    static const plain_users users{{"alice", "alice-secret"}};
    (void)make_plain_server(users)->step(in);

    // A SCRAM exchange: the input split at the first newline into client-first and
    // client-final (a fixed, cheap credential: 1 iteration keeps the fuzzer fast).
    static const auto cred = scram_credential_from_salted(
        scram_algorithm::sha256, scram_salted_password(scram_algorithm::sha256, "pw", "salt", 1), "salt", 1);
    auto server = make_scram_server(
        scram_algorithm::sha256, [](const std::string&) -> std::optional<scram_credential> { return cred; }, "srv");
    auto nl = in.find('\n');
    if (server->step(in.substr(0, nl)) && nl != std::string_view::npos) {
        (void)server->step(in.substr(nl + 1));
    }

    // The client side (a broker logging in to another): server-first, then server-final.
    auto client = make_scram_client(scram_algorithm::sha256, "broker", "pw", "cn");
    client->first();
    auto answer = client->next(in.substr(0, nl));
    if (answer && nl != std::string_view::npos) {
        (void)client->next(in.substr(nl + 1));
    }
    return 0;
}
