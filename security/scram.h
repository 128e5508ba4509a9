#pragma once

// SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), server side, without channel
// binding. The exchange:
//   client-first  n,,n=<user>,r=<client nonce>
//   server-first  r=<client nonce><server nonce>,s=<base64 salt>,i=<iterations>
//   client-final  c=<base64 gs2 header>,r=<nonce>,p=<base64 proof>
//   server-final  v=<base64 server signature>
// The server keeps per user only the salt, iterations, StoredKey and ServerKey (never the
// password): what Kafka's UserScramCredentialRecord holds.
#include "security/sasl.h"

#include <cstdint>
#include <functional>

namespace trib::security {

enum class scram_algorithm { sha256, sha512 };

std::string_view mechanism_name(scram_algorithm a) noexcept;
std::optional<scram_algorithm> scram_algorithm_for(std::string_view mechanism) noexcept;

// Kafka's bounds on iterations (ScramMechanism.minIterations / maxIterations).
inline constexpr int32_t scram_min_iterations = 4096;
inline constexpr int32_t scram_max_iterations = 16384;

struct scram_credential {
    std::string salt;        // raw bytes
    std::string stored_key;  // H(HMAC(SaltedPassword, "Client Key"))
    std::string server_key;  // HMAC(SaltedPassword, "Server Key")
    int32_t iterations = 0;
};

// SaltedPassword = PBKDF2-HMAC(password, salt, iterations).
std::string scram_salted_password(scram_algorithm a, std::string_view password, std::string_view salt,
                                  int32_t iterations);
// The stored credential from a salted password (what AlterUserScramCredentials carries).
scram_credential scram_credential_from_salted(scram_algorithm a, std::string_view salted_password,
                                              std::string salt, int32_t iterations);
// From a password with a fresh random salt.
scram_credential make_scram_credential(scram_algorithm a, std::string_view password, int32_t iterations);

// Looks a user's credential up for the mechanism being run; nullopt: no such user.
using scram_lookup = std::function<std::optional<scram_credential>(const std::string& user)>;

// A server exchange. `server_nonce` is appended to the client's nonce; empty: 32 random
// bytes, base64 (tests pass RFC 7677's).
std::unique_ptr<sasl_server> make_scram_server(scram_algorithm a, scram_lookup lookup,
                                               std::string server_nonce = {});

// A client exchange as `username` with `password`. `client_nonce` empty: 24 random bytes,
// base64 (tests pass RFC 7677's). The server's first message is checked (its nonce must
// extend ours, iterations within Kafka's bounds) and so is its final signature.
std::unique_ptr<sasl_client> make_scram_client(scram_algorithm a, std::string username, std::string password,
                                               std::string client_nonce = {});

// --- pieces, public for tests and the fuzzer ------------------------------------------

struct scram_client_first {
    std::string gs2_header;  // "n,," or "y,," (with the authzid if given)
    std::string authzid;
    std::string username;    // =2C and =3D decoded
    std::string nonce;
    std::string bare;        // client-first-message-bare, for the AuthMessage
};
outcome<scram_client_first> parse_scram_client_first(std::string_view msg);

struct scram_client_final {
    std::string channel_binding;  // decoded c=
    std::string nonce;
    std::string proof;            // decoded p=
    std::string without_proof;    // for the AuthMessage
};
outcome<scram_client_final> parse_scram_client_final(std::string_view msg);

std::string base64_encode(std::string_view raw);
std::optional<std::string> base64_decode(std::string_view text);

} // namespace trib::security
