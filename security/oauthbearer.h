#pragma once

// SASL OAUTHBEARER (RFC 7628), server side, with the token checked as a signed JWT (RFC 7519)
// against the public keys of a JWKS (RFC 7517), as Kafka's OAuthBearerValidatorCallbackHandler
// does (KIP-768).
//
// The client's one message:  gs2-header \x01 kvpair* \x01  with gs2-header "n,," or
// "n,a=<authzid>," and one kvpair "auth=Bearer <token>" (others, Kafka's SASL extensions, are
// allowed and ignored). A token that fails validation is answered with the RFC's error
// challenge {"status":"invalid_token"}; the client answers \x01 and the exchange fails with
// the reason (Kafka's flow: librdkafka and the Java client then report that reason). A
// malformed message, or an authzid other than the token's principal, fails at once.
//
// Tokens: compact JWS header.payload.signature, base64url without padding; header `alg` one
// of RS256/384/512 (RSA keys of 2048 bits or more) or ES256/384/512 (P-256/384/521; the
// signature is R||S as JWA says), `none` and HS* refused; `kid` picks the key (a token without
// `kid` is accepted only when the JWKS has exactly one key). Claims: `exp` and `iat` required
// (numbers, as Kafka requires both), `nbf` optional, all with the allowed clock skew; the
// principal is the claim `sub_claim` (a non-empty string); `aud` (string or array) must contain
// one of `audience` when that is set; `iss` must equal `issuer` when that is set. The claim
// `scope_claim`, when present, is a space-separated string or an array of strings (anything
// else, a blank scope or an array's duplicate makes the token invalid); its scopes are kept
// in the validated_token (nothing authorizes by them: Kafka's authorizers don't either).
// The token is never put in a failure message.
#include "security/sasl.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace trib::security {

// One verification key of a JWKS.
struct jwk {
    std::string kid;
    std::string kty;   // "RSA" or "EC"
    std::string crv;   // EC: "P-256", "P-384", "P-521"
    std::string alg;   // as the JWK says, may be empty
    std::shared_ptr<EVP_PKEY> key;
};

// The usable keys of a JWKS document. Keys for encryption (`use` "enc") and of other types
// (oct, OKP) are skipped; an RSA or EC key with bad members is an error.
struct jwks {
    std::vector<jwk> keys;
    const jwk* find(std::string_view kid) const noexcept;
};
outcome<jwks> parse_jwks(std::string_view json);

struct jwt_rules {
    std::chrono::seconds clock_skew{30};
    std::string sub_claim = "sub";
    std::vector<std::string> audience;  // empty: `aud` not checked
    std::string issuer;                 // empty: `iss` not checked
    std::string scope_claim = "scope";
};

struct validated_token {
    std::string principal;
    int64_t expires_ms = 0;  // `exp` in ms since the epoch
    std::vector<std::string> scopes;  // of the scope claim, in its order, without duplicates
};

// Checks a compact JWS token's signature against `keys` and its claims against `rules` at
// `now`. The failure says why, without the token.
outcome<validated_token> validate_jwt(std::string_view token, const jwks& keys, const jwt_rules& rules,
                                      std::chrono::system_clock::time_point now);

// Where a server gets its keys. current() is the JWKS in use, null while the source has none
// yet (one fetching them over the network); reload_for_unknown_kid() is called once per
// exchange when the token's `kid` is not in it or there are no keys, and may read the keys
// again (rate-limited by the source) and return the newer set (a source that must not block
// its caller starts a read and returns what it has). no_keys_reason() says why current() is
// null, for the refusal.
class jwks_source {
public:
    virtual ~jwks_source() = default;
    virtual std::shared_ptr<const jwks> current() = 0;
    virtual std::shared_ptr<const jwks> reload_for_unknown_kid() = 0;
    virtual std::string no_keys_reason() { return "no keys were read"; }
};

// The parsed client message.
struct oauthbearer_message {
    std::string authzid;  // empty: none given
    std::string token;
};
outcome<oauthbearer_message> parse_oauthbearer_client(std::string_view msg);

using clock_fn = std::function<std::chrono::system_clock::time_point()>;

// A server exchange; `keys` outlives it. `now` defaults to the system clock.
std::unique_ptr<sasl_server> make_oauthbearer_server(std::shared_ptr<jwks_source> keys, jwt_rules rules,
                                                     clock_fn now = {});

// The RFC 7628 error challenge a refused token gets.
inline constexpr std::string_view oauthbearer_invalid_token_challenge = R"({"status":"invalid_token"})";

} // namespace trib::security
