#pragma once

// TLS for SSL listeners, configured with Apache Kafka's keys in their PEM form (Kafka 2.7+,
// KIP-651). Keystores and truststores are PEM only: JKS and PKCS12 are refused with a message
// saying how to convert them.
//
//   ssl.keystore.type=PEM
//   ssl.keystore.location        a PEM file with the private key and the certificate chain
//   ssl.keystore.key             or the key inline (PEM text) ...
//   ssl.keystore.certificate.chain  ... and the chain inline
//   ssl.key.password             the key's passphrase, when it is encrypted
//   ssl.truststore.type=PEM
//   ssl.truststore.location      a PEM file of CA certificates (for client certificates)
//   ssl.truststore.certificates  or the CA certificates inline
//   ssl.client.auth              none | requested | required
//   ssl.enabled.protocols        TLSv1.2,TLSv1.3 (the default; nothing older)
//   ssl.cipher.suites            IANA names (as Java takes them) or OpenSSL names; empty:
//                                OpenSSL's defaults
//   ssl.endpoint.identification.algorithm  https (the default): this program's own connections
//                                out of the listener (inter-broker) check the peer's host name
//                                or IP address against its certificate; empty: they don't
//   tributary.ssl.reload.interval.ms  how often the keystore and truststore files are looked
//                                at for a change (30000; 0: never). Kafka has no such key: it
//                                reloads only when told through a dynamic config change. On
//                                Kubernetes a Secret's files change under a running pod, so
//                                the broker follows them (tls_source below).
//
// Each key may be given for one listener as `listener.name.<listener in lower case>.<key>`,
// which takes precedence over the plain key (Kafka's per-listener override).
//
// Errors are config::config_error naming the key (and the listener's prefix when the value
// came from there): they happen once at start-up.

#include "common/config.h"

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace trib::net {

enum class client_auth { none, requested, required };
// A listener's side (server), or this program's connections to listeners of others (client).
enum class tls_role { server, client };

// What one listener's TLS is made of, after per-listener overrides. `key_names` maps each
// key (e.g. "ssl.keystore.location") to the name it was read under, for error messages.
struct tls_settings {
    std::string listener;
    std::optional<std::string> keystore_location;
    std::optional<std::string> keystore_key;    // PEM text
    std::optional<std::string> keystore_chain;  // PEM text
    std::optional<std::string> key_password;
    std::optional<std::string> truststore_location;
    std::optional<std::string> truststore_certificates;  // PEM text
    client_auth auth = client_auth::none;
    std::vector<std::string> protocols{"TLSv1.2", "TLSv1.3"};
    std::vector<std::string> cipher_suites;  // empty: OpenSSL's defaults
    std::chrono::milliseconds reload_interval{30000};  // 0: the files are read once
    bool verify_peer_host = true;  // ssl.endpoint.identification.algorithm=https (client side)
    std::map<std::string, std::string> key_names;

    // The name `key` was read under (the listener's prefixed name when overridden there).
    std::string name_of(const std::string& key) const;
};

// The TLS keys, added to a program's schema, with Kafka's defaults (PEM store types).
void add_tls_keys(config::schema& s);
// For each listener in `listeners`, the `listener.name.<lower>.` prefixed keys, unset by
// default. A program adds them once it knows its listeners (see load_broker_config).
void add_listener_tls_keys(config::schema& s, const std::vector<std::string>& listeners);

// The prefix of `listener`'s overrides: "listener.name.<lower case>.".
std::string listener_prefix(std::string_view listener);

// The settings in force for `listener` (overrides over the plain keys). Throws config_error
// for a JKS/PKCS12 store type, a keystore given twice or not at all (a client, role client,
// may have none: it then shows no certificate), and the like; reads no file.
tls_settings tls_settings_for(const config::values& v, const std::string& listener,
                              tls_role role = tls_role::server);

// An OpenSSL context for a server: reads the files, checks the key against the certificate,
// sets verification, protocols and ciphers. Throws config_error naming the key at fault.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const tls_settings& s);

// An OpenSSL context for this program's connections to peers that listen with the same
// settings (brokers replicating over an SSL inter-broker listener): trusts the truststore
// (the system's CAs when there is none), always checks the peer's certificate, and presents
// the keystore's certificate when the peer asks (mTLS). Host names are checked per
// connection (net/kafka_client, options.tls_verify_host). Throws config_error as
// make_server_context.
std::shared_ptr<boost::asio::ssl::context> make_client_context(const tls_settings& s);

// Why a TLS handshake of this program's failed: the error, the certificate check's verdict
// (e.g. "unable to get local issuer certificate") and OpenSSL's last error; clears OpenSSL's
// error queue.
std::string tls_failure_reason(const boost::system::error_code& ec, SSL* ssl);

// A context that follows its files: an SSL listener's (role server), or this program's
// connections to other brokers over an SSL inter-broker listener (role client).
// reload_if_changed() looks at the keystore and truststore files (device, inode, size,
// modification time: a Kubernetes Secret volume swaps a symbolic link, which changes the
// inode); when one changed, it makes a new context from the same settings. New connections get
// the new context, established ones keep theirs. A context that can't be made (a file half
// written, a key that does not match the certificate) is logged and the one in force kept: the
// next look tries again. Thread-safe: a listener's source is looked at by its accepting core
// (net/server), a client's by whichever core connects (fresh()).

class tls_source {
public:
    // Reads the files and makes the first context: throws config_error as make_server_context
    // (make_client_context for role client).
    explicit tls_source(tls_settings s, tls_role role = tls_role::server);

    const tls_settings& settings() const noexcept { return _settings; }
    tls_role role() const noexcept { return _role; }
    std::shared_ptr<boost::asio::ssl::context> current() const;
    // Makes a new context when a file changed since the last one was made. True when a new
    // context is in force; false when nothing changed or the new one failed (logged once per
    // change of the files).
    bool reload_if_changed();
    // current(), after looking at the files when the reload interval has passed since the last
    // look (a client, which has no timer of its own, calls this as it connects).
    std::shared_ptr<boost::asio::ssl::context> fresh(std::chrono::steady_clock::time_point now);
    // How many contexts were made after the first.
    uint64_t reloads() const noexcept { return _reloads.load(); }

private:
    struct file_stamp {
        bool exists = false;
        uint64_t device = 0, inode = 0;
        int64_t size = 0, mtime_ns = 0;
        bool operator==(const file_stamp&) const = default;
    };
    std::vector<file_stamp> stamps() const;

    std::shared_ptr<boost::asio::ssl::context> make() const;

    const tls_settings _settings;
    const tls_role _role;
    mutable std::mutex _mutex;  // guards what follows
    std::shared_ptr<boost::asio::ssl::context> _context;
    std::vector<file_stamp> _stamps;         // of the files _context was made from
    std::vector<file_stamp> _failed_stamps;  // of the files a failed attempt was made from
    std::chrono::steady_clock::time_point _last_look{};
    std::atomic<uint64_t> _reloads{0};
};
// The subject of the certificate the peer of an established TLS connection presented, as
// RFC 2253 (most specific first: "CN=client,OU=eng,O=Acme,C=US"), the form Java's
// X500Principal.getName() gives for the usual attributes (CN, OU, O, L, ST, C, DC, UID,
// STREET); nullopt when the peer sent no certificate. Other attributes are written with
// OpenSSL's short names (emailAddress=...) where Java writes the OID and DER in hex.
std::optional<std::string> peer_subject(SSL* ssl);

} // namespace trib::net
