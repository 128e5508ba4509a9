#include "operator/controller/balancing.h"

#include "common/log.h"
#include "operator/k8s/clock.h"

#include <fmt/format.h>

#include <algorithm>
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

} // namespace

balance_decision decide_balance(const balance_facts& f) {
    balance_decision d;
    const api::balance_status old = f.before.value_or(api::balance_status{});
    auto& s = d.status;
    s = old;
    s.message.clear();
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

    std::string why;
    auto plan = bal::plan_moves(f.cluster, &why);
    const bool triggered = f.asked || (f.spec.on_scale_up && !joined.empty());
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
    const auto batch = std::min(changes, std::max(1, f.spec.max_moves_in_flight));
    d.start.assign(plan->changes.begin(), plan->changes.begin() + batch);
    s.state = "Rebalancing";
    s.moves_in_flight = batch;
    s.moves_planned = s.moves_done + changes;
    d.look_again = true;
    d.reason = "Rebalancing";
    d.message = progress(s);
    s.message = d.message;
    return d;
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
    const auto asked_value = annotation(in.object);
    balance_facts f{.spec = in.cluster.spec.balancing,
                    .before = out.status,
                    .asked = asked_value == "true",
                    .cluster = std::move(*input),
                    .in_flight = std::move(read->in_flight),
                    .now = k8s::rfc3339(in.now)};
    auto d = decide_balance(f);
    if (d.remove_annotation) {
        remove_annotation(in, *asked_value);
    }
    if (!d.start.empty()) {
        auto refused = in.ops->reassign(in.bootstrap, d.start, why);
        if (!refused) {
            // Nothing started: the next pass plans and tries again.
            TLOG_WARN("{}: balance: reassignments not started: {}", ns_name, why);
            d.status.moves_in_flight = 0;
            d.status.message = d.message = "reassignments not started: " + why;
        } else if (!refused->empty()) {
            d.status.moves_in_flight -= int32_t(refused->size());
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
