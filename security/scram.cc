#include "security/scram.h"
#include "security/plain.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

namespace trib::security {

std::string_view mechanism_name(scram_algorithm a) noexcept {
    return a == scram_algorithm::sha256 ? mechanism_scram_sha256 : mechanism_scram_sha512;
}

std::optional<scram_algorithm> scram_algorithm_for(std::string_view mechanism) noexcept {
    if (mechanism == mechanism_scram_sha256) {
        return scram_algorithm::sha256;
    }
    if (mechanism == mechanism_scram_sha512) {
        return scram_algorithm::sha512;
    }
    return std::nullopt;
}

namespace {

const EVP_MD* digest(scram_algorithm a) { return a == scram_algorithm::sha256 ? EVP_sha256() : EVP_sha512(); }

std::string hmac(scram_algorithm a, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!HMAC(digest(a), key.data(), int(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
              data.size(), out, &len)) {
        throw std::runtime_error("HMAC failed");
    }
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string hash(scram_algorithm a, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!EVP_Digest(data.data(), data.size(), out, &len, digest(a), nullptr)) {
        throw std::runtime_error("digest failed");
    }
    return std::string(reinterpret_cast<char*>(out), len);
}

std::string random_bytes(size_t n) {
    std::string out(n, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), int(n)) != 1) {
        throw std::runtime_error("RAND_bytes failed");
    }
    return out;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// The value of attribute `name` ("r" in "r=..."), checking the letter and '='.
std::optional<std::string_view> attribute(std::string_view part, char name) {
    if (part.size() < 2 || part[0] != name || part[1] != '=') {
        return std::nullopt;
    }
    return part.substr(2);
}

// Splits at commas.
std::vector<std::string_view> split(std::string_view s) {
    std::vector<std::string_view> out;
    size_t from = 0;
    while (true) {
        auto comma = s.find(',', from);
        out.push_back(s.substr(from, comma == std::string_view::npos ? std::string_view::npos : comma - from));
        if (comma == std::string_view::npos) {
            return out;
        }
        from = comma + 1;
    }
}

// saslname: "=2C" is ',' and "=3D" is '='; any other '=' is invalid (RFC 5802 5.1).
std::optional<std::string> decode_saslname(std::string_view s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '=') {
            out.push_back(s[i]);
            continue;
        }
        auto esc = s.substr(i + 1, 2);
        if (esc == "2C") {
            out.push_back(',');
        } else if (esc == "3D") {
            out.push_back('=');
        } else {
            return std::nullopt;
        }
        i += 2;
    }
    return out;
}

bool printable_nonce(std::string_view n) {
    for (char c : n) {
        if (c < 0x21 || c > 0x7e || c == ',') {
            return false;
        }
    }
    return !n.empty();
}

template<typename T>
outcome<T> fail(std::string why) {
    return outcome<T>::failure(std::move(why));
}

} // namespace

std::string base64_encode(std::string_view raw) {
    std::string out(4 * ((raw.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(raw.data()), int(raw.size()));
    out.resize(size_t(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    size_t pad = 0;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '=') {
            // Padding only at the end, at most two.
            if (i + 2 < text.size()) {
                return std::nullopt;
            }
            ++pad;
        } else if (pad > 0 || !is_base64_char(c)) {
            return std::nullopt;
        }
    }
    if (text.empty()) {
        return std::string();
    }
    std::string out(text.size() / 4 * 3, '\0');
    int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(text.data()), int(text.size()));
    if (n < 0 || size_t(n) < pad) {
        return std::nullopt;
    }
    out.resize(size_t(n) - pad);
    return out;
}

std::string scram_salted_password(scram_algorithm a, std::string_view password, std::string_view salt,
                                  int32_t iterations) {
    std::string out(size_t(EVP_MD_size(digest(a))), '\0');
    if (PKCS5_PBKDF2_HMAC(password.data(), int(password.size()), reinterpret_cast<const unsigned char*>(salt.data()),
                          int(salt.size()), iterations, digest(a), int(out.size()),
                          reinterpret_cast<unsigned char*>(out.data())) != 1) {
        throw std::runtime_error("PBKDF2 failed");
    }
    return out;
}

scram_credential scram_credential_from_salted(scram_algorithm a, std::string_view salted_password,
                                              std::string salt, int32_t iterations) {
    scram_credential c;
    c.salt = std::move(salt);
    c.stored_key = hash(a, hmac(a, salted_password, "Client Key"));
    c.server_key = hmac(a, salted_password, "Server Key");
    c.iterations = iterations;
    return c;
}

scram_credential make_scram_credential(scram_algorithm a, std::string_view password, int32_t iterations) {
    auto salt = random_bytes(32);
    auto salted = scram_salted_password(a, password, salt, iterations);
    return scram_credential_from_salted(a, salted, std::move(salt), iterations);
}

outcome<scram_client_first> parse_scram_client_first(std::string_view msg) {
    using R = scram_client_first;
    // gs2-header: cbind-flag "," [ "a=" authzid ] ","
    auto c1 = msg.find(',');
    if (c1 == std::string_view::npos) {
        return fail<R>("invalid SCRAM client-first message: no GS2 header");
    }
    auto c2 = msg.find(',', c1 + 1);
    if (c2 == std::string_view::npos) {
        return fail<R>("invalid SCRAM client-first message: no GS2 header");
    }
    auto flag = msg.substr(0, c1);
    if (flag != "n" && flag != "y") {
        return fail<R>(flag.starts_with("p=") ? "SCRAM channel binding is not supported"
                                              : "invalid SCRAM client-first message: bad GS2 flag");
    }
    R out;
    auto authz = msg.substr(c1 + 1, c2 - c1 - 1);
    if (!authz.empty()) {
        auto a = attribute(authz, 'a');
        auto decoded = a ? decode_saslname(*a) : std::nullopt;
        if (!decoded) {
            return fail<R>("invalid SCRAM client-first message: bad authzid");
        }
        out.authzid = *decoded;
    }
    out.gs2_header = std::string(msg.substr(0, c2 + 1));
    out.bare = std::string(msg.substr(c2 + 1));
    auto parts = split(out.bare);
    if (parts.size() < 2 || parts[0].starts_with("m=")) {
        return fail<R>("invalid SCRAM client-first message: expected n=<user>,r=<nonce>");
    }
    auto user = attribute(parts[0], 'n');
    auto nonce = attribute(parts[1], 'r');
    if (!user || !nonce) {
        return fail<R>("invalid SCRAM client-first message: expected n=<user>,r=<nonce>");
    }
    auto decoded = decode_saslname(*user);
    if (!decoded || decoded->empty()) {
        return fail<R>("invalid SCRAM client-first message: bad user name");
    }
    if (!printable_nonce(*nonce)) {
        return fail<R>("invalid SCRAM client-first message: bad nonce");
    }
    out.username = std::move(*decoded);
    out.nonce = std::string(*nonce);
    // Extensions (Kafka's tokenauth=true among them) after the nonce are not used here.
    return out;
}

outcome<scram_client_final> parse_scram_client_final(std::string_view msg) {
    using R = scram_client_final;
    auto parts = split(msg);
    if (parts.size() < 3) {
        return fail<R>("invalid SCRAM client-final message: expected c=,r=,...,p=");
    }
    auto cb = attribute(parts[0], 'c');
    auto nonce = attribute(parts[1], 'r');
    auto proof = attribute(parts.back(), 'p');
    if (!cb || !nonce || !proof) {
        return fail<R>("invalid SCRAM client-final message: expected c=,r=,...,p=");
    }
    auto cb_raw = base64_decode(*cb);
    auto proof_raw = base64_decode(*proof);
    if (!cb_raw || !proof_raw) {
        return fail<R>("invalid SCRAM client-final message: bad base64");
    }
    R out;
    out.channel_binding = std::move(*cb_raw);
    out.nonce = std::string(*nonce);
    out.proof = std::move(*proof_raw);
    out.without_proof = std::string(msg.substr(0, msg.size() - parts.back().size() - 1));
    return out;
}

namespace {

class scram_server final : public sasl_server {
public:
    scram_server(scram_algorithm a, scram_lookup lookup, std::string server_nonce)
      : _alg(a), _lookup(std::move(lookup)), _server_nonce(std::move(server_nonce)) {}

    outcome<std::string> step(std::string_view token) override {
        switch (_state) {
        case state::first: return first(token);
        case state::final: return final(token);
        default:
            _state = state::failed;
            return outcome<std::string>::failure("SCRAM exchange already finished");
        }
    }
    bool complete() const noexcept override { return _state == state::done; }
    const std::string& username() const noexcept override { return _first.username; }

private:
    enum class state { first, final, done, failed };

    outcome<std::string> failed(std::string why) {
        _state = state::failed;
        return outcome<std::string>::failure(std::move(why));
    }

    outcome<std::string> first(std::string_view token) {
        auto m = parse_scram_client_first(token);
        if (!m) {
            return failed(m.error());
        }
        _first = std::move(m.value());
        if (!_first.authzid.empty() && _first.authzid != _first.username) {
            return failed("authentication failed: authorization id must equal the user name");
        }
        auto cred = _lookup(_first.username);
        if (!cred) {
            return failed("authentication failed: invalid user credentials");
        }
        _cred = std::move(*cred);
        if (_server_nonce.empty()) {
            _server_nonce = base64_encode(random_bytes(32));
        }
        _server_first = "r=" + _first.nonce + _server_nonce + ",s=" + base64_encode(_cred.salt) +
                        ",i=" + std::to_string(_cred.iterations);
        _state = state::final;
        return _server_first;
    }

    outcome<std::string> final(std::string_view token) {
        auto m = parse_scram_client_final(token);
        if (!m) {
            return failed(m.error());
        }
        const auto& f = m.value();
        if (f.channel_binding != _first.gs2_header) {
            return failed("authentication failed: channel binding does not match the GS2 header");
        }
        // RFC 5802 wants the joint nonce exactly; librdkafka (2.0 at least) sends its own nonce
        // before it, and Kafka accepts a nonce that ends with the joint one. So do we: the
        // joint nonce carries this exchange's random server part, which is what stops replay.
        if (!f.nonce.ends_with(_first.nonce + _server_nonce)) {
            return failed("authentication failed: nonce mismatch");
        }
        const std::string auth_message = _first.bare + "," + _server_first + "," + f.without_proof;
        const std::string client_signature = hmac(_alg, _cred.stored_key, auth_message);
        if (f.proof.size() != client_signature.size()) {
            return failed("authentication failed: invalid client proof");
        }
        std::string client_key(f.proof);
        for (size_t i = 0; i < client_key.size(); ++i) {
            client_key[i] = char(client_key[i] ^ client_signature[i]);
        }
        const std::string stored = hash(_alg, client_key);
        if (stored.size() != _cred.stored_key.size() ||
            CRYPTO_memcmp(stored.data(), _cred.stored_key.data(), stored.size()) != 0) {
            return failed("authentication failed: invalid user credentials");
        }
        _state = state::done;
        return "v=" + base64_encode(hmac(_alg, _cred.server_key, auth_message));
    }

    scram_algorithm _alg;
    scram_lookup _lookup;
    std::string _server_nonce;
    state _state = state::first;
    scram_client_first _first;
    scram_credential _cred;
    std::string _server_first;
};

} // namespace

std::unique_ptr<sasl_server> make_scram_server(scram_algorithm a, scram_lookup lookup, std::string server_nonce) {
    return std::make_unique<scram_server>(a, std::move(lookup), std::move(server_nonce));
}

namespace {

// saslname: ',' and '=' escaped (RFC 5802 5.1).
std::string encode_saslname(std::string_view s) {
    std::string out;
    for (char c : s) {
        if (c == ',') {
            out += "=2C";
        } else if (c == '=') {
            out += "=3D";
        } else {
            out.push_back(c);
        }
    }
    return out;
}

class scram_client final : public sasl_client {
public:
    scram_client(scram_algorithm a, std::string username, std::string password, std::string nonce)
      : _alg(a), _username(std::move(username)), _password(std::move(password)), _nonce(std::move(nonce)) {
        if (_nonce.empty()) {
            _nonce = base64_encode(random_bytes(24));
        }
    }

    std::string first() override {
        _bare = "n=" + encode_saslname(_username) + ",r=" + _nonce;
        _state = state::server_first;
        return "n,," + _bare;
    }

    outcome<std::optional<std::string>> next(std::string_view token) override {
        switch (_state) {
        case state::server_first: return on_server_first(token);
        case state::server_final: return on_server_final(token);
        default:
            _state = state::over;
            return fail<std::optional<std::string>>("SCRAM exchange not in progress");
        }
    }

private:
    enum class state { start, server_first, server_final, over };
    using answer = outcome<std::optional<std::string>>;

    answer failed(std::string why) {
        _state = state::over;
        return fail<std::optional<std::string>>(std::move(why));
    }

    // r=<nonce>,s=<salt>,i=<iterations>: the client-final with our proof.
    answer on_server_first(std::string_view token) {
        auto parts = split(token);
        if (!parts.empty() && attribute(parts[0], 'e')) {
            return failed("the server refused: " + std::string(*attribute(parts[0], 'e')));
        }
        if (parts.size() < 3 || parts[0].starts_with("m=")) {
            return failed("server-first-message: expected r=, s= and i=");
        }
        auto nonce = attribute(parts[0], 'r');
        auto salt64 = attribute(parts[1], 's');
        auto iter = attribute(parts[2], 'i');
        if (!nonce || !salt64 || !iter) {
            return failed("server-first-message: expected r=, s= and i=");
        }
        if (!nonce->starts_with(_nonce) || nonce->size() == _nonce.size() || !printable_nonce(*nonce)) {
            return failed("server-first-message: the nonce does not extend ours");
        }
        auto salt = base64_decode(*salt64);
        if (!salt || salt->empty()) {
            return failed("server-first-message: the salt is not base64");
        }
        int32_t iterations = 0;
        for (char c : *iter) {
            if (c < '0' || c > '9' || iterations > scram_max_iterations) {
                return failed("server-first-message: bad iteration count");
            }
            iterations = iterations * 10 + (c - '0');
        }
        if (iterations < scram_min_iterations || iterations > scram_max_iterations) {
            return failed("server-first-message: iteration count " + std::string(*iter) + " outside " +
                          std::to_string(scram_min_iterations) + ".." + std::to_string(scram_max_iterations));
        }
        const std::string salted = scram_salted_password(_alg, _password, *salt, iterations);
        const std::string client_key = hmac(_alg, salted, "Client Key");
        const std::string without_proof = "c=biws,r=" + std::string(*nonce);  // biws: "n,," in base64
        const std::string auth_message = _bare + "," + std::string(token) + "," + without_proof;
        std::string proof = hmac(_alg, hash(_alg, client_key), auth_message);
        for (size_t i = 0; i < proof.size(); ++i) {
            proof[i] = char(proof[i] ^ client_key[i]);
        }
        _server_signature = hmac(_alg, hmac(_alg, salted, "Server Key"), auth_message);
        _state = state::server_final;
        return std::optional<std::string>(without_proof + ",p=" + base64_encode(proof));
    }

    // v=<server signature>, or e=<error>.
    answer on_server_final(std::string_view token) {
        if (auto e = attribute(token, 'e')) {
            return failed("the server refused: " + std::string(*e));
        }
        auto v = attribute(split(token)[0], 'v');
        auto signature = v ? base64_decode(*v) : std::nullopt;
        if (!signature || signature->size() != _server_signature.size() ||
            CRYPTO_memcmp(signature->data(), _server_signature.data(), signature->size()) != 0) {
            return failed("server-final-message: the server's signature is wrong (it does not know the password)");
        }
        _state = state::over;
        return std::optional<std::string>();
    }

    scram_algorithm _alg;
    std::string _username, _password, _nonce;
    state _state = state::start;
    std::string _bare;
    std::string _server_signature;
};

} // namespace

std::unique_ptr<sasl_client> make_scram_client(scram_algorithm a, std::string username, std::string password,
                                               std::string client_nonce) {
    return std::make_unique<scram_client>(a, std::move(username), std::move(password), std::move(client_nonce));
}

std::unique_ptr<sasl_client> make_sasl_client(std::string_view mechanism, std::string username,
                                              std::string password) {
    if (mechanism == mechanism_plain) {
        return make_plain_client(std::move(username), std::move(password));
    }
    if (auto a = scram_algorithm_for(mechanism)) {
        return make_scram_client(*a, std::move(username), std::move(password));
    }
    return nullptr;
}

} // namespace trib::security
