// The consumer group APIs: each finds the group's offsets partition, and the shard serving it
// on this broker (broker/groups/group_coordinator.h) answers; where this broker does not
// serve it the answer is NOT_COORDINATOR (or COORDINATOR_LOAD_IN_PROGRESS while it loads),
// and the client asks FindCoordinator again.
#include "broker/groups/group_coordinator.h"
#include "broker/handlers/handlers.h"
#include "broker/services.h"

#include <algorithm>
#include <chrono>
#include <map>

namespace trib::broker {

using protocol::error_code;
using groups::group_shard;

namespace {

using std::chrono::milliseconds;

// Bounds the life of a request waiting on a shard, beyond any timeout the group itself keeps.
constexpr milliseconds guard_margin{30000};

int32_t offsets_partition(request_context& ctx, const std::string& group_id) {
    auto snap = ctx.services.metadata.get();
    const auto* t = snap->topic(groups::offsets_topic);
    int32_t n = t && !t->partitions.empty() ? int32_t(t->partitions.size()) : ctx.services.config.groups.offsets_partitions;
    return groups::group_coordinator::partition_for(group_id, n);
}

// "/127.0.0.1", as Kafka shows a member's host, from "ip:port".
std::string client_host(const std::string& peer) {
    auto colon = peer.rfind(':');
    std::string ip = colon == std::string::npos ? peer : peer.substr(0, colon);
    if (ip.size() >= 2 && ip.front() == '[' && ip.back() == ']') {
        ip = ip.substr(1, ip.size() - 2);
    }
    return "/" + ip;
}

// OffsetFetch's answer for one group, in either version's topic list (the shard gives a
// topic's partitions together).
template<typename Topics>
void add_offsets(Topics& topics, const std::vector<groups::fetched_offset>& offsets) {
    for (const auto& o : offsets) {
        if (topics.empty() || topics.back().name != o.topic) {
            topics.emplace_back().name = o.topic;
        }
        auto& p = topics.back().partitions.emplace_back();
        p.partition_index = o.partition;
        p.committed_offset = o.offset;
        p.committed_leader_epoch = o.leader_epoch;
        p.metadata = o.metadata;
        p.error_code = code(o.error);
    }
}

// As Kafka, an empty group id is refused before the group is looked for.
bool no_group_id(const std::string& group_id) { return group_id.empty(); }

// Why a request on one group is refused before the group is looked for: the ACLs (`op` on
// the group: GROUP_AUTHORIZATION_FAILED), then an empty group id (`empty`); none if not.
error_code group_refusal(const request_context& ctx, const std::string& group_id, security::acl_operation op,
                         error_code empty = error_code::invalid_group_id) {
    if (!ctx.authorized_group(op, group_id)) {
        return error_code::group_authorization_failed;
    }
    return no_group_id(group_id) ? empty : error_code::none;
}

// A response whose answer is its top-level error code alone.
template<typename Resp>
Resp error_response(error_code e) {
    Resp r;
    r.error_code = code(e);
    return r;
}

template<typename R>
const error_code* failed(const groups::group_coordinator::or_error<R>& r) {
    return std::get_if<error_code>(&r);
}

// The shard's answer, or one carrying the reason it gave none.
template<typename Resp>
Resp answer(groups::group_coordinator::or_error<Resp>&& r) {
    if (const auto* e = failed(r)) {
        return error_response<Resp>(*e);
    }
    return std::get<Resp>(std::move(r));
}

} // namespace

handler_result<protocol::join_group_response> join_group_handler::handle(request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::read); refused != error_code::none) {
        response resp;
        resp.error_code = code(refused);
        resp.member_id = req.member_id;
        if (ctx.version() >= 7) {
            resp.protocol_name = std::nullopt;
        }
        co_return resp;
    }
    auto part = offsets_partition(ctx, req.group_id);
    groups::client_info client{ctx.header.client_id.value_or(""), client_host(ctx.conn.peer)};
    int16_t version = ctx.version();
    auto f = [&](group_shard& s, std::function<void(response)> done) { s.join(req, version, client, std::move(done)); };
    auto guard = milliseconds(std::max(req.rebalance_timeout_ms, req.session_timeout_ms)) + guard_margin;
    auto r = co_await ctx.services.groups.deferred<response>(part, f, guard);
    if (const auto* e = failed(r)) {
        response resp;
        resp.error_code = code(*e);
        resp.member_id = req.member_id;
        if (version >= 7) {
            resp.protocol_name = std::nullopt;
        }
        co_return resp;
    }
    co_return std::get<response>(std::move(r));
}

handler_result<protocol::sync_group_response> sync_group_handler::handle(request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::read); refused != error_code::none) {
        co_return error_response<response>(refused);
    }
    auto part = offsets_partition(ctx, req.group_id);
    int16_t version = ctx.version();
    auto f = [&](group_shard& s, std::function<void(response)> done) { s.sync(req, version, std::move(done)); };
    auto guard = milliseconds(ctx.services.config.groups.shard.max_session_timeout_ms) + guard_margin;
    auto r = co_await ctx.services.groups.deferred<response>(part, f, guard);
    co_return answer(std::move(r));
}

handler_result<protocol::heartbeat_response> heartbeat_handler::handle(request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::read); refused != error_code::none) {
        co_return error_response<response>(refused);
    }
    auto part = offsets_partition(ctx, req.group_id);
    int16_t version = ctx.version();
    auto f = [&](group_shard& s) { return s.heartbeat(req, version); };
    auto r = co_await ctx.services.groups.immediate(part, f);
    co_return answer(std::move(r));
}

handler_result<protocol::leave_group_response> leave_group_handler::handle(request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::read); refused != error_code::none) {
        co_return error_response<response>(refused);
    }
    auto part = offsets_partition(ctx, req.group_id);
    int16_t version = ctx.version();
    auto f = [&](group_shard& s, std::function<void(response)> done) { s.leave(req, version, std::move(done)); };
    auto r = co_await ctx.services.groups.deferred<response>(part, f, guard_margin);
    co_return answer(std::move(r));
}

handler_result<protocol::offset_commit_response> offset_commit_handler::handle(request_context& ctx, request&& req) {
    // ACLs, as Kafka: READ on the group (else every partition GROUP_AUTHORIZATION_FAILED),
    // READ on each topic (else its partitions TOPIC_AUTHORIZATION_FAILED).
    const bool group_ok = ctx.authorized_group(security::acl_operation::read, req.group_id);
    auto refused_topics = split_refused(
        req.topics, [&](const auto& t) { return ctx.authorized_topic(security::acl_operation::read, t.name); });
    auto add_refused = [&](response& resp) {
        for (const auto& t : refused_topics) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            for (const auto& p : t.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = p.partition_index;
                rp.error_code = code(error_code::topic_authorization_failed);
            }
        }
    };
    if (!group_ok) {
        req.topics.insert(req.topics.end(), std::make_move_iterator(refused_topics.begin()),
                          std::make_move_iterator(refused_topics.end()));
        refused_topics.clear();
    }
    auto part = offsets_partition(ctx, req.group_id);
    int16_t version = ctx.version();
    auto f = [&](group_shard& s, std::function<void(response)> done) {
        s.commit_offsets(req, version, std::move(done));
    };
    auto guard = milliseconds(ctx.services.config.groups.commit_timeout_ms) + guard_margin;
    groups::group_coordinator::or_error<response> r =
        group_ok ? error_code::invalid_group_id : error_code::group_authorization_failed;
    if (group_ok && !no_group_id(req.group_id)) {  // (not a co_await inside ?:, which g++ 12 miscompiles)
        r = co_await ctx.services.groups.deferred<response>(part, f, guard);
    }
    if (const auto* e = failed(r)) {
        response resp;
        for (const auto& t : req.topics) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            for (const auto& p : t.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = p.partition_index;
                rp.error_code = code(*e);
            }
        }
        add_refused(resp);
        co_return resp;
    }
    auto resp = std::get<response>(std::move(r));
    add_refused(resp);
    co_return resp;
}

handler_result<protocol::offset_fetch_response> offset_fetch_handler::handle(request_context& ctx, request&& req) {
    // One group's offsets, in the neutral shape both versions' answers are made from.
    auto fetch_group = [&ctx, require_stable = req.require_stable](
                           const std::string& group_id, const std::optional<std::vector<groups::wanted_topic>>& wanted,
                           const groups::fetching_member& who) -> asio::awaitable<groups::fetched_group> {
        // ACLs, as Kafka: DESCRIBE on the group, and on each topic: a topic asked for by name
        // is answered TOPIC_AUTHORIZATION_FAILED, one of "every topic" left out.
        using security::acl_operation;
        if (!ctx.authorized_group(acl_operation::describe, group_id)) {
            groups::fetched_group g;
            g.error = error_code::group_authorization_failed;
            co_return g;
        }
        auto may_describe = [&](const std::string& t) { return ctx.authorized_topic(acl_operation::describe, t); };
        std::optional<std::vector<groups::wanted_topic>> allowed = wanted;
        std::vector<groups::wanted_topic> refused;
        if (allowed) {
            refused = split_refused(*allowed, [&](const auto& t) { return may_describe(t.topic); });
        }
        auto part = offsets_partition(ctx, group_id);
        auto f = [&](group_shard& s) { return s.fetch_offsets(group_id, allowed, require_stable, who); };
        auto r = co_await ctx.services.groups.immediate(part, f);
        if (const auto* e = failed(r)) {
            groups::fetched_group g;
            g.error = *e;
            co_return g;
        }
        auto g = std::get<groups::fetched_group>(std::move(r));
        if (!allowed) {
            std::erase_if(g.offsets, [&](const auto& o) { return !may_describe(o.topic); });
        }
        for (const auto& t : refused) {
            for (int32_t p : t.partitions) {
                auto& o = g.offsets.emplace_back();
                o.topic = t.topic;
                o.partition = p;
                o.offset = -1;
                o.error = error_code::topic_authorization_failed;
            }
        }
        co_return g;
    };
    response resp;
    if (ctx.version() >= 8) {
        for (const auto& rg : req.groups) {
            std::optional<std::vector<groups::wanted_topic>> wanted;
            if (rg.topics) {
                wanted.emplace();
                for (const auto& t : *rg.topics) {
                    wanted->push_back({t.name, t.partition_indexes});
                }
            }
            const groups::fetching_member who{rg.member_id, rg.member_epoch};
            auto g = co_await fetch_group(rg.group_id, wanted, who);
            auto& out = resp.groups.emplace_back();
            out.group_id = rg.group_id;
            out.error_code = code(g.error);
            add_offsets(out.topics, g.offsets);
        }
        co_return resp;
    }
    std::optional<std::vector<groups::wanted_topic>> wanted;
    if (req.topics) {
        wanted.emplace();
        for (const auto& t : *req.topics) {
            wanted->push_back({t.name, t.partition_indexes});
        }
    }
    const groups::fetching_member nobody;
    auto g = co_await fetch_group(req.group_id, wanted, nobody);
    resp.error_code = code(g.error);
    if (g.error != error_code::none && ctx.version() < 2 && wanted) {
        // v0-1 have no group-level error: each partition asked for carries it.
        for (const auto& t : *wanted) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.topic;
            for (int32_t p : t.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = p;
                rp.committed_offset = -1;
                rp.error_code = code(g.error);
            }
        }
        co_return resp;
    }
    add_offsets(resp.topics, g.offsets);
    co_return resp;
}

handler_result<protocol::offset_delete_response> offset_delete_handler::handle(request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::remove); refused != error_code::none) {
        co_return error_response<response>(refused);
    }
    auto part = offsets_partition(ctx, req.group_id);
    auto f = [&](group_shard& s, std::function<void(response)> done) { s.delete_offsets(req, std::move(done)); };
    auto guard = milliseconds(ctx.services.config.groups.commit_timeout_ms) + guard_margin;
    auto r = co_await ctx.services.groups.deferred<response>(part, f, guard);
    co_return answer(std::move(r));
}

// DescribeGroups and ConsumerGroupDescribe: each group described by its shard, in order.
template<typename Resp, typename Describe>
asio::awaitable<Resp> describe_each(request_context& ctx, const std::vector<std::string>& ids, Describe describe) {
    Resp resp;
    for (const auto& id : ids) {
        auto part = offsets_partition(ctx, id);
        auto f = [&](group_shard& s) { return describe(s, id); };
        groups::group_coordinator::or_error<std::invoke_result_t<decltype(f)&, group_shard&>> r =
            error_code::group_authorization_failed;  // ACLs, as Kafka: DESCRIBE on the group
        if (ctx.authorized_group(security::acl_operation::describe, id)) {
            r = co_await ctx.services.groups.immediate(part, f);
        }
        if (const auto* e = failed(r)) {
            auto& g = resp.groups.emplace_back();
            g.error_code = code(*e);
            g.group_id = id;
            continue;
        }
        resp.groups.push_back(std::get<typename Resp::described_group>(std::move(r)));
    }
    co_return resp;
}

// Authorized operations of each group described (DescribeGroups v3+, ConsumerGroupDescribe),
// as Kafka: only of the groups answered without an error.
template<typename Resp>
void set_authorized_operations(const request_context& ctx, Resp& resp) {
    for (auto& g : resp.groups) {
        if (g.error_code == code(error_code::none)) {
            g.authorized_operations = ctx.authorized_operations(security::acl_resource::group, g.group_id);
        }
    }
}

handler_result<protocol::describe_groups_response> describe_groups_handler::handle(request_context& ctx,
                                                                                   request&& req) {
    auto resp = co_await describe_each<response>(ctx, req.groups,
                                                 [](group_shard& s, const std::string& id) { return s.describe(id); });
    if (req.include_authorized_operations) {
        set_authorized_operations(ctx, resp);
    }
    co_return resp;
}

handler_result<protocol::list_groups_response> list_groups_handler::handle(request_context& ctx, request&& req) {
    response resp;
    auto f = [&](group_shard& s) { s.list(req.states_filter, req.types_filter, resp.groups); };
    size_t loading = co_await ctx.services.groups.each_shard(f);
    // ACLs, as Kafka: DESCRIBE on the cluster lists every group, else those the principal may
    // DESCRIBE.
    if (!ctx.authorized_cluster(security::acl_operation::describe)) {
        std::erase_if(resp.groups, [&](const auto& g) {
            return !ctx.authorized_group(security::acl_operation::describe, g.group_id);
        });
    }
    if (loading > 0) {
        resp.error_code = code(error_code::coordinator_load_in_progress);  // as Kafka: the list would be partial
    }
    co_return resp;
}

handler_result<protocol::consumer_group_heartbeat_response> consumer_group_heartbeat_handler::handle(
    request_context& ctx, request&& req) {
    if (auto refused = group_refusal(ctx, req.group_id, security::acl_operation::read, error_code::invalid_request);
        refused != error_code::none) {
        auto r = error_response<response>(refused);
        if (refused == error_code::invalid_request) {
            r.error_message = "GroupId can't be empty.";
        }
        co_return r;
    }
    // ACLs, as Kafka: a subscription may name only topics the principal may DESCRIBE.
    if (req.subscribed_topic_names) {
        std::string unauthorized;
        for (const auto& t : *req.subscribed_topic_names) {
            if (!ctx.authorized_topic(security::acl_operation::describe, t)) {
                unauthorized += (unauthorized.empty() ? "" : ", ") + t;
            }
        }
        if (!unauthorized.empty()) {
            auto r = error_response<response>(error_code::topic_authorization_failed);
            r.error_message = "The group has subscribed to topics that are not authorized: " + unauthorized;
            co_return r;
        }
    }
    auto part = offsets_partition(ctx, req.group_id);
    // Its regex resolves over the topics this principal may DESCRIBE (group_shard.cc).
    groups::client_info client{ctx.header.client_id.value_or(""), client_host(ctx.conn.peer),
                               {std::string(ctx.principal()), std::string(ctx.client_host()), !ctx.authorizer_applies()}};
    int16_t version = ctx.version();
    auto f = [&](group_shard& s, std::function<void(response)> done) {
        s.consumer_heartbeat(req, version, client, std::move(done));
    };
    auto guard = milliseconds(ctx.services.config.groups.commit_timeout_ms) + guard_margin;
    auto r = co_await ctx.services.groups.deferred<response>(part, f, guard);
    co_return answer(std::move(r));
}

handler_result<protocol::consumer_group_describe_response> consumer_group_describe_handler::handle(
    request_context& ctx, request&& req) {
    auto resp = co_await describe_each<response>(
        ctx, req.group_ids, [](group_shard& s, const std::string& id) { return s.consumer_describe(id); });
    if (req.include_authorized_operations) {
        set_authorized_operations(ctx, resp);
    }
    co_return resp;
}

handler_result<protocol::delete_groups_response> delete_groups_handler::handle(request_context& ctx, request&& req) {
    using result = response::deletable_group_result;
    std::map<int32_t, std::vector<std::string>> by_partition;
    response resp;
    for (const auto& id : req.groups_names) {
        if (!ctx.authorized_group(security::acl_operation::remove, id)) {  // ACLs, as Kafka
            auto& g = resp.results.emplace_back();
            g.group_id = id;
            g.error_code = code(error_code::group_authorization_failed);
            continue;
        }
        by_partition[offsets_partition(ctx, id)].push_back(id);
    }
    for (auto& [part, ids] : by_partition) {
        auto f = [&ids](group_shard& s, std::function<void(std::vector<result>)> done) {
            s.delete_groups(ids, std::move(done));
        };
        auto guard = milliseconds(ctx.services.config.groups.commit_timeout_ms) + guard_margin;
        auto r = co_await ctx.services.groups.deferred<std::vector<result>>(part, f, guard);
        if (const auto* e = failed(r)) {
            for (const auto& id : ids) {
                auto& g = resp.results.emplace_back();
                g.group_id = id;
                g.error_code = code(*e);
            }
            continue;
        }
        for (auto& g : std::get<std::vector<result>>(r)) {
            resp.results.push_back(std::move(g));
        }
    }
    co_return resp;
}

} // namespace trib::broker
