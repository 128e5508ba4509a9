// OAUTHBEARER: tokens signed here with OpenSSL (RSA and EC keys made per test binary), checked
// against a JWKS built from the same keys.
#include "security/oauthbearer.h"
#include "security/scram.h"

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <memory>

using namespace trib::security;
using namespace std::string_literals;
using clk = std::chrono::system_clock;

namespace {

std::string b64url(std::string_view raw) {
    std::string s = base64_encode(raw);
    while (!s.empty() && s.back() == '=') {
        s.pop_back();
    }
    for (auto& c : s) {
        c = c == '+' ? '-' : c == '/' ? '_' : c;
    }
    return s;
}

std::string bn_bytes(EVP_PKEY* k, const char* name, size_t pad_to = 0) {
    BIGNUM* bn = nullptr;
    EXPECT_EQ(EVP_PKEY_get_bn_param(k, name, &bn), 1);
    std::string out(std::max<size_t>(pad_to, size_t(BN_num_bytes(bn))), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), int(out.size()));
    BN_free(bn);
    return out;
}

struct key {
    std::shared_ptr<EVP_PKEY> pkey;
    std::string kid, alg;

    std::string jwk() const {
        if (alg[0] == 'R') {
            return R"({"kty":"RSA","use":"sig","kid":")" + kid + R"(","n":")" +
                   b64url(bn_bytes(pkey.get(), OSSL_PKEY_PARAM_RSA_N)) + R"(","e":")" +
                   b64url(bn_bytes(pkey.get(), OSSL_PKEY_PARAM_RSA_E)) + R"("})";
        }
        return R"({"kty":"EC","kid":")" + kid + R"(","crv":"P-256","x":")" +
               b64url(bn_bytes(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, 32)) + R"(","y":")" +
               b64url(bn_bytes(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, 32)) + R"("})";
    }

    std::string sign(std::string_view input) const {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        EXPECT_EQ(EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, pkey.get()), 1);
        size_t n = 0;
        EVP_DigestSign(ctx, nullptr, &n, reinterpret_cast<const unsigned char*>(input.data()), input.size());
        std::string sig(n, '\0');
        EXPECT_EQ(EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &n,
                                 reinterpret_cast<const unsigned char*>(input.data()), input.size()),
                  1);
        sig.resize(n);
        EVP_MD_CTX_free(ctx);
        if (alg[0] == 'R') {
            return sig;
        }
        // DER -> R||S
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, long(sig.size()));
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
        ECDSA_SIG_free(es);
        return raw;
    }

    // A token with `claims` (a JSON object's members, without braces) and this key's kid.
    std::string token(const std::string& claims, std::string header = {}) const {
        if (header.empty()) {
            header = R"({"alg":")" + alg + R"(","typ":"JWT","kid":")" + kid + R"("})";
        }
        std::string input = b64url(header) + "." + b64url("{" + claims + "}");
        return input + "." + b64url(sign(input));
    }
};

key make_rsa(std::string kid) {
    return {std::shared_ptr<EVP_PKEY>(EVP_RSA_gen(2048), EVP_PKEY_free), std::move(kid), "RS256"};
}
key make_ec(std::string kid) {
    return {std::shared_ptr<EVP_PKEY>(EVP_EC_gen("P-256"), EVP_PKEY_free), std::move(kid), "ES256"};
}

const key& rsa() {
    static const key k = make_rsa("rsa-1");
    return k;
}
const key& ec() {
    static const key k = make_ec("ec-1");
    return k;
}

constexpr int64_t now_s = 1'800'000'000;
const clk::time_point now{std::chrono::seconds(now_s)};

std::string times(int64_t iat_offset = -10, int64_t exp_offset = 600) {
    return R"("iat":)" + std::to_string(now_s + iat_offset) + R"(,"exp":)" + std::to_string(now_s + exp_offset);
}

jwks both_keys() {
    auto k = parse_jwks(R"({"keys":[)" + rsa().jwk() + "," + ec().jwk() + "]}");
    EXPECT_TRUE(k) << k.error();
    return k.value();
}

outcome<validated_token> check(const std::string& token, const jwt_rules& rules = {}) {
    static const jwks keys = both_keys();
    return validate_jwt(token, keys, rules, now);
}

void expect_refused(const std::string& token, std::string_view why, const jwt_rules& rules = {}) {
    auto r = check(token, rules);
    ASSERT_FALSE(r) << "accepted " << r.value().principal;
    EXPECT_NE(r.error().find(why), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find(token), std::string::npos) << "the token is in the message";
}

} // namespace

TEST(jwt, rsa_and_ec_tokens_are_accepted) {
    auto r = check(rsa().token(R"("sub":"alice",)" + times()));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r.value().principal, "alice");
    EXPECT_EQ(r.value().expires_ms, (now_s + 600) * 1000);
    auto e = check(ec().token(R"("sub":"bob",)" + times()));
    ASSERT_TRUE(e) << e.error();
    EXPECT_EQ(e.value().principal, "bob");
}

TEST(jwt, time_claims_with_clock_skew) {
    expect_refused(rsa().token(R"("sub":"a",)" + times(-1000, -31)), "expired");
    EXPECT_TRUE(check(rsa().token(R"("sub":"a",)" + times(-1000, -29))));  // within the 30 s skew
    expect_refused(rsa().token(R"("sub":"a","nbf":)" + std::to_string(now_s + 60) + "," + times()), "not valid yet");
    EXPECT_TRUE(check(rsa().token(R"("sub":"a","nbf":)" + std::to_string(now_s + 20) + "," + times())));
    expect_refused(rsa().token(R"("sub":"a",)" + times(+120, 600)), "future");
    expect_refused(rsa().token(R"("sub":"a","iat":1)"), "'exp'");
    expect_refused(rsa().token(R"("sub":"a","exp":)" + std::to_string(now_s + 60)), "'iat'");
    expect_refused(rsa().token(R"("sub":"a","iat":1,"exp":")" + std::to_string(now_s + 60) + "\""), "not a number");
    jwt_rules strict;
    strict.clock_skew = std::chrono::seconds(0);
    expect_refused(rsa().token(R"("sub":"a",)" + times(-1000, -1)), "expired", strict);
}

TEST(jwt, signature_and_key_choice) {
    const key other = make_rsa("rsa-1");  // same kid, another key: a forged token
    expect_refused(other.token(R"("sub":"a",)" + times()), "signature");
    const key stranger = make_ec("unknown");
    expect_refused(stranger.token(R"("sub":"a",)" + times()), "no key with the token's kid 'unknown'");
    // An EC key's kid with an RSA algorithm.
    expect_refused(rsa().token(R"("sub":"a",)" + times(), R"({"alg":"RS256","kid":"ec-1"})"), "not for algorithm");
    // A token altered after signing.
    auto t = rsa().token(R"("sub":"alice",)" + times());
    auto dot = t.find('.');
    auto forged = t.substr(0, dot + 1) + b64url(R"({"sub":"admin",)" + times() + "}") + t.substr(t.rfind('.'));
    expect_refused(forged, "signature");
}

TEST(jwt, alg_none_and_hmac_are_refused) {
    const std::string claims = b64url(R"({"sub":"a",)" + times() + "}");
    expect_refused(b64url(R"({"alg":"none","kid":"rsa-1"})") + "." + claims + ".", "'none' is not accepted");
    expect_refused(b64url(R"({"alg":"HS256","kid":"rsa-1"})") + "." + claims + "." + b64url("mac"),
                   "'HS256' is not accepted");
    expect_refused(b64url(R"({"kid":"rsa-1"})") + "." + claims + ".AAAA", "no \"alg\"");
}

TEST(jwt, malformed_tokens) {
    expect_refused("abc", "not a signed JWT");
    expect_refused("a.b.c.d", "not a signed JWT");
    expect_refused("***.e30.e30", "base64url");
    expect_refused("a.e30.e30", "base64url");  // one base64 character is no byte
    expect_refused(b64url("not json") + ".e30.e30", "header is not a JSON object");
    expect_refused(b64url(R"({"alg":"RS256","alg":"RS256","kid":"rsa-1"})") + ".e30.e30", "not a JSON object");
    auto t = rsa().token(R"("sub":"a",)" + times());
    expect_refused(t.substr(0, t.rfind('.')) + ".AAAA", "signature");
}

TEST(jwt, audience_and_issuer) {
    jwt_rules rules;
    rules.audience = {"kafka", "other"};
    rules.issuer = "https://idp.example";
    const std::string good = R"("sub":"a","iss":"https://idp.example",)" + times();
    EXPECT_TRUE(check(rsa().token(good + R"(,"aud":"kafka")"), rules));
    EXPECT_TRUE(check(rsa().token(good + R"(,"aud":["x","other"])"), rules));
    expect_refused(rsa().token(good + R"(,"aud":["x","y"])"), "audience", rules);
    expect_refused(rsa().token(good), "audience", rules);
    expect_refused(rsa().token(R"("sub":"a","iss":"https://evil.example","aud":"kafka",)" + times()), "issuer", rules);
}

TEST(jwt, principal_claim) {
    expect_refused(rsa().token(times()), "no 'sub' claim");
    expect_refused(rsa().token(R"("sub":"",)" + times()), "no 'sub' claim");
    expect_refused(rsa().token(R"("sub":7,)" + times()), "no 'sub' claim");
    jwt_rules rules;
    rules.sub_claim = "preferred_username";
    auto r = check(rsa().token(R"("sub":"id-1","preferred_username":"carol",)" + times()), rules);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r.value().principal, "carol");
}

TEST(jwt, scope_claim) {
    const std::string base = R"("sub":"a",)" + times();
    auto scopes_of = [&](const std::string& claim, const jwt_rules& rules = {}) {
        auto r = check(rsa().token(base + claim), rules);
        EXPECT_TRUE(r) << r.error();
        return r ? r.value().scopes : std::vector<std::string>{"refused"};
    };
    EXPECT_EQ(scopes_of(""), std::vector<std::string>{});
    // RFC 8693's space-separated string, runs of spaces and repeats folded.
    EXPECT_EQ(scopes_of(R"(,"scope":"read  write read")"), (std::vector<std::string>{"read", "write"}));
    EXPECT_EQ(scopes_of(R"(,"scope":["read","write"])"), (std::vector<std::string>{"read", "write"}));
    jwt_rules rules;
    rules.scope_claim = "scp";
    EXPECT_EQ(scopes_of(R"(,"scope":7,"scp":["x"])", rules), std::vector<std::string>{"x"});
    expect_refused(rsa().token(base + R"(,"scope":7)"), "'scope' claim (scopes) is neither a string nor an array");
    expect_refused(rsa().token(base + R"(,"scope":{"a":1})"), "neither a string nor an array");
    expect_refused(rsa().token(base + R"(,"scope":"  ")"), "is blank");
    expect_refused(rsa().token(base + R"(,"scope":["a",1])"), "something other than a string");
    expect_refused(rsa().token(base + R"(,"scope":["a"," "])"), "blank scope");
    expect_refused(rsa().token(base + R"(,"scope":["a","a"])"), "'a' twice");
}

TEST(jwks, bad_documents_are_errors) {
    EXPECT_FALSE(parse_jwks("{"));
    EXPECT_FALSE(parse_jwks(R"({"nokeys":[]})"));
    EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","kid":"a","n":"AQAB"}]})"));
    EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB"}]})"));  // far too short
    EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"AQAB","y":"AQAB"}]})"));
    EXPECT_FALSE(parse_jwks(R"({"keys":[{"kty":"EC","kid":"a","crv":"secp256k1","x":"AQAB","y":"AQAB"}]})"));
    // Keys this project has no use for are skipped, not errors.
    auto skipped = parse_jwks(R"({"keys":[{"kty":"oct","k":"AQAB"},)" + rsa().jwk() + "]}");
    ASSERT_TRUE(skipped) << skipped.error();
    EXPECT_EQ(skipped.value().keys.size(), 1u);
}

TEST(oauthbearer, parses_the_client_message) {
    auto m = parse_oauthbearer_client("n,,\x01" "auth=Bearer abc.def.ghi\x01\x01");
    ASSERT_TRUE(m) << m.error();
    EXPECT_EQ(m.value().token, "abc.def.ghi");
    EXPECT_EQ(m.value().authzid, "");
    auto ext = parse_oauthbearer_client("n,a=bo=3Db=2C,\x01" "host=x\x01" "auth=bearer  t\x01" "traceId=1\x01\x01");
    ASSERT_TRUE(ext) << ext.error();
    EXPECT_EQ(ext.value().token, "t");
    EXPECT_EQ(ext.value().authzid, "bo=b,");
    for (std::string bad : {""s, "n,,"s, "y,,\x01" "auth=Bearer t\x01\x01"s, "n,,\x01" "auth=Bearer t\x01"s,
                            "n,,\x01" "auth=Basic t\x01\x01"s, "n,,\x01" "auth=Bearer \x01\x01"s, "n,,\x01\x01"s,
                            "n,,\x01" "auth=Bearer t\x01" "auth=Bearer u\x01\x01"s, "n,b=x,\x01\x01"s,
                            "n,a=x=41,\x01" "auth=Bearer t\x01\x01"s, "n,,\x01" "=v\x01\x01"s, "\x01"s}) {
        EXPECT_FALSE(parse_oauthbearer_client(bad)) << bad;
    }
}

namespace {

// Keys that change when the test says, counting the reloads asked for.
struct test_keys final : jwks_source {
    std::shared_ptr<const jwks> now_keys, after_reload;
    int reloads = 0;
    std::shared_ptr<const jwks> current() override { return now_keys; }
    std::shared_ptr<const jwks> reload_for_unknown_kid() override {
        ++reloads;
        if (after_reload) {
            now_keys = after_reload;
        }
        return now_keys;
    }
};

std::shared_ptr<test_keys> keys_of(const key& k) {
    auto src = std::make_shared<test_keys>();
    src->now_keys = std::make_shared<jwks>(parse_jwks(R"({"keys":[)" + k.jwk() + "]}").value());
    return src;
}

std::string client_message(const std::string& token, const std::string& authzid = {}) {
    return "n," + (authzid.empty() ? "" : "a=" + authzid) + ",\x01" "auth=Bearer " + token + "\x01\x01";
}

std::unique_ptr<sasl_server> server(std::shared_ptr<jwks_source> src) {
    return make_oauthbearer_server(std::move(src), {}, [] { return now; });
}

} // namespace

TEST(oauthbearer, server_accepts_a_valid_token) {
    auto s = server(keys_of(rsa()));
    EXPECT_EQ(s->credential_expires_ms(), std::nullopt);
    auto a = s->step(client_message(rsa().token(R"("sub":"alice",)" + times()), "alice"));
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a.value(), "");
    EXPECT_TRUE(s->complete());
    EXPECT_EQ(s->username(), "alice");
    // The token's exp bounds the broker's session (KIP-368).
    EXPECT_EQ(s->credential_expires_ms(), (now_s + 600) * 1000);
}

TEST(oauthbearer, a_refused_token_gets_the_error_challenge_then_fails) {
    auto s = server(keys_of(rsa()));
    const auto token = rsa().token(R"("sub":"alice",)" + times(-1000, -100));
    auto a = s->step(client_message(token));
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a.value(), R"({"status":"invalid_token"})");
    EXPECT_FALSE(s->complete());
    auto b = s->step("\x01");
    ASSERT_FALSE(b);
    EXPECT_NE(b.error().find("expired"), std::string::npos) << b.error();
    EXPECT_EQ(b.error().find(token), std::string::npos);
    EXPECT_FALSE(s->complete());
    EXPECT_FALSE(s->step("\x01"));
}

TEST(oauthbearer, authzid_must_be_the_principal) {
    auto s = server(keys_of(rsa()));
    auto a = s->step(client_message(rsa().token(R"("sub":"alice",)" + times()), "admin"));
    ASSERT_FALSE(a);
    EXPECT_NE(a.error().find("authorization id"), std::string::npos);
    EXPECT_FALSE(s->complete());
}

TEST(oauthbearer, malformed_message_fails_at_once) {
    auto s = server(keys_of(rsa()));
    EXPECT_FALSE(s->step("n,,auth=Bearer x"));
    EXPECT_FALSE(s->complete());
}

TEST(oauthbearer, no_keys_yet_refuses_with_the_sources_reason) {
    struct no_keys final : jwks_source {
        int reloads = 0;
        std::shared_ptr<const jwks> current() override { return nullptr; }
        std::shared_ptr<const jwks> reload_for_unknown_kid() override {
            ++reloads;
            return nullptr;
        }
        std::string no_keys_reason() override { return "https://idp.test/jwks: connection refused"; }
    };
    auto src = std::make_shared<no_keys>();
    auto s = make_oauthbearer_server(src, {}, [] { return now; });
    auto a = s->step(client_message(rsa().token(R"("sub":"alice",)" + times())));
    ASSERT_TRUE(a) << a.error();
    EXPECT_EQ(a.value(), oauthbearer_invalid_token_challenge);
    EXPECT_EQ(src->reloads, 1);  // the source is asked to look again
    auto b = s->step("\x01");
    ASSERT_FALSE(b);
    EXPECT_EQ(b.error(), "no OAUTHBEARER verification keys yet: https://idp.test/jwks: connection refused");
    EXPECT_FALSE(s->complete());
}

TEST(oauthbearer, unknown_kid_reads_the_keys_again_once) {
    auto src = keys_of(rsa());
    const key rotated = make_ec("ec-new");
    const auto token = rotated.token(R"("sub":"dave",)" + times());
    // The source has nothing new: refused after one reload.
    auto s1 = server(src);
    auto a = s1->step(client_message(token));
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value(), oauthbearer_invalid_token_challenge);
    EXPECT_EQ(src->reloads, 1);
    // The new key is there on reload: accepted.
    src->after_reload = std::make_shared<jwks>(parse_jwks(R"({"keys":[)" + rotated.jwk() + "]}").value());
    auto s2 = server(src);
    auto b = s2->step(client_message(token));
    ASSERT_TRUE(b) << b.error();
    EXPECT_TRUE(s2->complete());
    EXPECT_EQ(s2->username(), "dave");
    EXPECT_EQ(src->reloads, 2);
    // A known kid with a bad signature does not reload.
    auto s3 = server(src);
    (void)s3->step(client_message(make_ec("ec-new").token(R"("sub":"dave",)" + times())));
    EXPECT_EQ(src->reloads, 2);
}
