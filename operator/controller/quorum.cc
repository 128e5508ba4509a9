#include "operator/controller/quorum.h"

#include "common/log.h"
#include "operator/controller/broker_status.h"
#include "operator/controller/quorum_ops.h"

#include <algorithm>
#include <map>

namespace trib::op::controller {

namespace res = k8s::resources;

namespace {

// The ordinal of a coordinator id; -1 for an id that is not one of the operator's.
int32_t ordinal_of(int32_t id) { return id >= coordinator_id_base ? id - coordinator_id_base : -1; }

std::string ids_text(const std::vector<int32_t>& ids) {
    std::string out;
    for (auto id : ids) {
        out += (out.empty() ? "" : ", ") + std::to_string(id);
    }
    return out;
}

std::string short_dir(const std::string& d) { return d.empty() ? "(none)" : d; }

} // namespace

quorum_decision decide_quorum(int32_t spec, int32_t current, const std::optional<quorum_view>& view) {
    quorum_decision d;
    spec = std::max(spec, 1);
    if (!view || view->leader_id < 0) {
        // Growing is safe blind (a new pod follows as an observer until added); shrinking is
        // not (it could stop a voter).
        d.what = quorum_decision::kind::wait;
        d.replicas = std::max(spec, current);
        d.message = !view ? "the coordinators' quorum could not be read" : "the coordinators' quorum has no leader";
        return d;
    }
    int32_t highest = -1;
    std::map<int32_t, const quorum_replica*> voters;  // by ordinal
    for (const auto& v : view->voters) {
        const int32_t ord = ordinal_of(v.id);
        if (ord >= 0) {
            voters[ord] = &v;
            highest = std::max(highest, ord);
        }
    }
    d.replicas = std::max({spec, highest + 1, 1});
    // An observer's latest directory per id (a coordinator, not a broker: ids from 1000).
    std::map<int32_t, std::string> observed;
    for (const auto& o : view->observers) {
        if (ordinal_of(o.id) >= 0 && !o.directory.empty()) {
            observed[o.id] = o.directory;
        }
    }
    // 1. A voter running again on a wiped disk: its seat names the old directory.
    for (const auto& [ord, v] : voters) {
        auto it = observed.find(v->id);
        if (it != observed.end() && it->second != v->directory) {
            if (voters.size() == 1) {
                d.what = quorum_decision::kind::wait;
                d.message = "coordinator " + std::to_string(v->id) +
                            " runs with a new directory but is the only voter: it can't be replaced";
                return d;
            }
            d.what = quorum_decision::kind::remove;
            d.id = v->id;
            d.directory = v->directory;
            d.replacement = true;
            d.message = "replacing coordinator " + std::to_string(v->id) + ": its directory " +
                        short_dir(v->directory) +
                        " is gone (it runs with " + it->second + "); removing the old seat first";
            return d;
        }
    }
    // 2. Grow: the lowest ordinal below the spec without a seat.
    for (int32_t ord = 0; ord < spec; ++ord) {
        if (voters.count(ord)) {
            continue;
        }
        const int32_t id = coordinator_id(ord);
        auto it = observed.find(id);
        if (it == observed.end()) {
            d.what = quorum_decision::kind::wait;
            d.message = "coordinator " + std::to_string(id) +
                        " is not a voter yet: waiting for it to follow the leader (an observer in DescribeQuorum)";
            return d;
        }
        d.what = quorum_decision::kind::add;
        d.id = id;
        d.directory = it->second;
        d.message = "adding coordinator " + std::to_string(id) + " (directory " + it->second + ") to the voters";
        return d;
    }
    // 3. Shrink: the highest-ordinal voter at or above the spec, one at a time.
    if (highest >= spec) {
        const auto* v = voters.at(highest);
        d.what = quorum_decision::kind::remove;
        d.id = v->id;
        d.directory = v->directory;
        d.message = "removing coordinator " + std::to_string(v->id) + " from the voters";
        return d;
    }
    return d;
}

std::vector<int32_t> voters_in_status(const json& status) {
    std::vector<int32_t> out;
    const json* v = field_at(status, {"quorum", "voters"});
    if (v == nullptr || !v->is_array()) {
        return out;
    }
    for (const auto& x : v->as_array()) {
        if (x.is_integer()) {
            out.push_back(x.as_integer());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

quorum_outcome manage_quorum(const quorum_inputs& in) {
    const auto& ctx = in.ctx;
    const int32_t spec = std::max(ctx.spec().coordinators.replicas, 1);
    quorum_outcome out;
    if (in.ops == nullptr) {
        // No cluster access (unit tests): the single seed coordinator, as before.
        out.replicas = 1;
        out.voters = {coordinator_id(0)};
        return out;
    }
    // Every coordinator pod with an address, up to what may hold a voter.
    std::vector<std::string> addresses;
    const int32_t pods = std::max({spec, in.current, 1}) + 4;  // removed voters may still run above
    std::map<int32_t, bool> running;  // by ordinal: the pod exists and is not being deleted
    for (int32_t ord = 0; ord < pods; ++ord) {
        auto pod = in.cache.get(res::pods, ctx.ns(), pod_name(ctx.name(), component::coordinator, ord));
        if (!pod) {
            continue;
        }
        running[ord] = field_at(*pod, {"metadata", "deletionTimestamp"}) == nullptr;
        const std::string ip = string_at(*pod, {"status", "podIP"});
        if (!ip.empty()) {
            addresses.push_back(ip + ":" + std::to_string(api::coordinator_port));
        }
    }
    std::optional<quorum_view> view;
    std::string why;
    if (!addresses.empty()) {
        view = in.ops->describe(addresses, why);
    } else {
        why = "no coordinator pod has an address yet";
    }
    auto d = decide_quorum(spec, in.current, view);
    api::quorum_status st;
    // The voter set last read; a pass that can't read keeps the one in status, and a cluster
    // without either (new, or its first pass by this operator version) the seed alone.
    if (view) {
        st.leader = view->leader_id;
        st.epoch = view->epoch;
        for (const auto& v : view->voters) {
            st.voters.push_back(v.id);
        }
        std::sort(st.voters.begin(), st.voters.end());
    } else {
        st.voters = voters_in_status(in.old_status);
    }
    if (st.voters.empty()) {
        st.voters = {coordinator_id(0)};
    }
    out.voters = st.voters;
    out.replicas = d.replicas;
    const std::string old_change = string_at(in.old_status, {"quorum", "change"});
    if (d.what == quorum_decision::kind::add || d.what == quorum_decision::kind::remove) {
        const int32_t ord = ordinal_of(d.id);
        voter_change_result r;
        if (d.what == quorum_decision::kind::remove && !d.replacement && !running[ord]) {
            r = {voter_change_result::kind::busy, "its pod is not running"};
            d.message = "coordinator " + std::to_string(d.id) + " leaves the voters once its pod runs again";
        } else if (d.what == quorum_decision::kind::add) {
            r = in.ops->add_voter(addresses, d.id, d.directory,
                                  pod_dns_name(ctx, component::coordinator, ord), api::coordinator_port);
        } else {
            r = in.ops->remove_voter(addresses, d.id, d.directory);
        }
        const std::string who = "coordinator " + std::to_string(d.id);
        switch (r.what) {
        case voter_change_result::kind::done:
            if (d.what == quorum_decision::kind::add) {
                in.events.record(in.object, "Normal", "CoordinatorAdded",
                                 who + " joined the metadata quorum's voters (directory " + d.directory + ")");
                st.voters.push_back(d.id);
            } else if (d.replacement) {
                in.events.record(in.object, "Normal", "CoordinatorReplaced",
                                 who + " lost its disk: its old seat (directory " + short_dir(d.directory) +
                                     ") was removed; it is added back with its new directory next");
                st.voters.erase(std::remove(st.voters.begin(), st.voters.end(), d.id), st.voters.end());
            } else {
                in.events.record(in.object, "Normal", "CoordinatorRemoved",
                                 who + " left the metadata quorum's voters (spec.coordinators.replicas " +
                                     std::to_string(spec) + ")");
                st.voters.erase(std::remove(st.voters.begin(), st.voters.end(), d.id), st.voters.end());
            }
            std::sort(st.voters.begin(), st.voters.end());
            out.voters = st.voters;
            TLOG_INFO("{}/{}: {}: done", ctx.ns(), ctx.name(), d.message);
            st.change = d.message;
            break;
        case voter_change_result::kind::busy:
            st.change = d.message;
            d.message += " (in progress: " + r.message + ")";
            break;
        case voter_change_result::kind::refused:
            d.message += ": refused: " + r.message;
            if (old_change != d.message) {
                in.events.record(in.object, "Warning", "QuorumChangeRefused", who + ": " + r.message);
            }
            st.change = d.message;
            break;
        case voter_change_result::kind::unreachable:
            d.message += ": no answer: " + r.message;
            st.change = d.message;
            break;
        }
    } else if (d.what == quorum_decision::kind::wait && !view) {
        d.message += why.empty() ? "" : ": " + why;
    }
    // Ready: the voters are exactly the spec's ordinals, and nothing is left to do.
    std::vector<int32_t> want;
    for (int32_t ord = 0; ord < spec; ++ord) {
        want.push_back(coordinator_id(ord));
    }
    out.ready = view && view->leader_id >= 0 && d.what == quorum_decision::kind::none && st.voters == want;
    if (!out.ready) {
        out.reason = !view                                  ? "QuorumUnreadable"
                     : view->leader_id < 0                  ? "NoLeader"
                     : d.replacement                        ? "ReplacingCoordinator"
                     : d.what == quorum_decision::kind::remove ? "RemovingCoordinator"
                                                            : "AddingCoordinator";
        out.message = "voters " + ids_text(st.voters) + ", want " + ids_text(want) + ": " + d.message;
    }
    st.message = out.message;
    out.status = std::move(st);
    return out;
}

} // namespace trib::op::controller
