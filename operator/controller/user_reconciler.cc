#include "operator/controller/user_reconciler.h"

#include "common/log.h"
#include "operator/api/kafka_user.h"
#include "operator/controller/broker_status.h"
#include "operator/controller/tls.h"
#include "operator/k8s/finalizer.h"
#include "operator/k8s/status.h"

namespace trib::op::controller {

namespace res = k8s::resources;

namespace {

// What the pass concluded, for the status.
struct outcome {
    bool ready = false;
    std::string reason, message;
    bool look_again = false;
};

outcome not_ready(std::string reason, std::string message, bool look_again) {
    outcome o;
    o.reason = std::move(reason);
    o.message = std::move(message);
    o.look_again = look_again;
    return o;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        out += (out.empty() ? "" : "; ") + s;
    }
    return out;
}

// The clients CA's key pair, and while it is renewed its previous certificate and rollover
// certificate (controller/tls.h).
std::optional<certs::key_pair> clients_ca(k8s::api& api, const std::string& ns, const std::string& cluster,
                                          user_facts& f) {
    auto s = api.get(res::secrets, ns, clients_ca_secret_name(cluster));
    if (!s) {
        return std::nullopt;
    }
    f.clients_ca_old = secret_value(*s, ca_old_cert_key).value_or("");
    f.clients_ca_rollover = secret_value(*s, ca_rollover_key).value_or("");
    return certs::key_pair{secret_value(*s, "ca.key").value_or(""), secret_value(*s, "ca.crt").value_or("")};
}

} // namespace

user_reconciler::user_reconciler(k8s::api& api, const k8s::reader& cache, k8s::event_recorder& events,
                                 user_reconciler_options opts)
    : _api(api), _cache(cache), _events(events), _opts(opts) {
    if (_opts.clock == nullptr) {
        _opts.clock = &k8s::system_clock();
    }
}

std::vector<std::string> user_reconciler::ready_brokers(const k8s::reader& cache, const std::string& ns,
                                                        const std::string& cluster) {
    std::vector<std::string> out;
    const std::string selector = "app.kubernetes.io/instance=" + cluster + ",app.kubernetes.io/component=broker";
    for (const auto& pod : cache.list(res::pods, ns, selector)) {
        const std::string ip = string_at(pod, {"status", "podIP"});
        if (pod_ready(pod) && !ip.empty() && !field_at(pod, {"metadata", "deletionTimestamp"})) {
            out.push_back(ip + ":" + std::to_string(api::replication_port));
        }
    }
    return out;
}

reconcile_result user_reconciler::reconcile_user(const std::string& ns, const std::string& name) {
    auto object = _api.get(res::kafka_users, ns, name);
    if (!object) {
        return {};  // gone; its Secret goes by garbage collection
    }
    std::vector<std::string> problems;
    const api::kafka_user u = api::parse_kafka_user(*object, problems);
    const std::string key = ns + "/" + name;
    auto cluster = u.cluster.empty() ? std::nullopt : _cache.get(res::kafka_clusters, ns, u.cluster);
    // The calls below reach the cluster's brokers with its TLS, when it has internal TLS.
    kafka::tls_scope tls(_opts.tls != nullptr && !u.cluster.empty() ? _opts.tls->get(ns, u.cluster) : nullptr);
    const bool cluster_going = !cluster || field_at(*cluster, {"metadata", "deletionTimestamp"}) != nullptr;

    if (u.deleting) {
        if (!k8s::has_finalizer(*object, user_cleanup_finalizer)) {
            return {};
        }
        if (!cluster_going) {
            const auto to = ready_brokers(_cache, ns, u.cluster);
            std::string failed;
            if (to.empty()) {
                failed = "no ready broker";
            } else {
                for (const auto& p : {"User:" + u.name, "User:CN=" + u.name}) {
                    security::acl_filter f;
                    f.principal = p;
                    if (auto r = _opts.ops->delete_acls(to, {f}); !r.ok) {
                        failed = "deleting the ACLs of " + p + ": " + r.error;
                    }
                }
                if (auto r = _opts.ops->delete_scram(to, u.name); !r.ok && failed.empty()) {
                    failed = "deleting the SCRAM credential: " + r.error;
                }
            }
            if (!failed.empty()) {
                TLOG_WARN("KafkaUser {}: clean-up waits: {}", key, failed);
                return {_opts.wait_interval};
            }
            TLOG_INFO("KafkaUser {}: ACLs and SCRAM credential deleted", key);
        }
        k8s::remove_finalizer(_api, res::kafka_users, *object, user_cleanup_finalizer);
        return {};
    }

    // What the pass learnt and did, kept whichever step stops it.
    api::kafka_user_status st;
    st.credential_secret_uid = u.credential_secret_uid;
    auto run = [&]() -> outcome {
        for (auto& v : api::validate(u)) {
            problems.push_back(std::move(v));
        }
        if (!problems.empty()) {
            return not_ready("InvalidSpec", joined(problems), false);
        }
        st.username = api::username(u);
        if (!cluster) {
            return not_ready("ClusterNotFound", "KafkaCluster " + u.cluster + " not found in namespace " + ns, false);
        }
        if (cluster_going) {
            return not_ready("ClusterNotFound", "KafkaCluster " + u.cluster + " is being deleted", false);
        }
        const auto to = ready_brokers(_cache, ns, u.cluster);
        if (to.empty()) {
            return not_ready("ClusterNotReady", "KafkaCluster " + u.cluster + " has no ready broker", true);
        }
        // Only now: a user that never reached its cluster has nothing there to clean, and its
        // deletion must not wait for brokers that may never come.
        k8s::add_finalizer(_api, res::kafka_users, *object, user_cleanup_finalizer);
        const bool tls = u.spec.authentication == api::tls_authentication;
        const bool none = u.spec.authentication == api::no_authentication;
        user_facts f{.user = u,
                     .acls = {},
                     .scram_credential = false,
                     .secret = _api.get(res::secrets, ns, u.name),
                     .clients_ca = std::nullopt,
                     .now = _opts.clock->wall_now()};
        if (tls) {
            f.clients_ca = clients_ca(_api, ns, u.cluster, f);
        }
        if (tls && !f.clients_ca) {
            return not_ready("ClientsCaMissing",
                             "the cluster has no clients CA yet (Secret " + clients_ca_secret_name(u.cluster) +
                                 ", made for listeners with tls authentication)",
                             true);
        }
        for (const auto& p : {"User:" + u.name, "User:CN=" + u.name}) {
            auto a = _opts.ops->describe_acls(to, p);
            if (!a.ok) {
                return not_ready("KafkaError", "DescribeAcls: " + a.error, true);
            }
            f.acls.insert(f.acls.end(), a.acls.begin(), a.acls.end());
        }
        auto scram = _opts.ops->describe_scram(to, u.name);
        if (!scram.ok) {
            return not_ready("KafkaError", "DescribeUserScramCredentials: " + scram.error, true);
        }
        f.scram_credential = scram.exists;

        const user_plan plan = decide_user(f);
        if (!plan.problem_reason.empty()) {
            return not_ready(plan.problem_reason, plan.problem_message, plan.problem_reason != "SecretConflict");
        }
        json stored;
        if (!none) {
            stored = _api.apply(res::secrets, plan.secret);
            st.secret = u.name;
        }
        if (!plan.issued.empty()) {
            _events.record(*object, "Normal", "CertificateIssued", "certificate of CN=" + u.name + " (" + plan.issued + ")");
        }
        if (plan.delete_scram) {
            if (auto r = _opts.ops->delete_scram(to, u.name); !r.ok) {
                return not_ready("KafkaError", "AlterUserScramCredentials (delete): " + r.error, true);
            }
        }
        if (tls || none) {
            st.credential_secret_uid.clear();
        } else if (plan.set_scram || secret_uid(stored) != u.credential_secret_uid) {
            if (auto r = _opts.ops->upsert_scram(to, make_scram_upsert(u.name, plan.password)); !r.ok) {
                return not_ready("KafkaError", "AlterUserScramCredentials: " + r.error, true);
            }
            st.credential_secret_uid = secret_uid(stored);
            _events.record(*object, "Normal", "CredentialSet", "SCRAM-SHA-512 credential of " + u.name + " set");
        }
        if (!plan.delete_acls.empty()) {
            if (auto r = _opts.ops->delete_acls(to, plan.delete_acls); !r.ok) {
                return not_ready("KafkaError", "DeleteAcls: " + r.error, true);
            }
        }
        if (!plan.create_acls.empty()) {
            if (auto r = _opts.ops->create_acls(to, plan.create_acls); !r.ok) {
                return not_ready("KafkaError", "CreateAcls: " + r.error, true);
            }
        }
        if (!plan.create_acls.empty() || !plan.delete_acls.empty()) {
            _events.record(*object, "Normal", "AclsUpdated",
                           std::to_string(plan.create_acls.size()) + " created, " +
                               std::to_string(plan.delete_acls.size()) + " deleted");
        }
        outcome o;
        o.ready = true;
        o.reason = "Ready";
        o.message = none ? "user " + api::username(u) + ", ACLs only (it authenticates elsewhere, e.g. OAuth)"
                         : "user " + api::username(u) + ", credentials in Secret " + u.name;
        return o;
    };

    const outcome o = run();
    st.observed_generation = u.generation;
    if (!o.ready) {
        TLOG_DEBUG("KafkaUser {}: not ready: {}: {}", key, o.reason, o.message);
    }
    const auto now = _opts.clock->wall_now();
    k8s::update_status(_api, res::kafka_users, ns, name, [&](json& current) {
        json old = current.has_object_field("status") ? current.at("status") : json::object();
        json status = api::to_json(st);
        if (old.has_array_field("conditions")) {
            status["conditions"] = old.at("conditions");
        }
        k8s::set_condition(status, "Ready", o.ready ? "True" : "False", o.reason, o.message, u.generation, now);
        current["status"] = status;
    });
    if (o.look_again) {
        return {_opts.wait_interval};
    }
    return {};
}

} // namespace trib::op::controller
