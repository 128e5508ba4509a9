// The SASL message parsers, servers and clients on arbitrary input: PLAIN messages, SCRAM
// client messages (both steps) to the server, SCRAM server messages (both steps) to the
// client, the JAAS option syntax, OAUTHBEARER client messages and JWTs (the input as a token,
// and a client message carrying it), JWKS documents and JWKS endpoint URLs. Nothing may crash
// or read out of bounds.
// Then a connection's SASL state machine (net/sasl_session.h) driven by the input as a
// sequence of requests and clock steps, first authentication and re-authentications (KIP-368),
// checked against its invariants: the principal never changes once set, a session is
// authenticated only by a completed exchange, an ended session admits nothing but a
// re-authentication.
#include "broker/http_url.h"
#include "net/sasl_session.h"
#include "protocol/messages.h"
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

namespace {

// One piece of input (the input split at '\n') per step: its first byte picks what happens.
//   'h' SaslHandshake v1 for the rest as the mechanism    'a' SaslAuthenticate v1 with the rest
//   '0' SaslAuthenticate v0 with the rest                 't' the clock moves by (byte 1) * 20 ms
//   anything else: a request of API key (that byte % 70) is admitted or not
// SaslAuthenticate tokens starting with 'A'/'B' are replaced by alice's/bob's valid PLAIN login,
// so exchanges get past the password and re-authentications are reached.
void sasl_session_steps(std::string_view in) {
    using trib::net::sasl_session;
    static const trib::security::listener_sasl listener = [] {
        trib::security::listener_sasl l;
        l.mechanisms = {"PLAIN", "SCRAM-SHA-256"};
        l.max_reauth_ms["PLAIN"] = 1000;
        l.max_reauth_ms["SCRAM-SHA-256"] = 0;
        return l;
    }();
    static const plain_users users{{"alice", "a"}, {"bob", "b"}};
    sasl_session s(&listener);
    auto now = sasl_session::clock::time_point{} + std::chrono::hours(1);
    std::string first_principal;
    bool authenticated = false;
    while (!in.empty()) {
        const auto nl = in.find('\n');
        const std::string_view piece = in.substr(0, nl);
        in = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
        if (piece.empty()) {
            continue;
        }
        const char op = piece[0];
        const std::string_view rest = piece.substr(1);
        if (op == 'h') {
            // Through the answer both programs send (it calls handshake()).
            if (s.answer_handshake(1, std::string(rest), "SASL_PLAINTEXT", now).outcome ==
                sasl_session::handshake_outcome::start) {
                s.server = make_plain_server(users);  // SCRAM too: any exchange will do
            }
        } else if (op == 'a' || op == '0') {
            std::string token(rest);
            if (token.starts_with("A")) {
                token = std::string("\0alice\0a", 8);
            } else if (token.starts_with("B")) {
                token = std::string("\0bob\0b", 6);
            }
            const bool was_reauth = s.reauthenticating;
            // Through the answer both programs send (authenticate() with the listener's
            // connections.max.reauth.ms for the session's mechanism).
            auto step = s.answer_authenticate(token, op == 'a' ? 1 : 0, now, 0);
            if (step.k == sasl_session::step::authenticated) {
                if (first_principal.empty()) {
                    first_principal = s.principal;
                }
                if (s.principal != first_principal || (was_reauth && !step.reauthentication)) {
                    __builtin_trap();  // a re-authentication changed the principal
                }
                if (step.lifetime_ms < 0 || (step.lifetime_ms > 0) != s.expires_at.has_value()) {
                    __builtin_trap();
                }
                authenticated = true;
            } else if (step.k == sasl_session::step::failed) {
                return;  // the broker closes the connection after this answer
            }
        } else if (op == 't') {
            now += std::chrono::milliseconds(20 * (rest.empty() ? 1 : uint8_t(rest[0])));
        } else {
            const auto admitted = s.admit(int16_t(uint8_t(op) % 70), now);
            if (admitted != sasl_session::admission::serve &&
                s.refusal(admitted, int16_t(uint8_t(op) % 70), 1, "SASL_PLAINTEXT").empty()) {
                __builtin_trap();  // a connection closed without a reason
            }
            if (s.at == sasl_session::stage::done && !authenticated) {
                __builtin_trap();  // authenticated without a completed exchange
            }
            if (s.expired(now) && admitted == sasl_session::admission::serve &&
                int16_t(uint8_t(op) % 70) != trib::protocol::sasl_handshake_request::api_key) {
                __builtin_trap();  // an ended session served a request
            }
        }
    }
}

} // namespace

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
    (void)trib::broker::parse_http_url(in);  // the JWKS endpoint's URL (broker/http_url.h)
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

    sasl_session_steps(in);
    return 0;
}
