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
//
// Each key may be given for one listener as `listener.name.<listener in lower case>.<key>`,
// which takes precedence over the plain key (Kafka's per-listener override).
//
// Errors are config::config_error naming the key (and the listener's prefix when the value
// came from there): they happen once at start-up.

#include "common/config.h"

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::net {

enum class client_auth { none, requested, required };

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
// for a JKS/PKCS12 store type, a keystore given twice or not at all, and the like; reads no
// file.
tls_settings tls_settings_for(const config::values& v, const std::string& listener);

// An OpenSSL context for a server: reads the files, checks the key against the certificate,
// sets verification, protocols and ciphers. Throws config_error naming the key at fault.
std::shared_ptr<boost::asio::ssl::context> make_server_context(const tls_settings& s);

// The subject of the certificate the peer of an established TLS connection presented, as
// RFC 2253 (most specific first: "CN=client,OU=eng,O=Acme,C=US"), the form Java's
// X500Principal.getName() gives for the usual attributes (CN, OU, O, L, ST, C, DC, UID,
// STREET); nullopt when the peer sent no certificate. Other attributes are written with
// OpenSSL's short names (emailAddress=...) where Java writes the OID and DER in hex.
std::optional<std::string> peer_subject(SSL* ssl);

} // namespace trib::net
