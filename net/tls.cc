#include "net/tls.h"

#include "common/log.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <fstream>

namespace trib::net {

using config::config_error;
using config::key_spec;
using config::type;
namespace ssl = boost::asio::ssl;

namespace {

// A store type other than PEM: refused with the way out.
std::optional<std::string> pem_only(const std::string& v) {
    std::string upper = v;
    std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return char(std::toupper(c)); });
    if (upper == "PEM") {
        return std::nullopt;
    }
    return "Tributary takes PEM stores only (" + v +
           " keystores and truststores are not supported; convert them to PEM, e.g. with "
           "keytool -importkeystore to PKCS12, then openssl pkcs12 -nodes)";
}

struct tls_key {
    const char* name;
    type t;
    const char* default_value;  // nullptr: unset
    const char* doc;
    config::validator validate;
};

const std::vector<tls_key>& tls_keys() {
    static const std::vector<tls_key> keys = {
        {"ssl.keystore.type", type::string, "PEM", "Keystore format of SSL listeners: PEM only.", pem_only},
        {"ssl.keystore.location", type::string, nullptr,
         "PEM file with the private key and certificate chain of SSL listeners.", {}},
        {"ssl.keystore.key", type::password, nullptr, "Private key of SSL listeners, as PEM text.", {}},
        {"ssl.keystore.certificate.chain", type::password, nullptr,
         "Certificate chain of SSL listeners, as PEM text.", {}},
        {"ssl.key.password", type::password, nullptr, "Passphrase of an encrypted private key.", {}},
        {"ssl.truststore.type", type::string, "PEM", "Truststore format: PEM only.", pem_only},
        {"ssl.truststore.location", type::string, nullptr,
         "PEM file of the CA certificates client certificates are checked against.", {}},
        {"ssl.truststore.certificates", type::password, nullptr,
         "CA certificates client certificates are checked against, as PEM text.", {}},
        {"ssl.client.auth", type::string, "none", "Client certificates: none, requested or required.",
         config::one_of({"none", "requested", "required"})},
        {"ssl.enabled.protocols", type::list, "TLSv1.2,TLSv1.3", "TLS versions SSL listeners accept.",
         config::each(config::one_of({"TLSv1.2", "TLSv1.3"}))},
        {"ssl.cipher.suites", type::list, nullptr,
         "Cipher suites (IANA or OpenSSL names); unset: OpenSSL's defaults.", {}},
        {"ssl.protocol", type::string, "TLSv1.3",
         "Accepted for compatibility: ssl.enabled.protocols decides the versions.", {}},
        {"ssl.endpoint.identification.algorithm", type::string, "https",
         "https: connections this broker makes out of the listener (inter-broker) check the peer's "
         "host name against its certificate; empty: they don't. A server never checks its clients' names.",
         config::one_of({"https", ""})},
        {"tributary.ssl.reload.interval.ms", type::int64, "30000",
         "How often SSL listeners look at their keystore and truststore files for a change, and "
         "take the new certificates for new connections; 0: never.",
         [](const std::string& v) -> std::optional<std::string> {
             if (v.empty() || v.size() > 12 || v.find_first_not_of("0123456789") != std::string::npos) {
                 return "must be 0 or more (milliseconds)";
             }
             return std::nullopt;
         }},
    };
    return keys;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return out;
}

// OpenSSL's reason for the last failure, cleared from its queue.
std::string openssl_reason(const boost::system::error_code& ec) {
    std::string reason = ec ? ec.message() : "";
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (reason.empty()) {
            reason = buf;
        }
    }
    return reason.empty() ? "unknown OpenSSL error" : reason;
}

void check_readable(const tls_settings& s, const std::string& key, const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        throw config_error(s.name_of(key) + ": cannot read '" + path + "' (listener " + s.listener + ")");
    }
}

// TLS 1.3 suites have their own list in OpenSSL (SSL_CTX_set_ciphersuites) and only IANA names.
bool is_tls13_suite(const std::string& name) {
    return name == "TLS_AES_128_GCM_SHA256" || name == "TLS_AES_256_GCM_SHA384" ||
           name == "TLS_CHACHA20_POLY1305_SHA256" || name == "TLS_AES_128_CCM_SHA256" ||
           name == "TLS_AES_128_CCM_8_SHA256";
}

void set_ciphers(SSL_CTX* ctx, const tls_settings& s, bool tls12, bool tls13) {
    if (s.cipher_suites.empty()) {
        return;
    }
    std::string list12, list13;
    for (const auto& c : s.cipher_suites) {
        if (is_tls13_suite(c)) {
            list13 += (list13.empty() ? "" : ":") + c;
            continue;
        }
        // Java (and so Kafka) names suites the IANA way; OpenSSL has its own names for TLS 1.2.
        std::string name = c;
        if (c.rfind("TLS_", 0) == 0) {
            const char* mapped = OPENSSL_cipher_name(c.c_str());
            if (mapped == nullptr || std::string_view(mapped) == "(NONE)") {
                throw config_error(s.name_of("ssl.cipher.suites") + ": unknown cipher suite '" + c + "'");
            }
            name = mapped;
        }
        list12 += (list12.empty() ? "" : ":") + name;
    }
    if (list12.empty() && list13.empty()) {
        throw config_error(s.name_of("ssl.cipher.suites") + ": no cipher suite");
    }
    if (!list12.empty()) {
        if (SSL_CTX_set_cipher_list(ctx, list12.c_str()) != 1) {
            throw config_error(s.name_of("ssl.cipher.suites") + ": OpenSSL accepts none of '" + list12 +
                               "': " + openssl_reason({}));
        }
    } else if (tls13) {
        SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);  // only TLS 1.3 suites were named
    }
    if (tls13 && SSL_CTX_set_ciphersuites(ctx, list13.c_str()) != 1) {
        throw config_error(s.name_of("ssl.cipher.suites") + ": OpenSSL accepts none of '" + list13 +
                           "': " + openssl_reason({}));
    }
    if (list13.empty() && !tls12) {
        throw config_error(s.name_of("ssl.cipher.suites") + ": no TLS 1.3 suite, and TLS 1.2 is not enabled");
    }
}

} // namespace

std::string tls_settings::name_of(const std::string& key) const {
    auto it = key_names.find(key);
    return it == key_names.end() ? key : it->second;
}

std::string listener_prefix(std::string_view listener) {
    return "listener.name." + lower(listener) + ".";
}

void add_tls_keys(config::schema& s) {
    for (const auto& k : tls_keys()) {
        s.add(key_spec{.name = k.name,
                       .t = k.t,
                       .default_value = k.default_value ? std::optional<std::string>(k.default_value) : std::nullopt,
                       .doc = k.doc,
                       .validate = k.validate});
    }
}

void add_listener_tls_keys(config::schema& s, const std::vector<std::string>& listeners) {
    for (const auto& l : listeners) {
        for (const auto& k : tls_keys()) {
            s.add(key_spec{.name = listener_prefix(l) + k.name,
                           .t = k.t,
                           .doc = std::string("Listener ") + l + "'s " + k.name + ".",
                           .validate = k.validate});
        }
    }
}

tls_settings tls_settings_for(const config::values& v, const std::string& listener, tls_role role) {
    tls_settings s;
    s.listener = listener;
    const std::string prefix = listener_prefix(listener);
    // The name a key is read under: the listener's override when set, else the plain key.
    auto pick = [&](const std::string& key) -> std::optional<std::string> {
        std::string name = prefix + key;
        bool has_override = v.has(name);
        if (!has_override) {
            name = key;
        }
        s.key_names[key] = name;
        if (!v.has(name)) {
            return std::nullopt;
        }
        return v.get_string(name);
    };
    pick("ssl.keystore.type");
    pick("ssl.truststore.type");
    s.keystore_location = pick("ssl.keystore.location");
    s.keystore_key = pick("ssl.keystore.key");
    s.keystore_chain = pick("ssl.keystore.certificate.chain");
    s.key_password = pick("ssl.key.password");
    s.truststore_location = pick("ssl.truststore.location");
    s.truststore_certificates = pick("ssl.truststore.certificates");
    auto auth = pick("ssl.client.auth").value_or("none");
    s.auth = auth == "required" ? client_auth::required
           : auth == "requested" ? client_auth::requested
                                 : client_auth::none;
    if (auto p = pick("ssl.enabled.protocols")) {
        s.protocols = config::split_list(*p);
    }
    if (s.protocols.empty()) {
        throw config_error(s.name_of("ssl.enabled.protocols") + ": no protocol enabled (listener " + listener + ")");
    }
    if (auto c = pick("ssl.cipher.suites")) {
        s.cipher_suites = config::split_list(*c);
    }
    s.verify_peer_host = pick("ssl.endpoint.identification.algorithm").value_or("https") == "https";
    if (auto r = pick("tributary.ssl.reload.interval.ms")) {
        s.reload_interval = std::chrono::milliseconds(std::stoll(*r));  // digits only: validated
    }

    const bool inline_key = s.keystore_key || s.keystore_chain;
    if (s.keystore_location && inline_key) {
        throw config_error(s.name_of("ssl.keystore.location") + ": give either the keystore file or " +
                           "ssl.keystore.key with ssl.keystore.certificate.chain, not both (listener " +
                           listener + ")");
    }
    if (inline_key && (!s.keystore_key || !s.keystore_chain)) {
        throw config_error(s.name_of(s.keystore_key ? "ssl.keystore.certificate.chain" : "ssl.keystore.key") +
                           ": needed with " +
                           s.name_of(s.keystore_key ? "ssl.keystore.key" : "ssl.keystore.certificate.chain") +
                           " (listener " + listener + ")");
    }
    if (!s.keystore_location && !inline_key && role == tls_role::server) {
        throw config_error("ssl.keystore.location: SSL listener " + listener +
                           " needs a keystore (ssl.keystore.location, or ssl.keystore.key and "
                           "ssl.keystore.certificate.chain, or their " + prefix + " forms)");
    }
    if (s.truststore_location && s.truststore_certificates) {
        throw config_error(s.name_of("ssl.truststore.location") +
                           ": give either the truststore file or ssl.truststore.certificates, not both (listener " +
                           listener + ")");
    }
    if (role == tls_role::server && s.auth != client_auth::none && !s.truststore_location &&
        !s.truststore_certificates) {
        throw config_error(s.name_of("ssl.client.auth") + "=" + auth +
                           " needs a truststore to check client certificates against (ssl.truststore.location "
                           "or ssl.truststore.certificates; listener " + listener + ")");
    }
    return s;
}

namespace {

// What servers and clients share: versions, the key's passphrase, the keystore.
std::shared_ptr<ssl::context> base_context(const tls_settings& s, ssl::context::method method) {
    auto ctx = std::make_shared<ssl::context>(method);
    SSL_CTX* native = ctx->native_handle();
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                     ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    const bool tls12 = std::find(s.protocols.begin(), s.protocols.end(), "TLSv1.2") != s.protocols.end();
    const bool tls13 = std::find(s.protocols.begin(), s.protocols.end(), "TLSv1.3") != s.protocols.end();
    SSL_CTX_set_min_proto_version(native, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(native, tls13 ? TLS1_3_VERSION : TLS1_2_VERSION);

    // Without a password, an empty one: OpenSSL's default would prompt on the terminal.
    ctx->set_password_callback([pw = s.key_password.value_or("")](size_t, ssl::context::password_purpose) {
        return pw;
    });
    boost::system::error_code ec;
    if (s.keystore_location) {
        const auto& path = *s.keystore_location;
        check_readable(s, "ssl.keystore.location", path);
        ERR_clear_error();
        ctx->use_certificate_chain_file(path, ec);
        if (ec) {
            throw config_error(s.name_of("ssl.keystore.location") + ": no certificate chain in '" + path +
                               "': " + openssl_reason(ec));
        }
        ctx->use_private_key_file(path, ssl::context::pem, ec);
        if (ec) {
            throw config_error(s.name_of("ssl.keystore.location") + ": no usable private key in '" + path +
                               "' (encrypted without the right " + s.name_of("ssl.key.password") +
                               "?): " + openssl_reason(ec));
        }
    } else if (s.keystore_chain) {
        ERR_clear_error();
        ctx->use_certificate_chain(boost::asio::buffer(*s.keystore_chain), ec);
        if (ec) {
            throw config_error(s.name_of("ssl.keystore.certificate.chain") + ": not a PEM certificate chain: " +
                               openssl_reason(ec));
        }
        ctx->use_private_key(boost::asio::buffer(*s.keystore_key), ssl::context::pem, ec);
        if (ec) {
            throw config_error(s.name_of("ssl.keystore.key") + ": not a usable PEM private key (encrypted without "
                               "the right " + s.name_of("ssl.key.password") + "?): " + openssl_reason(ec));
        }
    } else {
        // A client without a keystore (tls_settings_for, role client): no certificate to show.
        set_ciphers(native, s, tls12, tls13);
        return ctx;
    }
    if (SSL_CTX_check_private_key(native) != 1) {
        throw config_error(s.name_of(s.keystore_location ? "ssl.keystore.location" : "ssl.keystore.key") +
                           ": the private key does not match the certificate: " + openssl_reason({}));
    }
    set_ciphers(native, s, tls12, tls13);
    return ctx;
}

// The truststore's CAs into `ctx`; false when the settings name none.
bool load_truststore(ssl::context& ctx, const tls_settings& s) {
    boost::system::error_code ec;
    if (s.truststore_location) {
        const auto& path = *s.truststore_location;
        check_readable(s, "ssl.truststore.location", path);
        ctx.load_verify_file(path, ec);
        if (ec) {
            throw config_error(s.name_of("ssl.truststore.location") + ": no CA certificate in '" + path +
                               "': " + openssl_reason(ec));
        }
        return true;
    }
    if (s.truststore_certificates) {
        ctx.add_certificate_authority(boost::asio::buffer(*s.truststore_certificates), ec);
        if (ec) {
            throw config_error(s.name_of("ssl.truststore.certificates") + ": not PEM CA certificates: " +
                               openssl_reason(ec));
        }
        return true;
    }
    return false;
}

} // namespace

std::shared_ptr<ssl::context> make_server_context(const tls_settings& s) {
    auto ctx = base_context(s, ssl::context::tls_server);
    if (load_truststore(*ctx, s) && s.truststore_location) {
        // Tell clients which CAs their certificate should come from.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.truststore_location->c_str())) {
            SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
        }
        ERR_clear_error();
    }
    switch (s.auth) {
    case client_auth::none:
        ctx->set_verify_mode(ssl::verify_none);
        break;
    case client_auth::requested:
        ctx->set_verify_mode(ssl::verify_peer);
        break;
    case client_auth::required:
        ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
        break;
    }
    return ctx;
}

std::string tls_failure_reason(const boost::system::error_code& ec, SSL* ssl) {
    std::string reason = ec.message();
    if (long v = SSL_get_verify_result(ssl); v != X509_V_OK) {
        reason += std::string(": ") + X509_verify_cert_error_string(v);
    }
    if (unsigned long e = ERR_peek_last_error(); e != 0) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        reason += std::string(" (") + buf + ")";
    }
    ERR_clear_error();
    return reason;
}

std::shared_ptr<ssl::context> make_client_context(const tls_settings& s) {
    auto ctx = base_context(s, ssl::context::tls_client);
    if (!load_truststore(*ctx, s)) {
        boost::system::error_code ec;
        ctx->set_default_verify_paths(ec);
        if (ec) {
            throw config_error("no truststore for listener " + s.listener + " and the system's CAs can't be read: " +
                               openssl_reason(ec));
        }
    }
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
}

tls_source::tls_source(tls_settings s, tls_role role) : _settings(std::move(s)), _role(role) {
    _stamps = stamps();
    _context = make();
    _last_look = std::chrono::steady_clock::now();
}

std::shared_ptr<ssl::context> tls_source::make() const {
    return _role == tls_role::server ? make_server_context(_settings) : make_client_context(_settings);
}

std::shared_ptr<ssl::context> tls_source::current() const {
    std::lock_guard lock(_mutex);
    return _context;
}

std::shared_ptr<ssl::context> tls_source::fresh(std::chrono::steady_clock::time_point now) {
    bool look = false;
    {
        std::lock_guard lock(_mutex);
        if (_settings.reload_interval.count() > 0 && now - _last_look >= _settings.reload_interval) {
            _last_look = now;
            look = true;
        }
    }
    if (look) {
        reload_if_changed();
    }
    return current();
}

std::vector<tls_source::file_stamp> tls_source::stamps() const {
    std::vector<file_stamp> out;
    for (const auto* path : {&_settings.keystore_location, &_settings.truststore_location}) {
        auto& f = out.emplace_back();
        struct stat st{};
        if (*path && ::stat((*path)->c_str(), &st) == 0) {
            f.exists = true;
            f.device = st.st_dev;
            f.inode = st.st_ino;
            f.size = st.st_size;
            f.mtime_ns = int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
        }
    }
    return out;
}

bool tls_source::reload_if_changed() {
    auto now = stamps();
    {
        std::lock_guard lock(_mutex);
        if (now == _stamps || now == _failed_stamps) {
            return false;
        }
    }
    const char* whose = _role == tls_role::server ? "new connections" : "new connections to other brokers";
    try {
        auto ctx = make();
        // The files may have changed again while they were read: then the next look reads
        // them once more (the stamps taken before reading are the ones kept).
        {
            std::lock_guard lock(_mutex);
            _context = std::move(ctx);
            _stamps = std::move(now);
            _failed_stamps.clear();
        }
        ++_reloads;
        TLOG_INFO("listener {}: certificates read again from changed files; {} use them", _settings.listener,
                  whose);
        return true;
    } catch (const config_error& e) {
        {
            std::lock_guard lock(_mutex);
            _failed_stamps = std::move(now);
        }
        TLOG_WARN("listener {}: the TLS files changed but can't be used ({}); the certificates in force stay "
                  "for {} until they change again", _settings.listener, e.what(), whose);
        return false;
    }
}

std::optional<std::string> peer_subject(SSL* ssl) {
    X509* cert = SSL_get1_peer_certificate(ssl);
    if (!cert) {
        return std::nullopt;
    }
    std::unique_ptr<X509, decltype(&X509_free)> owned(cert, &X509_free);
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
    // RFC 2253 with UTF-8 kept as is (Java does not escape non-ASCII characters).
    if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        return std::string();
    }
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, size_t(n > 0 ? n : 0));
}

} // namespace trib::net
