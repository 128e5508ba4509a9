#include "operator/kafka/security.h"

#include "common/config.h"

namespace trib::op::kafka {

namespace {

// The PEM blocks of `text` that are private keys, and the others (certificates), each block
// with its BEGIN and END lines.
std::pair<std::string, std::string> split_keystore(const std::string& text) {
    std::string key, certs;
    size_t at = 0;
    while ((at = text.find("-----BEGIN ", at)) != std::string::npos) {
        const size_t label_end = text.find("-----", at + 11);
        if (label_end == std::string::npos) {
            break;
        }
        const std::string label = text.substr(at + 11, label_end - at - 11);
        const std::string end_line = "-----END " + label + "-----";
        size_t end = text.find(end_line, label_end);
        if (end == std::string::npos) {
            break;
        }
        end += end_line.size();
        std::string block = text.substr(at, end - at) + "\n";
        (label.find("PRIVATE KEY") != std::string::npos ? key : certs) += block;
        at = end;
    }
    return {key, certs};
}

thread_local std::shared_ptr<net::tls_source> current_tls;

} // namespace

std::shared_ptr<net::tls_source> make_client_tls(const std::string& ca_bundle, const std::string& keystore) {
    auto [key, chain] = split_keystore(keystore);
    if (key.empty() || chain.empty()) {
        throw config::config_error("the operator's keystore holds no " +
                                   std::string(key.empty() ? "private key" : "certificate"));
    }
    net::tls_settings s;
    s.listener = "REPLICATION";
    s.keystore_key = std::move(key);
    s.keystore_chain = std::move(chain);
    s.truststore_certificates = ca_bundle;
    s.reload_interval = std::chrono::milliseconds(0);  // PEM in memory: a new source replaces it
    s.verify_peer_host = false;
    return std::make_shared<net::tls_source>(std::move(s), net::tls_role::client);
}

void tls_registry::set(const std::string& ns, const std::string& name, const std::string& ca_bundle,
                       const std::string& keystore) {
    const auto k = std::make_pair(ns, name);
    {
        std::lock_guard lock(_mutex);
        auto it = _clusters.find(k);
        if (it != _clusters.end() && it->second.ca_bundle == ca_bundle && it->second.keystore == keystore) {
            return;
        }
    }
    entry e{ca_bundle, keystore, ca_bundle.empty() ? nullptr : make_client_tls(ca_bundle, keystore)};
    std::lock_guard lock(_mutex);
    _clusters[k] = std::move(e);
}

void tls_registry::forget(const std::string& ns, const std::string& name) {
    std::lock_guard lock(_mutex);
    _clusters.erase({ns, name});
}

std::shared_ptr<net::tls_source> tls_registry::get(const std::string& ns, const std::string& name) const {
    std::lock_guard lock(_mutex);
    auto it = _clusters.find({ns, name});
    return it == _clusters.end() ? nullptr : it->second.tls;
}

tls_scope::tls_scope(std::shared_ptr<net::tls_source> tls) : _previous(std::move(current_tls)) {
    current_tls = std::move(tls);
}

tls_scope::~tls_scope() {
    current_tls = std::move(_previous);
}

const std::shared_ptr<net::tls_source>& tls_scope::current() {
    return current_tls;
}

} // namespace trib::op::kafka
