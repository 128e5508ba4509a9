#include "operator/controller/config_maps.h"
#include "operator/controller/tls.h"

namespace trib::op::controller {

namespace {

// A .properties value: a backslash starts an escape there, so it is doubled.
std::string escape(const std::string& v) {
    std::string out;
    for (char c : v) {
        if (c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out;
}

const char* header = "# Written by tributary-operator from the KafkaCluster; edits here are overwritten.\n";

json config_map(const build_context& ctx, component c, json data) {
    return obj({{"apiVersion", str("v1")},
                {"kind", str("ConfigMap")},
                {"metadata", object_meta(ctx, c, config_map_name(ctx.name(), c))},
                {"data", std::move(data)}});
}

} // namespace

std::string quorum_voters(const build_context& ctx, int32_t voters) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < voters; ++i) {
        ids.push_back(coordinator_id(i));
    }
    return quorum_voters(ctx, ids);
}

std::string quorum_voters(const build_context& ctx, const std::vector<int32_t>& ids) {
    std::string out;
    for (int32_t id : ids) {
        if (!out.empty()) {
            out += ",";
        }
        out += std::to_string(id);
        out += '@';
        out += pod_dns_name(ctx, component::coordinator, id - coordinator_id_base);
        out += ':';
        out += std::to_string(api::coordinator_port);
    }
    return out;
}

std::string with_seed_quorum_voters(const build_context& ctx, const std::string& text) {
    const std::string key = "controller.quorum.voters=";
    std::string out;
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        end = end == std::string::npos ? text.size() : end + 1;
        std::string line = text.substr(at, end - at);
        if (line.compare(0, key.size(), key) == 0) {
            line = key + quorum_voters(ctx, 1) + "\n";
        }
        out += line;
        at = end;
    }
    return out;
}

json data_for_hash(const build_context& ctx, const json& data, const char* shared_key) {
    json out = data;
    if (out.has_string_field(shared_key)) {
        out[shared_key] = str(with_seed_quorum_voters(ctx, out.at(shared_key).as_string()));
    }
    return out;
}

namespace {

// Mutual TLS on `listener` (lower case) with the pod's keystore in `certs_dir` and the
// cluster CA as the truststore (controller/tls.h). `serves`: the pod listens there (and asks
// for a certificate); else it only calls the listener. `check_host`: this program's own
// connections to the listener check the peer's name (false where peers are dialled at pod IPs,
// which no certificate names for long).
std::string internal_tls_properties(const std::string& listener, const char* certs_dir, bool serves, bool check_host) {
    const std::string prefix = "listener.name." + listener + ".ssl.";
    std::string out;
    out += prefix + "keystore.type=PEM\n";
    out += prefix + "keystore.location=" + std::string(certs_dir) + "/${env:POD_NAME}.pem\n";
    out += prefix + "truststore.type=PEM\n";
    out += prefix + "truststore.location=" + std::string(cluster_ca_mount) + "/ca.crt\n";
    if (serves) {
        out += prefix + "client.auth=required\n";
    }
    if (!check_host) {
        out += prefix + "endpoint.identification.algorithm=\n";
    }
    return out;
}

constexpr const char* standard_authorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

// super.users of brokers and coordinators: the cluster's own principals with internal TLS,
// then spec.authorization's.
std::string super_users(const build_context& ctx) {
    std::string su = ctx.internal_tls ? internal_super_users(ctx.name()) : "";
    if (ctx.spec().authorization) {
        for (const auto& u : ctx.spec().authorization->super_users) {
            su += (su.empty() ? "" : ";") + u;
        }
    }
    return su;
}

} // namespace

std::string broker_shared_properties(const build_context& ctx, int32_t voters) {
    const auto& spec = ctx.spec();
    std::string listeners = "REPLICATION://${env:POD_IP}:" + std::to_string(api::replication_port);
    std::string protocols = ctx.internal_tls ? "REPLICATION:SSL" : "REPLICATION:PLAINTEXT";
    for (const auto& l : spec.listeners) {
        const std::string name = l.kafka_name();
        listeners.append(",").append(name).append("://${env:POD_IP}:").append(std::to_string(l.port));
        protocols.append(",").append(name).append(":").append(security_protocol(l));
    }
    if (ctx.internal_tls) {
        protocols.append(",CONTROLLER:SSL");  // the coordinators' listener, which brokers call
    }
    std::string out = header;
    out += "cluster.id=" + cluster_id(ctx.ns(), ctx.name()) + "\n";
    out += "listeners=" + listeners + "\n";
    out += "listener.security.protocol.map=" + protocols + "\n";
    out += "inter.broker.listener.name=REPLICATION\n";
    out += "log.dirs=" + std::string(data_mount) + "/data\n";
    out += "controller.quorum.voters=" + quorum_voters(ctx, voters) + "\n";
    out += "tributary.http.listener=${env:POD_IP}:" + std::to_string(api::http_port) + "\n";
    if (ctx.internal_tls) {
        out += "controller.listener.names=CONTROLLER\n";
        out += internal_tls_properties("replication", broker_certs_mount, true, false);
        // The coordinators are called at the names of controller.quorum.voters, which their
        // certificates carry.
        out += internal_tls_properties("controller", broker_certs_mount, false, true);
    }
    for (const auto& l : spec.listeners) {
        const std::string prefix = "listener.name." + l.name + ".";
        if (l.authentication == api::listener_auth::scram_sha_512) {
            out += prefix + "sasl.enabled.mechanisms=SCRAM-SHA-512\n";
        } else if (l.authentication == api::listener_auth::tls) {
            // The clients CA alone: a broker's certificate (cluster CA) is no client's.
            out += prefix + "ssl.client.auth=required\n";
            out += prefix + "ssl.truststore.type=PEM\n";
            out += prefix + "ssl.truststore.location=" + std::string(clients_ca_mount) + "/ca.crt\n";
        } else if (l.authentication == api::listener_auth::oauth) {
            out += prefix + "sasl.enabled.mechanisms=OAUTHBEARER\n";
            out += prefix +
                   "oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer."
                   "OAuthBearerValidatorCallbackHandler\n";
            // The brokers' token rules are broker-wide: one oauth listener (api::validate).
            out += "sasl.oauthbearer.jwks.endpoint.url=" +
                   (l.oauth.jwks_endpoint_uri ? escape(*l.oauth.jwks_endpoint_uri)
                                              : "file:" + std::string(oauth_jwks_mount) + "/" + oauth_jwks_file) +
                   "\n";
            const std::pair<const std::optional<int32_t>&, const char*> timings[] = {
                {l.oauth.jwks_refresh_seconds, "refresh.ms"},
                {l.oauth.jwks_min_refresh_pause_seconds, "retry.backoff.ms"},
                {l.oauth.jwks_retry_backoff_max_seconds, "retry.backoff.max.ms"}};
            for (const auto& [seconds, key] : timings) {
                if (seconds) {
                    out += std::string("sasl.oauthbearer.jwks.endpoint.") + key + "=" +
                           std::to_string(int64_t(*seconds) * 1000) + "\n";
                }
            }
            if (!l.oauth.tls_trusted_certificates.empty()) {
                // The broker reads the JWKS client's truststore from the listener's JAAS entry,
                // as Kafka does, and looks at the file again as the Secret's volume changes.
                out += prefix +
                       "oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
                       "OAuthBearerLoginModule required ssl.truststore.type=\"PEM\" ssl.truststore.location=\"" +
                       oauth_trusted_certificate_path(l.oauth.tls_trusted_certificates.front()) + "\" ;\n";
            }
            out += "sasl.oauthbearer.sub.claim.name=" + escape(l.oauth.user_name_claim) + "\n";
            if (l.oauth.valid_issuer) {
                out += "sasl.oauthbearer.expected.issuer=" + escape(*l.oauth.valid_issuer) + "\n";
            }
            if (!l.oauth.audience.empty()) {
                std::string aud;
                for (const auto& a : l.oauth.audience) {
                    aud += (aud.empty() ? "" : ",") + a;
                }
                out += "sasl.oauthbearer.expected.audience=" + escape(aud) + "\n";
            }
        }
    }
    if (spec.authorization) {
        out += "authorizer.class.name=" + std::string(standard_authorizer) + "\n";
    }
    // The cluster's own parts (their certificates' principals) pass any authorizer: one set by
    // spec.authorization, or by a plugin's settings.
    if (const std::string su = super_users(ctx); !su.empty()) {
        out += "super.users=" + escape(su) + "\n";
    }
    if (!spec.brokers.config.empty()) {
        out += "# spec.brokers.config\n";
        for (const auto& [k, v] : spec.brokers.config) {
            out += k + "=" + escape(v) + "\n";
        }
    }
    return out;
}

std::string broker_pod_properties(const broker_pod_config& pod) {
    // REPLICATION is advertised at the pod IP: the operator's own client and other brokers
    // reach it wherever pod DNS names don't resolve (the operator running outside the cluster,
    // the test platform).
    std::string adv = "REPLICATION://${env:POD_IP}:" + std::to_string(api::replication_port);
    const int32_t id = broker_id(pod.ordinal);
    for (const auto& e : pod.endpoints) {
        adv += "," + e.kafka_name + "://" + host_for_config(e.host, id) + ":" + std::to_string(e.port);
    }
    std::string out = header;
    out += "node.id=" + std::to_string(id) + "\n";
    out += "advertised.listeners=" + adv + "\n";
    if (pod.rack_from_pod_label) {
        out += std::string("broker.rack=${env:") + rack_env + "}\n";
    } else if (!pod.rack.empty()) {
        out += "broker.rack=" + escape(pod.rack) + "\n";
    }
    // TLS listeners: the pod's own key and certificate chain (C-broker-certs, controller/tls.h).
    for (const auto& e : pod.endpoints) {
        if (!e.tls) {
            continue;
        }
        const std::string prefix = "listener.name." + e.listener + ".ssl.keystore.";
        out += prefix + "type=PEM\n";
        out += prefix + "location=" + std::string(broker_certs_mount) + "/${env:POD_NAME}.pem\n";
    }
    return out;
}

bool rack_key_copied_to_pods(const std::string& topology_key) {
    return topology_key == "topology.kubernetes.io/zone" || topology_key == "topology.kubernetes.io/region";
}

std::string rack_in_pod_properties(const std::string& text) {
    const std::string key = "\nbroker.rack=";
    auto at = ("\n" + text).find(key);
    if (at == std::string::npos) {
        return "";
    }
    auto start = at + key.size() - 1;  // in `text`, which lacks the leading newline
    auto end = text.find('\n', start);
    std::string escaped = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    std::string out;
    for (size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] == '\\' && i + 1 < escaped.size()) {
            ++i;
        }
        out += escaped[i];
    }
    return out;
}

json broker_config_map(const build_context& ctx, int32_t voters, const std::vector<broker_pod_config>& pods) {
    json data = json::object();
    data[broker_shared_file] = str(broker_shared_properties(ctx, voters));
    for (const auto& p : pods) {
        data[pod_file_key(ctx.name(), component::broker, p.ordinal)] = str(broker_pod_properties(p));
    }
    return config_map(ctx, component::broker, std::move(data));
}

std::string coordinator_shared_properties(const build_context& ctx, const std::vector<int32_t>& voter_ids) {
    std::string out = header;
    out += "cluster.id=" + cluster_id(ctx.ns(), ctx.name()) + "\n";
    out += "listeners=CONTROLLER://${env:POD_IP}:" + std::to_string(api::coordinator_port) + "\n";
    if (ctx.internal_tls) {
        out += "listener.security.protocol.map=CONTROLLER:SSL\n";
        out += "controller.listener.names=CONTROLLER\n";
        // Peers are called at the names of controller.quorum.voters, which certificates carry.
        out += internal_tls_properties("controller", coordinator_certs_mount, true, true);
        // The brokers' authorizer, and the same super users: the cluster's own parts (the
        // operator's quorum changes, brokers' registrations and forwarded requests) pass it.
        // Without TLS every caller is User:ANONYMOUS here and no authorizer could tell them apart.
        if (ctx.spec().authorization) {
            out += "authorizer.class.name=" + std::string(standard_authorizer) + "\n";
        }
        out += "super.users=" + escape(super_users(ctx)) + "\n";
    }
    out += "log.dirs=" + std::string(data_mount) + "/metadata\n";
    out += "controller.quorum.voters=" + quorum_voters(ctx, voter_ids) + "\n";
    out += "tributary.http.listener=${env:POD_IP}:" + std::to_string(api::http_port) + "\n";
    // Topics are created by the coordinator: the defaults for topics created without a count
    // or a replication factor are its settings, given with the brokers' config.
    for (const char* k : {"num.partitions", "default.replication.factor"}) {
        if (auto it = ctx.spec().brokers.config.find(k); it != ctx.spec().brokers.config.end()) {
            out += std::string(k) + "=" + escape(it->second) + "\n";
        }
    }
    return out;
}

std::string coordinator_pod_properties(int32_t ordinal) {
    return std::string(header) + "node.id=" + std::to_string(coordinator_id(ordinal)) + "\n";
}

std::string coordinator_shared_properties(const build_context& ctx, int32_t voters) {
    std::vector<int32_t> ids;
    for (int32_t i = 0; i < voters; ++i) {
        ids.push_back(coordinator_id(i));
    }
    return coordinator_shared_properties(ctx, ids);
}

json coordinator_config_map(const build_context& ctx, int32_t pods, const std::vector<int32_t>& voter_ids) {
    json data = json::object();
    data[coordinator_shared_file] = str(voter_ids.empty() ? coordinator_shared_properties(ctx, pods)
                                                          : coordinator_shared_properties(ctx, voter_ids));
    for (int32_t i = 0; i < pods; ++i) {
        data[pod_file_key(ctx.name(), component::coordinator, i)] = str(coordinator_pod_properties(i));
    }
    return config_map(ctx, component::coordinator, std::move(data));
}

} // namespace trib::op::controller
