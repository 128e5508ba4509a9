#include "operator/controller/scaler.h"

#include "common/log.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace trib::op::controller {

std::set<int32_t> brokers_to_drain(const scale_input& in) {
    std::set<int32_t> out;
    for (int32_t id = in.want; id < in.current; ++id) {
        out.insert(id);
    }
    for (int32_t id : in.keep_drained) {
        if (id >= 0 && id < in.want) {
            out.insert(id);
        }
    }
    return out;
}

std::string rack_refusal(const scale_input& in, const std::set<int32_t>& drained_after) {
    if (!in.rack_aware) {
        return "";
    }
    std::map<std::string, std::vector<int32_t>> now;  // rack -> running brokers
    std::set<std::string> kept;                       // racks with a broker left
    for (const auto& [id, rack] : in.racks) {
        if (id >= in.current || rack.empty()) {
            continue;
        }
        now[rack].push_back(id);
        if (!drained_after.count(id)) {
            kept.insert(rack);
        }
    }
    std::vector<std::string> emptied;
    for (const auto& [rack, ids] : now) {
        if (!kept.count(rack)) {
            emptied.push_back(fmt::format("{} (brokers {})", rack, fmt::join(ids, ", ")));
        }
    }
    if (emptied.empty()) {
        return "";
    }
    return fmt::format("draining brokers {} would leave no broker in rack {}: partitions spread over the racks could "
                       "not keep that spread; add a broker in that rack first, or choose other brokers with "
                       "spec.brokers.drainedIds",
                       fmt::join(drained_after, ", "), fmt::join(emptied, ", "));
}

int32_t target_replicas(const scale_input& in, const std::set<int32_t>& empty, bool cluster_known) {
    if (in.want >= in.current) {
        return std::max(in.current, std::min(in.want, in.addressed));
    }
    if (!cluster_known) {
        return in.current;
    }
    for (int32_t id = in.want; id < in.current; ++id) {
        if (!empty.count(id)) {
            return in.current;
        }
    }
    return in.want;
}

namespace {

std::string progress(const drain_state& s) {
    return fmt::format("{} ({} replicas, {} leaderships, {} moves in flight left)", s.id, s.replicas, s.leaders,
                       s.moves_in_flight);
}

struct run {
    const scale_input& in;
    drain_ops* ops;
    const std::string& bootstrap;
    scale_outcome out;
    std::map<int32_t, drain_state> states;  // what the cluster says, updated by our requests
    std::set<int32_t> empty;                // hold nothing (drained and empty, or not registered)
    std::set<int32_t> unregistered;

    void wait(const std::string& reason, const std::string& message) {
        if (out.waiting_reason.empty()) {
            out.waiting_reason = reason;
            out.waiting_message = message;
        }
    }
    // The state status.drains gave broker `id` at the last pass, or "".
    std::string previous_state(int32_t id) const {
        for (const auto& d : in.previous_drains) {
            if (d.id == id) {
                return d.state;
            }
        }
        return "";
    }
    void event(const char* type, const char* reason, std::string message) {
        out.events.push_back({type, reason, std::move(message)});
    }
    void merge(const drain_answer& a) {
        for (const auto& s : a.brokers) {
            states[s.id] = s;
        }
    }

    // Asks for the brokers to drain that are not drained yet, all in one request.
    void drain(const std::set<int32_t>& to_drain) {
        std::vector<int32_t> fresh;
        for (int32_t id : to_drain) {
            if (!states.count(id) || !states[id].drained) {
                fresh.push_back(id);
            }
        }
        if (fresh.empty()) {
            return;
        }
        if (auto why = rack_refusal(in, to_drain); !why.empty()) {
            out.blocked_reason = "RackWouldBeEmpty";
            out.blocked_message = why;
            return;
        }
        auto a = ops->drain(bootstrap, fresh);
        if (a.outcome == drain_outcome::not_registered) {
            // One of them never registered (its pod never started): nothing to move there.
            // Ask one at a time to tell which.
            for (int32_t id : fresh) {
                auto one = ops->drain(bootstrap, {id});
                if (one.outcome == drain_outcome::not_registered) {
                    empty.insert(id);
                } else if (!handle(one, {id})) {
                    return;
                }
            }
            return;
        }
        handle(a, fresh);
    }

    bool handle(const drain_answer& a, const std::vector<int32_t>& ids) {
        switch (a.outcome) {
        case drain_outcome::ok:
            merge(a);
            event("Normal", "Draining",
                  fmt::format("Draining brokers {}: their replicas and leaderships move to the other brokers",
                              fmt::join(ids, ", ")));
            TLOG_INFO("draining brokers {}", fmt::join(ids, ", "));
            return true;
        case drain_outcome::refused:
        case drain_outcome::not_registered:
            out.blocked_reason = "DrainRefused";
            out.blocked_message = fmt::format("the cluster refuses to drain brokers {}: {}", fmt::join(ids, ", "),
                                              a.message);
            return false;
        case drain_outcome::unavailable:
            wait("WaitingForCluster", "draining brokers " + fmt::format("{}", fmt::join(ids, ", ")) +
                                          " waits for the cluster: " + a.message);
            return false;
        }
        return false;
    }

    void undrain() {
        for (auto& [id, s] : states) {
            if (!s.drained || id >= in.want || in.keep_drained.count(id)) {
                continue;
            }
            auto a = ops->undrain(bootstrap, id);
            if (a.outcome == drain_outcome::ok) {
                s.drained = false;
                event("Normal", "Undrained", fmt::format("Broker {} undrained: it takes replicas again", id));
                TLOG_INFO("broker {} undrained", id);
            } else {
                wait("WaitingForCluster", fmt::format("undraining broker {}: {}", id, a.message));
            }
        }
    }

    void unregister() {
        for (const auto& [id, s] : states) {
            if (!s.drained || id < out.target || (in.has_pod && in.has_pod(id))) {
                continue;
            }
            if (previous_state(id) == drain_unregistered) {
                unregistered.insert(id);
                continue;
            }
            auto a = ops->unregister(bootstrap, id);
            if (a.outcome == drain_outcome::ok) {
                unregistered.insert(id);
                event("Normal", "Unregistered",
                      fmt::format("Broker {} unregistered; its id stays drained until a scale-up gives it back", id));
                TLOG_INFO("broker {} unregistered", id);
            } else if (a.outcome == drain_outcome::not_registered) {
                unregistered.insert(id);
            } else {
                // Refused while its pod has just gone and its lease runs: try again.
                wait("WaitingForUnregister", fmt::format("broker {} is not unregistered yet: {}", id, a.message));
            }
        }
    }

    // status.drains, the progress message and the Drained events.
    void report(const std::set<int32_t>& to_drain) {
        std::vector<std::string> busy, stuck;
        for (const auto& [id, s] : states) {
            if (!s.drained && !to_drain.count(id)) {
                continue;
            }
            api::drain_status d{id, "", s.replicas, s.leaders, s.moves_in_flight, s.stuck};
            d.state = unregistered.count(id) ? drain_unregistered : s.empty() && s.drained ? drain_drained : drain_draining;
            const std::string before = previous_state(id);
            if (d.state == drain_drained && before != drain_drained && before != drain_unregistered) {
                event("Normal", "Drained",
                      fmt::format("Broker {} is drained: it holds no replica and no leadership{}", id,
                                  id >= in.want ? "" : "; its pod keeps running empty (spec.brokers.drainedIds)"));
            }
            if (d.state == drain_draining && to_drain.count(id)) {
                busy.push_back(progress(s));
                for (const auto& why : s.stuck) {
                    stuck.push_back(why);
                }
            }
            out.drains.push_back(std::move(d));
        }
        if (!busy.empty()) {
            std::string m = "draining brokers " + fmt::format("{}", fmt::join(busy, ", "));
            if (!stuck.empty()) {
                const size_t shown = std::min<size_t>(stuck.size(), 5);
                m += fmt::format("; cannot move now: {}{}", fmt::join(stuck.begin(), stuck.begin() + ptrdiff_t(shown), "; "),
                                 stuck.size() > shown ? fmt::format(" (and {} more)", stuck.size() - shown) : "");
            }
            wait("Draining", m);
        }
    }
};

} // namespace

scale_outcome scale_brokers(const scale_input& in, drain_ops* ops, const std::string& bootstrap) {
    run r{in, ops, bootstrap, {}, {}, {}, {}};
    const auto to_drain = brokers_to_drain(in);
    bool known = false;
    if (ops == nullptr) {
        if (!to_drain.empty()) {
            r.wait("WaitingForCluster", "brokers to drain, but this operator has no Kafka access to the cluster");
        }
    } else if (bootstrap.empty()) {
        if (!to_drain.empty()) {
            r.wait("WaitingForCluster", "brokers to drain, but no broker is ready to ask");
        }
    } else if (auto d = ops->describe(bootstrap); d.outcome != drain_outcome::ok) {
        if (!to_drain.empty()) {
            r.wait("WaitingForCluster", "draining waits for the cluster: " + d.message);
        }
    } else {
        known = true;
        r.merge(d);
        r.drain(to_drain);
        for (const auto& [id, s] : r.states) {
            if (s.drained && s.empty()) {
                r.empty.insert(id);
            }
        }
    }
    r.out.target = target_replicas(in, r.empty, known);
    if (known) {
        r.undrain();
        r.unregister();
        r.report(to_drain);
    } else {
        // A pass that can't read the drains (a coordinator failover, say) leaves status.drains
        // as the last one that could: dropping it would show the drain gone, then back, and
        // announce Drained twice.
        r.out.drains = in.previous_drains;
    }
    return std::move(r.out);
}

} // namespace trib::op::controller
