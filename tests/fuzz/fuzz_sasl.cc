// The SASL message parsers, servers and clients on arbitrary input: PLAIN messages, SCRAM
// client messages (both steps) to the server, SCRAM server messages (both steps) to the
// client, the JAAS option syntax, OAUTHBEARER client messages and JWTs (the input as a token,
// and a client message carrying it) and JWKS documents. Nothing may crash or read out of bounds.
#include "security/jaas.h"
#include "security/oauthbearer.h"
#include "security/plain.h"
#include "security/scram.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
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

    // OAUTHBEARER: the parsers, a JWT against a one-key JWKS (an EC P-256 key: x and y are
    // the generator point, a valid public key), and the server's two steps.
    (void)parse_oauthbearer_client(in);
    (void)parse_jwks(in);
    struct fixed_keys final : jwks_source {
        std::shared_ptr<const jwks> k;
        std::shared_ptr<const jwks> current() override { return k; }
        std::shared_ptr<const jwks> reload_for_unknown_kid() override { return k; }
    };
    static const auto keys = [] {
        auto src = std::make_shared<fixed_keys>();
        auto parsed = parse_jwks(R"({"keys":[{"kty":"EC","kid":"k","crv":"P-256",)"
                                 R"("x":"axfR8uEsQkf4vOblY6RA8ncDfYEt6zOg9KE5RdiYwpY",)"
                                 R"("y":"T-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU"}]})");
        src->k = std::make_shared<jwks>(parsed ? parsed.value() : jwks{});
        return src;
    }();
    (void)validate_jwt(in, *keys->k, {}, std::chrono::system_clock::time_point{});
    auto ob = make_oauthbearer_server(keys, {});
    if (ob->step("n,,\x01auth=Bearer " + std::string(in.substr(0, nl)) + "\x01\x01") && !ob->complete()) {
        (void)ob->step(nl == std::string_view::npos ? std::string_view("\x01") : in.substr(nl + 1));
    }
    (void)make_oauthbearer_server(keys, {})->step(in);
    return 0;
}
