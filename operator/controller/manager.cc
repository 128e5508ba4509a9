#include "operator/controller/manager.h"

#include "common/log.h"
#include "operator/controller/quorum_ops.h"
#include "operator/controller/roll_ops.h"
#include "operator/controller/user_reconciler.h"

namespace trib::op::controller {

namespace res = k8s::resources;
using web::json::value;

namespace {

const char* const owned_selector = "app.kubernetes.io/managed-by=tributary-operator";

std::string field(const value& obj, const char* a, const char* b) {
    if (obj.has_field(a) && obj.at(a).has_field(b) && obj.at(a).at(b).is_string()) {
        return obj.at(a).at(b).as_string();
    }
    return "";
}

std::string key_of(const value& obj) {
    return field(obj, "metadata", "namespace") + "/" + field(obj, "metadata", "name");
}

// What of a KafkaCluster's change needs a pass: its spec (generation), deletion, finalizers
// and labels. Not its status, which the passes themselves write.
bool needs_pass(const value& before, const value& after) {
    auto meta = [](const value& o, const char* f) {
        return o.has_field("metadata") && o.at("metadata").has_field(f) ? o.at("metadata").at(f).serialize() : "";
    };
    for (const char* f : {"generation", "deletionTimestamp", "finalizers", "labels"}) {
        if (meta(before, f) != meta(after, f)) {
            return true;
        }
    }
    return false;
}

// The cluster_probe the reconciler asks for the cluster id and the registered brokers: a read
// through the Kafka protocol. It remembers the addresses it was given, which are where the
// metrics poller then reads the cluster.
class kafka_probe final : public cluster_probe {
public:
    explicit kafka_probe(metrics::read_options opts) : _opts(std::move(opts)) {}

    std::optional<probe_result> describe(const std::string& bootstrap) override {
        asked = bootstrap;
        std::string why;
        auto opts = _opts;
        opts.tls = kafka::tls_scope::current();  // the pass's, for the cluster it reconciles
        auto view = metrics::read_cluster(bootstrap, opts, &why);
        if (!view) {
            TLOG_DEBUG("cluster at {} not read: {}", bootstrap, why);
            return std::nullopt;
        }
        probe_result r{.cluster_id = view->cluster_id, .broker_ids = {}};
        for (const auto& b : view->brokers) {
            r.broker_ids.push_back(b.id);
        }
        return r;
    }

    std::string asked;

private:
    metrics::read_options _opts;
};

} // namespace

namespace {

// What KafkaClusters own, watched by the label app.kubernetes.io/managed-by.
const k8s::resource* const owned_kinds[] = {&res::stateful_sets, &res::services, &res::config_maps,
                                            &res::pod_disruption_budgets, &res::pods};

} // namespace

std::vector<const k8s::resource*> manager::cached_kinds() {
    std::vector<const k8s::resource*> out{&res::kafka_clusters};
    out.insert(out.end(), std::begin(owned_kinds), std::end(owned_kinds));
    out.push_back(&res::nodes);
    return out;
}

manager::manager(k8s::client& kube, k8s::event_recorder& events, metrics::operator_metrics& om,
                 metrics::cluster_poller& poller, manager_options options)
    : _kube(kube), _events(events), _metrics(om), _poller(poller), _opts(std::move(options)) {
    auto watch = [&](const k8s::resource& r, const std::string& selector) {
        k8s::informer_options o;
        o.ns = _opts.watch_namespace;
        o.label_selector = selector;
        _informers.push_back(std::make_unique<k8s::informer>(_kube, r, o));
        _cache.add(*_informers.back());
        return _informers.back().get();
    };
    _clusters = watch(res::kafka_clusters, "");
    _clusters->add_handlers({
        .added =
            [this](const value& o) {
                _queue.add(key_of(o));
                enqueue_users_of(o);
            },
        .updated =
            [this](const value& before, const value& after) {
                if (needs_pass(before, after)) {
                    _queue.add(key_of(after));
                }
                enqueue_users_of(after);  // its status too: brokers becoming ready
            },
        .deleted =
            [this](const value& o) {
                _queue.add(key_of(o));
                enqueue_users_of(o);
            },
    });
    // Not among the caches synced() waits for: an install whose CRDs predate KafkaUser (Helm
    // never upgrades crds/) keeps reconciling KafkaClusters; this cache retries its LIST with
    // back-off, and users are served once the CRD is applied.
    k8s::informer_options users_options;
    users_options.ns = _opts.watch_namespace;
    _informers.push_back(std::make_unique<k8s::informer>(_kube, res::kafka_users, users_options));
    _users = _informers.back().get();
    _users->add_handlers({
        .added = [this](const value& o) { _user_queue.add(key_of(o)); },
        .updated =
            [this](const value& before, const value& after) {
                if (needs_pass(before, after)) {
                    _user_queue.add(key_of(after));
                }
            },
        .deleted = [this](const value& o) { _user_queue.add(key_of(o)); },
    });
    k8s::informer_handlers owner_handlers{
        .added = [this](const value& o) { enqueue_owner(o); },
        .updated = [this](const value&, const value& o) { enqueue_owner(o); },
        .deleted = [this](const value& o) { enqueue_owner(o); },
    };
    for (const auto* r : owned_kinds) {
        watch(*r, owned_selector)->add_handlers(owner_handlers);
    }
    // Secrets the operator made (the CAs, the certificates, KafkaUsers'): a change, such as the
    // annotation tributary.io/force-renew on a CA Secret, queues its cluster at once rather than
    // at the next resync. Metadata only is kept (the passes GET a Secret's data when they need
    // it: no key sits in a cache), and the passes don't read this cache, nor does synced() wait
    // for it: an install whose Role still lacks list/watch on Secrets keeps reconciling, the
    // change then seen at the resync.
    k8s::informer_options secrets_options;
    secrets_options.ns = _opts.watch_namespace;
    secrets_options.label_selector = owned_selector;
    secrets_options.transform = k8s::metadata_only;
    _informers.push_back(std::make_unique<k8s::informer>(_kube, res::secrets, secrets_options));
    _informers.back()->add_handlers(owner_handlers);
    // A KafkaUser's Secret (its name is the user's) changed or deleted by hand: the user's pass
    // writes it again.
    auto user_secret = [this](const value& o) {
        if (field(o, "metadata", "namespace").empty() || !o.at("metadata").has_field("labels")) {
            return;
        }
        const value& labels = o.at("metadata").at("labels");
        if (labels.has_string_field("app.kubernetes.io/component") &&
            labels.at("app.kubernetes.io/component").as_string() == "kafka-user") {
            _user_queue.add(key_of(o));
        }
    };
    _informers.back()->add_handlers({
        .added = nullptr,
        .updated = [user_secret](const value&, const value& o) { user_secret(o); },
        .deleted = user_secret,
    });
    // Nodes: where nodeport listeners advertise, and racks. A node coming or going may change
    // a broker's address: every cluster is looked at again.
    k8s::informer_options all_nodes;
    _informers.push_back(std::make_unique<k8s::informer>(_kube, res::nodes, all_nodes));
    _cache.add(*_informers.back());
    _informers.back()->add_handlers({
        .added = [this](const value&) { enqueue_all(); },
        .updated = nullptr,
        .deleted = [this](const value&) { enqueue_all(); },
    });
}

manager::~manager() { stop(); }

void manager::enqueue_owner(const value& obj) {
    const auto& meta = obj.at("metadata");
    if (!meta.has_field("labels") || !meta.at("labels").has_field("app.kubernetes.io/instance")) {
        return;
    }
    _queue.add(field(obj, "metadata", "namespace") + "/" +
               meta.at("labels").at("app.kubernetes.io/instance").as_string());
}

void manager::enqueue_all() {
    // Before its first LIST a cache has nothing to queue; that LIST queues everything anyway.
    if (_clusters->has_synced()) {
        for (const auto& kc : _clusters->list()) {
            _queue.add(key_of(kc));
        }
    }
    if (_users->has_synced()) {
        for (const auto& ku : _users->list()) {
            _user_queue.add(key_of(ku));
        }
    }
}

void manager::enqueue_users_of(const value& cluster) {
    if (!_users->has_synced()) {
        return;
    }
    const std::string ns = field(cluster, "metadata", "namespace");
    for (const auto& ku : _users->list(ns, std::string(api::cluster_label) + "=" + field(cluster, "metadata", "name"))) {
        _user_queue.add(key_of(ku));
    }
}

void manager::start() {
    for (auto& i : _informers) {
        i->start();
    }
    _starter = std::thread([this] {
        while (!synced()) {
            std::unique_lock lock(_mu);
            if (_cv.wait_for(lock, std::chrono::milliseconds(100), [this] { return _stopping; })) {
                return;
            }
        }
        TLOG_INFO("caches synced: {} KafkaCluster(s); starting {} worker(s)", _clusters->list().size(), _opts.workers);
        std::lock_guard lock(_mu);
        if (_stopping) {
            return;
        }
        for (int i = 0; i < _opts.workers; ++i) {
            _workers.emplace_back([this] { run_worker(); });
        }
        _workers.emplace_back([this] { run_user_worker(); });
        _resync = std::thread([this] { run_resync(); });
    });
}

void manager::stop() {
    {
        std::lock_guard lock(_mu);
        if (_stopping) {
            return;
        }
        _stopping = true;
    }
    _cv.notify_all();
    if (_starter.joinable()) {
        _starter.join();
    }
    _queue.shutdown();
    _user_queue.shutdown();
    for (auto& w : _workers) {
        w.join();
    }
    if (_resync.joinable()) {
        _resync.join();
    }
    for (auto& i : _informers) {
        i->stop();
    }
}

bool manager::synced() const { return _cache.has_synced(); }

void manager::run_resync() {
    std::unique_lock lock(_mu);
    while (!_cv.wait_for(lock, _opts.resync_period, [this] { return _stopping; })) {
        lock.unlock();
        enqueue_all();
        lock.lock();
    }
}

void manager::run_worker() {
    kafka_probe probe(_opts.probe);
    kafka_balance_ops balance({.timeout = _opts.probe.timeout, .client_id = "tributary-operator"});
    kafka_roll_ops rolls({.timeout = _opts.probe.timeout, .client_id = "tributary-operator"});
    auto drains = make_kafka_drain_ops({.timeout = _opts.probe.timeout, .client_id = "tributary-operator"});
    kafka_quorum_ops quorum({.timeout = _opts.probe.timeout, .client_id = "tributary-operator"});
    reconciler rec(_kube, _cache, _events, &probe,
                   reconciler_options{.settings = _opts.settings, .balance = &balance, .roll = &rolls,
                                      .drains = drains.get(), .quorum = &quorum, .tls = &_tls});
    while (auto key = _queue.get()) {
        const auto slash = key->find('/');
        const std::string ns = key->substr(0, slash), name = key->substr(slash + 1);
        probe.asked.clear();
        const auto t0 = std::chrono::steady_clock::now();
        metrics::reconcile_result outcome = metrics::reconcile_result::success;
        try {
            auto r = rec.reconcile(ns, name);
            _queue.forget(*key);
            if (r.requeue_after) {
                outcome = metrics::reconcile_result::requeue;
                _queue.add_after(*key, *r.requeue_after);
            }
        } catch (const std::exception& e) {
            outcome = metrics::reconcile_result::error;
            TLOG_WARN("{}: reconcile failed (attempt {}): {}", *key, _queue.requeues(*key) + 1, e.what());
            _queue.add_rate_limited(*key);
        }
        _metrics.reconciled(ns, name, outcome, std::chrono::steady_clock::now() - t0);
        after_pass(ns, name, probe.asked);
        _queue.done(*key);
    }
}

void manager::run_user_worker() {
    auto ops = make_kafka_user_ops({.timeout = _opts.probe.timeout, .client_id = "tributary-operator"});
    user_reconciler rec(_kube, _cache, _events, user_reconciler_options{.ops = ops.get(), .tls = &_tls});
    while (auto key = _user_queue.get()) {
        const auto slash = key->find('/');
        try {
            auto r = rec.reconcile_user(key->substr(0, slash), key->substr(slash + 1));
            _user_queue.forget(*key);
            if (r.requeue_after) {
                _user_queue.add_after(*key, *r.requeue_after);
            }
        } catch (const std::exception& e) {
            TLOG_WARN("KafkaUser {}: reconcile failed (attempt {}): {}", *key, _user_queue.requeues(*key) + 1, e.what());
            _user_queue.add_rate_limited(*key);
        }
        _user_queue.done(*key);
    }
}

// Keeps the metrics in step with the cluster as the cache now has it: the brokers' states
// from its status, and the poller reading its topics where metrics are enabled.
void manager::after_pass(const std::string& ns, const std::string& name, const std::string& bootstrap) {
    auto kc = _clusters->get(ns, name);
    if (!kc || kc->at("metadata").has_field("deletionTimestamp")) {
        _poller.forget(ns, name);
        _metrics.remove(ns, name);
        _tls.forget(ns, name);
        return;
    }
    std::map<std::string, int> states;
    if (kc->has_field("status") && kc->at("status").has_field("brokers")) {
        for (const auto& b : kc->at("status").at("brokers").as_array()) {
            if (b.has_field("state") && b.at("state").is_string()) {
                ++states[b.at("state").as_string()];
            }
        }
    }
    _metrics.set_brokers(ns, name, states);
    bool enabled = true;
    if (kc->has_field("spec") && kc->at("spec").has_field("metrics")) {
        const auto& m = kc->at("spec").at("metrics");
        enabled = !m.has_field("enabled") || !m.at("enabled").is_boolean() || m.at("enabled").as_bool();
    }
    if (!enabled) {
        _poller.forget(ns, name);
    } else if (!bootstrap.empty()) {
        _poller.track(ns, name, bootstrap, _tls.get(ns, name));
    }
}

} // namespace trib::op::controller
