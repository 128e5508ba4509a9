#pragma once

// SASL mechanisms a Kafka broker serves, as pure message exchanges: no sockets, no Kafka
// framing. The broker's SaslAuthenticate handler feeds each client token to a
// sasl_server and sends back what it answers.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace trib::security {

// A step's answer, or why authentication failed (the message goes to the client and the log,
// so it never contains a password).
template<typename T>
class outcome {
public:
    outcome(T v) : _v(std::in_place_index<0>, std::move(v)) {}  // NOLINT
    static outcome failure(std::string why) { return outcome(std::in_place_index<1>, std::move(why)); }

    bool ok() const noexcept { return _v.index() == 0; }
    explicit operator bool() const noexcept { return ok(); }
    const T& value() const { return std::get<0>(_v); }
    T& value() { return std::get<0>(_v); }
    const std::string& error() const { return std::get<1>(_v); }

private:
    template<size_t I>
    outcome(std::in_place_index_t<I> i, std::string why) : _v(i, std::move(why)) {}
    std::variant<T, std::string> _v;
};

inline constexpr std::string_view mechanism_plain = "PLAIN";
inline constexpr std::string_view mechanism_scram_sha256 = "SCRAM-SHA-256";
inline constexpr std::string_view mechanism_scram_sha512 = "SCRAM-SHA-512";
inline constexpr std::string_view mechanism_oauthbearer = "OAUTHBEARER";
// The mechanisms this project serves, in the order they are advertised.
inline constexpr std::string_view served_mechanisms[] = {mechanism_plain, mechanism_scram_sha256,
                                                          mechanism_scram_sha512, mechanism_oauthbearer};
bool is_served_mechanism(std::string_view m) noexcept;

// One authentication exchange on one connection. step() takes the client's next token and
// returns the server's answer (possibly empty); complete() is true once the client is
// authenticated. After a failure the exchange is over: the connection must be closed.
class sasl_server {
public:
    virtual ~sasl_server() = default;
    virtual outcome<std::string> step(std::string_view client_token) = 0;
    virtual bool complete() const noexcept = 0;
    // The authenticated user name (valid once complete()).
    virtual const std::string& username() const noexcept = 0;
    // When the credential just checked stops being valid, in ms since the epoch (valid once
    // complete()): OAUTHBEARER's token `exp`. nullopt for a credential without an end (PLAIN,
    // SCRAM passwords). The broker ends the session then at the latest (KIP-368).
    virtual std::optional<int64_t> credential_expires_ms() const noexcept { return std::nullopt; }
};

// The client side of an exchange, for a broker authenticating to another broker. first() is
// the first token to send; next() takes the server's answer and gives the token to send next,
// or nullopt when the exchange is over and the server is verified (SCRAM checks the server's
// signature, so a server that does not know the password is refused too). A failure ends it.
class sasl_client {
public:
    virtual ~sasl_client() = default;
    virtual std::string first() = 0;
    virtual outcome<std::optional<std::string>> next(std::string_view server_token) = 0;
};

// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 as `username` with `password`; null for another
// mechanism.
std::unique_ptr<sasl_client> make_sasl_client(std::string_view mechanism, std::string username,
                                              std::string password);

} // namespace trib::security
