#include "security/oauthbearer.h"

#include "common/config.h"
#include "security/scram.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <variant>

namespace trib::security {

namespace {

// --- a strict JSON reader (RFC 8259) for JOSE headers, claims and JWKS documents ---------
// Why not yaml-cpp, which the project already links: YAML reads more than JSON and drops
// the difference between "123" and 123, which claim checks need.

struct json;
using json_object = std::map<std::string, json, std::less<>>;
using json_array = std::vector<json>;

struct json {
    std::variant<std::nullptr_t, bool, double, std::string, json_array, json_object> v;

    const json* get(std::string_view key) const {
        const auto* o = std::get_if<json_object>(&v);
        if (!o) {
            return nullptr;
        }
        auto it = o->find(key);
        return it == o->end() ? nullptr : &it->second;
    }
    const std::string* str() const { return std::get_if<std::string>(&v); }
    const double* num() const { return std::get_if<double>(&v); }
};

class json_reader {
public:
    explicit json_reader(std::string_view in) : _in(in) {}

    std::optional<json> document() {
        json j;
        if (!value(j, 0)) {
            return std::nullopt;
        }
        ws();
        if (_pos != _in.size()) {
            return std::nullopt;
        }
        return j;
    }

private:
    static constexpr int max_depth = 32;

    void ws() {
        while (_pos < _in.size() && (_in[_pos] == ' ' || _in[_pos] == '\t' || _in[_pos] == '\n' || _in[_pos] == '\r')) {
            ++_pos;
        }
    }
    bool eat(char c) {
        ws();
        if (_pos < _in.size() && _in[_pos] == c) {
            ++_pos;
            return true;
        }
        return false;
    }
    bool literal(std::string_view word) {
        if (_in.substr(_pos, word.size()) != word) {
            return false;
        }
        _pos += word.size();
        return true;
    }

    bool value(json& out, int depth) {
        if (depth > max_depth) {
            return false;
        }
        ws();
        if (_pos >= _in.size()) {
            return false;
        }
        const char c = _in[_pos];
        if (c == '{') {
            ++_pos;
            json_object o;
            if (!eat('}')) {
                do {
                    std::string key;
                    ws();
                    if (!string(key) || !eat(':')) {
                        return false;
                    }
                    json member;
                    if (!value(member, depth + 1)) {
                        return false;
                    }
                    if (!o.emplace(std::move(key), std::move(member)).second) {
                        return false;  // a duplicate member is refused: no guessing which one counts
                    }
                } while (eat(','));
                if (!eat('}')) {
                    return false;
                }
            }
            out.v = std::move(o);
            return true;
        }
        if (c == '[') {
            ++_pos;
            json_array a;
            if (!eat(']')) {
                do {
                    json item;
                    if (!value(item, depth + 1)) {
                        return false;
                    }
                    a.push_back(std::move(item));
                } while (eat(','));
                if (!eat(']')) {
                    return false;
                }
            }
            out.v = std::move(a);
            return true;
        }
        if (c == '"') {
            std::string s;
            if (!string(s)) {
                return false;
            }
            out.v = std::move(s);
            return true;
        }
        if (literal("true")) {
            out.v = true;
            return true;
        }
        if (literal("false")) {
            out.v = false;
            return true;
        }
        if (literal("null")) {
            out.v = nullptr;
            return true;
        }
        return number(out);
    }

    bool number(json& out) {
        const size_t start = _pos;
        auto digits = [&] {
            const size_t s = _pos;
            while (_pos < _in.size() && _in[_pos] >= '0' && _in[_pos] <= '9') {
                ++_pos;
            }
            return _pos > s;
        };
        if (_pos < _in.size() && _in[_pos] == '-') {
            ++_pos;
        }
        if (_pos < _in.size() && _in[_pos] == '0') {
            ++_pos;
        } else if (!digits()) {
            return false;
        }
        if (_pos < _in.size() && _in[_pos] == '.') {
            ++_pos;
            if (!digits()) {
                return false;
            }
        }
        if (_pos < _in.size() && (_in[_pos] == 'e' || _in[_pos] == 'E')) {
            ++_pos;
            if (_pos < _in.size() && (_in[_pos] == '+' || _in[_pos] == '-')) {
                ++_pos;
            }
            if (!digits()) {
                return false;
            }
        }
        const std::string text(_in.substr(start, _pos - start));
        char* end = nullptr;
        const double d = std::strtod(text.c_str(), &end);
        if (end != text.c_str() + text.size() || !std::isfinite(d)) {
            return false;
        }
        out.v = d;
        return true;
    }

    bool hex4(uint32_t& cp) {
        if (_pos + 4 > _in.size()) {
            return false;
        }
        cp = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = _in[_pos++];
            cp <<= 4;
            if (h >= '0' && h <= '9') {
                cp |= uint32_t(h - '0');
            } else if (h >= 'a' && h <= 'f') {
                cp |= uint32_t(h - 'a' + 10);
            } else if (h >= 'A' && h <= 'F') {
                cp |= uint32_t(h - 'A' + 10);
            } else {
                return false;
            }
        }
        return true;
    }

    bool string(std::string& out) {
        if (_pos >= _in.size() || _in[_pos] != '"') {
            return false;
        }
        ++_pos;
        while (_pos < _in.size()) {
            const char c = _in[_pos++];
            if (c == '"') {
                return true;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                return false;
            }
            if (c != '\\') {
                out += c;
                continue;
            }
            if (_pos >= _in.size()) {
                return false;
            }
            switch (_in[_pos++]) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case '/': out += '/'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'n': out += '\n'; break;
            case 'r': out += '\r'; break;
            case 't': out += '\t'; break;
            case 'u': {
                uint32_t cp = 0;
                if (!hex4(cp)) {
                    return false;
                }
                if (cp >= 0xD800 && cp < 0xDC00) {
                    uint32_t low = 0;
                    if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low >= 0xE000) {
                        return false;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                } else if (cp >= 0xDC00 && cp < 0xE000) {
                    return false;
                }
                config::append_utf8(out, cp);
                break;
            }
            default: return false;
            }
        }
        return false;
    }

    std::string_view _in;
    size_t _pos = 0;
};

std::optional<json> parse_json(std::string_view in) { return json_reader(in).document(); }

// base64url (RFC 4648 §5) as JOSE writes it: no padding (trailing '=' tolerated).
std::optional<std::string> base64url_decode(std::string_view in) {
    while (!in.empty() && in.back() == '=') {
        in.remove_suffix(1);
    }
    if (in.size() % 4 == 1) {
        return std::nullopt;
    }
    std::string std_form;
    std_form.reserve(in.size() + 3);
    for (char c : in) {
        if (c == '+' || c == '/' || c == '=') {
            return std::nullopt;
        }
        std_form += c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (std_form.size() % 4 != 0) {
        std_form += '=';
    }
    return base64_decode(std_form);
}

struct pkey_deleter {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};

outcome<std::shared_ptr<EVP_PKEY>> key_from_params(const char* type, OSSL_PARAM_BLD* bld) {
    using R = outcome<std::shared_ptr<EVP_PKEY>>;
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
    EVP_PKEY* pkey = nullptr;
    const bool ok = params && ctx && EVP_PKEY_fromdata_init(ctx) == 1 &&
                    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    if (!ok || !pkey) {
        return R::failure("the key's parameters are not a valid public key");
    }
    return std::shared_ptr<EVP_PKEY>(pkey, pkey_deleter{});
}

outcome<std::shared_ptr<EVP_PKEY>> rsa_key(const std::string& n, const std::string& e) {
    using R = outcome<std::shared_ptr<EVP_PKEY>>;
    BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()), int(n.size()), nullptr);
    BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()), int(e.size()), nullptr);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    std::optional<R> out;
    if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1) {
        out = key_from_params("RSA", bld);
    } else {
        out = R::failure("the RSA key's n and e are not valid");
    }
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    if (out->ok() && EVP_PKEY_get_bits(out->value().get()) < 2048) {
        return R::failure("RSA keys must have at least 2048 bits");
    }
    return std::move(*out);
}

struct curve {
    std::string_view crv, group, alg;
    size_t bytes;  // coordinate and signature-half size
};
constexpr curve curves[] = {
    {"P-256", "prime256v1", "ES256", 32},
    {"P-384", "secp384r1", "ES384", 48},
    {"P-521", "secp521r1", "ES512", 66},
};
const curve* curve_named(std::string_view crv) {
    for (const auto& c : curves) {
        if (c.crv == crv) {
            return &c;
        }
    }
    return nullptr;
}

outcome<std::shared_ptr<EVP_PKEY>> ec_key(const curve& c, const std::string& x, const std::string& y) {
    using R = outcome<std::shared_ptr<EVP_PKEY>>;
    if (x.size() != c.bytes || y.size() != c.bytes) {
        return R::failure("the EC key's x and y must be " + std::to_string(c.bytes) + " bytes for " +
                          std::string(c.crv));
    }
    std::string point = "\x04" + x + y;  // uncompressed point
    const std::string group(c.group);
    OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
    std::optional<R> out;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group.c_str(), 0) == 1 &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) == 1) {
        out = key_from_params("EC", bld);
    } else {
        out = R::failure("the EC key is not valid");
    }
    OSSL_PARAM_BLD_free(bld);
    return std::move(*out);
}

struct alg_info {
    std::string_view name;
    const EVP_MD* (*md)();
    bool ec;
};
constexpr alg_info algs[] = {
    {"RS256", EVP_sha256, false}, {"RS384", EVP_sha384, false}, {"RS512", EVP_sha512, false},
    {"ES256", EVP_sha256, true},  {"ES384", EVP_sha384, true},  {"ES512", EVP_sha512, true},
};

// JWS ECDSA signatures are R||S; OpenSSL verifies DER.
std::optional<std::string> ecdsa_raw_to_der(std::string_view raw, size_t half) {
    if (raw.size() != 2 * half) {
        return std::nullopt;
    }
    ECDSA_SIG* sig = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), int(half), nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data() + half), int(half), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(sig);
        return std::nullopt;
    }
    unsigned char* der = nullptr;
    const int n = i2d_ECDSA_SIG(sig, &der);
    ECDSA_SIG_free(sig);
    if (n <= 0) {
        return std::nullopt;
    }
    std::string out(reinterpret_cast<char*>(der), size_t(n));
    OPENSSL_free(der);
    return out;
}

bool verify(EVP_PKEY* key, const EVP_MD* md, std::string_view data, std::string_view sig) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    const bool ok = ctx && EVP_DigestVerifyInit(ctx, nullptr, md, nullptr, key) == 1 &&
                    EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                                     reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    EVP_MD_CTX_free(ctx);
    return ok;
}

template<typename T>
outcome<T> fail(std::string why) {
    return outcome<T>::failure(std::move(why));
}

// The scope claim (RFC 8693 section 4.2: a space-separated string; many issuers write a JSON
// array of strings instead, which Kafka takes too). Absent: no scopes. A blank scope, a
// duplicate in an array, or a claim of another type makes the token invalid: Kafka refuses the
// first two and silently reads no scopes from the third, but a scope claim that is a number or
// an object is the issuer misconfigured, which a refusal with the reason shows at once.
outcome<std::vector<std::string>> token_scopes(const json& claims, const std::string& name) {
    using R = std::vector<std::string>;
    const json* j = claims.get(name);
    R out;
    if (!j) {
        return out;
    }
    const std::string bad = "the token's '" + name + "' claim ";
    if (const auto* s = j->str()) {
        std::string_view rest = *s;
        while (!rest.empty()) {
            const auto end = rest.find(' ');
            const auto scope = rest.substr(0, end);
            if (!scope.empty() && std::find(out.begin(), out.end(), scope) == out.end()) {
                out.emplace_back(scope);
            }
            rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
        }
        if (out.empty()) {
            return fail<R>(bad + "(scopes) is blank");
        }
        return out;
    }
    const auto* arr = std::get_if<json_array>(&j->v);
    if (!arr) {
        return fail<R>(bad + "(scopes) is neither a string nor an array of strings");
    }
    for (const auto& x : *arr) {
        const auto* s = x.str();
        if (!s) {
            return fail<R>(bad + "(scopes) holds something other than a string");
        }
        if (s->find_first_not_of(' ') == std::string::npos) {
            return fail<R>(bad + "(scopes) holds a blank scope");
        }
        if (std::find(out.begin(), out.end(), *s) != out.end()) {
            return fail<R>(bad + "(scopes) holds '" + *s + "' twice");
        }
        out.push_back(*s);
    }
    return out;
}

// A NumericDate claim: seconds since the epoch, possibly fractional.
std::optional<double> numeric_date(const json& claims, std::string_view name, std::string& why) {
    const json* j = claims.get(name);
    if (!j) {
        return std::nullopt;
    }
    if (!j->num()) {
        why = "the token's '" + std::string(name) + "' claim is not a number";
        return std::nullopt;
    }
    return *j->num();
}

} // namespace

const jwk* jwks::find(std::string_view kid) const noexcept {
    for (const auto& k : keys) {
        if (k.kid == kid) {
            return &k;
        }
    }
    return nullptr;
}

outcome<jwks> parse_jwks(std::string_view text) {
    auto doc = parse_json(text);
    if (!doc) {
        return fail<jwks>("the JWKS is not valid JSON");
    }
    const json* keys = doc->get("keys");
    const auto* arr = keys ? std::get_if<json_array>(&keys->v) : nullptr;
    if (!arr) {
        return fail<jwks>("the JWKS has no \"keys\" array");
    }
    jwks out;
    for (size_t i = 0; i < arr->size(); ++i) {
        const json& k = (*arr)[i];
        const std::string where = "JWKS key " + std::to_string(i);
        const json* kty = k.get("kty");
        if (!kty || !kty->str()) {
            return fail<jwks>(where + " has no \"kty\"");
        }
        const json* use = k.get("use");
        if (use && use->str() && *use->str() != "sig") {
            continue;  // an encryption key
        }
        jwk key;
        key.kty = *kty->str();
        if (const json* kid = k.get("kid"); kid && kid->str()) {
            key.kid = *kid->str();
        }
        if (const json* alg = k.get("alg"); alg && alg->str()) {
            key.alg = *alg->str();
        }
        auto member = [&](std::string_view name) -> std::optional<std::string> {
            const json* m = k.get(name);
            if (!m || !m->str()) {
                return std::nullopt;
            }
            return base64url_decode(*m->str());
        };
        outcome<std::shared_ptr<EVP_PKEY>> pkey = fail<std::shared_ptr<EVP_PKEY>>("");
        if (key.kty == "RSA") {
            auto n = member("n");
            auto e = member("e");
            if (!n || !e || n->empty() || e->empty()) {
                return fail<jwks>(where + " (RSA) needs base64url \"n\" and \"e\"");
            }
            pkey = rsa_key(*n, *e);
        } else if (key.kty == "EC") {
            const json* crv = k.get("crv");
            const curve* c = crv && crv->str() ? curve_named(*crv->str()) : nullptr;
            if (!c) {
                return fail<jwks>(where + " (EC) needs \"crv\" P-256, P-384 or P-521");
            }
            key.crv = std::string(c->crv);
            auto x = member("x");
            auto y = member("y");
            if (!x || !y) {
                return fail<jwks>(where + " (EC) needs base64url \"x\" and \"y\"");
            }
            pkey = ec_key(*c, *x, *y);
        } else {
            continue;  // oct, OKP: not for these signatures
        }
        if (!pkey) {
            return fail<jwks>(where + (key.kid.empty() ? "" : " (kid " + key.kid + ")") + ": " + pkey.error());
        }
        key.key = std::move(pkey.value());
        out.keys.push_back(std::move(key));
    }
    return out;
}

outcome<validated_token> validate_jwt(std::string_view token, const jwks& keys, const jwt_rules& rules,
                                      std::chrono::system_clock::time_point now) {
    using R = validated_token;
    const auto dot1 = token.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
        return fail<R>("the token is not a signed JWT (header.payload.signature)");
    }
    auto header_raw = base64url_decode(token.substr(0, dot1));
    auto payload_raw = base64url_decode(token.substr(dot1 + 1, dot2 - dot1 - 1));
    auto sig = base64url_decode(token.substr(dot2 + 1));
    if (!header_raw || !payload_raw || !sig) {
        return fail<R>("the token is not valid base64url");
    }
    auto header = parse_json(*header_raw);
    if (!header || !std::holds_alternative<json_object>(header->v)) {
        return fail<R>("the token's header is not a JSON object");
    }
    const json* alg_j = header->get("alg");
    if (!alg_j || !alg_j->str()) {
        return fail<R>("the token's header has no \"alg\"");
    }
    const std::string& alg = *alg_j->str();
    const alg_info* a = nullptr;
    for (const auto& x : algs) {
        if (x.name == alg) {
            a = &x;
        }
    }
    if (!a) {
        return fail<R>("the token's algorithm '" + alg.substr(0, 16) +
                       "' is not accepted (RS256, RS384, RS512, ES256, ES384, ES512)");
    }
    if (header->get("crit")) {
        return fail<R>("the token's header has critical extensions (\"crit\"), which are not understood");
    }
    const json* kid_j = header->get("kid");
    if (kid_j && !kid_j->str()) {
        return fail<R>("the token's \"kid\" is not a string");
    }
    const jwk* key = nullptr;
    if (kid_j) {
        key = keys.find(*kid_j->str());
        if (!key) {
            return fail<R>("no key with the token's kid '" + kid_j->str()->substr(0, 64) + "' in the JWKS");
        }
    } else if (keys.keys.size() == 1) {
        key = &keys.keys.front();
    } else {
        return fail<R>("the token has no \"kid\" and the JWKS has " + std::to_string(keys.keys.size()) + " keys");
    }
    const bool key_fits = a->ec ? key->kty == "EC" && curve_named(key->crv)->alg == alg : key->kty == "RSA";
    if (!key_fits || (!key->alg.empty() && key->alg != alg)) {
        return fail<R>("the key '" + key->kid + "' is not for algorithm " + alg);
    }
    std::string signature = std::move(*sig);
    if (a->ec) {
        auto der = ecdsa_raw_to_der(signature, curve_named(key->crv)->bytes);
        if (!der) {
            return fail<R>("the token's signature is invalid");
        }
        signature = std::move(*der);
    }
    if (!verify(key->key.get(), a->md(), token.substr(0, dot2), signature)) {
        return fail<R>("the token's signature is invalid");
    }

    auto claims = parse_json(*payload_raw);
    if (!claims || !std::holds_alternative<json_object>(claims->v)) {
        return fail<R>("the token's claims are not a JSON object");
    }
    const double t = std::chrono::duration<double>(now.time_since_epoch()).count();
    const double skew = double(rules.clock_skew.count());
    std::string why;
    const auto exp = numeric_date(*claims, "exp", why);
    const auto iat = numeric_date(*claims, "iat", why);
    const auto nbf = numeric_date(*claims, "nbf", why);
    if (!why.empty()) {
        return fail<R>(why);
    }
    if (!exp) {
        return fail<R>("the token has no 'exp' (expiration time) claim");
    }
    if (!iat) {
        return fail<R>("the token has no 'iat' (issued at) claim");
    }
    if (t > *exp + skew) {
        return fail<R>("the token has expired");
    }
    if (nbf && t + skew < *nbf) {
        return fail<R>("the token is not valid yet (nbf)");
    }
    if (t + skew < *iat) {
        return fail<R>("the token is issued in the future (iat)");
    }
    if (!rules.issuer.empty()) {
        const json* iss = claims->get("iss");
        if (!iss || !iss->str() || *iss->str() != rules.issuer) {
            return fail<R>("the token's issuer ('iss') is not the expected one");
        }
    }
    if (!rules.audience.empty()) {
        const json* aud = claims->get("aud");
        std::vector<std::string> got;
        if (aud && aud->str()) {
            got.push_back(*aud->str());
        } else if (const auto* arr = aud ? std::get_if<json_array>(&aud->v) : nullptr) {
            for (const auto& x : *arr) {
                if (x.str()) {
                    got.push_back(*x.str());
                }
            }
        }
        const bool match = std::any_of(got.begin(), got.end(), [&](const std::string& g) {
            return std::find(rules.audience.begin(), rules.audience.end(), g) != rules.audience.end();
        });
        if (!match) {
            return fail<R>("the token's audience ('aud') contains none of the expected ones");
        }
    }
    const json* sub = claims->get(rules.sub_claim);
    if (!sub || !sub->str() || sub->str()->empty()) {
        return fail<R>("the token has no '" + rules.sub_claim + "' claim (a non-empty string) to name its principal");
    }
    auto scopes = token_scopes(*claims, rules.scope_claim);
    if (!scopes) {
        return fail<R>(scopes.error());
    }
    return validated_token{*sub->str(), int64_t(*exp * 1000), std::move(scopes.value())};
}

outcome<oauthbearer_message> parse_oauthbearer_client(std::string_view msg) {
    using R = oauthbearer_message;
    // gs2-header: "n," [ "a=" saslname ] ","; no channel binding for OAUTHBEARER.
    if (!msg.starts_with("n,")) {
        return fail<R>("invalid OAUTHBEARER message: expected the GS2 header n,,");
    }
    const auto comma = msg.find(',', 2);
    if (comma == std::string_view::npos) {
        return fail<R>("invalid OAUTHBEARER message: unterminated GS2 header");
    }
    R out;
    const auto authz = msg.substr(2, comma - 2);
    if (!authz.empty()) {
        if (!authz.starts_with("a=")) {
            return fail<R>("invalid OAUTHBEARER message: bad authorization id in the GS2 header");
        }
        // saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed.
        const auto name = authz.substr(2);
        for (size_t i = 0; i < name.size(); ++i) {
            if (name[i] != '=') {
                out.authzid += name[i];
            } else if (name.substr(i, 3) == "=2C") {
                out.authzid += ',';
                i += 2;
            } else if (name.substr(i, 3) == "=3D") {
                out.authzid += '=';
                i += 2;
            } else {
                return fail<R>("invalid OAUTHBEARER message: bad escape in the authorization id");
            }
        }
    }
    // \x01 kvpair* \x01, each kvpair key=value\x01.
    auto rest = msg.substr(comma + 1);
    if (!rest.starts_with('\x01') || !rest.ends_with("\x01\x01") || rest.size() < 2) {
        return fail<R>("invalid OAUTHBEARER message: expected \\x01-separated key=value pairs ending with \\x01\\x01");
    }
    rest = rest.substr(1, rest.size() - 2);  // kvpair \x01 ... kvpair \x01 (or empty)
    bool have_auth = false;
    while (!rest.empty()) {
        const auto end = rest.find('\x01');
        const auto kv = rest.substr(0, end);
        rest = rest.substr(end + 1);
        const auto eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) {
            return fail<R>("invalid OAUTHBEARER message: a key=value pair without a key");
        }
        const auto key = kv.substr(0, eq);
        const auto value = kv.substr(eq + 1);
        if (key != "auth") {
            continue;  // SASL extensions: allowed, not used
        }
        if (have_auth) {
            return fail<R>("invalid OAUTHBEARER message: more than one auth=");
        }
        have_auth = true;
        // "Bearer" is case-insensitive; one or more spaces before the token.
        if (value.size() < 7 || !std::equal(value.begin(), value.begin() + 6, "bearer",
                                            [](char c, char l) { return char(std::tolower((unsigned char)c)) == l; }) ||
            value[6] != ' ') {
            return fail<R>("invalid OAUTHBEARER message: auth= is not a Bearer token");
        }
        auto token = value.substr(7);
        while (token.starts_with(' ')) {
            token.remove_prefix(1);
        }
        while (token.ends_with(' ')) {
            token.remove_suffix(1);
        }
        if (token.empty()) {
            return fail<R>("invalid OAUTHBEARER message: empty Bearer token");
        }
        out.token = std::string(token);
    }
    if (!have_auth) {
        return fail<R>("invalid OAUTHBEARER message: no auth=Bearer <token>");
    }
    return out;
}

namespace {

class oauthbearer_server final : public sasl_server {
public:
    oauthbearer_server(std::shared_ptr<jwks_source> keys, jwt_rules rules, clock_fn now)
        : _keys(std::move(keys)), _rules(std::move(rules)), _now(std::move(now)) {}

    outcome<std::string> step(std::string_view client) override {
        if (_done) {
            return outcome<std::string>::failure("the OAUTHBEARER exchange is already over");
        }
        if (!_refused.empty()) {
            // After the error challenge the client sends a lone \x01; either way it ends here.
            _done = true;
            return outcome<std::string>::failure(std::move(_refused));
        }
        auto msg = parse_oauthbearer_client(client);
        if (!msg) {
            _done = true;
            return outcome<std::string>::failure(msg.error());
        }
        const auto now = _now ? _now() : std::chrono::system_clock::now();
        auto keys = _keys->current();
        if (!keys) {
            keys = _keys->reload_for_unknown_kid();
        }
        if (!keys) {
            _refused = "no OAUTHBEARER verification keys yet: " + _keys->no_keys_reason();
            return std::string(oauthbearer_invalid_token_challenge);
        }
        auto token = validate_jwt(msg.value().token, *keys, _rules, now);
        if (!token && token.error().starts_with("no key with the token's kid")) {
            // A key the issuer added since the JWKS was read: look again (the source rate-limits).
            keys = _keys->reload_for_unknown_kid();
            token = validate_jwt(msg.value().token, *keys, _rules, now);
        }
        if (!token) {
            _refused = "invalid OAUTHBEARER token: " + token.error();
            return std::string(oauthbearer_invalid_token_challenge);
        }
        if (!msg.value().authzid.empty() && msg.value().authzid != token.value().principal) {
            _done = true;
            return outcome<std::string>::failure("the authorization id '" + msg.value().authzid +
                                                 "' differs from the token's principal '" +
                                                 token.value().principal + "'");
        }
        _user = std::move(token.value().principal);
        _expires_ms = token.value().expires_ms;
        _complete = _done = true;
        return std::string();
    }
    bool complete() const noexcept override { return _complete; }
    const std::string& username() const noexcept override { return _user; }
    std::optional<int64_t> credential_expires_ms() const noexcept override {
        return _complete ? std::optional<int64_t>(_expires_ms) : std::nullopt;
    }

private:
    std::shared_ptr<jwks_source> _keys;
    jwt_rules _rules;
    clock_fn _now;
    std::string _refused;  // why the token was refused, told after the client's \x01
    std::string _user;
    int64_t _expires_ms = 0;  // the token's exp
    bool _complete = false;
    bool _done = false;
};

} // namespace

std::unique_ptr<sasl_server> make_oauthbearer_server(std::shared_ptr<jwks_source> keys, jwt_rules rules,
                                                     clock_fn now) {
    return std::make_unique<oauthbearer_server>(std::move(keys), std::move(rules), std::move(now));
}

} // namespace trib::security
