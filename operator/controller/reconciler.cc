#include "operator/controller/reconciler.h"

#include "common/log.h"
#include "operator/api/kafka_cluster.h"
#include "operator/api/kafka_user.h"
#include "operator/controller/balancing.h"
#include "operator/controller/broker_status.h"
#include "operator/controller/cert_manager.h"
#include "operator/controller/config_maps.h"
#include "operator/controller/listeners.h"
#include "operator/controller/quorum.h"
#include "operator/controller/roller.h"
#include "operator/controller/scaler.h"
#include "operator/controller/tls.h"
#include "operator/controller/workloads.h"
#include "operator/k8s/finalizer.h"
#include "operator/k8s/status.h"
#include "operator/kafka/security.h"

#include <cpprest/asyncrt_utils.h>

#include <algorithm>
#include <map>
#include <set>

namespace trib::op::controller {

namespace res = k8s::resources;

struct reconciler::pass {
    json object;  // the KafkaCluster as read
    api::kafka_cluster cluster;
    std::vector<std::string> parse_errors;
    std::optional<build_context> ctx;
    json old_status = json::object();  // as stored before this pass
    api::kafka_cluster_status status;
    bool observed = false;  // the observe step ran: status has brokers and listeners
    std::string bootstrap;  // observe: ready brokers' REPLICATION addresses
    bool brokers_running = false;  // observe: every broker Running
    std::optional<bool> balanced;  // the balance step decided the Balanced condition
    std::string balanced_reason, balanced_message;
    bool look_again = false;  // something goes on that is not a wait (a rebalance)

    bool invalid = false;
    std::string invalid_message;
    std::string degraded_reason, degraded_message;  // not invalid, but not what was asked
    std::string waiting_reason, waiting_message;    // Reconciling=True
    std::string blocked_reason, blocked_message;    // ScalingBlocked=True
    std::string failure;                            // an API error stopped the pass

    int32_t voters = 1;          // coordinator pods (the StatefulSet's replicas)
    std::vector<int32_t> voter_ids{coordinator_id(0)};  // the voter set last read (controller.quorum.voters)
    std::optional<bool> quorum_ready;                     // the quorum step read the cluster
    std::string quorum_reason, quorum_message;
    int32_t brokers_current = 0;  // the broker StatefulSet's replicas before this pass
    int32_t brokers_target = 0;   // what this pass sets it to
    std::map<int32_t, broker_endpoints> endpoints;  // by ordinal
    std::map<int32_t, std::string> racks;           // by ordinal, known ones
    std::string certificates;  // TLS listeners: the brokers' certificate serials (tls.h)
    std::string coordinator_certificates;  // internal TLS: the coordinators' (tls.h)
    // Internal TLS: the operator's TLS towards this cluster for the pass's calls
    // (kafka/security.h); from the registry at the start, replaced once the certificates are read.
    std::optional<kafka::tls_scope> tls;
    // The InternalTLS condition: mutual TLS on REPLICATION and CONTROLLER, or why not.
    std::optional<bool> internal_tls;
    std::string internal_tls_reason, internal_tls_message;
    std::string coordinator_hash, broker_hash;
    std::string coordinator_restart_config, broker_restart_config;  // on the pod templates (roller.h)

    void wait(const std::string& reason, const std::string& message) {
        if (waiting_reason.empty()) {
            waiting_reason = reason;
            waiting_message = message;
        }
    }
};

namespace {

using pass = reconciler::pass;

struct env {
    k8s::api& api;
    const k8s::reader& cache;
    k8s::event_recorder& events;
    cluster_probe* probe;
    const reconciler_options& opts;
};

// A condition's (type, status) as stored before this pass, to record events on changes only.
bool had_condition(const pass& p, const std::string& type, const std::string& reason, const std::string& message) {
    auto c = k8s::find_condition(p.old_status, type);
    return c && string_at(*c, {"status"}) == "True" && string_at(*c, {"reason"}) == reason &&
           (message.empty() || string_at(*c, {"message"}) == message);
}

const std::string& name_of(const json& o) { return o.at("metadata").at("name").as_string(); }

// Applies `desired`; returns the object the cache had before (nullopt: this created it).
std::optional<json> apply(env& e, const k8s::resource& r, const json& desired) {
    auto before = e.cache.get(r, desired.at("metadata").at("namespace").as_string(), name_of(desired));
    e.api.apply(r, desired);
    return before;
}

// A ConfigMap, with an event when its data changed (the roll step restarts the pods for the
// keys that need it, controller/roller.h).
void apply_config(env& e, pass& p, const json& desired) {
    auto before = apply(e, res::config_maps, desired);
    if (before && before->has_field("data") && before->at("data") != desired.at("data")) {
        std::string keys;
        const json& old = before->at("data");
        for (const auto& [k, v] : desired.at("data").as_object()) {
            if (!old.has_field(k) || old.at(k) != v) {
                keys += (keys.empty() ? "" : ", ") + k;
            }
        }
        e.events.record(p.object, "Normal", "ConfigChanged",
                        "ConfigMap " + name_of(desired) + " changed (" + keys +
                            "); keys that need a restart roll the pods one at a time, dynamic ones are applied "
                            "without");
        TLOG_INFO("{}/{}: ConfigMap {} changed", p.cluster.ns, p.cluster.name, name_of(desired));
    }
}

// A StatefulSet's volumeClaimTemplates can't change once it exists (the API server refuses
// the whole update). A changed storage size or class keeps the existing template and says so
// in Degraded, so everything else still reconciles.
void keep_claim_template(env& e, pass& p, json& desired) {
    auto existing = e.cache.get(res::stateful_sets, p.cluster.ns, name_of(desired));
    const json* have = existing ? field_at(*existing, {"spec", "volumeClaimTemplates"}) : nullptr;
    if (have == nullptr || !have->is_array() || have->size() == 0) {
        return;
    }
    const json& want = desired.at("spec").at("volumeClaimTemplates").at(0);
    const json& old = have->at(0);
    auto size = [](const json& t) { return string_at(t, {"spec", "resources", "requests", "storage"}); };
    auto cls = [](const json& t) { return string_at(t, {"spec", "storageClassName"}); };
    if (size(want) == size(old) && (cls(want).empty() || cls(want) == cls(old))) {
        return;
    }
    json kept = old;
    if (kept.has_field("status")) {
        kept.erase("status");
    }
    desired["spec"]["volumeClaimTemplates"] = arr({kept});
    if (p.degraded_reason.empty()) {
        p.degraded_reason = "StorageChangeNotSupported";
        p.degraded_message = "StatefulSet " + name_of(desired) + " keeps its claims of " + size(old) +
                             (cls(old).empty() ? "" : " (" + cls(old) + ")") +
                             ": the storage of existing claims can't be changed through the StatefulSet; resize "
                             "the PersistentVolumeClaims themselves";
    }
}

void apply_stateful_set(env& e, pass& p, json desired) {
    keep_claim_template(e, p, desired);
    if (!apply(e, res::stateful_sets, desired)) {
        e.events.record(p.object, "Normal", "Created",
                        "Created StatefulSet " + name_of(desired) + " with " +
                            std::to_string(desired.at("spec").at("replicas").as_integer()) + " pods");
        TLOG_INFO("{}/{}: created StatefulSet {}", p.cluster.ns, p.cluster.name, name_of(desired));
    }
}

// Names built from the cluster's must stay valid: a StatefulSet's pods get a label
// "<statefulset>-<10 character hash>" (at most 63), Services are DNS labels (at most 63).
std::vector<std::string> name_lengths(const api::kafka_cluster& c) {
    std::vector<std::string> out;
    const size_t longest_sts = stateful_set_name(c.name, component::coordinator).size();
    if (longest_sts > 52) {
        out.push_back("metadata.name '" + c.name + "' is too long: at most 40 characters, as " +
                      std::to_string(longest_sts) + "-character StatefulSet names can't label their pods");
    }
    const int32_t n = std::max(c.spec.brokers.replicas, 1);
    for (const auto& l : c.spec.listeners) {
        const std::string svc = per_broker_service_name(c.name, broker_id(n - 1), l.name);
        if (l.type != api::listener_type::internal && svc.size() > 63) {
            out.push_back("Service name " + svc + " would be longer than 63 characters: shorten the cluster's or "
                          "listener " + l.name + "'s name");
        }
    }
    return out;
}

// Whether the cluster ran PLAINTEXT inside when the last pass recorded its InternalTLS
// condition, and still runs: a StatefulSet of its is there (from the API server).
bool recorded_plaintext(env& e, const pass& p) {
    auto c = k8s::find_condition(p.old_status, "InternalTLS");
    if (!c || string_at(*c, {"status"}) != "False") {
        return false;
    }
    for (component k : {component::coordinator, component::broker}) {
        if (e.api.get(res::stateful_sets, p.ctx->ns(), stateful_set_name(p.ctx->name(), k))) {
            return true;
        }
    }
    return false;
}

// Mutual TLS on REPLICATION and CONTROLLER (controller/tls.h) for a cluster this operator
// makes. One that already runs with them PLAINTEXT (its coordinators' file has no SSL
// CONTROLLER listener) keeps them: a broker on SSL can't reach a coordinator on PLAINTEXT, so
// moving over needs a second listener during the roll, which is not built. Should that file be
// gone (deleted by hand), the condition the last pass recorded says it, while the cluster runs.
// With cert-manager every certificate comes from its issuer (cert_manager.h). The condition
// InternalTLS says which.
void decide_internal_tls(env& e, pass& p) {
    auto& ctx = *p.ctx;
    if (!e.opts.settings.internal_tls) {
        ctx.internal_tls = false;
        p.internal_tls = false;
        p.internal_tls_reason = "Disabled";
        p.internal_tls_message = "the operator's setting internal.tls.enabled is false: REPLICATION and CONTROLLER "
                                 "are PLAINTEXT";
    } else {
        // From the API server: a cache not yet synced must not take a running cluster for a new one.
        auto cm = e.api.get(res::config_maps, ctx.ns(), config_map_name(ctx.name(), component::coordinator));
        const std::string file = cm ? string_at(*cm, {"data", coordinator_shared_file}) : "";
        auto bcm = e.api.get(res::config_maps, ctx.ns(), config_map_name(ctx.name(), component::broker));
        const std::string brokers = bcm ? string_at(*bcm, {"data", broker_shared_file}) : "";
        const bool coordinators_tls = cm ? file.find("\nlistener.security.protocol.map=CONTROLLER:SSL\n") != std::string::npos
                                         : !recorded_plaintext(e, p);
        ctx.internal_tls =
            coordinators_tls && brokers.find("\nlistener.security.protocol.map=REPLICATION:PLAINTEXT") == std::string::npos;
        p.internal_tls = ctx.internal_tls;
        p.internal_tls_reason = ctx.internal_tls ? "MutualTLS" : "PlaintextCluster";
        p.internal_tls_message =
            ctx.internal_tls
                ? (ctx.spec().certificate_authority.cert_manager
                       ? "REPLICATION and CONTROLLER use mutual TLS with certificates from cert-manager's issuer"
                       : "REPLICATION and CONTROLLER use mutual TLS with certificates from the cluster CA")
                : "the cluster was made with PLAINTEXT REPLICATION and CONTROLLER listeners and keeps them: moving a "
                  "running cluster to TLS needs a second listener during the roll, which is not built";
    }
    if (e.opts.tls != nullptr) {
        if (!ctx.internal_tls) {
            e.opts.tls->forget(ctx.ns(), ctx.name());  // the user reconciler and the poller go plaintext too
        }
        p.tls.emplace(e.opts.tls->get(ctx.ns(), ctx.name()));
    }
}

// --- steps: each returns false to stop the pass ---

bool validate_spec(env& e, pass& p) {
    auto errors = p.parse_errors;
    auto more = api::validate(p.cluster.spec);
    errors.insert(errors.end(), more.begin(), more.end());
    more = name_lengths(p.cluster);
    errors.insert(errors.end(), more.begin(), more.end());
    if (!errors.empty()) {
        p.invalid = true;
        for (const auto& m : errors) {
            p.invalid_message += (p.invalid_message.empty() ? "" : "; ") + m;
        }
        if (!had_condition(p, "Degraded", "InvalidSpec", p.invalid_message)) {
            e.events.record(p.object, "Warning", "InvalidSpec", p.invalid_message);
        }
        return false;
    }
    p.ctx.emplace(build_context{p.cluster, e.opts.settings});
    p.voters = 1;
    decide_internal_tls(e, p);
    return true;
}

// With deleteClaim the claims go with the cluster: the finalizer holds the KafkaCluster
// until clean_up has deleted them. k8s/finalizer.h's guarded patches never drop another
// controller's entry; a stale read fails the patch and the key is retried.
bool ensure_finalizer(env& e, pass& p) {
    const auto& spec = p.cluster.spec;
    const bool want = spec.brokers.storage.delete_claim || spec.coordinators.storage.delete_claim;
    if (want) {
        k8s::add_finalizer(e.api, res::kafka_clusters, p.object, cleanup_finalizer);
    } else {
        k8s::remove_finalizer(e.api, res::kafka_clusters, p.object, cleanup_finalizer);
    }
    return true;
}

// controller/quorum.h: at most one voter change, the StatefulSet's size, the voter set.
bool coordinator_quorum(env& e, pass& p) {
    int32_t current = 0;
    const auto sts_name = stateful_set_name(p.ctx->name(), component::coordinator);
    if (auto sts = e.api.get(res::stateful_sets, p.ctx->ns(), sts_name)) {
        current = int32_t(int_at(*sts, {"spec", "replicas"}));
    }
    auto o = manage_quorum({*p.ctx, e.cache, e.events, e.opts.quorum, p.object, p.old_status, current});
    p.voters = o.replicas;
    p.voter_ids = o.voters;
    p.status.quorum = o.status;
    if (o.status) {
        p.quorum_ready = o.ready;
        p.quorum_reason = o.ready ? "QuorumReady" : o.reason;
        p.quorum_message = o.ready ? "voters: the coordinators of spec.coordinators.replicas" : o.message;
        if (!o.ready) {
            p.wait(o.reason, o.message);
        }
    }
    return true;
}

bool coordinator_config(env& e, pass& p) {
    json cm = coordinator_config_map(*p.ctx, p.voters, p.voter_ids);
    // The voters line follows the voter set without restarting anyone (config_maps.h).
    p.coordinator_hash = data_hash(data_for_hash(*p.ctx, cm.at("data"), coordinator_shared_file));
    p.coordinator_restart_config = with_seed_quorum_voters(*p.ctx, string_at(cm, {"data", coordinator_shared_file}));
    apply_config(e, p, cm);
    return true;
}

bool coordinator_services(env& e, pass& p) {
    apply(e, res::services, headless_service(*p.ctx, component::coordinator));
    return true;
}

bool coordinator_stateful_set_step(env& e, pass& p) {
    apply_stateful_set(e, p, coordinator_stateful_set(*p.ctx, p.voters, p.coordinator_hash, p.coordinator_restart_config,
                                                      p.coordinator_certificates));
    return true;
}

bool broker_services(env& e, pass& p) {
    const auto& ctx = *p.ctx;
    // From the API server, not the cache: a cache a step behind our own last scale-up would
    // make the scale-down check compare against a smaller count and let a scale-down through.
    if (auto sts = e.api.get(res::stateful_sets, ctx.ns(), stateful_set_name(ctx.name(), component::broker))) {
        p.brokers_current = int32_t(int_at(*sts, {"spec", "replicas"}));
    }
    apply(e, res::services, headless_service(ctx, component::broker));
    if (auto boot = bootstrap_service(ctx)) {
        apply(e, res::services, *boot);
    } else if (e.cache.get(res::services, ctx.ns(), bootstrap_service_name(ctx.name()))) {
        e.api.remove(res::services, ctx.ns(), bootstrap_service_name(ctx.name()));
    }
    // Per-broker Services for every broker that runs or is about to, before its pod exists:
    // their node ports and ingress addresses go into its config.
    const int32_t n = std::max(ctx.spec().brokers.replicas, p.brokers_current);
    std::set<std::string> wanted;
    for (int32_t id = 0; id < n; ++id) {
        // No nodePort is sent: the API server allocates one and server-side apply keeps it
        // (ports merge by port number, and no manager owns the allocated value).
        for (const auto& svc : per_broker_services(ctx, id)) {
            wanted.insert(name_of(svc));
            apply(e, res::services, svc);
        }
    }
    // Listeners removed or made internal leave Services behind: delete them.
    for (const auto& svc :
         e.cache.list(res::services, ctx.ns(), "app.kubernetes.io/instance=" + ctx.name() + "," + listener_label)) {
        if (!wanted.count(name_of(svc))) {
            e.api.remove(res::services, ctx.ns(), name_of(svc));
        }
    }
    return true;
}

std::string node_label(env& e, const std::string& ns, const std::string& pod, const std::string& key) {
    auto p = e.cache.get(res::pods, ns, pod);
    const std::string node = p ? string_at(*p, {"spec", "nodeName"}) : "";
    if (node.empty()) {
        return "";
    }
    auto n = e.cache.get(res::nodes, "", node);
    const json* labels = n ? field_at(*n, {"metadata", "labels"}) : nullptr;
    return labels != nullptr ? string_at(*labels, {key.c_str()}) : "";
}

// Scale-down with drain (controller/scaler.h): what the cluster is asked, and the replicas.
void scale(env& e, pass& p, int32_t addressed) {
    const auto& ctx = *p.ctx;
    scale_input in;
    in.want = ctx.spec().brokers.replicas;
    in.current = p.brokers_current;
    in.addressed = addressed;
    in.keep_drained = {ctx.spec().brokers.drained_ids.begin(), ctx.spec().brokers.drained_ids.end()};
    in.rack_aware = ctx.spec().brokers.rack_topology_key.has_value();
    in.racks = p.racks;
    in.previous_drains = api::parse_drains(p.old_status);
    in.has_pod = [&](int32_t ord) {
        return e.cache.get(res::pods, ctx.ns(), pod_name(ctx.name(), component::broker, ord)).has_value();
    };
    // Ready brokers' REPLICATION addresses, those that stay first: any broker forwards to the
    // active controller.
    std::string stay, leave;
    for (int32_t ord = 0; ord < in.current; ++ord) {
        auto pod = e.cache.get(res::pods, ctx.ns(), pod_name(ctx.name(), component::broker, ord));
        if (pod && pod_ready(*pod)) {
            std::string& to = ord < in.want && !in.keep_drained.count(ord) ? stay : leave;
            to += (to.empty() ? "" : ",") + string_at(*pod, {"status", "podIP"}) + ":" +
                  std::to_string(api::replication_port);
        }
    }
    auto out = scale_brokers(in, e.opts.drains, stay.empty() || leave.empty() ? stay + leave : stay + "," + leave);
    p.brokers_target = out.target;
    p.blocked_reason = out.blocked_reason;
    p.blocked_message = out.blocked_message;
    if (!out.waiting_reason.empty()) {
        p.wait(out.waiting_reason, out.waiting_message);
    }
    p.status.drains = std::move(out.drains);
    for (const auto& ev : out.events) {
        e.events.record(p.object, ev.type, ev.reason, ev.message);
    }
}

// Decides how many brokers run: scale up to the spec as far as addresses are known; down
// once the brokers that go are drained (scale()).
bool broker_addresses(env& e, pass& p) {
    const auto& ctx = *p.ctx;
    const int32_t want = ctx.spec().brokers.replicas;
    const int32_t current = p.brokers_current;
    auto lookup = [&](const std::string& name) { return e.cache.get(res::services, ctx.ns(), name); };
    auto config = e.cache.get(res::config_maps, ctx.ns(), config_map_name(ctx.name(), component::broker));
    const int32_t n = std::max(want, current);
    int32_t addressed = n;
    for (int32_t ord = 0; ord < n; ++ord) {
        auto eps = resolve_endpoints(ctx, broker_id(ord), lookup);
        if (!eps.waiting_for.empty() && addressed == n) {
            addressed = ord;
            p.wait("WaitingForAddresses", "broker " + std::to_string(broker_id(ord)) + " waits for " + eps.waiting_for);
        }
        if (ctx.spec().brokers.rack_topology_key) {
            auto rack = node_label(e, ctx.ns(), pod_name(ctx.name(), component::broker, ord),
                                   *ctx.spec().brokers.rack_topology_key);
            if (rack.empty() && config) {
                // Not scheduled right now (deleted, restarting): keep the rack it had, not a
                // config change for every pod restart.
                const std::string key = pod_file_key(ctx.name(), component::broker, ord);
                rack = rack_in_pod_properties(string_at(*config, {"data", key.c_str()}));
            }
            if (!rack.empty()) {
                p.racks[ord] = rack;
            }
        }
        p.endpoints[ord] = std::move(eps);
    }
    scale(e, p, addressed);
    return true;
}

std::optional<std::string> secret_value(const json& secret, const std::string& key) {
    const json* data = field_at(secret, {"data"});
    if (data == nullptr || !data->has_string_field(key)) {
        return std::nullopt;
    }
    try {
        auto bytes = utility::conversions::from_base64(data->at(key).as_string());
        return std::string(bytes.begin(), bytes.end());
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

json secret(const build_context& ctx, const std::string& name, const std::map<std::string, std::string>& data) {
    json d = json::object();
    for (const auto& [k, v] : data) {
        d[k] = str(utility::conversions::to_base64(std::vector<unsigned char>(v.begin(), v.end())));
    }
    return obj({{"apiVersion", str("v1")},
                {"kind", str("Secret")},
                {"metadata", object_meta(ctx, component::broker, name)},
                {"type", str("Opaque")},
                {"data", d}});
}

// A CA Secret's key pair and the rest of what it holds (controller/tls.h).
std::optional<certs::key_pair> read_ca(env& e, const std::string& ns, const std::string& name, ca_held& more) {
    auto ca = e.api.get(res::secrets, ns, name);
    if (!ca) {
        return std::nullopt;
    }
    more.old_cert = secret_value(*ca, ca_old_cert_key).value_or("");
    more.rollover = secret_value(*ca, ca_rollover_key).value_or("");
    const json* ann = field_at(*ca, {"metadata", "annotations", force_renew_annotation});
    more.force_renew = ann != nullptr && ann->is_string() && ann->as_string() == "true";
    return certs::key_pair{secret_value(*ca, "ca.key").value_or(""), secret_value(*ca, "ca.crt").value_or("")};
}

// Writes a CA's Secrets as decided, with Events, and its status.
void keep_ca(env& e, pass& p, const char* what, const std::string& ca_name, const std::string& cert_name,
             const certs::key_pair& ca, bool created, certs::time_point not_after, const ca_renewal& r,
             std::optional<api::ca_status>& status) {
    const auto& ctx = *p.ctx;
    if (created || !r.started.empty() || r.finished) {
        e.api.apply(res::secrets, secret(ctx, ca_name, ca_secret_data(ca, r)));
    }
    if (r.finished) {
        // Server-side apply drops keys this manager applied before and omits now; said
        // outright, so keys written by another hand (a restore) go too.
        json gone = obj({{ca_old_cert_key, json::null()}, {ca_rollover_key, json::null()}});
        e.api.patch(res::secrets, ctx.ns(), ca_name, obj({{"data", gone}}), k8s::patch_type::merge);
    }
    e.api.apply(res::secrets, secret(ctx, cert_name, {{"ca.crt", ca_bundle(ca, r)}}));
    if (r.clear_force_renew) {
        json patch = obj({{"metadata", obj({{"annotations", obj({{force_renew_annotation, json::null()}})}})}});
        e.api.patch(res::secrets, ctx.ns(), ca_name, patch, k8s::patch_type::merge);
        if (r.started.empty()) {
            e.events.record(p.object, "Normal", "CertificateAuthorityRenewing",
                            std::string("the ") + what + " is being renewed already; annotation " +
                                force_renew_annotation + " of Secret " + ca_name + " removed");
        }
    }
    if (!r.started.empty()) {
        const std::string message = std::string("renewing the ") + what + " (" + r.started + "): a new CA in Secret " +
                                    ca_name + "; ca.crt of Secret " + cert_name +
                                    " holds the new and the previous CA until every certificate is under the new one";
        e.events.record(p.object, "Normal", "CertificateAuthorityRenewing", message);
        TLOG_INFO("{}/{}: {}", ctx.ns(), ctx.name(), message);
    }
    if (r.finished) {
        const std::string message = std::string("the ") + what +
                                    " is renewed: every certificate is under the new CA, and ca.crt of Secret " +
                                    cert_name + " holds it alone";
        e.events.record(p.object, "Normal", "CertificateAuthorityRenewed", message);
        TLOG_INFO("{}/{}: {}", ctx.ns(), ctx.name(), message);
    }
    if (r.renewing()) {
        p.look_again = true;  // the renewal ends on a later pass: after the roll, or the users' passes
    }
    status = api::ca_status{r.phase(), k8s::rfc3339(not_after), r.renewing() ? k8s::rfc3339(r.old_not_after) : ""};
}

// TLS listeners (controller/tls.h): the cluster CA and a certificate per broker, in Secrets
// read from the API server (the manager watches the Secrets for their metadata alone, to queue
// a pass on a change; their data is read here).
// The pass can't go on until someone acts: Degraded and Reconciling with `reason`, and a
// Warning Event when the condition is new.
void degraded_and_waiting(env& e, pass& p, const std::string& reason, const std::string& message) {
    if (!had_condition(p, "Degraded", reason, message)) {
        e.events.record(p.object, "Warning", reason, message);
    }
    p.degraded_reason = reason;
    p.degraded_message = message;
    p.wait(reason, message);
}

// spec.certificateAuthority.certManager (cert_manager.h): a Certificate per keystore the plan
// would otherwise issue (the brokers' wanted now, and with internal TLS the coordinators' and the
// operator's); each keystore from cert-manager's Secret once that holds what was asked, the one
// held until then; ca.crt of C-cluster-ca-cert the CAs those keystores are under, which is what
// the internal listeners and the operator trust. nullopt (the pass waits) while cert-manager is
// not installed or a keystore is not there at all yet; else that bundle. The pass's first look
// (`complete` false) reads no broker's Secret: it may add CAs to ca.crt, never take one out, or a
// CA only a broker's new certificate is under would leave ca.crt until the second look put it
// back, and a pod started in between would not trust it while its template says it does.
std::optional<std::string> cert_manager_certificates(env& e, pass& p, const certificate_facts& f,
                                                     certificate_plan& plan, bool complete) {
    const auto& ctx = *p.ctx;
    const auto& issuer = *ctx.spec().certificate_authority.cert_manager;
    // What cert-manager gives for each of `wanted`; false: it serves no Certificates.
    auto read = [&](component c, const std::map<std::string, certs::leaf_request>& wanted,
                    std::map<std::string, cert_manager_issued>& got) {
        for (const auto& [name, want] : wanted) {
            json stored;
            try {
                stored = e.api.apply(res::certificates, cert_manager_certificate(ctx, c, name, want, issuer));
            } catch (const k8s::api_error& err) {
                if (!err.not_found()) {
                    throw;
                }
                return false;
            }
            auto secret = e.api.get(res::secrets, ctx.ns(), cert_manager_secret_name(name));
            got[name] = read_cert_manager_secret(&stored, secret ? &*secret : nullptr, want, f.now);
        }
        return true;
    };
    std::map<std::string, cert_manager_issued> brokers, coordinators, operator_own;
    // The operator's Certificate and Secret carry the labels the cluster's Secrets have.
    if (!read(component::coordinator, f.wanted_coordinators, coordinators) ||
        !read(component::broker, f.wanted_operator, operator_own) || !read(component::broker, f.wanted, brokers)) {
        const std::string message =
            "spec.certificateAuthority.certManager: the API server serves no Certificates of cert-manager.io/v1; "
            "install cert-manager, or remove certManager to have the operator make the cluster CA";
        degraded_and_waiting(e, p, "CertManagerNotInstalled", message);
        return std::nullopt;
    }
    // Internal TLS: the pods that run, with the certificates and CAs they run with (their
    // certificates_annotation: serials, then trust_annotation).
    std::map<component, std::map<std::string, std::string>> running;
    if (ctx.internal_tls) {
        for (component kind : {component::broker, component::coordinator}) {
            for (const auto& pod : e.cache.list(res::pods, ctx.ns(), selector_string(ctx, kind))) {
                running[kind][name_of(pod)] = string_at(pod, {"metadata", "annotations", certificates_annotation});
            }
        }
    }
    auto trusted = [&](const std::string& ca) {
        return !ctx.internal_tls ||
               (trusted_by_all(ca, running[component::broker]) && trusted_by_all(ca, running[component::coordinator]));
    };
    const auto b = take_cert_manager_keystores(brokers, f.brokers, trusted);
    const auto c = take_cert_manager_keystores(coordinators, f.coordinators, trusted);
    const auto o = take_cert_manager_keystores(operator_own, f.operator_held, trusted);
    plan.broker_serials = broker_serials(f.broker_template, f.brokers, b.keystores, f.broker_pods);
    const std::string coordinator_serials = certificate_serials(c.keystores);
    // A pod still running certificates other than those held (its roll not done) may run one
    // under a CA no keystore held is under any more: every CA ca.crt has stays until it restarts.
    auto runs = [](const std::map<std::string, std::string>& pods, const std::string& serials) {
        return std::all_of(pods.begin(), pods.end(), [&](const auto& pod) {
            return pod.second.substr(0, pod.second.find(";trust=")) == serials;
        });
    };
    const bool rolled = runs(running[component::broker], plan.broker_serials) &&
                        runs(running[component::coordinator], coordinator_serials);
    plan.brokers = b.keystores;
    plan.coordinators = c.keystores;
    plan.operator_keystores = o.keystores;
    std::vector<std::string> cas, taken, waiting;
    for (const auto* k : {&b, &c, &o}) {
        cas.insert(cas.end(), k->cas.begin(), k->cas.end());
        taken.insert(taken.end(), k->taken.begin(), k->taken.end());
        waiting.insert(waiting.end(), k->waiting.begin(), k->waiting.end());
    }
    // Every keystore in service: a previous CA stays while one is under it. Those of brokers
    // scaled away are held but serve no one (serving_keystores).
    std::map<std::string, std::string> all = serving_keystores(b.keystores, f.broker_pods, f.wanted);
    all.insert(c.keystores.begin(), c.keystores.end());
    all.insert(o.keystores.begin(), o.keystores.end());
    std::string previous;
    if (auto s = e.api.get(res::secrets, ctx.ns(), cluster_ca_cert_secret_name(ctx.name()))) {
        previous = secret_value(*s, "ca.crt").value_or("");
    }
    if (!rolled || !complete) {
        cas.push_back(previous);
    }
    const std::string bundle = cert_manager_bundle(cas, previous, all, f.now);
    if (bundle != previous) {
        e.api.apply(res::secrets, secret(ctx, cluster_ca_cert_secret_name(ctx.name()), {{"ca.crt", bundle}}));
    }
    auto joined = [](const std::vector<std::string>& v, const char* sep) {
        std::string out;
        for (const auto& s : v) {
            out += (out.empty() ? "" : sep) + s;
        }
        return out;
    };
    if (!taken.empty()) {
        const std::string who = joined(taken, ", ");
        e.events.record(p.object, "Normal", "CertificatesIssued", "keystores taken from cert-manager's Secrets: " + who);
        TLOG_INFO("{}/{}: keystores taken from cert-manager's Secrets: {}", ctx.ns(), ctx.name(), who);
    }
    if (!waiting.empty()) {
        const std::string why = joined(waiting, "; ");
        if (b.missing || c.missing || o.missing) {
            // What is there is kept: the next pass starts from it.
            if (b.keystores != f.brokers) {
                e.api.apply(res::secrets, secret(ctx, broker_certs_secret_name(ctx.name()), b.keystores));
            }
            if (c.keystores != f.coordinators) {
                e.api.apply(res::secrets, secret(ctx, coordinator_certs_secret_name(ctx.name()), c.keystores));
            }
            p.wait("CertificatesPending", "waiting for cert-manager: " + why);
            return std::nullopt;
        }
        p.look_again = true;  // the pods serve with what they hold; the new ones come later
        TLOG_INFO("{}/{}: waiting for cert-manager: {}", ctx.ns(), ctx.name(), why);
    }
    return bundle;
}

constexpr int32_t max_coordinators = 5;  // api::validate: spec.coordinators.replicas is 1, 3 or 5

// A Secret's data, decoded; empty when there is none.
std::map<std::string, std::string> secret_data(env& e, const std::string& ns, const std::string& name) {
    std::map<std::string, std::string> out;
    if (auto held = e.api.get(res::secrets, ns, name)) {
        if (const json* data = field_at(*held, {"data"}); data != nullptr && data->is_object()) {
            for (const auto& [key, _] : data->as_object()) {
                if (auto text = secret_value(*held, key)) {
                    out[key] = *text;
                }
            }
        }
    }
    return out;
}

// The certificates of controller/tls.h, decided from the Secrets as the API server has them.
// It runs twice in a pass with internal TLS: before the coordinators (`brokers` false: the CA,
// the coordinators' and the operator's certificates, so the coordinators start with theirs and
// the quorum step reaches them with the operator's), and after the brokers' addresses are
// known (everything, the brokers' too). Both read what the other wrote, so the second finds the
// first's work done (a CA made once, a renewal started once).
bool certificates_of(env& e, pass& p, bool brokers) {
    const auto& ctx = *p.ctx;
    const bool internal = ctx.internal_tls;
    if (!any_tls_listener(ctx.spec()) && !internal) {
        if (e.opts.tls != nullptr) {
            e.opts.tls->forget(ctx.ns(), ctx.name());
        }
        return true;
    }
    certificate_facts f;
    f.now = e.opts.clock->wall_now();
    f.settings = ca_settings_of(ctx.spec());
    const std::string ca_name = cluster_ca_secret_name(ctx.name());
    f.by_cert_manager = ctx.spec().certificate_authority.cert_manager.has_value();
    if (!f.by_cert_manager) {
        f.ca = read_ca(e, ctx.ns(), ca_name, f.ca_more);
    }
    f.brokers = secret_data(e, ctx.ns(), broker_certs_secret_name(ctx.name()));
    if (internal) {
        f.coordinators = secret_data(e, ctx.ns(), coordinator_certs_secret_name(ctx.name()));
        f.operator_held = secret_data(e, ctx.ns(), operator_certs_secret_name(ctx.name()));
        f.wanted_operator[operator_common_name(ctx.name())] = operator_cert_request(ctx.name());
        // Every coordinator there may ever be (spec.coordinators.replicas is at most 5, and the
        // StatefulSet at most the spec or the voters), issued at once: the serials on the pod
        // template then stay as they are when the quorum grows or shrinks, which restarts no one.
        std::map<std::string, std::string> running;
        for (int32_t ord = 0; ord < max_coordinators; ++ord) {
            const std::string name = pod_name(ctx.name(), component::coordinator, ord);
            f.wanted_coordinators[name] = coordinator_cert_names(ctx, ord);
            if (auto pod = e.cache.get(res::pods, ctx.ns(), name)) {
                running[name] = string_at(*pod, {"metadata", "annotations", certificates_annotation});
            }
        }
        f.running_coordinators = std::move(running);
    }
    f.want_clients_ca = any_tls_authentication(ctx.spec());
    const std::string clients_ca_name = clients_ca_secret_name(ctx.name());
    if (f.want_clients_ca) {
        f.clients_ca = read_ca(e, ctx.ns(), clients_ca_name, f.clients_ca_more);
        if (!f.clients_ca_more.old_cert.empty()) {
            // Renewing: the certificates of the cluster's tls KafkaUsers (in their Secrets,
            // controller/users.h; read one by one: the operator's cache of Secrets holds no data;
            // KafkaUsers from the API server: their cache is the user reconciler's, not this one).
            // A user whose Secret holds no certificate yet gets one from the new CA.
            std::vector<std::string> crts;
            for (const auto& u : e.api.list(res::kafka_users, ctx.ns(), std::string(api::cluster_label) + "=" + ctx.name())) {
                if (string_at(u, {"spec", "authentication", "type"}) != api::tls_authentication) {
                    continue;
                }
                auto s = e.api.get(res::secrets, ctx.ns(), string_at(u, {"metadata", "name"}));
                if (auto crt = s ? secret_value(*s, "user.crt") : std::nullopt) {
                    crts.push_back(*crt);
                }
            }
            f.user_certs = std::move(crts);
        }
    }
    for (const auto& [ord, eps] : p.endpoints) {
        if (brokers && eps.waiting_for.empty()) {
            f.wanted[pod_name(ctx.name(), component::broker, ord)] = broker_cert_names(ctx, ord, eps.listeners);
        }
    }
    std::map<std::string, std::string> running;
    for (int32_t ord = 0; ord < std::max(p.brokers_current, p.brokers_target); ++ord) {
        const std::string name = pod_name(ctx.name(), component::broker, ord);
        if (auto pod = e.cache.get(res::pods, ctx.ns(), name)) {
            running[name] = string_at(*pod, {"metadata", "annotations", certificates_annotation});
            f.broker_pods.insert(name);
        }
    }
    // From the API server, not the cache: a template of ours the cache does not show yet would
    // make an entry this pass added leave the annotation again, and the roll it started stop.
    if (auto sts = e.api.get(res::stateful_sets, ctx.ns(), stateful_set_name(ctx.name(), component::broker))) {
        f.broker_template = string_at(*sts, {"spec", "template", "metadata", "annotations", certificates_annotation});
    }
    if (brokers) {
        f.running = std::move(running);
    }
    // else not known: the brokers' counts come later in the pass, so the first look can't tell
    // whether they all run certificates of a renewed CA, and must not end its renewal.
    auto plan = decide_certificates(f);
    if (plan.invalid || plan.clients_invalid) {
        const std::string message =
            plan.invalid ? "Secret " + ca_name + ": " + *plan.invalid : "Secret " + clients_ca_name + ": " + *plan.clients_invalid;
        degraded_and_waiting(e, p, "CertificateAuthorityInvalid", message);
        return false;
    }
    std::string trusted;  // what the internal listeners and the operator trust: ca.crt of C-cluster-ca-cert
    if (f.by_cert_manager) {
        auto bundle = cert_manager_certificates(e, p, f, plan, brokers);
        if (!bundle) {
            return false;
        }
        trusted = *bundle;
    } else {
        if (plan.ca_created) {
            e.events.record(p.object, "Normal", "CertificateAuthorityCreated",
                            "made the cluster CA in Secret " + ca_name + "; clients trust ca.crt of Secret " +
                                cluster_ca_cert_secret_name(ctx.name()));
        }
        keep_ca(e, p, "cluster CA", ca_name, cluster_ca_cert_secret_name(ctx.name()), plan.ca, plan.ca_created,
                plan.ca_not_after, plan.renewal, p.status.cluster_ca);
        trusted = ca_bundle(plan.ca, plan.renewal);
    }
    if (plan.clients_ca) {
        if (plan.clients_ca_created) {
            e.events.record(p.object, "Normal", "CertificateAuthorityCreated",
                            "made the clients CA in Secret " + clients_ca_name +
                                "; listeners with tls authentication trust the client certificates it signs");
        }
        keep_ca(e, p, "clients CA", clients_ca_name, clients_ca_cert_secret_name(ctx.name()), *plan.clients_ca,
                plan.clients_ca_created, plan.clients_ca_not_after, plan.clients_renewal, p.status.clients_ca);
    }
    if (brokers) {
        e.api.apply(res::secrets, secret(ctx, broker_certs_secret_name(ctx.name()), plan.brokers));
    }
    if (internal) {
        // Once per change: the pass's second look finds them as the first wrote them.
        if (plan.coordinators != f.coordinators) {
            e.api.apply(res::secrets, secret(ctx, coordinator_certs_secret_name(ctx.name()), plan.coordinators));
        }
        if (plan.operator_keystores != f.operator_held) {
            e.api.apply(res::secrets, secret(ctx, operator_certs_secret_name(ctx.name()), plan.operator_keystores));
        }
        p.coordinator_certificates =
            certificate_serials(plan.coordinators) + (f.by_cert_manager ? trust_annotation(trusted) : "");
        if (e.opts.tls != nullptr) {
            // From now on (this pass's later steps, the user reconciler, the metrics poller)
            // the operator reaches the cluster with these.
            e.opts.tls->set(ctx.ns(), ctx.name(), trusted,
                            plan.operator_keystores.at(operator_keystore_key(ctx.name())));
            p.tls.reset();
            p.tls.emplace(e.opts.tls->get(ctx.ns(), ctx.name()));
        }
    }
    if (!plan.issued.empty()) {
        std::string who;
        for (const auto& i : plan.issued) {
            who += (who.empty() ? "" : ", ") + i;
        }
        e.events.record(p.object, "Normal", "CertificatesIssued", "certificates issued: " + who);
        TLOG_INFO("{}/{}: certificates issued: {}", ctx.ns(), ctx.name(), who);
    }
    p.certificates = plan.broker_serials + (f.by_cert_manager && internal ? trust_annotation(trusted) : "");
    return true;
}

// Internal TLS: the CA, the coordinators' and the operator's certificates before anything
// reaches or starts a coordinator (certificates_of).
bool internal_certificates(env& e, pass& p) {
    return !p.ctx->internal_tls || certificates_of(e, p, false);
}

bool certificates(env& e, pass& p) {
    return certificates_of(e, p, true);
}

bool broker_config(env& e, pass& p) {
    const auto& ctx = *p.ctx;
    std::vector<broker_pod_config> pods;
    std::vector<int32_t> unaddressed;
    for (int32_t ord = 0; ord < p.brokers_target; ++ord) {
        const auto& eps = p.endpoints[ord];
        if (eps.waiting_for.empty()) {
            const auto& rack_key = ctx.spec().brokers.rack_topology_key;
            pods.push_back({ord, eps.listeners, p.racks.count(ord) ? p.racks[ord] : "",
                            rack_key && rack_key_copied_to_pods(*rack_key)});
        } else {
            unaddressed.push_back(ord);  // it ran before; its address went away (ingress removed)
        }
    }
    json cm = broker_config_map(ctx, p.voters, pods);
    // A running broker whose address is unknown again keeps the file it has.
    auto before = e.cache.get(res::config_maps, ctx.ns(), config_map_name(ctx.name(), component::broker));
    for (int32_t ord : unaddressed) {
        const std::string key = pod_file_key(ctx.name(), component::broker, ord);
        if (const json* old = before ? field_at(*before, {"data", key.c_str()}) : nullptr) {
            cm["data"][key] = *old;
        }
    }
    // The coordinators named change with the quorum; brokers follow the voter set named in
    // every metadata answer, so that is no reason to restart them (config_maps.h).
    p.broker_hash = data_hash(data_for_hash(ctx, cm.at("data"), broker_shared_file));
    p.broker_restart_config =
        restart_properties(with_seed_quorum_voters(ctx, string_at(cm, {"data", broker_shared_file})));
    apply_config(e, p, cm);
    return true;
}

bool broker_stateful_set_step(env& e, pass& p) {
    const auto& ctx = *p.ctx;
    json sts = broker_stateful_set(ctx, p.brokers_target, p.broker_hash, p.broker_restart_config, p.certificates);
    auto before = e.cache.get(res::stateful_sets, ctx.ns(), name_of(sts));
    apply_stateful_set(e, p, sts);
    if (before && p.brokers_current != p.brokers_target) {
        e.events.record(p.object, "Normal", "Scaled",
                        "Scaled brokers from " + std::to_string(p.brokers_current) + " to " +
                            std::to_string(p.brokers_target));
        TLOG_INFO("{}/{}: brokers {} -> {}", ctx.ns(), ctx.name(), p.brokers_current, p.brokers_target);
    }
    if (!p.blocked_message.empty()) {
        if (!had_condition(p, "ScalingBlocked", p.blocked_reason, "")) {
            e.events.record(p.object, "Warning", "ScalingBlocked", p.blocked_message);
            TLOG_WARN("{}/{}: {}", ctx.ns(), ctx.name(), p.blocked_message);
        }
    }
    return true;
}

bool pod_disruption_budgets(env& e, pass& p) {
    apply(e, res::pod_disruption_budgets, pod_disruption_budget(*p.ctx, component::coordinator));
    apply(e, res::pod_disruption_budgets, pod_disruption_budget(*p.ctx, component::broker));
    return true;
}

// NetworkPolicies (workloads.h): REPLICATION and CONTROLLER for the cluster and the operator.
// Turned off by the setting, the operator removes those it made.
bool network_policies(env& e, pass& p) {
    for (component c : {component::coordinator, component::broker}) {
        if (p.ctx->settings.network_policies) {
            e.api.apply(res::network_policies, network_policy(*p.ctx, c));  // not watched: no cache to read
        } else {
            e.api.remove(res::network_policies, p.ctx->ns(), stateful_set_name(p.ctx->name(), c));  // not watched
        }
    }
    return true;
}

// Rolling update (controller/roller.h): dynamic broker configs, then at most one pod restarted.
bool roll_step(env& e, pass& p) {
    auto o = roll({e.api, e.cache, e.events, e.opts.roll, *p.ctx, p.object, p.old_status, p.brokers_target, p.voters});
    p.status.rolling_update = std::move(o.rolling);
    p.status.dynamic_broker_config = std::move(o.dynamic_applied);
    if (!o.waiting.empty()) {
        p.wait(o.waiting_reason, o.waiting);
    }
    return true;
}

bool observe(env& e, pass& p) {
    const auto& ctx = *p.ctx;
    std::vector<broker_observation> obs;
    std::string bootstrap;
    for (int32_t ord = 0; ord < p.brokers_target; ++ord) {
        broker_observation b{ord, e.cache.get(res::pods, ctx.ns(), pod_name(ctx.name(), component::broker, ord)),
                             p.endpoints[ord].listeners, p.racks.count(ord) ? p.racks[ord] : ""};
        if (b.pod && pod_ready(*b.pod)) {
            bootstrap += (bootstrap.empty() ? "" : ",") + string_at(*b.pod, {"status", "podIP"}) + ":" +
                         std::to_string(api::replication_port);
        }
        obs.push_back(std::move(b));
    }
    std::optional<probe_result> probe;
    if (e.probe != nullptr && !bootstrap.empty()) {
        probe = e.probe->describe(bootstrap);
    }
    auto& s = p.status;
    s.brokers.clear();
    s.replicas = 0;
    std::string not_running, crash_looping;
    for (const auto& b : obs) {
        s.brokers.push_back(observe_broker(b, probe));
        s.replicas += b.pod ? 1 : 0;
        const auto& st = s.brokers.back();
        if (st.state != "Running") {
            not_running += (not_running.empty() ? "" : ", ") + std::to_string(st.id) + " (" + st.state + ")";
        }
        if (st.crash_looping) {
            crash_looping += (crash_looping.empty() ? "" : "; ") + std::string("broker ") + std::to_string(st.id) +
                             " keeps failing (restarts: " + std::to_string(st.restarts) + "), last: " +
                             (st.last_termination.empty() ? "no termination status" : st.last_termination);
        }
    }
    // A broker that keeps failing (a full or broken disk halts it at every start) needs someone:
    // Degraded says which and why, unless an earlier step found something worse.
    if (!crash_looping.empty() && p.degraded_reason.empty()) {
        if (!had_condition(p, "Degraded", "BrokerCrashLooping", "")) {  // not at every restart
            e.events.record(p.object, "Warning", "BrokerCrashLooping", crash_looping);
        }
        p.degraded_reason = "BrokerCrashLooping";
        p.degraded_message = crash_looping;
    }
    s.selector = selector_string(ctx, component::broker);
    s.cluster_id = probe && !probe->cluster_id.empty() ? probe->cluster_id : cluster_id(ctx.ns(), ctx.name());
    s.listeners = listener_statuses(ctx, s.brokers);
    s.coordinator_replicas = p.voters;
    s.coordinators_ready = 0;
    for (int32_t ord = 0; ord < p.voters; ++ord) {
        auto pod = e.cache.get(res::pods, ctx.ns(), pod_name(ctx.name(), component::coordinator, ord));
        s.coordinators_ready += pod && pod_ready(*pod) ? 1 : 0;
    }
    p.observed = true;
    if (s.coordinators_ready < s.coordinator_replicas) {
        p.wait("CoordinatorNotReady", "coordinators ready: " + std::to_string(s.coordinators_ready) + " of " +
                                          std::to_string(s.coordinator_replicas));
    }
    if (!not_running.empty()) {
        p.wait("BrokersNotReady", "brokers not running: " + not_running);
    }
    p.bootstrap = bootstrap;
    p.brokers_running = not_running.empty() && !s.brokers.empty();
    return true;
}

// Brokers drained now (not unregistered): the balancer leaves them empty.
std::vector<int32_t> drained_ids(const std::vector<api::drain_status>& drains) {
    std::vector<int32_t> out;
    for (const auto& d : drains) {
        if (d.state != drain_unregistered) {
            out.push_back(d.id);
        }
    }
    return out;
}

// balancing.h: the balancer runs after brokers joined, or when asked.
bool balance(env& e, pass& p) {
    p.status.balance = api::parse_balance_status(p.old_status);  // kept should the step throw
    auto out = balance_cluster({.cluster = p.cluster, .object = p.object, .old_status = p.old_status,
                                .brokers_running = p.brokers_running, .bootstrap = p.bootstrap, .ops = e.opts.balance,
                                .api = e.api, .events = e.events, .now = e.opts.clock->wall_now(),
                                .drained = drained_ids(p.status.drains)});
    p.status.balance = out.status;
    p.balanced = out.balanced;
    p.balanced_reason = out.reason;
    p.balanced_message = out.message;
    p.look_again = p.look_again || out.look_again;  // an earlier step may want another look too
    return true;
}

struct step {
    const char* name;
    bool (*run)(env&, pass&);
};

const std::vector<step>& steps() {
    static const std::vector<step> s = {
        {"validate spec", validate_spec},
        {"finalizer", ensure_finalizer},
        {"internal certificates", internal_certificates},
        {"coordinator quorum", coordinator_quorum},
        {"coordinator config", coordinator_config},
        {"coordinator services", coordinator_services},
        {"coordinator statefulset", coordinator_stateful_set_step},
        {"broker services", broker_services},
        {"broker addresses", broker_addresses},
        {"certificates", certificates},
        {"broker config", broker_config},
        {"broker statefulset", broker_stateful_set_step},
        {"pod disruption budgets", pod_disruption_budgets},
        {"network policies", network_policies},
        {"roll", roll_step},
        {"observe", observe},
        {"balance", balance},
    };
    return s;
}

struct condition_value {
    const char* type;
    bool on;
    std::string reason, message;
};

// The four conditions from what the pass decided.
std::vector<condition_value> conclude(const pass& p) {
    std::vector<condition_value> out;
    if (!p.failure.empty()) {
        out.push_back({"Degraded", true, "ApiError", p.failure});
        out.push_back({"Reconciling", true, "ApiError", p.failure});
        out.push_back({"Ready", false, "ApiError", p.failure});
    } else if (p.invalid) {
        out.push_back({"Degraded", true, "InvalidSpec", p.invalid_message});
        out.push_back({"Ready", false, "InvalidSpec", "the spec is invalid: " + p.invalid_message});
        out.push_back({"Reconciling", false, "InvalidSpec", "nothing is changed until the spec is fixed"});
    } else {
        const bool degraded = !p.degraded_reason.empty();
        out.push_back({"Degraded", degraded, degraded ? p.degraded_reason : "AsExpected", p.degraded_message});
        const bool waiting = !p.waiting_reason.empty();
        out.push_back({"Reconciling", waiting, waiting ? p.waiting_reason : "Reconciled", p.waiting_message});
        out.push_back({"Ready", !waiting, waiting ? p.waiting_reason : "Ready",
                       waiting ? p.waiting_message
                               : std::to_string(p.status.brokers.size()) + " brokers and " +
                                     std::to_string(p.status.coordinators_ready) +
                                     (p.status.coordinators_ready == 1 ? " coordinator" : " coordinators") +
                                     " running"});
    }
    const bool blocked = !p.blocked_message.empty();
    out.push_back({"ScalingBlocked", blocked, blocked ? p.blocked_reason : "NotBlocked", p.blocked_message});
    if (p.balanced) {
        out.push_back({"Balanced", *p.balanced, p.balanced_reason, p.balanced_message});
    }
    if (p.quorum_ready) {
        out.push_back({"QuorumReady", *p.quorum_ready, p.quorum_reason, p.quorum_message});
    }
    if (p.internal_tls) {
        out.push_back({"InternalTLS", *p.internal_tls, p.internal_tls_reason, p.internal_tls_message});
    }
    return out;
}

} // namespace

reconciler::reconciler(k8s::api& api, const k8s::reader& cache, k8s::event_recorder& events, cluster_probe* probe,
                       reconciler_options opts)
    : _api(api), _cache(cache), _events(events), _probe(probe), _opts(std::move(opts)) {
    if (_opts.clock == nullptr) {
        _opts.clock = &k8s::system_clock();
    }
}

std::vector<std::string> reconciler::step_names() {
    std::vector<std::string> out;
    for (const auto& s : steps()) {
        out.push_back(s.name);
    }
    return out;
}

reconcile_result reconciler::reconcile(const std::string& ns, const std::string& name) {
    _last_steps.clear();
    // Read from the API server, not the cache: a pass that an owned object's watch event
    // triggers right after the last pass's status write could otherwise see the status before
    // that write (the cache's watch event for it not yet in), and act on it twice (start a
    // second balancing run, announce a drain state again). One GET per pass.
    auto object = _api.get(k8s::resources::kafka_clusters, ns, name);
    if (!object) {
        return {};  // deleted: its objects go by garbage collection
    }
    pass p;
    p.object = *object;
    p.cluster = api::parse_kafka_cluster(p.object, p.parse_errors);
    if (const json* st = field_at(p.object, {"status"}); st != nullptr && st->is_object()) {
        p.old_status = *st;
    }
    if (p.cluster.deleting) {
        return clean_up(p);
    }
    env e{_api, _cache, _events, _probe, _opts};
    for (const auto& s : steps()) {
        _last_steps.push_back(s.name);
        try {
            if (!s.run(e, p)) {
                break;
            }
        } catch (const k8s::api_error& err) {
            // The API server refused a write (an object it finds invalid, a quota, RBAC):
            // say so in the status, then let the work queue retry with back-off.
            p.failure = "step '" + std::string(s.name) + "': " + err.reason + ": " + err.what();
            TLOG_WARN("{}/{}: {}", ns, name, p.failure);
            try {
                write_status(p);
            } catch (const std::exception& again) {
                TLOG_WARN("{}/{}: status not written either: {}", ns, name, again.what());
            }
            throw;
        }
    }
    write_status(p);
    if (!p.invalid && (!p.waiting_reason.empty() || p.look_again)) {
        return {_opts.wait_interval};
    }
    return {};
}

// Deletion with the finalizer: claims of components with deleteClaim go, then the finalizer.
// The StatefulSets are deleted first so no pod is recreated on a claim being deleted; the
// other owned objects go by garbage collection once the KafkaCluster is gone.
reconcile_result reconciler::clean_up(pass& p) {
    if (!k8s::has_finalizer(p.object, cleanup_finalizer)) {
        return {};
    }
    _last_steps.push_back("clean up");
    const auto& c = p.cluster;
    for (auto [comp, storage] : {std::pair{component::broker, &c.spec.brokers.storage},
                                 std::pair{component::coordinator, &c.spec.coordinators.storage}}) {
        if (!storage->delete_claim) {
            continue;
        }
        _api.remove(k8s::resources::stateful_sets, c.ns, stateful_set_name(c.name, comp));
        const std::string selector =
            "app.kubernetes.io/instance=" + c.name + ",app.kubernetes.io/component=" + to_string(comp);
        for (const auto& pvc : _api.list(k8s::resources::persistent_volume_claims, c.ns, selector)) {
            _api.remove(k8s::resources::persistent_volume_claims, c.ns, name_of(pvc));
            TLOG_INFO("{}/{}: deleted claim {} (deleteClaim)", c.ns, c.name, name_of(pvc));
        }
    }
    k8s::remove_finalizer(_api, k8s::resources::kafka_clusters, p.object, cleanup_finalizer);
    return {};
}

// Once per pass, through the status subresource (k8s::update_status re-reads and retries
// on a conflict, and skips the write when nothing changed).
void reconciler::write_status(pass& p) {
    api::kafka_cluster_status s = p.status;
    s.observed_generation = p.cluster.generation;
    const auto conditions = conclude(p);
    const auto now = _opts.clock->wall_now();
    k8s::update_status(_api, k8s::resources::kafka_clusters, p.cluster.ns, p.cluster.name, [&](json& current) {
        json old = current.has_object_field("status") ? current.at("status") : json::object();
        // A pass that stopped before observing keeps what the last full pass saw.
        json status = p.observed ? to_json(s) : old;
        status["observedGeneration"] = json::number(s.observed_generation);
        if (old.has_array_field("conditions")) {
            status["conditions"] = old.at("conditions");
        }
        for (const auto& c : conditions) {
            k8s::set_condition(status, c.type, c.on ? "True" : "False", c.reason, c.message, s.observed_generation, now);
        }
        current["status"] = status;
    });
}

} // namespace trib::op::controller
