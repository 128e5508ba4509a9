#pragma once
// The operator's TLS towards a cluster's internal listeners (REPLICATION and CONTROLLER with
// mutual TLS from the cluster CA, controller/tls.h): it trusts the cluster CA's bundle and
// shows its own client certificate (CN=<cluster>-operator). Each cluster has its own CA and its
// own operator certificate, so the security of a connection depends on the cluster it goes to.
//
// Who knows which: the reconcile pass reads the CA bundle and the operator's keystore from the
// cluster's Secrets (its `certificates` step) and records them in the tls_registry, shared with
// the user reconciler and the metrics poller, which reach the same brokers. While a pass (or a
// user's pass, or a poll of one cluster) talks to a cluster, a tls_scope on its thread names
// that cluster's TLS: every admin_session call made on the thread meanwhile uses it, without
// each *_ops interface carrying it (they are called with addresses alone).
//
// Peers are checked by chain alone, not by name: REPLICATION is advertised at pod IPs that
// change with every restart, and the operator reaches the coordinators at their pod IPs too
// (their certificates name their DNS names only). The cluster CA signs only the cluster's own
// parts, so a peer that verifies is one of them.
#include "net/tls.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

namespace trib::op::kafka {

// A client TLS source (net/tls.h) trusting `ca_bundle` (PEM certificates) and showing
// `keystore` (PEM: the private key, then the certificate and its chain, as the operator's
// Secret holds it). Host names are not checked (above). Throws config_error when the PEM
// does not make a context (no key, key not the certificate's).
std::shared_ptr<net::tls_source> make_client_tls(const std::string& ca_bundle, const std::string& keystore);

// Each cluster's TLS (null: its internal listeners are PLAINTEXT), by namespace and name.
// Thread-safe.
class tls_registry {
public:
    // Records what the cluster's Secrets hold now; a source is made again only when the PEM
    // changed (a renewal), so connections made with the current one are kept. Empty
    // `ca_bundle`: the cluster is plaintext. Throws as make_client_tls (nothing is recorded).
    void set(const std::string& ns, const std::string& name, const std::string& ca_bundle, const std::string& keystore);
    void forget(const std::string& ns, const std::string& name);
    std::shared_ptr<net::tls_source> get(const std::string& ns, const std::string& name) const;

private:
    struct entry {
        std::string ca_bundle, keystore;
        std::shared_ptr<net::tls_source> tls;
    };
    mutable std::mutex _mutex;
    std::map<std::pair<std::string, std::string>, entry> _clusters;
};

// The TLS the calling thread's admin sessions use while the scope lives (null: plaintext);
// scopes nest, the innermost wins.
class tls_scope {
public:
    explicit tls_scope(std::shared_ptr<net::tls_source> tls);
    tls_scope(const tls_scope&) = delete;
    tls_scope& operator=(const tls_scope&) = delete;
    ~tls_scope();

    // The innermost scope's TLS on this thread; null outside every scope.
    static const std::shared_ptr<net::tls_source>& current();

private:
    std::shared_ptr<net::tls_source> _previous;
};

} // namespace trib::op::kafka
