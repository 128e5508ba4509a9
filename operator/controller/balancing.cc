#include "operator/controller/balancing.h"

#include "common/log.h"
#include "operator/controller/objects.h"
#include "operator/k8s/clock.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

namespace trib::op::controller {

namespace bal = coordinator::balancer;
using json = web::json::value;

namespace {

std::string ids_text(const std::vector<int32_t>& ids) {
    std::string out;
    for (auto id : ids) {
        out += (out.empty() ? "" : ", ") + std::to_string(id);
    }
    return out;
}

// An empty plan: Balanced, unless replica counts are still outside the tolerance (racks,
// partitions that may not move).
void settle(balance_decision& d, const bal::plan& p) {
    const auto& sum = p.summary;
    if (sum.replicas_balanced) {
        d.status.state = "Balanced";
        d.balanced = true;
        d.reason = "Balanced";
        d.message = std::string("replica counts per broker are within the tolerance") +
                    (sum.leaders_balanced ? ", preferred leaders too" : "; preferred leaders can't get closer") +
                    (sum.bytes_balanced ? "" : "; bytes can't get closer by single moves");
    } else {
        d.status.state = "NotPossible";
        d.balanced = false;
        d.reason = "BalanceNotPossible";
        d.message = "no reassignment brings replica counts per broker within the tolerance";
        if (!p.skipped.empty()) {
            d.message += fmt::format(": {} partitions may not move ({}-{}: {}{})", p.skipped.size(), p.skipped[0].topic,
                                     p.skipped[0].index.value(), p.skipped[0].reason,
                                     p.skipped.size() > 1 ? ", ..." : "");
        }
    }
    d.status.message = d.message;
}

void not_possible(balance_decision& d, const std::string& message) {
    d.status.state = "NotPossible";
    d.status.message = message;
    d.balanced = false;
    d.reason = "BalanceNotPossible";
    d.message = message;
}

std::string progress(const api::balance_status& s) {
    return fmt::format("{} partition reassignments in flight, {} done of {} planned", s.moves_in_flight, s.moves_done,
                       s.moves_planned);
}

// The changes of a stored plan that still apply to the cluster as it is now: the partition's
// replicas are still the change's "from" and in sync, and every broker it adds is there and
// not leaving. A change that no longer applies is dropped (someone else moved the partition,
// a broker went); the run plans again once the rest is done.
std::vector<bal::change> still_applying(const std::vector<bal::change>& plan, const bal::input& cluster,
                                       std::string& dropped) {
    std::map<std::string, int> why;
    std::map<std::pair<std::string, int32_t>, const bal::partition*> partitions;
    for (const auto& p : cluster.partitions) {
        partitions[{p.topic, p.index.value()}] = &p;
    }
    std::set<int32_t> open;
    for (const auto& b : cluster.brokers) {
        if (!b.leaving) {
            open.insert(b.id.value());
        }
    }
    std::vector<bal::change> out;
    for (const auto& c : plan) {
        auto it = partitions.find({c.topic, c.index.value()});
        if (it == partitions.end() || !it->second->movable) {
            ++why["partition gone"];
            continue;
        }
        const bal::partition& p = *it->second;
        if (p.replicas != c.old_replicas || c.new_replicas.empty()) {
            ++why["replicas changed"];
            continue;
        }
        if (p.isr.size() < p.replicas.size()) {
            ++why["under-replicated"];
            continue;
        }
        std::set<int32_t> seen;
        const bool placeable = std::all_of(c.new_replicas.begin(), c.new_replicas.end(), [&](node_id r) {
            const bool kept = std::find(c.old_replicas.begin(), c.old_replicas.end(), r) != c.old_replicas.end();
            return seen.insert(r.value()).second && (kept || open.count(r.value()) > 0);
        });
        if (placeable) {
            out.push_back(c);
        } else {
            ++why["a new broker gone or leaving"];
        }
    }
    if (!why.empty()) {
        dropped = fmt::format("{} changes of the plan no longer apply (", plan.size() - out.size());
        for (const auto& [reason, n] : why) {
            dropped += fmt::format("{}{}: {}", dropped.back() == '(' ? "" : ", ", reason, n);
        }
        dropped += ")";
    }
    return out;
}

// A partition as status.balance.inFlight names it; that list keeps the first 50.
std::string partition_name(const std::string& topic, int32_t index) {
    return topic + "-" + std::to_string(index);
}
constexpr size_t in_flight_named = 50;

// Starts the first changes of `changes` (at most maxMovesInFlight) and stores the rest.
void start_batch(balance_decision& d, const balance_facts& f, std::vector<bal::change> changes) {
    auto& s = d.status;
    const auto total = int32_t(changes.size());
    const auto batch = std::min(total, std::max(1, f.spec.max_moves_in_flight));
    d.start.assign(changes.begin(), changes.begin() + batch);
    d.store_plan.emplace(changes.begin() + batch, changes.end());
    s.state = "Rebalancing";
    s.moves_in_flight = batch;
    for (size_t i = 0; i < d.start.size() && i < in_flight_named; ++i) {
        s.in_flight.push_back(partition_name(d.start[i].topic, d.start[i].index.value()));
    }
    s.moves_planned = s.moves_done + total;
    d.look_again = true;
    d.reason = "Rebalancing";
    d.message = progress(s);
    s.message = d.message;
}

} // namespace

balance_decision decide_balance(const balance_facts& f) {
    balance_decision d;
    const api::balance_status old = f.before.value_or(api::balance_status{});
    auto& s = d.status;
    s = old;
    s.message.clear();
    s.in_flight.clear();
    std::vector<int32_t> current;
    for (const auto& b : f.cluster.brokers) {
        current.push_back(b.id.value());
    }
    std::sort(current.begin(), current.end());
    std::vector<int32_t> joined;
    if (f.before) {
        for (auto id : current) {
            if (std::find(old.brokers.begin(), old.brokers.end(), id) == old.brokers.end()) {
                joined.push_back(id);
            }
        }
    }
    const bool running = old.state == "Rebalancing";
    const auto in_flight = int32_t(f.in_flight.size());
    if (running) {
        s.moves_done += std::max(0, old.moves_in_flight - in_flight);
    }
    s.moves_in_flight = in_flight;
    for (size_t i = 0; i < f.in_flight.size() && i < in_flight_named; ++i) {
        s.in_flight.push_back(partition_name(f.in_flight[i].first, f.in_flight[i].second));
    }

    // Nothing starts or ends while partitions move: the plan would be made over lists that
    // are about to change. The brokers are not recorded either, so a join is still seen after.
    if (in_flight > 0) {
        d.look_again = true;
        d.reason = "Rebalancing";
        if (running) {
            s.moves_planned = std::max(s.moves_planned, s.moves_done + in_flight);
            d.message = progress(s);
        } else {
            d.message = fmt::format("{} partition reassignments not started by the operator are in flight; "
                                    "balancing waits for them",
                                    in_flight);
        }
        s.message = d.message;
        return d;
    }
    d.remove_annotation = f.asked;  // acted on now: a run starts, goes on or ends
    if (running && f.plan) {
        auto rest = still_applying(*f.plan, f.cluster, d.dropped);
        if (!rest.empty()) {
            start_batch(d, f, std::move(rest));
            return d;
        }
        d.store_plan.emplace();  // used up: whatever this pass decides, it is not needed again
    }

    // Later rounds of a run (its plan used up) even out replica and leader counts only: bytes
    // move with the traffic, and chasing them plan after plan need not end (under a producer
    // the e2e run went on 44, 8, 6, 10, 13, 16, ... changes a round). A run evens bytes out
    // once, in its first plan; the next run looks at them again.
    //
    // While nothing runs or starts, the status looks at bytes with twice the tolerance a run
    // evens them to: a cluster a run has just balanced does not read "Unbalanced" again as
    // soon as steady traffic moves its bytes a little (hysteresis).
    const bool triggered = f.asked || (f.spec.on_scale_up && !joined.empty());
    std::string why;
    bal::input view;
    if (running) {
        view = f.cluster;
        view.opts.bytes_tolerance = 1e12;  // finite: 0 * it is 0 for an empty cluster
    } else if (!triggered) {
        view = f.cluster;
        view.opts.bytes_tolerance *= 2;
    }
    auto plan = bal::plan_moves(running || !triggered ? view : f.cluster, &why);
    const std::string cause =
        f.asked ? "asked by the annotation " + std::string(rebalance_annotation) : "brokers joined: " + ids_text(joined);
    if (!plan) {
        if (running || triggered) {
            d.events.push_back({"Warning", "BalanceNotPossible", "the balancer can't plan: " + why});
        }
        s.brokers = current;
        s.moves_in_flight = 0;
        not_possible(d, "the balancer can't plan: " + why);
        return d;
    }
    const auto changes = int32_t(plan->changes.size());
    if (!running && !triggered) {
        s.brokers = current;
        if (changes == 0) {
            settle(d, *plan);
        } else {
            s.state = "Unbalanced";
            d.reason = "Unbalanced";
            d.message = fmt::format("the balancer would reassign {} partitions; a run starts when brokers join "
                                    "(spec.balancing.onScaleUp) or with the annotation {}: \"true\"",
                                    changes, rebalance_annotation);
            s.message = d.message;
        }
        return d;
    }
    if (!running) {
        s.moves_done = 0;
        if (changes > 0) {
            d.events.push_back({"Normal", "RebalanceStarted",
                                fmt::format("{} partitions to reassign ({}), at most {} at a time", changes, cause,
                                            f.spec.max_moves_in_flight)});
        }
    }
    if (changes == 0) {
        // The run is over: leadership follows the new first replicas.
        d.elect_leaders = true;
        s.brokers = current;
        s.moves_planned = s.moves_done;
        s.last_balanced_time = f.now;
        settle(d, *plan);
        d.events.push_back({"Normal", "RebalanceFinished",
                            running ? fmt::format("{} partition reassignments done; {}", s.moves_done, d.message)
                                    : fmt::format("nothing to move ({}); {}", cause, d.message)});
        return d;
    }
    // A guard against plans that never run out (each re-plan undoing the last): every
    // partition moved twice is more than any converging run needs.
    const auto limit = 2 * int32_t(f.cluster.partitions.size()) + 10;
    if (s.moves_done > limit) {
        s.brokers = current;
        not_possible(d, fmt::format("the plan did not converge: {} reassignments done and the balancer still plans {}",
                                    s.moves_done, changes));
        d.events.push_back({"Warning", "BalanceNotPossible", d.message});
        return d;
    }
    start_batch(d, f, std::move(plan->changes));
    return d;
}

std::string balance_plan_name(const std::string& cluster) {
    return cluster + "-balance-plan";
}

std::string plan_to_json(const std::vector<bal::change>& changes) {
    auto ids = [](const std::vector<node_id>& v) {
        json a = json::array();
        for (size_t i = 0; i < v.size(); ++i) {
            a[i] = json::number(v[i].value());
        }
        return a;
    };
    json list = json::array();
    for (size_t i = 0; i < changes.size(); ++i) {
        const auto& c = changes[i];
        json o = json::object();
        o["topic"] = json::string(c.topic);
        o["partition"] = json::number(c.index.value());
        o["from"] = ids(c.old_replicas);
        o["to"] = ids(c.new_replicas);
        o["size"] = json::number(c.size_bytes);
        list[i] = std::move(o);
    }
    json out = json::object();
    out["changes"] = std::move(list);
    return out.serialize();
}

std::optional<std::vector<bal::change>> plan_from_json(const std::string& text, std::string* why) {
    auto fail = [&](const std::string& reason) -> std::optional<std::vector<bal::change>> {
        if (why != nullptr) {
            *why = reason;
        }
        return std::nullopt;
    };
    json doc;
    try {
        doc = json::parse(text);
    } catch (const std::exception& e) {
        return fail(std::string("not JSON: ") + e.what());
    }
    if (!doc.is_object() || !doc.has_array_field("changes")) {
        return fail("no \"changes\" array");
    }
    auto ids = [](const json& a, std::vector<node_id>& out) {
        if (!a.is_array()) {
            return false;
        }
        for (const auto& v : a.as_array()) {
            if (!v.is_integer()) {
                return false;
            }
            out.push_back(node_id(v.as_integer()));
        }
        return true;
    };
    std::vector<bal::change> out;
    for (const auto& c : doc.at("changes").as_array()) {
        bal::change ch;
        if (!c.is_object() || !c.has_string_field("topic") || !c.has_integer_field("partition") ||
            !c.has_field("from") || !c.has_field("to") || !ids(c.at("from"), ch.old_replicas) ||
            !ids(c.at("to"), ch.new_replicas)) {
            return fail("a change without topic, partition, from and to");
        }
        ch.topic = c.at("topic").as_string();
        ch.index = partition_id(c.at("partition").as_integer());
        ch.size_bytes = c.has_number_field("size") ? c.at("size").as_number().to_int64() : 0;
        for (node_id r : ch.new_replicas) {
            if (std::find(ch.old_replicas.begin(), ch.old_replicas.end(), r) == ch.old_replicas.end()) {
                ++ch.moves;
            }
        }
        out.push_back(std::move(ch));
    }
    return out;
}

namespace {

// The annotation goes with a guarded JSON patch: a value changed since it was read stays
// (the patch fails, the pass is retried and sees the new value).
void remove_annotation(const balance_step_input& in, const std::string& value) {
    const std::string path = "/metadata/annotations/tributary.io~1rebalance";
    json test = json::object();
    test["op"] = json::string("test");
    test["path"] = json::string(path);
    test["value"] = json::string(value);
    json remove = json::object();
    remove["op"] = json::string("remove");
    remove["path"] = json::string(path);
    in.api.patch(k8s::resources::kafka_clusters, in.cluster.ns, in.cluster.name, json::array({test, remove}),
                 k8s::patch_type::json);
}

// The plan's ConfigMap, owned by the KafkaCluster (garbage-collected with it). A plan too
// large for one object (1 MiB) is cut: the run plans again once the stored part is done.
void store_plan(const balance_step_input& in, std::vector<bal::change> rest) {
    constexpr size_t most = 4000;  // ~100 bytes each
    if (rest.size() > most) {
        rest.resize(most);
    }
    json labels = json::object();
    labels["app.kubernetes.io/name"] = json::string("tributary");
    labels["app.kubernetes.io/instance"] = json::string(in.cluster.name);
    labels["app.kubernetes.io/managed-by"] = json::string("tributary-operator");
    json meta = json::object();
    meta["name"] = json::string(balance_plan_name(in.cluster.name));
    meta["namespace"] = json::string(in.cluster.ns);
    meta["labels"] = std::move(labels);
    meta["ownerReferences"] = json::array({owner_reference(in.cluster)});
    json data = json::object();
    data[balance_plan_key] = json::string(plan_to_json(rest));
    json cm = json::object();
    cm["apiVersion"] = json::string("v1");
    cm["kind"] = json::string("ConfigMap");
    cm["metadata"] = std::move(meta);
    cm["data"] = std::move(data);
    in.api.apply(k8s::resources::config_maps, cm);
}

std::optional<std::string> annotation(const json& object) {
    const json* a = object.has_object_field("metadata") && object.at("metadata").has_object_field("annotations")
                        ? &object.at("metadata").at("annotations")
                        : nullptr;
    if (a == nullptr || !a->has_string_field(rebalance_annotation)) {
        return std::nullopt;
    }
    return a->at(rebalance_annotation).as_string();
}

} // namespace

balance_step_output balance_cluster(const balance_step_input& in) {
    balance_step_output out;
    out.status = api::parse_balance_status(in.old_status);
    if (in.ops == nullptr || !in.brokers_running || in.bootstrap.empty()) {
        return out;
    }
    const std::string ns_name = in.cluster.ns + "/" + in.cluster.name;
    const bool running = out.status && out.status->state == "Rebalancing";
    std::string why;
    auto read = in.ops->read(in.bootstrap, why);
    if (!read) {
        TLOG_WARN("{}: balance: cluster not read: {}", ns_name, why);
        out.look_again = running;
        return out;
    }
    for (const auto& w : read->view.warnings) {
        TLOG_DEBUG("{}: balance: {}", ns_name, w);
    }
    bal::selection leaving;
    for (int32_t id : in.drained) {
        const auto& listed = read->view.metadata.brokers;
        if (std::any_of(listed.begin(), listed.end(), [&](const auto& b) { return b.node_id == id; })) {
            leaving.leaving.push_back(id);  // an unregistered one is not in the view
        }
    }
    auto input = bal::balancer_input(read->view, leaving, why);
    if (!input) {
        TLOG_WARN("{}: balance: {}", ns_name, why);
        return out;
    }
    // The rest of the run's plan, when a run goes on.
    std::optional<std::vector<bal::change>> stored;
    const std::string plan_name = balance_plan_name(in.cluster.name);
    if (running) {
        auto cm = in.api.get(k8s::resources::config_maps, in.cluster.ns, plan_name);
        if (cm && cm->has_object_field("data") && cm->at("data").has_string_field(balance_plan_key)) {
            stored = plan_from_json(cm->at("data").at(balance_plan_key).as_string(), &why);
            if (!stored) {
                TLOG_WARN("{}: balance: ConfigMap {} ignored: {}", ns_name, plan_name, why);
            }
        }
    }
    const auto asked_value = annotation(in.object);
    balance_facts f{.spec = in.cluster.spec.balancing,
                    .before = out.status,
                    .asked = asked_value == "true",
                    .cluster = std::move(*input),
                    .in_flight = std::move(read->in_flight),
                    .now = k8s::rfc3339(in.now),
                    .plan = std::move(stored)};
    auto d = decide_balance(f);
    if (!d.dropped.empty()) {
        TLOG_INFO("{}: balance: {}", ns_name, d.dropped);
    }
    if (d.remove_annotation) {
        remove_annotation(in, *asked_value);
    }
    // The rest of the plan is stored before its first changes go out: a restarted operator
    // finds the changes in flight and the rest to do.
    if (d.store_plan && !d.store_plan->empty()) {
        store_plan(in, *d.store_plan);
    } else if (d.store_plan) {
        in.api.remove(k8s::resources::config_maps, in.cluster.ns, plan_name);
    }
    if (!d.start.empty()) {
        auto refused = in.ops->reassign(in.bootstrap, d.start, why);
        if (!refused) {
            // Nothing started: the next pass plans and tries again.
            TLOG_WARN("{}: balance: reassignments not started: {}", ns_name, why);
            d.status.moves_in_flight = 0;
            d.status.in_flight.clear();
            d.status.message = d.message = "reassignments not started: " + why;
        } else if (!refused->empty()) {
            d.status.moves_in_flight -= int32_t(refused->size());
            for (const auto& r : *refused) {
                std::erase(d.status.in_flight, partition_name(r.partition.first, r.partition.second));
            }
            std::string first = fmt::format("{}-{}: {}", refused->front().partition.first,
                                            refused->front().partition.second, refused->front().reason);
            TLOG_WARN("{}: balance: the controller refused {} reassignments ({}...)", ns_name, refused->size(), first);
            if (d.status.moves_in_flight == 0) {
                // Planning again would ask the same: stop the run and say why.
                d.status.moves_planned = d.status.moves_done;
                d.status.brokers.clear();
                for (const auto& b : f.cluster.brokers) {
                    d.status.brokers.push_back(b.id.value());
                }
                std::sort(d.status.brokers.begin(), d.status.brokers.end());
                not_possible(d, fmt::format("the controller refused every reassignment of the plan ({})", first));
                in.api.remove(k8s::resources::config_maps, in.cluster.ns, plan_name);
                d.look_again = false;
                d.events.push_back({"Warning", "BalanceNotPossible", d.message});
            }
        }
        TLOG_INFO("{}: balance: {}", ns_name, d.message);
    }
    if (d.elect_leaders) {
        auto elected = in.ops->elect_preferred_leaders(in.bootstrap, why);
        if (!elected) {
            TLOG_WARN("{}: balance: preferred leader election failed: {}", ns_name, why);
        } else {
            TLOG_INFO("{}: balance: preferred leaders elected for {} partitions", ns_name, *elected);
        }
    }
    for (const auto& e : d.events) {
        in.events.record(in.object, e.type, e.reason, e.message);
        TLOG_INFO("{}: {}: {}", ns_name, e.reason, e.message);
    }
    out.status = d.status;
    out.balanced = d.balanced;
    out.reason = d.reason;
    out.message = d.message;
    out.look_again = d.look_again;
    return out;
}

} // namespace trib::op::controller
