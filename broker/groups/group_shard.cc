#include "broker/groups/group_shard.h"

#include "broker/groups/assignors.h"
#include "broker/groups/classic_group.h"
#include "broker/groups/consumer_group.h"
#include "protocol/wire.h"

#include <algorithm>
#include <cctype>
#include <deque>
#include <limits>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <tuple>
#include <utility>

// The classic group protocol as Apache Kafka 4.x's GroupMetadataManager and ClassicGroup run
// it, and committed offsets as its OffsetMetadataManager keeps them. Differences, all
// deliberate:
// - A new group is not written when its first member joins (Kafka writes an empty
//   GroupMetadataValue then, to commit the group to its timeline structures); the first
//   record of a group is its first synced generation, or its first committed offset.
// - In-memory state follows the log: a commit, an offset deletion or a group deletion
//   changes memory when its records are committed, never before (Kafka applies them at once
//   and reverts a failed write). DeleteGroups marks the group Dead while its tombstones are
//   written, so that nobody joins a group about to disappear.
// - A request that replaces one still waiting (the same member's JoinGroup or SyncGroup sent
//   again) answers the older one REBALANCE_IN_PROGRESS, where Kafka drops it unanswered; a
//   member removed while its SyncGroup waits is answered UNKNOWN_MEMBER_ID.
// - The protocol vote breaks ties by name (Kafka: by hash map order).
namespace trib::broker::groups {

namespace {

using namespace classic;

// Kafka's group.classic.new.member.join.timeout: a new member's parked JoinGroup expires.
constexpr int64_t new_member_join_timeout_ms = 5 * 60 * 1000;

int16_t code(error_code e) { return protocol::to_int(e); }

// Kafka's appendGroupMetadataErrorToResponseError: a failed write of group metadata as the
// member sees it.
error_code group_write_error(error_code e) {
    switch (e) {
    case error_code::unknown_topic_or_partition:
    case error_code::not_enough_replicas:
    case error_code::not_enough_replicas_after_append:
    case error_code::request_timed_out:
        return error_code::coordinator_not_available;
    case error_code::not_leader_or_follower:
    case error_code::kafka_storage_error:
        return error_code::not_coordinator;
    case error_code::message_too_large:
    case error_code::record_list_too_large:
    case error_code::invalid_fetch_size:
        return error_code::unknown_server_error;
    default:
        return e;
    }
}

// The same for a failed write of offsets (GroupCoordinatorService's commit error mapping).
error_code offset_write_error(error_code e) {
    switch (e) {
    case error_code::message_too_large:
    case error_code::record_list_too_large:
    case error_code::invalid_fetch_size:
        return error_code::invalid_commit_offset_size;
    default:
        return group_write_error(e);
    }
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(uint8_t(x)) == std::tolower(uint8_t(y));
           });
}


protocol::offset_commit_key offset_key(const std::string& group_id, const std::string& topic, int32_t partition) {
    protocol::offset_commit_key k;
    k.group = group_id;
    k.topic = topic;
    k.partition = partition;
    return k;
}

bytes group_key(const std::string& group_id) {
    protocol::group_metadata_key k;
    k.group = group_id;
    return encode_key(k);
}

shard_host::record offset_record(const std::string& group_id, const std::string& topic, int32_t partition,
                                 const committed_offset& o) {
    protocol::offset_commit_value v;
    v.offset = o.offset;
    v.leader_epoch = o.leader_epoch;
    v.metadata = o.metadata;
    v.commit_timestamp = o.commit_timestamp;
    v.expire_timestamp = o.expire_timestamp;
    return {encode_key(offset_key(group_id, topic, partition)), encode_value(v)};
}

shard_host::record offset_tombstone(const std::string& group_id, const std::string& topic, int32_t partition) {
    return {encode_key(offset_key(group_id, topic, partition)), std::nullopt};
}

shard_host::record group_tombstone(const std::string& group_id) {
    return {group_key(group_id), std::nullopt};
}

// Kafka's newGroupMetadataRecord: the group and each member's subscription and assignment
// (`assignment` by member id, a missing member assigned nothing).
shard_host::record group_record(const group& g, const std::map<std::string, bytes>& assignment) {
    protocol::group_metadata_value v;
    v.protocol_type = g.protocol_type.value_or("");
    v.generation = g.generation;
    v.protocol = g.protocol_name;
    v.leader = g.leader;
    v.current_state_timestamp = g.state_timestamp;
    for (const auto& [id, m] : g.members) {
        protocol::group_metadata_value::member_metadata mm;
        mm.member_id = id;
        mm.group_instance_id = m.instance_id;
        mm.client_id = m.client_id;
        mm.client_host = m.client_host;
        mm.rebalance_timeout = m.rebalance_timeout_ms;
        mm.session_timeout = m.session_timeout_ms;
        mm.subscription = m.metadata(g.protocol_name);
        auto it = assignment.find(id);
        if (it != assignment.end()) {
            mm.assignment = it->second;
        }
        v.members.push_back(std::move(mm));
    }
    return {group_key(g.id), encode_value(v)};
}

std::map<std::string, bytes> current_assignment(const group& g) {
    std::map<std::string, bytes> a;
    for (const auto& [id, m] : g.members) {
        a[id] = m.assignment;
    }
    return a;
}

// The member's protocols in its order; a name given twice counts once (its first metadata),
// so that each member supports a protocol at most once in the group's tally.
std::vector<join_protocol> protocols_of(const protocol::join_group_request& req) {
    std::vector<join_protocol> out;
    std::set<std::string_view> seen;
    out.reserve(req.protocols.size());
    for (const auto& p : req.protocols) {
        if (seen.insert(p.name).second) {
            out.push_back({p.name, p.metadata});
        }
    }
    return out;
}

protocol::join_group_response join_error(error_code e, std::string member_id) {
    protocol::join_group_response r;
    r.error_code = code(e);
    r.member_id = std::move(member_id);
    return r;
}

protocol::sync_group_response sync_error(error_code e) {
    protocol::sync_group_response r;
    r.error_code = code(e);
    return r;
}

} // namespace

struct group_shard::impl {
    int32_t partition;
    shard_host& host;
    group_config cfg;
    std::map<std::string, group> groups;
    bool is_loaded = false;
    bool is_unloaded = false;
    std::mt19937_64 rng{std::random_device{}()};
    uint64_t next_write = 1;
    std::map<uint64_t, std::function<void(error_code)>> writes;  // appends not yet answered
    std::shared_ptr<impl*> self = std::make_shared<impl*>(this);
    int64_t next_expiry_check = no_deadline;
    bool expiry_in_flight = false;
    // Each group's earliest timer, so that next_deadline() need not look at every member:
    // updated for the group a request or a write's outcome touched, and for all at poll().
    std::set<std::pair<int64_t, std::string>> timers;
    std::map<std::string, int64_t> timer_of;

    impl(int32_t p, shard_host& h, group_config c) : partition(p), host(h), cfg(c) {}

    // ---- plumbing

    template<typename R>
    void reply(std::function<void(R)> cb, R r) {
        if (!cb) {
            return;
        }
        host.post([cb = std::move(cb), r = std::move(r)]() mutable { cb(std::move(r)); });
    }

    int64_t group_deadline(const group& g) const {
        int64_t d = std::min(g.join_deadline, g.sync_deadline);
        for (const auto& [_, deadline] : g.pending_members) {
            d = std::min(d, deadline);
        }
        for (const auto& [_, m] : g.members) {
            d = std::min(d, m.heartbeat_deadline);
        }
        return std::min(d, consumer_deadline(g));
    }

    void reindex(const std::string& id) {
        auto old = timer_of.find(id);
        if (old != timer_of.end()) {
            timers.erase({old->second, id});
            timer_of.erase(old);
        }
        const group* g = find(id);
        const int64_t d = g ? group_deadline(*g) : no_deadline;
        if (d != no_deadline) {
            timers.emplace(d, id);
            timer_of.emplace(id, d);
        }
    }

    void reindex_all() {
        timers.clear();
        timer_of.clear();
        for (const auto& [id, _] : groups) {
            reindex(id);
        }
    }

    // Appends `records` and runs on_done with the outcome, unless the shard is gone by then;
    // `touched` names the group whose timers on_done may change.
    void write(std::vector<shard_host::record> records, std::function<void(error_code)> on_done,
               std::string touched = {}) {
        if (is_unloaded) {
            on_done(error_code::not_coordinator);
            return;
        }
        const uint64_t id = next_write++;
        writes.emplace(id, std::move(on_done));
        std::weak_ptr<impl*> weak = self;
        host.append(std::move(records), [weak, id, touched = std::move(touched)](error_code e) {
            auto alive = weak.lock();
            if (!alive) {
                return;
            }
            impl& me = **alive;
            auto it = me.writes.find(id);
            if (it == me.writes.end()) {
                return;  // answered NOT_COORDINATOR by unload()
            }
            auto f = std::move(it->second);
            me.writes.erase(it);
            f(e);
            if (!touched.empty()) {
                me.reindex(touched);
            }
        });
    }

    int64_t now() { return host.steady_ms(); }

    // offsets.retention.check.interval.ms, at least a second apart.
    int64_t expiry_interval() const { return std::max<int64_t>(cfg.offsets_retention_check_interval_ms, 1000); }

    std::string new_member_id(const std::string& prefix) {
        std::uniform_int_distribution<uint64_t> d;
        uint64_t hi = d(rng), lo = d(rng);
        hi = (hi & ~0xf000ULL) | 0x4000ULL;                           // version 4
        lo = (lo & ~(0xc000ULL << 48)) | (0x8000ULL << 48);           // variant 10
        static const char* hex = "0123456789abcdef";
        std::string s;
        auto put = [&](uint64_t v, int from, int to) {
            for (int i = from; i < to; ++i) {
                s += hex[(v >> (60 - 4 * i)) & 0xf];
            }
        };
        put(hi, 0, 8), s += '-', put(hi, 8, 12), s += '-', put(hi, 12, 16), s += '-';
        put(lo, 0, 4), s += '-', put(lo, 4, 16);
        return prefix + "-" + s;
    }

    // The answer for a request that came when the shard cannot serve it, or none.
    error_code unavailable() const {
        if (is_unloaded) {
            return error_code::not_coordinator;
        }
        if (!is_loaded) {
            return error_code::coordinator_load_in_progress;
        }
        return error_code::none;
    }

    group* find(const std::string& id) {
        auto it = groups.find(id);
        return it == groups.end() ? nullptr : &it->second;
    }

    group& get_or_create(const std::string& id) {
        auto [it, inserted] = groups.try_emplace(id);
        if (inserted) {
            it->second.id = id;
        }
        return it->second;
    }

    // Answers `e` to every member of `g` parked in JoinGroup or SyncGroup, before the members
    // go without a rebalance to answer them.
    void answer_parked(group& g, error_code e) {
        for (auto& [mid, m] : g.members) {
            reply(std::exchange(m.awaiting_join, nullptr), join_error(e, mid));
            reply(std::exchange(m.awaiting_sync, nullptr), sync_error(e));
        }
    }

    // A group tombstone took effect: the group is gone, but offsets committed after the
    // tombstones were chosen outlive it in a simple group, as replaying the log gives.
    void drop_group(const std::string& id) {
        auto it = groups.find(id);
        if (it == groups.end()) {
            return;
        }
        // Its tombstones are written: a member parked in it (none should be: a Dead group
        // takes no joins) is told to find its coordinator and join again, never left waiting.
        answer_parked(it->second, error_code::coordinator_not_available);
        topic_offsets keep = std::move(it->second.offsets);
        groups.erase(it);
        if (std::any_of(keep.begin(), keep.end(), [](const auto& t) { return !t.second.empty(); })) {
            get_or_create(id).offsets = std::move(keep);
        }
    }

    void transition(group& g, group_state s) {
        g.previous_state = g.state;
        g.state = s;
        g.state_timestamp = host.wall_ms();
    }

    // ---- members

    void add_member(group& g, member m, join_callback cb) {
        if (m.instance_id) {
            g.static_members[*m.instance_id] = m.id;
        }
        if (g.members.empty()) {
            g.protocol_type = m.protocol_type;
        }
        if (!g.leader) {
            g.leader = m.id;
        }
        g.count_protocols(m, +1);
        if (cb) {
            ++g.awaiting_join;
        }
        m.awaiting_join = std::move(cb);
        g.pending_members.erase(m.id);
        const std::string id = m.id;
        g.members.insert_or_assign(id, std::move(m));
    }

    // Removes a member from the group's books; its waiting requests are answered
    // UNKNOWN_MEMBER_ID.
    void remove_member(group& g, const std::string& id) {
        auto it = g.members.find(id);
        if (it != g.members.end()) {
            member& m = it->second;
            g.count_protocols(m, -1);
            if (m.awaiting_join) {
                --g.awaiting_join;
                reply(std::exchange(m.awaiting_join, nullptr), join_error(error_code::unknown_member_id, ""));
            }
            reply(std::exchange(m.awaiting_sync, nullptr), sync_error(error_code::unknown_member_id));
            if (m.instance_id) {
                g.static_members.erase(*m.instance_id);
            }
            g.members.erase(it);
        }
        if (g.is_leader(id)) {
            g.leader = g.members.empty() ? std::nullopt : std::optional(g.members.begin()->first);
        }
        g.pending_members.erase(id);
        g.pending_sync.erase(id);
    }

    void update_member(group& g, member& m, std::vector<join_protocol> protocols, int32_t rebalance_timeout_ms,
                       int32_t session_timeout_ms, join_callback cb) {
        g.count_protocols(m, -1);
        m.protocols = std::move(protocols);
        g.count_protocols(m, +1);
        m.rebalance_timeout_ms = rebalance_timeout_ms;
        m.session_timeout_ms = session_timeout_ms;
        if (cb && !m.awaiting_join) {
            ++g.awaiting_join;
        } else if (!cb && m.awaiting_join) {
            --g.awaiting_join;
        }
        // A JoinGroup sent again replaces the one still parked, which is told to rejoin.
        reply(std::exchange(m.awaiting_join, std::move(cb)), join_error(error_code::rebalance_in_progress, m.id));
    }

    bool complete_join_callback(group& g, member& m, protocol::join_group_response r) {
        if (!m.awaiting_join) {
            return false;
        }
        --g.awaiting_join;
        reply(std::exchange(m.awaiting_join, nullptr), std::move(r));
        return true;
    }

    void heartbeat_in(member& m, int64_t timeout_ms) { m.heartbeat_deadline = now() + timeout_ms; }

    std::vector<protocol::join_group_response::join_group_response_member> member_list(const group& g) const {
        std::vector<protocol::join_group_response::join_group_response_member> out;
        for (const auto& [id, m] : g.members) {
            protocol::join_group_response::join_group_response_member jm;
            jm.member_id = id;
            jm.group_instance_id = m.instance_id;
            jm.metadata = m.metadata(g.protocol_name);
            out.push_back(std::move(jm));
        }
        return out;
    }

    protocol::join_group_response generation_answer(const group& g, const std::string& member_id, bool with_members,
                                                    std::optional<std::string> leader, bool skip_assignment) {
        protocol::join_group_response r;
        if (with_members) {
            r.members = member_list(g);
        }
        r.member_id = member_id;
        r.generation_id = g.generation;
        r.protocol_name = g.protocol_name;
        r.protocol_type = g.protocol_type;
        r.leader = leader.value_or("");
        r.skip_assignment = skip_assignment;
        return r;
    }

    // ---- rebalance

    void maybe_prepare_rebalance_or_complete_join(group& g) {
        if (g.in(group_state::stable) || g.in(group_state::completing_rebalance) || g.in(group_state::empty)) {
            prepare_rebalance(g);
        } else {
            maybe_complete_join_phase(g);
        }
    }

    void maybe_complete_join_phase(group& g) {
        if (!g.in(group_state::preparing_rebalance) || g.previous_state == group_state::empty || !g.all_joined()) {
            return;  // an initial rebalance completes when its delay runs out
        }
        complete_join(g);
    }

    void prepare_rebalance(group& g) {
        if (g.in(group_state::completing_rebalance)) {
            reset_and_propagate(g, error_code::rebalance_in_progress);
        }
        g.pending_sync.clear();
        g.sync_deadline = no_deadline;
        const bool initial = g.in(group_state::empty);
        if (initial) {
            g.join_kind = join_timer::initial_delay;
            g.initial_delay_ms = cfg.initial_rebalance_delay_ms;
            g.initial_remaining_ms = std::max(g.rebalance_timeout_ms() - cfg.initial_rebalance_delay_ms, 0);
            g.join_deadline = now() + g.initial_delay_ms;
        }
        transition(g, group_state::preparing_rebalance);
        if (initial) {
            return;
        }
        if (g.all_joined()) {
            complete_join(g);
        } else {
            g.join_kind = join_timer::rebalance;
            g.join_deadline = now() + g.rebalance_timeout_ms();
        }
    }

    // Kafka's InitialDelayedJoin: while members keep joining a new group, wait another delay,
    // up to the rebalance timeout in all.
    void initial_delay_passed(group& g) {
        if (g.new_member_added && g.initial_remaining_ms != 0) {
            g.new_member_added = false;
            const int32_t delay = std::min(cfg.initial_rebalance_delay_ms, g.initial_remaining_ms);
            g.initial_remaining_ms = std::max(g.initial_remaining_ms - g.initial_delay_ms, 0);
            g.initial_delay_ms = delay;
            g.join_deadline = now() + delay;
            return;
        }
        complete_join(g);
    }

    bool maybe_elect_new_joined_leader(group& g) {
        if (!g.leader) {
            return false;
        }
        auto cur = g.members.find(*g.leader);
        if (cur != g.members.end() && cur->second.awaiting_join) {
            return true;
        }
        for (const auto& [id, m] : g.members) {
            if (m.awaiting_join) {
                g.leader = id;
                return true;
            }
        }
        return false;
    }

    void complete_join(group& g) {
        g.join_kind = join_timer::none;
        g.join_deadline = no_deadline;
        std::vector<std::string> gone;
        for (const auto& [id, m] : g.members) {
            if (!m.awaiting_join && !m.instance_id) {
                gone.push_back(id);
            }
        }
        for (const std::string& id : gone) {
            remove_member(g, id);
        }
        if (g.in(group_state::dead)) {
            return;
        }
        if (!maybe_elect_new_joined_leader(g) && !g.members.empty()) {
            // Only static members that have not rejoined are left: wait for them, or for
            // their sessions to run out (checking at least a second apart, so that a zero
            // rebalance timeout does not spin).
            g.join_kind = join_timer::rebalance;
            g.join_deadline = now() + std::max(g.rebalance_timeout_ms(), 1000);
            return;
        }
        ++g.generation;
        g.pending_sync.clear();
        if (g.members.empty()) {
            g.protocol_name.reset();
            g.subscribed_topics = compute_subscribed_topics(g);
            transition(g, group_state::empty);
            write({group_record(g, {})}, [](error_code) {
                // Nobody waits for it: were it lost, the previous generation is loaded and its
                // members time out.
            });
            return;
        }
        g.protocol_name = g.select_protocol();
        g.subscribed_topics = compute_subscribed_topics(g);
        transition(g, group_state::completing_rebalance);
        for (auto& [id, m] : g.members) {
            complete_join_callback(g, m, generation_answer(g, id, g.is_leader(id), g.leader, false));
            heartbeat_in(m, m.session_timeout_ms);
            m.is_new = false;
            g.pending_sync.insert(id);
        }
        g.sync_deadline = now() + g.rebalance_timeout_ms();
        g.sync_generation = g.generation;
    }

    void propagate(group& g, error_code e) {
        for (auto& [_, m] : g.members) {
            if (!m.awaiting_sync) {
                continue;
            }
            protocol::sync_group_response r;
            r.error_code = code(e);
            if (e == error_code::none) {
                r.protocol_type = g.protocol_type;
                r.protocol_name = g.protocol_name;
            }
            r.assignment = m.assignment;
            reply(std::exchange(m.awaiting_sync, nullptr), std::move(r));
            heartbeat_in(m, m.session_timeout_ms);
        }
    }

    void reset_and_propagate(group& g, error_code e) {
        for (auto& [_, m] : g.members) {
            m.assignment.clear();
        }
        propagate(g, e);
    }

    void remove_member_and_update(group& g, const std::string& id) {
        remove_member(g, id);
        if (g.in(group_state::stable) || g.in(group_state::completing_rebalance)) {
            maybe_prepare_rebalance_or_complete_join(g);
        } else if (g.in(group_state::preparing_rebalance) && g.all_joined()) {
            complete_join(g);
        }
    }

    void expire_pending_sync(group& g) {
        if (g.sync_generation != g.generation ||
            !(g.in(group_state::completing_rebalance) || g.in(group_state::stable)) || g.pending_sync.empty()) {
            return;
        }
        const std::set<std::string> late = g.pending_sync;
        for (const std::string& id : late) {
            remove_member(g, id);
        }
        prepare_rebalance(g);
    }

    // ---- JoinGroup

    void join(const protocol::join_group_request& req, int16_t version, const client_info& client, join_callback done) {
        if (error_code e = unavailable(); e != error_code::none) {
            return reply(std::move(done), join_error(e, req.member_id));
        }
        if (req.group_id.empty()) {
            return reply(std::move(done), join_error(error_code::invalid_group_id, req.member_id));
        }
        if (req.session_timeout_ms < cfg.min_session_timeout_ms || req.session_timeout_ms > cfg.max_session_timeout_ms) {
            return reply(std::move(done), join_error(error_code::invalid_session_timeout, req.member_id));
        }
        const bool unknown = req.member_id.empty();
        group* gp = find(req.group_id);
        const bool created = gp == nullptr;
        if (!gp) {
            if (!unknown) {
                return reply(std::move(done), join_error(error_code::unknown_member_id, req.member_id));
            }
            gp = &get_or_create(req.group_id);
        }
        group& g = *gp;
        if (g.in(group_state::dead)) {
            // Being deleted (its tombstones are being written): as Kafka answers for a Dead group.
            return reply(std::move(done), join_error(error_code::coordinator_not_available, req.member_id));
        }
        if (g.is_consumer()) {
            if (!g.consumer->empty() || consumer_busy.contains(req.group_id)) {
                return consumer_serial(req.group_id, [this, req, version, client, done = std::move(done)]() mutable {
                    classic_join_to_consumer(req, version, client, std::move(done));
                });
            }
            // An empty consumer group becomes a classic one: its records go.
            std::vector<shard_host::record> tombstones;
            group_tombstones(req.group_id, g, tombstones);
            write(std::move(tombstones), [](error_code) {});
            g.type = group_type::classic;
            g.consumer.reset();
            g.protocol_type.reset();
            g.subscribed_topics.reset();
            g.state = group_state::empty;
        }
        if (!accept_joining_member(g, req.member_id)) {
            remove_member(g, req.member_id);
            reply(std::move(done), join_error(error_code::group_max_size_reached, ""));
        } else if (unknown) {
            join_new_member(g, req, version, client, std::move(done));
        } else {
            join_existing_member(g, req, version, client, std::move(done));
        }
        if (created && g.members.empty() && g.pending_members.empty() && !g.has_offsets()) {
            groups.erase(req.group_id);  // the join failed: leave no trace of the group
        }
    }

    bool accept_joining_member(const group& g, const std::string& member_id) const {
        switch (g.state) {
        case group_state::empty:
        case group_state::dead:
            return true;
        case group_state::preparing_rebalance: {
            auto it = g.members.find(member_id);
            return (it != g.members.end() && it->second.awaiting_join) || g.awaiting_join < cfg.max_size;
        }
        case group_state::completing_rebalance:
        case group_state::stable:
            return g.members.contains(member_id) || int64_t(g.members.size()) < cfg.max_size;
        }
        return false;
    }

    static int32_t rebalance_timeout(const protocol::join_group_request& req) {
        // JoinGroup v0 has no rebalance timeout: the session timeout serves for both.
        return req.rebalance_timeout_ms < 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
    }

    member new_member(const std::string& id, const protocol::join_group_request& req, const client_info& client) {
        member m;
        m.id = id;
        m.instance_id = req.group_instance_id;
        m.client_id = client.client_id;
        m.client_host = client.client_host;
        m.rebalance_timeout_ms = rebalance_timeout(req);
        m.session_timeout_ms = req.session_timeout_ms;
        m.protocol_type = req.protocol_type;
        m.protocols = protocols_of(req);
        m.is_new = true;
        return m;
    }

    void join_new_member(group& g, const protocol::join_group_request& req, int16_t version, const client_info& client,
                         join_callback done) {
        if (g.in(group_state::dead)) {
            return reply(std::move(done), join_error(error_code::coordinator_not_available, ""));
        }
        if (!g.supports(req.protocol_type, protocols_of(req))) {
            return reply(std::move(done), join_error(error_code::inconsistent_group_protocol, ""));
        }
        const std::string id = new_member_id(req.group_instance_id.value_or(client.client_id));
        if (req.group_instance_id) {
            auto it = g.static_members.find(*req.group_instance_id);
            if (it != g.static_members.end()) {
                const std::string old_id = it->second;
                return replace_static_member_and_update(g, req, version, old_id, id, std::move(done));
            }
            return add_member_then_rebalance(g, new_member(id, req, client), std::move(done));
        }
        if (version >= 4) {
            // The member must come back with this id: only then is it counted in the group.
            g.pending_members[id] = now() + req.session_timeout_ms;
            return reply(std::move(done), join_error(error_code::member_id_required, id));
        }
        add_member_then_rebalance(g, new_member(id, req, client), std::move(done));
    }

    void add_member_then_rebalance(group& g, member m, join_callback done) {
        if (g.in(group_state::preparing_rebalance) && g.previous_state == group_state::empty) {
            g.new_member_added = true;
        }
        const std::string id = m.id;
        add_member(g, std::move(m), std::move(done));
        // A new member cannot heartbeat while its JoinGroup is parked; it is dropped if the
        // rebalance keeps it waiting that long (it retries if it is still there).
        heartbeat_in(g.members.at(id), new_member_join_timeout_ms);
        maybe_prepare_rebalance_or_complete_join(g);
    }

    void join_existing_member(group& g, const protocol::join_group_request& req, int16_t version,
                              const client_info& client, join_callback done) {
        const std::string& id = req.member_id;
        if (g.in(group_state::dead)) {
            return reply(std::move(done), join_error(error_code::coordinator_not_available, id));
        }
        if (!g.supports(req.protocol_type, protocols_of(req))) {
            return reply(std::move(done), join_error(error_code::inconsistent_group_protocol, id));
        }
        if (g.pending_members.contains(id)) {
            if (req.group_instance_id) {
                // Kafka fails this (a pending member is never static) without an answer code.
                return reply(std::move(done), join_error(error_code::invalid_request, id));
            }
            return add_member_then_rebalance(g, new_member(id, req, client), std::move(done));
        }
        if (error_code e = g.validate_member(id, req.group_instance_id); e != error_code::none) {
            auto r = join_error(e, id);
            r.protocol_type.reset();
            r.protocol_name.reset();
            return reply(std::move(done), std::move(r));
        }
        member& m = g.members.at(id);
        const auto protocols = protocols_of(req);
        const bool same = m.protocols == protocols;
        switch (g.state) {
        case group_state::preparing_rebalance:
            update_member(g, m, protocols, rebalance_timeout(req), req.session_timeout_ms, std::move(done));
            return maybe_prepare_rebalance_or_complete_join(g);
        case group_state::completing_rebalance:
            if (same) {
                // It missed its JoinGroup answer: give it again.
                return reply(std::move(done), generation_answer(g, id, g.is_leader(id), g.leader, false));
            }
            update_member(g, m, protocols, rebalance_timeout(req), req.session_timeout_ms, std::move(done));
            return maybe_prepare_rebalance_or_complete_join(g);
        case group_state::stable:
            if (g.is_leader(id) || !same) {
                // The leader rejoins to have the group reassigned (new topics, say).
                update_member(g, m, protocols, rebalance_timeout(req), req.session_timeout_ms, std::move(done));
                return maybe_prepare_rebalance_or_complete_join(g);
            }
            return reply(std::move(done), generation_answer(g, id, false, g.leader, false));
        case group_state::empty:
        case group_state::dead:
            break;
        }
        (void)version;
        reply(std::move(done), join_error(error_code::unknown_member_id, id));
    }

    // A known group instance id joined with no member id: the new member id takes the old
    // one's place, and whoever still uses the old id is fenced.
    member& replace_static_member(group& g, const std::string& instance_id, const std::string& old_id,
                                  const std::string& new_id) {
        auto node = g.members.extract(old_id);
        member& old = node.mapped();
        if (old.awaiting_join) {
            --g.awaiting_join;
            auto r = join_error(error_code::fenced_instance_id, old_id);
            r.protocol_type.reset();
            r.protocol_name.reset();
            reply(std::exchange(old.awaiting_join, nullptr), std::move(r));
        }
        if (old.awaiting_sync) {
            reply(std::exchange(old.awaiting_sync, nullptr), sync_error(error_code::fenced_instance_id));
        }
        old.id = new_id;
        old.is_new = false;
        node.key() = new_id;
        auto it = g.members.insert(std::move(node)).position;
        if (g.is_leader(old_id)) {
            g.leader = new_id;
        }
        if (g.pending_sync.erase(old_id)) {
            g.pending_sync.insert(new_id);
        }
        g.static_members[instance_id] = new_id;
        return it->second;
    }

    void replace_static_member_and_update(group& g, const protocol::join_group_request& req, int16_t version,
                                          const std::string& old_id, const std::string& new_id, join_callback done) {
        const std::optional<std::string> old_leader = g.leader;
        const std::string instance_id = *req.group_instance_id;
        member& m = replace_static_member(g, instance_id, old_id, new_id);
        heartbeat_in(m, m.session_timeout_ms);
        auto old_protocols = m.protocols;
        const int32_t old_rebalance = m.rebalance_timeout_ms;
        const int32_t old_session = m.session_timeout_ms;
        update_member(g, m, protocols_of(req), rebalance_timeout(req), req.session_timeout_ms, std::move(done));

        if (g.in(group_state::stable)) {
            if (g.protocol_name.value_or("") != g.select_protocol()) {
                return maybe_prepare_rebalance_or_complete_join(g);
            }
            // Nothing changes for the group: record the new member id, then answer.
            const int32_t generation = g.generation;
            write({group_record(g, current_assignment(g))},
                  [this, gid = g.id, new_id, old_id, instance_id, version, old_leader, generation,
                   old_protocols = std::move(old_protocols), old_rebalance, old_session](error_code e) mutable {
                      group* gp = find(gid);
                      if (!gp || !gp->members.contains(new_id)) {
                          return;  // the member is gone, and was answered when it went
                      }
                      group& g = *gp;
                      member& m = g.members.at(new_id);
                      if (e != error_code::none) {
                          join_callback cb = std::exchange(m.awaiting_join, nullptr);
                          if (cb) {
                              --g.awaiting_join;
                          }
                          if (g.generation == generation) {
                              update_member(g, m, std::move(old_protocols), old_rebalance, old_session, nullptr);
                              member& back = replace_static_member(g, instance_id, new_id, old_id);
                              heartbeat_in(back, back.session_timeout_ms);
                          }
                          auto r = generation_answer(g, "", false, old_leader, false);
                          r.error_code = code(group_write_error(e));
                          return reply(std::move(cb), std::move(r));
                      }
                      if (version >= 9) {
                          // The leader is told to skip the assignment: it is unchanged.
                          const bool leader = g.is_leader(new_id);
                          complete_join_callback(g, m, generation_answer(g, new_id, leader, g.leader, leader));
                      } else {
                          // Older clients are told the old leader id, so that a static leader
                          // does not assign again without the other members' subscriptions.
                          complete_join_callback(g, m, generation_answer(g, new_id, false, old_leader, false));
                      }
                  },
                  g.id);
            return;
        }
        if (g.in(group_state::completing_rebalance)) {
            // The leader may already have assigned to the old member id.
            return prepare_rebalance(g);
        }
        maybe_complete_join_phase(g);
    }

    // ---- SyncGroup

    void sync(const protocol::sync_group_request& req, int16_t version, sync_callback done) {
        (void)version;  // v5's protocol fields are null before v5
        if (error_code e = unavailable(); e != error_code::none) {
            return reply(std::move(done), sync_error(e));
        }
        if (req.group_id.empty()) {
            return reply(std::move(done), sync_error(error_code::invalid_group_id));
        }
        group* gp = find(req.group_id);
        if (gp && gp->is_consumer()) {
            return classic_sync_to_consumer(*gp, req, std::move(done));
        }
        if (!gp || gp->in(group_state::empty)) {
            return reply(std::move(done), sync_error(error_code::unknown_member_id));
        }
        group& g = *gp;
        if (g.in(group_state::dead)) {
            return reply(std::move(done), sync_error(error_code::coordinator_not_available));
        }
        if (error_code e = g.validate_member(req.member_id, req.group_instance_id); e != error_code::none) {
            return reply(std::move(done), sync_error(e));
        }
        if (req.generation_id != g.generation) {
            return reply(std::move(done), sync_error(error_code::illegal_generation));
        }
        auto inconsistent = [](const std::optional<std::string>& asked, const std::optional<std::string>& current) {
            return asked && current && *asked != *current;
        };
        if (inconsistent(req.protocol_type, g.protocol_type) || inconsistent(req.protocol_name, g.protocol_name)) {
            return reply(std::move(done), sync_error(error_code::inconsistent_group_protocol));
        }
        if (g.in(group_state::preparing_rebalance)) {
            return reply(std::move(done), sync_error(error_code::rebalance_in_progress));
        }
        member& m = g.members.at(req.member_id);
        if (g.in(group_state::stable)) {
            g.pending_sync.erase(req.member_id);
            protocol::sync_group_response r;
            r.protocol_type = g.protocol_type;
            r.protocol_name = g.protocol_name;
            r.assignment = m.assignment;
            return reply(std::move(done), std::move(r));
        }
        // CompletingRebalance: wait for the leader's assignment to be written.
        reply(std::exchange(m.awaiting_sync, std::move(done)), sync_error(error_code::rebalance_in_progress));
        g.pending_sync.erase(req.member_id);
        if (g.pending_sync.empty()) {
            g.sync_deadline = no_deadline;
        }
        if (!g.is_leader(req.member_id)) {
            return;
        }
        std::map<std::string, bytes> assignment;
        for (const auto& a : req.assignments) {
            assignment[a.member_id] = a.assignment;
        }
        for (const auto& [id, _] : g.members) {
            assignment.try_emplace(id);
        }
        const int32_t generation = req.generation_id;
        auto rec = group_record(g, assignment);
        write({std::move(rec)}, [this, gid = g.id, generation, assignment = std::move(assignment)](error_code e) {
            group* gp = find(gid);
            if (!gp || !gp->in(group_state::completing_rebalance) || gp->generation != generation) {
                return;  // the group moved on; whoever waited was answered then
            }
            group& g = *gp;
            if (e != error_code::none) {
                reset_and_propagate(g, group_write_error(e));
                maybe_prepare_rebalance_or_complete_join(g);
                return;
            }
            for (auto& [id, m] : g.members) {
                m.assignment = assignment.at(id);
            }
            propagate(g, error_code::none);
            transition(g, group_state::stable);
        }, g.id);
    }

    // ---- Heartbeat

    error_code heartbeat(const protocol::heartbeat_request& req) {
        if (error_code e = unavailable(); e != error_code::none) {
            return e;
        }
        if (req.group_id.empty()) {
            return error_code::invalid_group_id;
        }
        group* gp = find(req.group_id);
        if (!gp) {
            return error_code::unknown_member_id;
        }
        group& g = *gp;
        if (g.is_consumer()) {
            return classic_heartbeat_to_consumer(g, req);
        }
        if (g.in(group_state::dead)) {
            return error_code::coordinator_not_available;
        }
        if (error_code e = g.validate_member(req.member_id, req.group_instance_id); e != error_code::none) {
            return e;
        }
        if (req.generation_id != g.generation) {
            return error_code::illegal_generation;
        }
        member& m = g.members.at(req.member_id);
        switch (g.state) {
        case group_state::preparing_rebalance:
            heartbeat_in(m, m.session_timeout_ms);
            return error_code::rebalance_in_progress;
        case group_state::completing_rebalance:
        case group_state::stable:
            heartbeat_in(m, m.session_timeout_ms);
            return error_code::none;
        default:
            return error_code::unknown_member_id;
        }
    }

    // ---- LeaveGroup

    void leave(const protocol::leave_group_request& req, int16_t version,
               std::function<void(protocol::leave_group_response)> done) {
        protocol::leave_group_response resp;
        auto finish = [&](error_code top) {
            resp.error_code = code(top);
            if (version < 3 && top == error_code::none && !resp.members.empty()) {
                resp.error_code = resp.members.front().error_code;  // v0-2 answer for their one member
            }
            reply(std::move(done), std::move(resp));
        };
        if (error_code e = unavailable(); e != error_code::none) {
            return finish(e);
        }
        if (req.group_id.empty()) {
            return finish(error_code::invalid_group_id);
        }
        std::vector<protocol::leave_group_request::member_identity> leaving = req.members;
        if (version < 3) {
            leaving.assign(1, {});
            leaving[0].member_id = req.member_id;
        }
        group* gp = find(req.group_id);
        if (!gp) {
            return finish(error_code::unknown_member_id);
        }
        group& g = *gp;
        if (g.is_consumer()) {
            return consumer_serial(req.group_id, [this, req, version, done = std::move(done)]() mutable {
                classic_leave_to_consumer(req, version, std::move(done));
            });
        }
        if (g.in(group_state::dead)) {
            return finish(error_code::coordinator_not_available);
        }
        bool any_left = false;
        for (const auto& who : leaving) {
            protocol::leave_group_response::member_response r;
            r.member_id = who.member_id;
            r.group_instance_id = who.group_instance_id;
            if (who.member_id.empty()) {
                // An admin removes a static member by its instance id alone.
                auto it = who.group_instance_id ? g.static_members.find(*who.group_instance_id) : g.static_members.end();
                if (it != g.static_members.end()) {
                    remove_member(g, std::string(it->second));
                    any_left = true;
                } else {
                    r.error_code = code(error_code::unknown_member_id);
                }
            } else if (g.pending_members.contains(who.member_id)) {
                g.pending_members.erase(who.member_id);
                any_left = true;
            } else if (error_code e = g.validate_member(who.member_id, who.group_instance_id); e != error_code::none) {
                r.error_code = code(e);
            } else {
                remove_member(g, who.member_id);
                any_left = true;
            }
            resp.members.push_back(std::move(r));
        }
        if (any_left) {
            if (g.in(group_state::stable) || g.in(group_state::completing_rebalance)) {
                maybe_prepare_rebalance_or_complete_join(g);
            } else if (g.in(group_state::preparing_rebalance)) {
                maybe_complete_join_phase(g);
            }
        }
        finish(error_code::none);
    }

    // ---- offsets

    // Kafka's ClassicGroup.validateOffsetCommit (not transactional).
    error_code validate_commit(const group& g, const protocol::offset_commit_request& req, int16_t version) const {
        if (g.in(group_state::dead)) {
            return error_code::coordinator_not_available;
        }
        if (g.is_consumer()) {
            return validate_consumer_commit(g, req, version);
        }
        const int32_t generation = req.generation_id_or_member_epoch;
        if (generation < 0 && g.in(group_state::empty)) {
            return error_code::none;  // the admin client, or a consumer outside the group protocol
        }
        if (generation >= 0 || !req.member_id.empty() || req.group_instance_id) {
            if (error_code e = g.validate_member(req.member_id, req.group_instance_id); e != error_code::none) {
                return e;
            }
            if (generation != g.generation) {
                return error_code::illegal_generation;
            }
        } else if (!g.in(group_state::empty)) {
            return error_code::unknown_member_id;
        }
        if (g.in(group_state::completing_rebalance)) {
            return error_code::rebalance_in_progress;
        }
        return error_code::none;
    }

    void commit_offsets(const protocol::offset_commit_request& req, int16_t version,
                        std::function<void(protocol::offset_commit_response)> done) {
        protocol::offset_commit_response resp;
        for (const auto& t : req.topics) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            for (const auto& p : t.partitions) {
                rt.partitions.push_back({p.partition_index, 0, {}});
            }
        }
        auto fail_all = [&](error_code e) {
            for (auto& t : resp.topics) {
                for (auto& p : t.partitions) {
                    p.error_code = code(e);
                }
            }
            reply(std::move(done), std::move(resp));
        };
        error_code e = unavailable();
        if (e == error_code::none && req.group_id.empty()) {
            e = error_code::invalid_group_id;
        }
        group* gp = find(req.group_id);
        if (e == error_code::none) {
            if (gp) {
                e = validate_commit(*gp, req, version);
            } else if (req.generation_id_or_member_epoch >= 0) {
                e = version >= 9 ? error_code::group_id_not_found : error_code::illegal_generation;
            }
        }
        if (e != error_code::none) {
            return fail_all(e);
        }
        if (gp && (gp->in(group_state::stable) || gp->in(group_state::preparing_rebalance))) {
            auto it = gp->members.find(req.member_id);
            if (it != gp->members.end()) {
                heartbeat_in(it->second, it->second.session_timeout_ms);  // a commit keeps the session alive
            }
        }
        const int64_t now_ms = host.wall_ms();
        std::vector<shard_host::record> records;
        std::vector<std::tuple<std::string, int32_t, committed_offset>> committed;
        for (size_t ti = 0; ti < req.topics.size(); ++ti) {
            const auto& t = req.topics[ti];
            for (size_t pi = 0; pi < t.partitions.size(); ++pi) {
                const auto& p = t.partitions[pi];
                if (p.committed_metadata && int64_t(p.committed_metadata->size()) > cfg.max_metadata_size) {
                    resp.topics[ti].partitions[pi].error_code = code(error_code::offset_metadata_too_large);
                    continue;
                }
                committed_offset o;
                o.offset = p.committed_offset;
                o.leader_epoch = p.committed_leader_epoch;
                o.metadata = p.committed_metadata.value_or("");
                o.commit_timestamp = now_ms;
                o.expire_timestamp = req.retention_time_ms == -1 ? -1 : now_ms + req.retention_time_ms;
                records.push_back(offset_record(req.group_id, t.name, p.partition_index, o));
                committed.emplace_back(t.name, p.partition_index, std::move(o));
            }
        }
        if (records.empty()) {
            return reply(std::move(done), std::move(resp));
        }
        write(std::move(records), [this, gid = req.group_id, committed = std::move(committed), resp = std::move(resp),
                                   done = std::move(done)](error_code e) mutable {
            if (e != error_code::none) {
                for (auto& t : resp.topics) {
                    for (auto& p : t.partitions) {
                        if (p.error_code == 0) {
                            p.error_code = code(offset_write_error(e));
                        }
                    }
                }
                return reply(std::move(done), std::move(resp));
            }
            // Committed: now it counts. A commit from outside any group makes a simple one.
            group& g = get_or_create(gid);
            for (auto& [topic, partition, o] : committed) {
                g.offsets[topic][partition] = std::move(o);
            }
            reply(std::move(done), std::move(resp));
        });
    }

    fetched_group fetch_offsets(const std::string& group_id, const std::optional<std::vector<wanted_topic>>& wanted,
                                const fetching_member& who) const {
        fetched_group out;
        if (error_code e = unavailable(); e != error_code::none) {
            out.error = e;
            return out;
        }
        if (group_id.empty()) {
            out.error = error_code::invalid_group_id;
            return out;
        }
        auto it = groups.find(group_id);
        const group* g = it == groups.end() ? nullptr : &it->second;
        if (g && g->in(group_state::dead)) {
            out.error = error_code::group_id_not_found;
            return out;
        }
        if (g && g->consumer && (who.member_id || who.member_epoch >= 0)) {
            // OffsetFetch v9 from a member of a consumer group (Kafka's validateOffsetFetch):
            // it must be a member, at its current epoch; without a member id and epoch it is
            // the admin client or an older client. Classic groups check nothing.
            auto it = g->consumer->members.find(who.member_id.value_or(""));
            if (it == g->consumer->members.end()) {
                out.error = error_code::unknown_member_id;
                return out;
            }
            if (who.member_epoch != it->second.epoch) {
                out.error = it->second.classic ? error_code::illegal_generation : error_code::stale_member_epoch;
                return out;
            }
        }
        auto one = [](const std::string& topic, int32_t partition, const committed_offset* o) {
            fetched_offset f;
            f.topic = topic;
            f.partition = partition;
            f.metadata = "";
            if (o) {
                f.offset = o->offset;
                f.leader_epoch = o->leader_epoch;
                f.metadata = o->metadata;
            }
            return f;
        };
        if (!wanted) {
            if (g) {
                for (const auto& [topic, parts] : g->offsets) {
                    for (const auto& [p, o] : parts) {
                        out.offsets.push_back(one(topic, p, &o));
                    }
                }
            }
            return out;
        }
        for (const wanted_topic& w : *wanted) {
            const std::map<int32_t, committed_offset>* parts = nullptr;
            if (g) {
                auto t = g->offsets.find(w.topic);
                parts = t == g->offsets.end() ? nullptr : &t->second;
            }
            for (int32_t p : w.partitions) {
                const committed_offset* o = nullptr;
                if (parts) {
                    auto po = parts->find(p);
                    o = po == parts->end() ? nullptr : &po->second;
                }
                out.offsets.push_back(one(w.topic, p, o));
            }
        }
        return out;
    }

    void delete_offsets(const protocol::offset_delete_request& req, std::function<void(protocol::offset_delete_response)> done) {
        protocol::offset_delete_response resp;
        auto fail = [&](error_code e) {
            resp.error_code = code(e);
            resp.topics.clear();
            reply(std::move(done), std::move(resp));
        };
        if (error_code e = unavailable(); e != error_code::none) {
            return fail(e);
        }
        if (req.group_id.empty()) {
            return fail(error_code::invalid_group_id);
        }
        group* gp = find(req.group_id);
        if (!gp || gp->in(group_state::dead)) {
            return fail(error_code::group_id_not_found);
        }
        group& g = *gp;
        if (!g.in(group_state::empty) && !g.uses_consumer_protocol()) {
            return fail(error_code::non_empty_group);
        }
        std::vector<shard_host::record> records;
        std::vector<std::pair<std::string, int32_t>> deleted;
        for (const auto& t : req.topics) {
            auto& rt = resp.topics.emplace_back();
            rt.name = t.name;
            const bool subscribed = g.is_subscribed(t.name);
            auto have = g.offsets.find(t.name);
            for (const auto& p : t.partitions) {
                auto& rp = rt.partitions.emplace_back();
                rp.partition_index = p.partition_index;
                if (subscribed) {
                    rp.error_code = code(error_code::group_subscribed_to_topic);
                } else if (have != g.offsets.end() && have->second.contains(p.partition_index)) {
                    records.push_back(offset_tombstone(g.id, t.name, p.partition_index));
                    deleted.emplace_back(t.name, p.partition_index);
                }
            }
        }
        if (records.empty()) {
            return reply(std::move(done), std::move(resp));
        }
        write(std::move(records), [this, gid = g.id, deleted = std::move(deleted), resp = std::move(resp),
                                   done = std::move(done)](error_code e) mutable {
            if (e != error_code::none) {
                resp.error_code = code(offset_write_error(e));
                resp.topics.clear();
                return reply(std::move(done), std::move(resp));
            }
            if (group* g = find(gid)) {
                erase_offsets(*g, deleted);
            }
            reply(std::move(done), std::move(resp));
        });
    }

    static void erase_offsets(group& g, const std::vector<std::pair<std::string, int32_t>>& which) {
        for (const auto& [topic, p] : which) {
            auto t = g.offsets.find(topic);
            if (t != g.offsets.end()) {
                t->second.erase(p);
                if (t->second.empty()) {
                    g.offsets.erase(t);
                }
            }
        }
    }

    // ---- consumer groups (KIP-848)
    //
    // Unlike the classic protocol's, a heartbeat's changes apply to memory at once and are
    // answered once their records are committed, as in Kafka. To keep memory equal to the
    // log when a write fails, a group's heartbeats and timer actions run one at a time while a
    // write of that group is in flight (`consumer_busy`), and a failed write restores the
    // group as it was before it.

    using hb_response = protocol::consumer_group_heartbeat_response;
    using hb_callback = std::function<void(hb_response)>;

    std::set<std::string> consumer_busy;
    std::map<std::string, std::deque<std::function<void()>>> consumer_waiting;

    static hb_response hb_error(error_code e, std::string message = {}) {
        hb_response r;
        r.error_code = code(e);
        if (!message.empty()) {
            r.error_message = std::move(message);
        }
        return r;
    }

    // Runs op now, or after the group's write in flight (and the ops queued before it).
    void consumer_serial(const std::string& id, std::function<void()> op) {
        if (consumer_busy.contains(id)) {
            consumer_waiting[id].push_back(std::move(op));
            return;
        }
        op();
    }

    void consumer_next(const std::string& id) {
        consumer_busy.erase(id);
        while (!consumer_busy.contains(id)) {
            auto q = consumer_waiting.find(id);
            if (q == consumer_waiting.end() || q->second.empty()) {
                if (q != consumer_waiting.end()) {
                    consumer_waiting.erase(q);
                }
                return;
            }
            auto op = std::move(q->second.front());
            q->second.pop_front();
            op();
        }
    }

    struct consumer_snapshot {
        bool existed = false;
        group_type type = group_type::classic;
        group_state state = group_state::empty;
        std::optional<std::string> protocol_type;
        std::optional<std::set<std::string>> subscribed;
        std::optional<consumer::group> consumer;
    };

    consumer_snapshot snapshot_of(const std::string& id) {
        consumer_snapshot s;
        if (const group* g = find(id)) {
            s.existed = true;
            s.type = g->type;
            s.state = g->state;
            s.protocol_type = g->protocol_type;
            s.subscribed = g->subscribed_topics;
            s.consumer = g->consumer;
        }
        return s;
    }

    void restore(const std::string& id, consumer_snapshot s) {
        group* g = find(id);
        if (!g) {
            return;
        }
        if (!s.existed) {
            if (!g->has_offsets()) {
                groups.erase(id);
                return;
            }
            s.type = group_type::classic;
        }
        if (s.type == group_type::consumer && !g->is_consumer()) {
            // A downgrade that was not written. Classic members that joined since are told to
            // join again: they find the consumer group.
            answer_parked(*g, is_unloaded ? error_code::not_coordinator : error_code::rebalance_in_progress);
            clear_classic(*g);
        }
        g->type = s.type;
        g->state = s.type == group_type::classic && g->members.empty() ? group_state::empty : s.state;
        g->protocol_type = std::move(s.protocol_type);
        g->subscribed_topics = std::move(s.subscribed);
        g->consumer = std::move(s.consumer);
    }

    // Writes a consumer group's records; `done` runs after, with the group restored to
    // `before` if the write failed. The group's next op waits until then.
    void consumer_write(const std::string& id, consumer_snapshot before, std::vector<shard_host::record> records,
                        std::function<void(error_code)> done) {
        consumer_busy.insert(id);
        write(std::move(records), [this, id, before = std::move(before), done = std::move(done)](error_code e) mutable {
            if (e != error_code::none) {
                restore(id, std::move(before));
            }
            done(e);
            reindex(id);
            consumer_next(id);
        }, id);
    }

    // The fields the offset rules share with classic groups, from the consumer state. A Dead
    // group (its DeleteGroups being written) stays Dead: only the write's outcome ends that.
    static void mirror(group& g) {
        const consumer::group& cg = *g.consumer;
        if (!g.in(group_state::dead)) {
            g.state = cg.empty() ? group_state::empty : group_state::stable;
        }
        g.protocol_type = std::string(consumer_protocol_type);
        std::set<std::string> subscribed;
        for (const auto& [_, t] : cg.subscribed_topics) {
            subscribed.insert(t.name);
        }
        g.subscribed_topics = std::move(subscribed);
    }

    template<typename Key>
    static Key member_key(const std::string& gid, const std::string& mid) {
        Key k;
        k.group_id = gid;
        k.member_id = mid;
        return k;
    }
    template<typename Key>
    static Key group_only_key(const std::string& gid) {
        Key k;
        k.group_id = gid;
        return k;
    }

    static shard_host::record epoch_record(const std::string& gid, int32_t epoch) {
        protocol::consumer_group_metadata_value v;
        v.epoch = epoch;
        return {encode_consumer_key(group_only_key<protocol::consumer_group_metadata_key>(gid)), encode_consumer_value(v)};
    }
    static shard_host::record partition_metadata_record(const std::string& gid, const consumer::group& cg) {
        protocol::consumer_group_partition_metadata_value v;
        for (const auto& [id, t] : cg.subscribed_topics) {
            auto& tm = v.topics.emplace_back();
            tm.topic_id = id;
            tm.topic_name = t.name;
            tm.num_partitions = t.partitions;
        }
        return {encode_consumer_key(group_only_key<protocol::consumer_group_partition_metadata_key>(gid)),
                encode_consumer_value(v)};
    }
    // The fields a member's metadata record and its ConsumerGroupDescribe entry share.
    template<typename Out>
    static void put_member_fields(Out& out, const consumer::member& m) {
        out.instance_id = m.instance_id;
        out.rack_id = m.rack_id;
        out.client_id = m.client_id;
        out.client_host = m.client_host;
        out.subscribed_topic_names = m.subscribed_names;
        out.subscribed_topic_regex = m.subscribed_regex;
    }
    static shard_host::record member_metadata_record(const std::string& gid, const consumer::member& m) {
        protocol::consumer_group_member_metadata_value v;
        put_member_fields(v, m);
        v.rebalance_timeout_ms = m.rebalance_timeout_ms;
        v.server_assignor = m.server_assignor;
        if (m.classic) {
            // Assigned, not emplace()d: clang judges this nested struct not default-constructible
            // inside std::optional (protocol/gen/generate.py, nullable structs).
            v.classic_member_metadata = protocol::consumer_group_member_metadata_value::classic_member_metadata_t{};
            auto& c = *v.classic_member_metadata;
            c.session_timeout_ms = m.classic->session_timeout_ms;
            for (const auto& p : m.classic->protocols) {
                auto& sp = c.supported_protocols.emplace_back();
                sp.name = p.name;
                sp.metadata = p.metadata;
            }
        }
        return {encode_consumer_key(member_key<protocol::consumer_group_member_metadata_key>(gid, m.id)),
                encode_consumer_value(v)};
    }
    static shard_host::record target_member_record(const std::string& gid, const std::string& mid,
                                                   const consumer::topic_partitions& tps) {
        protocol::consumer_group_target_assignment_member_value v;
        v.topic_partitions = consumer::to_wire<protocol::consumer_group_target_assignment_member_value::topic_partition>(tps);
        return {encode_consumer_key(member_key<protocol::consumer_group_target_assignment_member_key>(gid, mid)),
                encode_consumer_value(v)};
    }
    static shard_host::record target_epoch_record(const std::string& gid, int32_t epoch) {
        protocol::consumer_group_target_assignment_metadata_value v;
        v.assignment_epoch = epoch;
        return {encode_consumer_key(group_only_key<protocol::consumer_group_target_assignment_metadata_key>(gid)),
                encode_consumer_value(v)};
    }
    static shard_host::record current_assignment_record(const std::string& gid, const consumer::member& m) {
        using value = protocol::consumer_group_current_member_assignment_value;
        value v;
        v.member_epoch = m.epoch;
        v.previous_member_epoch = m.previous_epoch;
        v.state = int8_t(m.state);
        v.assigned_partitions = consumer::to_wire<value::topic_partitions>(m.assigned);
        v.partitions_pending_revocation = consumer::to_wire<value::topic_partitions>(m.pending_revocation);
        return {encode_consumer_key(member_key<protocol::consumer_group_current_member_assignment_key>(gid, m.id)),
                encode_consumer_value(v)};
    }
    // A member's three records, as tombstones (Kafka's order: current, target, metadata).
    static void member_tombstones(const std::string& gid, const std::string& mid, std::vector<shard_host::record>& out) {
        out.push_back({encode_consumer_key(member_key<protocol::consumer_group_current_member_assignment_key>(gid, mid)),
                       std::nullopt});
        out.push_back({encode_consumer_key(member_key<protocol::consumer_group_target_assignment_member_key>(gid, mid)),
                       std::nullopt});
        out.push_back({encode_consumer_key(member_key<protocol::consumer_group_member_metadata_key>(gid, mid)),
                       std::nullopt});
    }
    // The group-level records of a group as tombstones: a classic group's metadata, or a
    // consumer group's epochs and subscription metadata (its members have none left: it is
    // empty). A group converted from the other type had its old record tombstoned then.
    static void group_tombstones(const std::string& gid, const group& g, std::vector<shard_host::record>& out) {
        if (!g.is_consumer()) {
            out.push_back(group_tombstone(gid));
            return;
        }
        out.push_back({encode_consumer_key(group_only_key<protocol::consumer_group_target_assignment_metadata_key>(gid)),
                       std::nullopt});
        out.push_back({encode_consumer_key(group_only_key<protocol::consumer_group_partition_metadata_key>(gid)),
                       std::nullopt});
        out.push_back({encode_consumer_key(group_only_key<protocol::consumer_group_metadata_key>(gid)), std::nullopt});
    }

    // The subscribed topics that exist now, with their partitions. A topic matched by a
    // member's regex counts only when that member may DESCRIBE it (as Kafka filters what a
    // regex resolves to); a member not seen since the group was loaded keeps, by its regex,
    // what the group had resolved.
    std::map<consumer::uuid, consumer::topic_meta> subscription_metadata(const consumer::group& cg) {
        std::set<std::string> names;
        struct by_regex {
            std::regex re;
            const consumer::member* m;
        };
        std::vector<by_regex> patterns;
        for (const auto& [_, m] : cg.members) {
            names.insert(m.subscribed_names.begin(), m.subscribed_names.end());
            if (m.subscribed_regex) {
                if (auto re = compile_regex(*m.subscribed_regex)) {
                    patterns.push_back({std::move(*re), &m});
                }
            }
        }
        std::map<consumer::uuid, consumer::topic_meta> out;
        for (const std::string& name : names) {
            auto t = host.topic(name);
            if (t && t->partitions > 0) {
                out[t->id] = {name, t->partitions};
            }
        }
        if (patterns.empty()) {
            return out;
        }
        const auto may_describe = host.topic_describe_check();
        for (const std::string& name : host.topic_names()) {
            std::optional<topic_meta> t;
            for (const auto& p : patterns) {
                if (!std::regex_match(name, p.re)) {
                    continue;
                }
                if (!t && !(t = host.topic(name))) {
                    break;
                }
                if (t->partitions <= 0 || t->internal || out.contains(t->id)) {
                    break;
                }
                if (regex_may_see(cg, *p.m, may_describe, t->id, name)) {
                    out[t->id] = {name, t->partitions};
                    break;
                }
            }
        }
        return out;
    }

    // Whether member m's regex may resolve to topic (id, name): it may DESCRIBE it, or, while
    // who it is is unknown (loaded, no heartbeat here yet), the group had resolved it.
    static bool regex_may_see(const consumer::group& cg, const consumer::member& m,
                              const shard_host::describe_check& may_describe, const consumer::uuid& id,
                              const std::string& name) {
        if (!m.who) {
            return cg.subscribed_topics.contains(id);
        }
        return m.who->all_topics || may_describe(*m.who, name);
    }

    static std::optional<std::regex> compile_regex(const std::string& pattern) {
        try {
            return std::regex(pattern, std::regex::ECMAScript);
        } catch (const std::regex_error&) {
            return std::nullopt;
        }
    }

    // Whether member m subscribes to the group's subscribed topic (id, name): by name, or by
    // its regex (compiled once by the caller: `re`) if it may see the topic.
    static bool subscribes(const consumer::group& cg, const consumer::member& m, const std::optional<std::regex>& re,
                           const shard_host::describe_check& may_describe, const consumer::uuid& id,
                           const std::string& name) {
        return std::binary_search(m.subscribed_names.begin(), m.subscribed_names.end(), name) ||
               (re && std::regex_match(name, *re) && regex_may_see(cg, m, may_describe, id, name));
    }

    // Whether what member m's regex resolves to among the group's subscribed topics is not what
    // its last target was computed from: its rights changed over a topic that stays subscribed
    // (another member sees it), which changes no record but must change the assignment.
    bool regex_rights_changed(const consumer::group& cg, const consumer::member& m) {
        if (!m.who || !m.regex_topics || !m.subscribed_regex) {
            return false;
        }
        const auto re = compile_regex(*m.subscribed_regex);
        const auto may_describe = host.topic_describe_check();
        std::set<consumer::uuid> now;
        for (const auto& [id, t] : cg.subscribed_topics) {
            if (subscribes(cg, m, re, may_describe, id, t.name)) {
                now.insert(id);
            }
        }
        return now != *m.regex_topics;
    }

    // Computes the target assignment at the group epoch; the records of what changed.
    void assign_target(const std::string& gid, consumer::group& cg, std::vector<shard_host::record>& records) {
        assign::group_spec spec;
        for (const auto& [id, t] : cg.subscribed_topics) {
            spec.topics[id] = {t.name, t.partitions};
        }
        const auto may_describe = host.topic_describe_check();
        for (auto& [mid, m] : cg.members) {
            auto& ms = spec.members[mid];
            ms.instance_id = m.instance_id;
            ms.rack_id = m.rack_id;
            const auto re = m.subscribed_regex ? compile_regex(*m.subscribed_regex) : std::nullopt;
            for (const auto& [id, t] : cg.subscribed_topics) {
                if (subscribes(cg, m, re, may_describe, id, t.name)) {
                    ms.subscribed.insert(id);
                }
            }
            if (re && m.who) {
                m.regex_topics = ms.subscribed;
            }
            if (auto it = cg.target.find(mid); it != cg.target.end()) {
                ms.current = it->second;
            }
        }
        const std::string name = cg.preferred_assignor(cfg.consumer_assignors.empty() ? std::string(assign::uniform_name)
                                                                                       : cfg.consumer_assignors.front());
        auto result = assign::assign_with(name, spec);
        if (!result) {
            result = assign::uniform(spec);  // validated at the heartbeat; a record from elsewhere may name another
        }
        std::map<std::string, consumer::topic_partitions> next;
        for (auto& [mid, tps] : *result) {
            for (auto it = tps.begin(); it != tps.end();) {
                it = it->second.empty() ? tps.erase(it) : std::next(it);
            }
            auto old = cg.target.find(mid);
            if (old == cg.target.end() || old->second != tps) {
                records.push_back(target_member_record(gid, mid, tps));
            }
            next[mid] = std::move(tps);
        }
        cg.target = std::move(next);
        cg.assignment_epoch = cg.epoch;
        records.push_back(target_epoch_record(gid, cg.assignment_epoch));
    }

    std::string validate_heartbeat(const protocol::consumer_group_heartbeat_request& req, int16_t version) const {
        if (req.group_id.empty()) {
            return "GroupId can't be empty.";
        }
        if (req.rack_id && req.rack_id->empty()) {
            return "RackId can't be empty.";
        }
        if (version >= 1 && req.member_id.empty()) {
            return "MemberId can't be empty.";
        }
        if (req.member_epoch == consumer::join_epoch) {
            if (req.rebalance_timeout_ms == -1) {
                return "RebalanceTimeoutMs must be provided in first request.";
            }
            if (!req.topic_partitions || !req.topic_partitions->empty()) {
                return "TopicPartitions must be empty when (re-)joining.";
            }
            if (!req.subscribed_topic_names && !req.subscribed_topic_regex) {
                return "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.";
            }
        } else if (req.member_epoch == consumer::static_leave_epoch) {
            if (!req.instance_id) {
                return "InstanceId can't be null.";
            }
        } else if (req.member_epoch < consumer::static_leave_epoch) {
            return "MemberEpoch is invalid.";
        }
        if (req.member_epoch != consumer::join_epoch && req.member_id.empty()) {
            return "MemberId can't be empty.";
        }
        if (req.subscribed_topic_regex && !compile_regex(*req.subscribed_topic_regex)) {
            return "SubscribedTopicRegex `" + *req.subscribed_topic_regex + "` is not a valid regular expression.";
        }
        return {};
    }

    void consumer_heartbeat(const protocol::consumer_group_heartbeat_request& req, int16_t version,
                            const client_info& client, hb_callback done) {
        if (error_code e = unavailable(); e != error_code::none) {
            return reply(std::move(done), hb_error(e));
        }
        if (std::string why = validate_heartbeat(req, version); !why.empty()) {
            return reply(std::move(done), hb_error(error_code::invalid_request, std::move(why)));
        }
        if (req.server_assignor &&
            (!assign::known_assignor(*req.server_assignor) ||
             std::find(cfg.consumer_assignors.begin(), cfg.consumer_assignors.end(), *req.server_assignor) ==
                 cfg.consumer_assignors.end())) {
            std::string supported;
            for (const std::string& a : cfg.consumer_assignors) {
                supported += (supported.empty() ? "" : ", ") + a;
            }
            return reply(std::move(done), hb_error(error_code::unsupported_assignor,
                                                   "ServerAssignor " + *req.server_assignor +
                                                       " is not supported. Supported assignors: " + supported + "."));
        }
        consumer_serial(req.group_id, [this, req, version, client, done = std::move(done)]() mutable {
            heartbeat_now(req, version, client, std::move(done));
        });
    }

    void heartbeat_now(const protocol::consumer_group_heartbeat_request& req, int16_t version, const client_info& client,
                       hb_callback done) {
        if (error_code e = unavailable(); e != error_code::none) {
            return reply(std::move(done), hb_error(e));
        }
        const std::string& gid = req.group_id;
        const bool joining = req.member_epoch == consumer::join_epoch;
        group* gp = find(gid);
        if (gp && gp->in(group_state::dead)) {
            return reply(std::move(done), hb_error(error_code::coordinator_not_available));  // being deleted
        }
        if (gp && !gp->is_consumer() && !(gp->in(group_state::empty) && gp->members.empty() && gp->pending_members.empty())) {
            if (std::string why = upgradable(*gp); !why.empty()) {
                return reply(std::move(done), hb_error(error_code::group_id_not_found,
                                                       "Cannot upgrade the classic group " + gid + " to a consumer group: " + why));
            }
        }
        if (!gp && !joining) {
            return reply(std::move(done), hb_error(error_code::group_id_not_found, "Group " + gid + " not found."));
        }
        consumer_snapshot before = snapshot_of(gid);
        std::vector<shard_host::record> records;
        if (gp && !gp->is_consumer() && !gp->members.empty()) {
            // If the write fails the group is restored to a classic group without members:
            // they get UNKNOWN_MEMBER_ID and rejoin, and the log still has their last generation.
            upgrade(*gp, records);
        }
        if (!gp || !gp->is_consumer()) {
            if (gp && !gp->is_consumer()) {
                records.push_back(group_tombstone(gid));  // an empty classic group becomes a consumer group
            }
            gp = &get_or_create(gid);
            gp->type = group_type::consumer;
            gp->consumer.emplace();
            gp->generation = 0;
            gp->protocol_name.reset();
            gp->leader.reset();
        }
        group& g = *gp;
        consumer::group& cg = *g.consumer;
        auto fail = [&](error_code e, std::string message) {
            restore(gid, std::move(before));
            reply(std::move(done), hb_error(e, std::move(message)));
        };

        std::optional<consumer::topic_partitions> owned;
        if (req.topic_partitions) {
            owned = consumer::from_wire(*req.topic_partitions);
        }
        std::string mid = req.member_id.empty() ? new_member_id("").substr(1) : req.member_id;
        auto it = cg.members.find(mid);
        bool created = false;
        if (joining && req.instance_id) {
            auto s = cg.static_members.find(*req.instance_id);
            if (s != cg.static_members.end() && s->second != mid) {
                auto old = cg.members.find(s->second);
                if (old != cg.members.end() && old->second.epoch != consumer::static_leave_epoch) {
                    return fail(error_code::unreleased_instance_id,
                                "Static member " + s->second + " with instance id " + *req.instance_id +
                                    " is not released yet.");
                }
                if (old != cg.members.end()) {
                    it = take_over(gid, cg, old, mid, records);
                    created = true;  // its metadata is written below
                }
            }
        }
        if (it == cg.members.end()) {
            if (!joining) {
                return fail(error_code::unknown_member_id, "Member " + mid + " is not a member of group " + gid + ".");
            }
            if (int64_t(cg.members.size()) >= int64_t(cfg.consumer_max_size)) {
                return fail(error_code::group_max_size_reached,
                            "The consumer group has reached its maximum capacity of " +
                                std::to_string(cfg.consumer_max_size) + " members.");
            }
            consumer::member m;
            m.id = mid;
            it = cg.members.emplace(mid, std::move(m)).first;
            created = true;
        } else if (!joining) {
            const consumer::member& m = it->second;
            if (req.member_epoch == consumer::leave_epoch || req.member_epoch == consumer::static_leave_epoch) {
                // handled below
            } else if (req.member_epoch > m.epoch) {
                return fail(error_code::fenced_member_epoch, "The consumer group member has a greater member epoch (" +
                                                                 std::to_string(req.member_epoch) + ") than the one known by the group coordinator (" +
                                                                 std::to_string(m.epoch) + ").");
            } else if (req.member_epoch < m.epoch &&
                       (req.member_epoch != m.previous_epoch || !consumer::owned_within(owned, m.assigned))) {
                return fail(error_code::fenced_member_epoch, "The consumer group member has a smaller member epoch (" +
                                                                 std::to_string(req.member_epoch) + ") than the one known by the group coordinator (" +
                                                                 std::to_string(m.epoch) + ").");
            }
        }
        consumer::member& m = it->second;
        if (req.member_epoch == consumer::leave_epoch ||
            (req.member_epoch == consumer::static_leave_epoch && !m.instance_id)) {
            const int32_t epoch_before = cg.epoch;
            remove_consumer_member(gid, g, mid, records);
            mirror(g);
            maybe_downgrade(g, epoch_before, records);
            hb_response r;
            r.member_id = mid;
            r.member_epoch = consumer::leave_epoch;
            return finish_heartbeat(gid, std::move(before), std::move(records), std::move(r), std::move(done));
        }
        if (req.member_epoch == consumer::static_leave_epoch) {
            // A static member leaves for a while: it keeps its assignment for its session.
            const consumer::member was = m;
            m.previous_epoch = m.epoch;
            m.epoch = consumer::static_leave_epoch;
            cg.update_owners(&was, &m);
            records.push_back(current_assignment_record(gid, m));
            hb_response r;
            r.member_id = mid;
            r.member_epoch = consumer::static_leave_epoch;
            return finish_heartbeat(gid, std::move(before), std::move(records), std::move(r), std::move(done));
        }

        const consumer::member was = m;
        if (req.instance_id) {
            if (m.instance_id && *m.instance_id != *req.instance_id) {
                cg.static_members.erase(*m.instance_id);
            }
            m.instance_id = req.instance_id;
            cg.static_members[*req.instance_id] = mid;
        }
        if (req.rack_id) {
            m.rack_id = req.rack_id;
        }
        if (req.rebalance_timeout_ms != -1) {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if (req.server_assignor) {
            m.server_assignor = req.server_assignor;
        }
        if (req.subscribed_topic_names) {
            std::vector<std::string> names = *req.subscribed_topic_names;
            std::sort(names.begin(), names.end());
            names.erase(std::unique(names.begin(), names.end()), names.end());
            m.subscribed_names = std::move(names);
        }
        if (req.subscribed_topic_regex) {
            m.subscribed_regex = req.subscribed_topic_regex->empty() ? std::nullopt : req.subscribed_topic_regex;
        }
        m.client_id = client.client_id;
        m.client_host = client.client_host;
        m.who = client.who;
        const consumer::topic_partitions previously = reconcile_member(gid, g, m, was, created, owned, records);
        mirror(g);

        hb_response r;
        r.member_id = mid;
        r.member_epoch = m.epoch;
        r.heartbeat_interval_ms = cfg.consumer_heartbeat_interval_ms;
        const bool full = joining || (req.rebalance_timeout_ms != -1 &&
                                      (req.subscribed_topic_names || req.subscribed_topic_regex) && req.topic_partitions);
        if (full || m.assigned != previously) {
            r.assignment.emplace().topic_partitions =
                consumer::to_wire<protocol::consumer_group_heartbeat_response::topic_partitions_t>(m.assigned);
        }
        finish_heartbeat(gid, std::move(before), std::move(records), std::move(r), std::move(done));
    }

    // After a member's fields were updated from its request (`was`: before): writes what
    // changed, bumps the group epoch if membership, subscriptions or the subscribed topics
    // changed, computes the new target, reconciles the member towards its own, and restarts
    // its timers. Returns the partitions the member held before.
    consumer::topic_partitions reconcile_member(const std::string& gid, group& g, consumer::member& m,
                                                const consumer::member& was, bool created,
                                                const std::optional<consumer::topic_partitions>& owned,
                                                std::vector<shard_host::record>& records) {
        consumer::group& cg = *g.consumer;
        bool bump = created;
        if (created || !m.same_metadata(was)) {
            records.push_back(member_metadata_record(gid, m));
            bump = bump || m.subscribed_names != was.subscribed_names || m.subscribed_regex != was.subscribed_regex ||
                   m.server_assignor != was.server_assignor;
        }
        auto meta = subscription_metadata(cg);
        if (meta != cg.subscribed_topics) {
            cg.subscribed_topics = std::move(meta);
            records.push_back(partition_metadata_record(gid, cg));
            bump = true;
        }
        bump = bump || regex_rights_changed(cg, m);
        if (bump) {
            ++cg.epoch;
            records.push_back(epoch_record(gid, cg.epoch));
        }
        if (cg.epoch > cg.assignment_epoch) {
            assign_target(gid, cg, records);
        }
        const consumer::member current = m;
        static const consumer::topic_partitions none;
        auto t = cg.target.find(m.id);
        m = consumer::reconcile(current, cg.assignment_epoch, t == cg.target.end() ? none : t->second, owned,
                                cg.owner_epochs);
        if (!m.same_assignment(current) || created) {
            cg.update_owners(&current, &m);
            records.push_back(current_assignment_record(gid, m));
        }
        const int64_t t_now = now();
        m.session_deadline = t_now + (m.classic ? m.classic->session_timeout_ms : cfg.consumer_session_timeout_ms);
        if (m.state != consumer::member_state::unrevoked_partitions) {
            m.revocation_deadline = consumer::no_deadline;
        } else if (current.state != consumer::member_state::unrevoked_partitions || m.revocation_deadline == consumer::no_deadline) {
            m.revocation_deadline = t_now + std::max(m.rebalance_timeout_ms, 0);
        }
        mirror(g);
        return current.assigned;
    }

    // A static member is back under a new member id: it takes over the old one's assignment
    // and epoch.
    std::map<std::string, consumer::member>::iterator take_over(const std::string& gid, consumer::group& cg,
                                                                 std::map<std::string, consumer::member>::iterator old,
                                                                 const std::string& mid,
                                                                 std::vector<shard_host::record>& records) {
        consumer::member m = old->second;
        m.id = mid;
        m.epoch = m.previous_epoch >= 0 ? m.previous_epoch : 0;
        member_tombstones(gid, old->first, records);
        cg.update_owners(&old->second, nullptr);
        if (auto t = cg.target.find(old->first); t != cg.target.end()) {
            records.push_back(target_member_record(gid, mid, t->second));
            cg.target[mid] = t->second;
            cg.target.erase(old->first);
        }
        cg.members.erase(old);
        auto it = cg.members.emplace(mid, std::move(m)).first;
        cg.update_owners(nullptr, &it->second);
        records.push_back(current_assignment_record(gid, it->second));
        return it;
    }

    // Answers `r` once the group's records are committed (at once if there are none), or
    // what on_error(r, error) makes of it if the write failed (the group is then restored).
    template<typename R, typename OnError>
    void write_then_reply(const std::string& gid, consumer_snapshot before, std::vector<shard_host::record> records,
                          R r, std::function<void(R)> done, OnError on_error) {
        reindex(gid);
        if (records.empty()) {
            return reply(std::move(done), std::move(r));
        }
        consumer_write(gid, std::move(before), std::move(records),
                       [this, r = std::move(r), done = std::move(done), on_error](error_code e) mutable {
                           if (e != error_code::none) {
                               return reply(std::move(done), on_error(std::move(r), group_write_error(e)));
                           }
                           reply(std::move(done), std::move(r));
                       });
    }

    void finish_heartbeat(const std::string& gid, consumer_snapshot before, std::vector<shard_host::record> records,
                          hb_response r, hb_callback done) {
        write_then_reply(gid, std::move(before), std::move(records), std::move(r), std::move(done),
                         [](hb_response, error_code e) { return hb_error(e); });
    }

    // Removes a member (it left, or was fenced): its records go, the group epoch grows and
    // the others get a new target at once.
    void remove_consumer_member(const std::string& gid, group& g, const std::string& mid,
                                std::vector<shard_host::record>& records) {
        consumer::group& cg = *g.consumer;
        auto it = cg.members.find(mid);
        if (it == cg.members.end()) {
            return;
        }
        cg.update_owners(&it->second, nullptr);
        if (it->second.instance_id) {
            auto s = cg.static_members.find(*it->second.instance_id);
            if (s != cg.static_members.end() && s->second == mid) {
                cg.static_members.erase(s);
            }
        }
        cg.members.erase(it);
        cg.target.erase(mid);
        member_tombstones(gid, mid, records);
        auto meta = subscription_metadata(cg);
        if (meta != cg.subscribed_topics) {
            cg.subscribed_topics = std::move(meta);
            records.push_back(partition_metadata_record(gid, cg));
        }
        ++cg.epoch;
        records.push_back(epoch_record(gid, cg.epoch));
        if (!cg.members.empty()) {
            assign_target(gid, cg, records);
        } else {
            cg.target.clear();
            cg.assignment_epoch = cg.epoch;
            records.push_back(target_epoch_record(gid, cg.assignment_epoch));
        }
    }

    // Session and revocation timeouts: the member is fenced (removed).
    void poll_consumer_group(const std::string& gid, int64_t t) {
        group* g = find(gid);
        if (!g || !g->consumer) {
            return;
        }
        std::vector<std::string> due;
        for (const auto& [mid, m] : g->consumer->members) {
            if (m.session_deadline <= t || m.revocation_deadline <= t || m.rejoin_deadline <= t) {
                due.push_back(mid);
            }
        }
        for (const std::string& mid : due) {
            consumer_serial(gid, [this, gid, mid, t] {
                group* g = find(gid);
                if (!g || !g->consumer || unavailable() != error_code::none) {
                    return;
                }
                auto it = g->consumer->members.find(mid);
                if (it == g->consumer->members.end() ||
                    (it->second.session_deadline > t && it->second.revocation_deadline > t &&
                     it->second.rejoin_deadline > t)) {
                    return;  // it heartbeat meanwhile
                }
                consumer_snapshot before = snapshot_of(gid);
                std::vector<shard_host::record> records;
                const int32_t epoch_before = g->consumer->epoch;
                remove_consumer_member(gid, *g, mid, records);
                mirror(*g);
                maybe_downgrade(*g, epoch_before, records);
                consumer_write(gid, std::move(before), std::move(records), [](error_code) {});
            });
        }
    }

    static int64_t consumer_deadline(const group& g) {
        int64_t d = consumer::no_deadline;
        if (g.consumer) {
            for (const auto& [_, m] : g.consumer->members) {
                d = std::min({d, m.session_deadline, m.revocation_deadline, m.rejoin_deadline});
            }
        }
        return d;
    }

    protocol::consumer_group_describe_response::described_group consumer_describe(const std::string& gid) const {
        using described = protocol::consumer_group_describe_response::described_group;
        described d;
        d.group_id = gid;
        if (error_code e = describable(gid); e != error_code::none) {
            d.error_code = code(e);
            return d;
        }
        auto it = groups.find(gid);
        if (it == groups.end() || it->second.in(group_state::dead)) {
            d.error_code = code(error_code::group_id_not_found);
            d.error_message = "Group " + gid + " not found.";
            return d;
        }
        const group& g = it->second;
        if (!g.is_consumer()) {
            d.error_code = code(error_code::group_id_not_found);
            d.error_message = "Group " + gid + " is not a consumer group.";
            return d;
        }
        const consumer::group& cg = *g.consumer;
        d.group_state = cg.state_name();
        d.group_epoch = cg.epoch;
        d.assignment_epoch = cg.assignment_epoch;
        d.assignor_name = cg.preferred_assignor(cfg.consumer_assignors.empty() ? std::string(assign::uniform_name)
                                                                               : cfg.consumer_assignors.front());
        auto named = [&](const consumer::topic_partitions& tps) {
            protocol::consumer_group_describe_response::assignment_t a;
            for (const auto& [id, parts] : tps) {
                if (parts.empty()) {
                    continue;
                }
                auto& tp = a.topic_partitions.emplace_back();
                tp.topic_id = id;
                if (auto t = cg.subscribed_topics.find(id); t != cg.subscribed_topics.end()) {
                    tp.topic_name = t->second.name;
                }
                tp.partitions.assign(parts.begin(), parts.end());
            }
            return a;
        };
        for (const auto& [mid, m] : cg.members) {
            auto& dm = d.members.emplace_back();
            dm.member_id = mid;
            put_member_fields(dm, m);
            dm.member_epoch = m.epoch;
            dm.assignment = named(m.assigned);
            auto t = cg.target.find(mid);
            dm.target_assignment = named(t == cg.target.end() ? consumer::topic_partitions{} : t->second);
        }
        return d;
    }

    // Replaying a consumer group's records. A record of a consumer group makes the group one
    // (it was classic before, and empty then, or it would not have been converted).
    consumer::group& replayed_consumer(const std::string& gid) {
        group& g = get_or_create(gid);
        if (!g.is_consumer()) {
            g.type = group_type::consumer;
            g.members.clear();
            g.static_members.clear();
            g.generation = 0;
            g.protocol_name.reset();
            g.leader.reset();
            g.consumer.emplace();
        }
        return *g.consumer;
    }

    bool replay_consumer(const offsets_record& r) {
        auto member_of = [&](consumer::group& cg, const std::string& mid) -> consumer::member& {
            auto [it, inserted] = cg.members.try_emplace(mid);
            if (inserted) {
                it->second.id = mid;
            }
            return it->second;
        };
        auto forget_member = [&](consumer::group& cg, const std::string& mid) {
            auto it = cg.members.find(mid);
            if (it != cg.members.end()) {
                if (it->second.instance_id) {
                    cg.static_members.erase(*it->second.instance_id);
                }
                cg.members.erase(it);
            }
        };
        if (auto* rec = std::get_if<consumer_group_metadata_record>(&r)) {
            if (!rec->value) {
                group* g = find(rec->key.group_id);
                if (g && g->is_consumer()) {
                    topic_offsets keep = std::move(g->offsets);
                    groups.erase(rec->key.group_id);
                    if (!keep.empty()) {
                        get_or_create(rec->key.group_id).offsets = std::move(keep);
                    }
                }
                return true;
            }
            replayed_consumer(rec->key.group_id).epoch = rec->value->epoch;
        } else if (auto* rec = std::get_if<consumer_group_partition_metadata_record>(&r)) {
            if (rec->value) {
                auto& cg = replayed_consumer(rec->key.group_id);
                cg.subscribed_topics.clear();
                for (const auto& t : rec->value->topics) {
                    cg.subscribed_topics[t.topic_id] = {t.topic_name, t.num_partitions};
                }
            }
        } else if (auto* rec = std::get_if<consumer_group_member_metadata_record>(&r)) {
            if (!rec->value) {
                if (group* g = find(rec->key.group_id); g && g->consumer) {
                    forget_member(*g->consumer, rec->key.member_id);
                }
                return true;
            }
            auto& cg = replayed_consumer(rec->key.group_id);
            auto& m = member_of(cg, rec->key.member_id);
            const auto& v = *rec->value;
            m.instance_id = v.instance_id;
            m.rack_id = v.rack_id;
            m.client_id = v.client_id;
            m.client_host = v.client_host;
            m.subscribed_names = v.subscribed_topic_names;
            std::sort(m.subscribed_names.begin(), m.subscribed_names.end());
            m.subscribed_regex = v.subscribed_topic_regex;
            m.rebalance_timeout_ms = v.rebalance_timeout_ms;
            m.server_assignor = v.server_assignor;
            m.classic.reset();
            if (v.classic_member_metadata) {
                auto& c = m.classic.emplace();
                c.session_timeout_ms = v.classic_member_metadata->session_timeout_ms;
                for (const auto& p : v.classic_member_metadata->supported_protocols) {
                    c.protocols.push_back({p.name, p.metadata});
                }
            }
            if (m.instance_id) {
                cg.static_members[*m.instance_id] = m.id;
            }
        } else if (auto* rec = std::get_if<consumer_group_target_metadata_record>(&r)) {
            if (rec->value) {
                replayed_consumer(rec->key.group_id).assignment_epoch = rec->value->assignment_epoch;
            }
        } else if (auto* rec = std::get_if<consumer_group_target_member_record>(&r)) {
            if (!rec->value) {
                if (group* g = find(rec->key.group_id); g && g->consumer) {
                    g->consumer->target.erase(rec->key.member_id);
                }
                return true;
            }
            replayed_consumer(rec->key.group_id).target[rec->key.member_id] =
                consumer::from_wire(rec->value->topic_partitions);
        } else if (auto* rec = std::get_if<consumer_group_current_assignment_record>(&r)) {
            if (!rec->value) {
                return true;  // the member metadata tombstone removes the member
            }
            auto& cg = replayed_consumer(rec->key.group_id);
            auto& m = member_of(cg, rec->key.member_id);
            const auto& v = *rec->value;
            m.epoch = v.member_epoch;
            m.previous_epoch = v.previous_member_epoch;
            m.state = v.state >= 0 && v.state <= 2 ? consumer::member_state(v.state) : consumer::member_state::unknown;
            m.assigned = consumer::from_wire(v.assigned_partitions);
            m.pending_revocation = consumer::from_wire(v.partitions_pending_revocation);
        } else {
            return false;
        }
        return true;
    }

    // After loading: owners from the members' assignments, sessions started afresh.
    void consumer_loaded(group& g) {
        consumer::group& cg = *g.consumer;
        cg.owner_epochs.clear();
        for (auto& [_, m] : cg.members) {
            cg.update_owners(nullptr, &m);
            m.session_deadline = now() + (m.classic ? m.classic->session_timeout_ms : cfg.consumer_session_timeout_ms);
            if (m.state == consumer::member_state::unrevoked_partitions) {
                m.revocation_deadline = now() + std::max(m.rebalance_timeout_ms, 0);
            }
        }
        mirror(g);
    }

    // Kafka's validateOffsetCommit for a consumer group.
    error_code validate_consumer_commit(const group& g, const protocol::offset_commit_request& req, int16_t version) const {
        const consumer::group& cg = *g.consumer;
        const int32_t epoch = req.generation_id_or_member_epoch;
        if (epoch < 0 && cg.empty()) {
            return error_code::none;  // the admin client, or a consumer outside the group protocol
        }
        auto it = cg.members.find(req.member_id);
        if (it == cg.members.end()) {
            return error_code::unknown_member_id;
        }
        if (it->second.classic) {
            // A classic member commits with its generation, which is its member epoch.
            return epoch == it->second.epoch ? error_code::none : error_code::illegal_generation;
        }
        if (version < 9) {
            return error_code::unsupported_version;  // a consumer-protocol member commits with v9+
        }
        // Kafka's validateMemberEpoch: any other epoch is stale, ahead or behind.
        return epoch == it->second.epoch ? error_code::none : error_code::stale_member_epoch;
    }

    // ---- classic members in consumer groups (Kafka 4.x's online migration, one way)
    //
    // A JoinGroup to a consumer group that has members joins it as a member of the group's
    // own kind, assigned by the server: the answer names no leader (so the client assigns
    // nothing), SyncGroup gives the member's partitions as a ConsumerProtocolAssignment, and
    // Heartbeat answers REBALANCE_IN_PROGRESS when the member must rejoin to revoke or to
    // receive partitions. Its JoinGroup's generation is its member epoch.

    static std::vector<consumer::classic_protocol> classic_protocols(const protocol::join_group_request& req) {
        std::vector<consumer::classic_protocol> out;
        for (const auto& p : req.protocols) {
            out.push_back({p.name, p.metadata});
        }
        return out;
    }

    void classic_join_to_consumer(const protocol::join_group_request& req, int16_t version, const client_info& client,
                                  join_callback done) {
        if (error_code e = unavailable(); e != error_code::none) {
            return reply(std::move(done), join_error(e, req.member_id));
        }
        const std::string& gid = req.group_id;
        group* gp = find(gid);
        if (!gp || !gp->is_consumer() || gp->in(group_state::dead)) {
            // It changed while this join waited: start again from the top.
            return join(req, version, client, std::move(done));
        }
        consumer::group& cg = *gp->consumer;
        const bool unknown = req.member_id.empty();
        std::string mid = unknown ? new_member_id(client.client_id) : req.member_id;
        auto protocols = classic_protocols(req);
        // A known member id not in the group is taken as given (the id MEMBER_ID_REQUIRED
        // handed out), as Kafka does for classic members of consumer groups.
        if (!cg.members.contains(mid) && int64_t(cg.members.size()) >= int64_t(cfg.consumer_max_size)) {
            return reply(std::move(done), join_error(error_code::group_max_size_reached, ""));
        }
        auto sub = protocols.empty() ? std::nullopt : parse_subscription(protocols.front().metadata);
        if (req.protocol_type != consumer_protocol_type || !sub || !cg.supports_classic(protocols)) {
            return reply(std::move(done), join_error(error_code::inconsistent_group_protocol, req.member_id));
        }
        if (unknown && !req.group_instance_id && version >= 4) {
            return reply(std::move(done), join_error(error_code::member_id_required, mid));
        }
        consumer_snapshot before = snapshot_of(gid);
        std::vector<shard_host::record> records;
        auto it = cg.members.find(mid);
        bool created = false;
        if (it == cg.members.end() && req.group_instance_id) {
            auto s = cg.static_members.find(*req.group_instance_id);
            if (s != cg.static_members.end() && cg.members.contains(s->second)) {
                it = take_over(gid, cg, cg.members.find(s->second), mid, records);
                created = true;
            }
        }
        if (it == cg.members.end()) {
            consumer::member m;
            m.id = mid;
            it = cg.members.emplace(mid, std::move(m)).first;
            created = true;
        }
        consumer::member& m = it->second;
        if (!m.classic && !created) {
            restore(gid, std::move(before));
            return reply(std::move(done), join_error(error_code::unknown_member_id, req.member_id));
        }
        const consumer::member was = m;
        if (req.group_instance_id) {
            m.instance_id = req.group_instance_id;
            cg.static_members[*req.group_instance_id] = mid;
        }
        if (sub->rack_id) {
            m.rack_id = sub->rack_id;
        }
        m.rebalance_timeout_ms = req.rebalance_timeout_ms < 0 ? req.session_timeout_ms : req.rebalance_timeout_ms;
        std::vector<std::string> names = sub->topics;
        std::sort(names.begin(), names.end());
        names.erase(std::unique(names.begin(), names.end()), names.end());
        m.subscribed_names = std::move(names);
        m.client_id = client.client_id;
        m.client_host = client.client_host;
        m.classic = consumer::classic_meta{req.session_timeout_ms, std::move(protocols)};
        // What it owns, by topic id (topics unknown now cannot be owned).
        consumer::topic_partitions owned;
        for (const auto& [topic, parts] : sub->owned) {
            if (auto t = host.topic(topic)) {
                owned[t->id].insert(parts.begin(), parts.end());
            }
        }
        reconcile_member(gid, *gp, m, was, created, owned, records);
        m.rejoin_deadline = now() + std::max(m.rebalance_timeout_ms, 0);  // it must SyncGroup by then
        protocol::join_group_response r;
        r.member_id = mid;
        r.generation_id = m.epoch;
        r.protocol_type = std::string(consumer_protocol_type);
        r.protocol_name = m.classic->protocols.front().name;
        write_then_reply(gid, std::move(before), std::move(records), std::move(r), std::move(done),
                         [](protocol::join_group_response r, error_code e) { return join_error(e, r.member_id); });
    }

    // Why a classic group with members cannot become a consumer group ("" if it can), as
    // Kafka's validateOnlineUpgrade: it must use the consumer protocol, have had a generation
    // (its members' subscriptions and assignments are read from it), and fit
    // group.consumer.max.size.
    std::string upgradable(const group& g) const {
        if (g.in(group_state::dead)) {
            return "it is being deleted.";
        }
        if (!g.uses_consumer_protocol()) {
            return "it does not use the consumer embedded protocol.";
        }
        if (!g.protocol_name) {
            return "its first rebalance is in progress.";
        }
        if (int64_t(g.members.size()) > int64_t(cfg.consumer_max_size)) {
            return "its size exceeds the consumer group maximum size.";
        }
        for (const auto& [_, m] : g.members) {
            if (!parse_subscription(m.metadata(g.protocol_name)) || !parse_assignment(m.assignment)) {
                return "the embedded consumer protocol is malformed.";
            }
        }
        return {};
    }

    // Kafka's convertToConsumerGroup: a classic group whose members use the consumer protocol
    // becomes a consumer group of classic members, each keeping its last assignment at the
    // generation's epoch; members waiting in a rebalance are told REBALANCE_IN_PROGRESS and
    // rejoin. The classic record is tombstoned and the consumer group's records written.
    void upgrade(group& g, std::vector<shard_host::record>& records) {
        const std::string gid = g.id;
        for (auto& [id, m] : g.members) {
            reply(std::exchange(m.awaiting_join, nullptr), join_error(error_code::rebalance_in_progress, id));
            reply(std::exchange(m.awaiting_sync, nullptr), sync_error(error_code::rebalance_in_progress));
        }
        records.push_back(group_tombstone(gid));
        consumer::group cg;
        cg.epoch = g.generation;
        cg.assignment_epoch = g.generation;
        const int64_t t = now();
        for (const auto& [id, cm] : g.members) {
            auto sub = parse_subscription(cm.metadata(g.protocol_name));
            auto given = parse_assignment(cm.assignment);
            consumer::member m;
            m.id = id;
            m.epoch = g.generation;
            m.previous_epoch = g.generation;
            m.instance_id = cm.instance_id;
            m.rack_id = sub->rack_id;
            m.rebalance_timeout_ms = cm.rebalance_timeout_ms;
            m.client_id = cm.client_id;
            m.client_host = cm.client_host;
            m.subscribed_names = sub->topics;
            std::sort(m.subscribed_names.begin(), m.subscribed_names.end());
            m.subscribed_names.erase(std::unique(m.subscribed_names.begin(), m.subscribed_names.end()),
                                     m.subscribed_names.end());
            consumer::classic_meta meta;
            meta.session_timeout_ms = cm.session_timeout_ms;
            for (const auto& p : cm.protocols) {
                meta.protocols.push_back({p.name, p.metadata});
            }
            m.classic = std::move(meta);
            for (const auto& [topic, parts] : *given) {
                if (auto tm = host.topic(topic)) {
                    m.assigned[tm->id].insert(parts.begin(), parts.end());
                }
            }
            m.session_deadline = t + cm.session_timeout_ms;
            if (m.instance_id) {
                cg.static_members[*m.instance_id] = id;
            }
            cg.target[id] = m.assigned;
            cg.update_owners(nullptr, &m);
            cg.members.emplace(id, std::move(m));
        }
        cg.subscribed_topics = subscription_metadata(cg);
        for (const auto& [id, m] : cg.members) {
            records.push_back(member_metadata_record(gid, m));
        }
        records.push_back(partition_metadata_record(gid, cg));
        records.push_back(epoch_record(gid, cg.epoch));
        for (const auto& [id, tps] : cg.target) {
            records.push_back(target_member_record(gid, id, tps));
        }
        records.push_back(target_epoch_record(gid, cg.assignment_epoch));
        for (const auto& [id, m] : cg.members) {
            records.push_back(current_assignment_record(gid, m));
        }
        clear_classic(g);
        g.type = group_type::consumer;
        g.consumer = std::move(cg);
        mirror(g);
    }

    // Forgets a group's classic members and rebalance (it becomes, or is again, a consumer group).
    static void clear_classic(group& g) {
        g.members.clear();
        g.static_members.clear();
        g.pending_members.clear();
        g.pending_sync.clear();
        g.protocol_support.clear();
        g.awaiting_join = 0;
        g.join_kind = join_timer::none;
        g.join_deadline = no_deadline;
        g.sync_deadline = no_deadline;
        g.leader.reset();
        g.protocol_name.reset();
    }

    // Kafka's online downgrade: when the last member of the new protocol has left (or was
    // fenced) and the members left all use the classic one, the group becomes a classic group
    // of them, each keeping its assignment, and rebalances (they rejoin on their next
    // heartbeat). The consumer group's records are tombstoned and the classic group's written.
    // `generation`: the group epoch before the member left, which the classic members'
    // generation (their member epoch) is when they are reconciled, as Kafka takes it.
    void maybe_downgrade(group& g, int32_t generation, std::vector<shard_host::record>& records) {
        if (!g.consumer || g.consumer->empty() || int64_t(g.consumer->members.size()) > int64_t(cfg.max_size)) {
            return;
        }
        const consumer::group& cg = *g.consumer;
        for (const auto& [_, m] : cg.members) {
            if (!m.classic || m.classic->protocols.empty()) {
                return;
            }
        }
        const std::string gid = g.id;
        std::map<std::string, bytes> assignments;
        std::vector<member> members;
        for (const auto& [id, cm] : cg.members) {
            member_tombstones(gid, id, records);
            member m;
            m.id = id;
            m.instance_id = cm.instance_id;
            m.client_id = cm.client_id;
            m.client_host = cm.client_host;
            m.rebalance_timeout_ms = cm.rebalance_timeout_ms;
            m.session_timeout_ms = cm.classic->session_timeout_ms;
            m.protocol_type = std::string(consumer_protocol_type);
            for (const auto& p : cm.classic->protocols) {
                m.protocols.push_back({p.name, p.metadata});
            }
            std::vector<std::pair<std::string, std::vector<int32_t>>> parts;
            for (const auto& [tid, ps] : cm.assigned) {
                auto t = cg.subscribed_topics.find(tid);
                if (t != cg.subscribed_topics.end() && !ps.empty()) {
                    parts.emplace_back(t->second.name, std::vector<int32_t>(ps.begin(), ps.end()));
                }
            }
            protocol::reader vr(m.protocols.front().metadata);
            const int16_t version = vr.read_int16();
            m.assignment = encode_assignment(vr.ok() ? version : 0, parts);
            assignments[id] = m.assignment;
            members.push_back(std::move(m));
        }
        group_tombstones(gid, g, records);
        g.type = group_type::classic;
        g.consumer.reset();
        clear_classic(g);
        g.generation = generation;
        for (member& m : members) {
            heartbeat_in(m, m.session_timeout_ms);
            add_member(g, std::move(m), nullptr);
        }
        g.protocol_name = g.select_protocol();
        g.subscribed_topics = compute_subscribed_topics(g);
        transition(g, group_state::stable);
        records.push_back(group_record(g, assignments));
        prepare_rebalance(g);  // a member left: the others rejoin
    }

    // The member of a consumer group a classic request names, or the error Kafka gives.
    error_code classic_member(const group& g, const std::string& member_id, const std::optional<std::string>& instance_id,
                              const consumer::member*& out) const {
        const consumer::group& cg = *g.consumer;
        std::string mid = member_id;
        if (instance_id) {
            auto s = cg.static_members.find(*instance_id);
            if (s == cg.static_members.end()) {
                return error_code::unknown_member_id;
            }
            if (s->second != member_id) {
                return error_code::fenced_instance_id;
            }
        }
        auto it = cg.members.find(mid);
        if (it == cg.members.end() || !it->second.classic) {
            return error_code::unknown_member_id;
        }
        out = &it->second;
        return error_code::none;
    }

    // Whether a classic member must rejoin: the group moved on, it has partitions to revoke,
    // or partitions it waits for were released.
    bool must_rejoin(const consumer::group& cg, const consumer::member& m) const {
        if (m.epoch < cg.epoch || m.state == consumer::member_state::unrevoked_partitions) {
            return true;
        }
        if (m.state != consumer::member_state::unreleased_partitions) {
            return false;
        }
        auto t = cg.target.find(m.id);
        if (t == cg.target.end()) {
            return false;
        }
        for (const auto& [id, parts] : t->second) {
            for (int32_t p : parts) {
                auto a = m.assigned.find(id);
                const bool mine = a != m.assigned.end() && a->second.contains(p);
                if (!mine && !cg.owner_epochs.contains({id, p})) {
                    return true;  // free now: rejoin to take it
                }
            }
        }
        return false;
    }

    void classic_sync_to_consumer(group& g, const protocol::sync_group_request& req, sync_callback done) {
        const consumer::member* mp = nullptr;
        if (error_code e = classic_member(g, req.member_id, req.group_instance_id, mp); e != error_code::none) {
            return reply(std::move(done), sync_error(e));
        }
        const consumer::member& m = *mp;
        if (req.generation_id != m.epoch) {
            return reply(std::move(done), sync_error(error_code::illegal_generation));
        }
        if ((req.protocol_type && *req.protocol_type != consumer_protocol_type) ||
            (req.protocol_name && *req.protocol_name != m.classic->protocols.front().name)) {
            return reply(std::move(done), sync_error(error_code::inconsistent_group_protocol));
        }
        const consumer::group& cg = *g.consumer;
        if (cg.epoch > m.epoch && m.state != consumer::member_state::unrevoked_partitions) {
            return reply(std::move(done), sync_error(error_code::rebalance_in_progress));
        }
        std::vector<std::pair<std::string, std::vector<int32_t>>> parts;
        for (const auto& [id, ps] : m.assigned) {
            auto t = cg.subscribed_topics.find(id);
            if (t != cg.subscribed_topics.end() && !ps.empty()) {
                parts.emplace_back(t->second.name, std::vector<int32_t>(ps.begin(), ps.end()));
            }
        }
        protocol::reader vr(m.classic->protocols.front().metadata);
        const int16_t sub_version = vr.read_int16();
        protocol::sync_group_response r;
        r.protocol_type = req.protocol_type;
        r.protocol_name = req.protocol_name;
        r.assignment = encode_assignment(vr.ok() ? sub_version : 0, parts);
        auto& mm = g.consumer->members.at(m.id);
        mm.rejoin_deadline = consumer::no_deadline;
        mm.session_deadline = now() + mm.classic->session_timeout_ms;
        reindex(g.id);
        reply(std::move(done), std::move(r));
    }

    error_code classic_heartbeat_to_consumer(group& g, const protocol::heartbeat_request& req) {
        const consumer::member* mp = nullptr;
        if (error_code e = classic_member(g, req.member_id, req.group_instance_id, mp); e != error_code::none) {
            return e;
        }
        if (req.generation_id != mp->epoch) {
            return error_code::illegal_generation;
        }
        auto& m = g.consumer->members.at(mp->id);
        m.session_deadline = now() + m.classic->session_timeout_ms;
        error_code e = error_code::none;
        if (must_rejoin(*g.consumer, m)) {
            e = error_code::rebalance_in_progress;
            if (m.rejoin_deadline == consumer::no_deadline) {
                m.rejoin_deadline = now() + std::max(m.rebalance_timeout_ms, 0);
            }
        }
        reindex(g.id);
        return e;
    }

    void classic_leave_to_consumer(const protocol::leave_group_request& req, int16_t version,
                                   std::function<void(protocol::leave_group_response)> done) {
        protocol::leave_group_response resp;
        const std::string& gid = req.group_id;
        group* gp = find(gid);
        if (error_code e = unavailable(); e != error_code::none || !gp || !gp->is_consumer()) {
            if (e == error_code::none) {
                return leave(req, version, std::move(done));  // it changed meanwhile
            }
            resp.error_code = code(e);
            return reply(std::move(done), std::move(resp));
        }
        std::vector<protocol::leave_group_request::member_identity> leaving = req.members;
        if (version < 3) {
            leaving.assign(1, {});
            leaving[0].member_id = req.member_id;
        }
        consumer_snapshot before = snapshot_of(gid);
        std::vector<shard_host::record> records;
        for (const auto& who : leaving) {
            auto& r = resp.members.emplace_back();
            r.member_id = who.member_id;
            r.group_instance_id = who.group_instance_id;
            const consumer::member* m = nullptr;
            std::string mid = who.member_id;
            error_code e = error_code::none;
            if (who.member_id.empty() && who.group_instance_id) {
                auto s = gp->consumer->static_members.find(*who.group_instance_id);
                auto it = s == gp->consumer->static_members.end() ? gp->consumer->members.end()
                                                                   : gp->consumer->members.find(s->second);
                if (it == gp->consumer->members.end() || !it->second.classic) {
                    e = error_code::unknown_member_id;
                } else {
                    mid = it->first;
                }
            } else {
                e = classic_member(*gp, who.member_id, who.group_instance_id, m);
            }
            r.error_code = code(e);
            if (e == error_code::none) {
                r.member_id = mid;
                remove_consumer_member(gid, *gp, mid, records);
            }
        }
        mirror(*gp);
        if (version < 3 && !resp.members.empty()) {
            resp.error_code = resp.members.front().error_code;
            resp.members.clear();
        }
        write_then_reply(gid, std::move(before), std::move(records), std::move(resp), std::move(done),
                         [](protocol::leave_group_response r, error_code e) {
                             r.members.clear();
                             r.error_code = code(e);
                             return r;
                         });
    }

    // ---- admin

    // Why a group cannot be described now (the shard is not serving, or no group id).
    error_code describable(const std::string& group_id) const {
        if (error_code e = unavailable(); e != error_code::none) {
            return e;
        }
        return group_id.empty() ? error_code::invalid_group_id : error_code::none;
    }

    protocol::describe_groups_response::described_group describe(const std::string& group_id) const {
        protocol::describe_groups_response::described_group d;
        d.group_id = group_id;
        if (error_code e = describable(group_id); e != error_code::none) {
            d.error_code = code(e);
            return d;
        }
        auto it = groups.find(group_id);
        if (it == groups.end()) {
            d.group_state = state_name(group_state::dead);  // GROUP_ID_NOT_FOUND only from v6
            return d;
        }
        const group& g = it->second;
        if (g.is_consumer()) {
            // DescribeGroups of a consumer group: who is in it (its assignment is told by
            // ConsumerGroupDescribe, which the admin client uses for such groups).
            const consumer::group& cg = *g.consumer;
            d.group_state = cg.state_name();
            d.protocol_type = std::string(consumer_protocol_type);
            d.protocol_data = cg.preferred_assignor(cfg.consumer_assignors.empty() ? std::string(assign::uniform_name)
                                                                                   : cfg.consumer_assignors.front());
            for (const auto& [mid, m] : cg.members) {
                auto& dm = d.members.emplace_back();
                dm.member_id = mid;
                dm.group_instance_id = m.instance_id;
                dm.client_id = m.client_id;
                dm.client_host = m.client_host;
            }
            return d;
        }
        const bool stable = g.in(group_state::stable);
        d.group_state = state_name(g.state);
        d.protocol_type = g.protocol_type.value_or("");
        d.protocol_data = stable ? g.protocol_name.value_or("") : "";
        for (const auto& [id, m] : g.members) {
            auto& dm = d.members.emplace_back();
            dm.member_id = id;
            dm.group_instance_id = m.instance_id;
            dm.client_id = m.client_id;
            dm.client_host = m.client_host;
            if (stable) {
                dm.member_metadata = m.metadata(g.protocol_name);
                dm.member_assignment = m.assignment;
            }
        }
        return d;
    }

    void list(const std::vector<std::string>& states, const std::vector<std::string>& types,
              std::vector<protocol::list_groups_response::listed_group>& out) const {
        if (unavailable() != error_code::none) {
            return;
        }
        for (const auto& [id, g] : groups) {
            if (g.in(group_state::dead)) {
                continue;
            }
            const std::string state = g.is_consumer() ? g.consumer->state_name() : state_name(g.state);
            const std::string_view type = g.is_consumer() ? "consumer" : "classic";
            auto match = [](const std::vector<std::string>& filter, std::string_view v) {
                return filter.empty() ||
                       std::any_of(filter.begin(), filter.end(), [&](const std::string& f) { return iequals(f, v); });
            };
            if (!match(states, state) || !match(types, type)) {
                continue;
            }
            auto& l = out.emplace_back();
            l.group_id = id;
            l.protocol_type = g.protocol_type.value_or("");
            l.group_state = state;
            l.group_type = std::string(type);
        }
    }

    void delete_groups(const std::vector<std::string>& ids,
                       std::function<void(std::vector<protocol::delete_groups_response::deletable_group_result>)> done) {
        std::vector<protocol::delete_groups_response::deletable_group_result> results;
        std::vector<shard_host::record> records;
        std::vector<std::string> deleting;
        std::vector<std::vector<std::pair<std::string, int32_t>>> tombstoned;  // per group deleting
        const error_code down = unavailable();
        if (down == error_code::none) {
            // A consumer group's write in flight may yet fail and bring back the group as it
            // was: the delete waits for it, as the group's heartbeats do.
            for (const std::string& id : ids) {
                if (consumer_busy.contains(id)) {
                    return consumer_serial(id, [this, ids, done = std::move(done)]() mutable {
                        delete_groups(ids, std::move(done));
                    });
                }
            }
        }
        for (const std::string& id : ids) {
            auto& r = results.emplace_back();
            r.group_id = id;
            group* g = find(id);
            error_code e = down;
            if (e == error_code::none) {
                if (id.empty()) {
                    e = error_code::invalid_group_id;
                } else if (!g || g->in(group_state::dead) ||
                           std::find(deleting.begin(), deleting.end(), id) != deleting.end()) {
                    e = error_code::group_id_not_found;
                } else if (!g->in(group_state::empty)) {
                    e = error_code::non_empty_group;
                }
            }
            r.error_code = code(e);
            if (e != error_code::none) {
                continue;
            }
            auto& mine = tombstoned.emplace_back();
            for (const auto& [topic, parts] : g->offsets) {
                for (const auto& [p, _] : parts) {
                    records.push_back(offset_tombstone(id, topic, p));
                    mine.emplace_back(topic, p);
                }
            }
            group_tombstones(id, *g, records);
            deleting.push_back(id);
            transition(*g, group_state::dead);  // nobody joins or commits while it goes
        }
        if (records.empty()) {
            return reply(std::move(done), std::move(results));
        }
        write(std::move(records), [this, deleting, tombstoned = std::move(tombstoned), results = std::move(results),
                                   done = std::move(done)](error_code e) mutable {
            for (size_t i = 0; i < deleting.size(); ++i) {
                const std::string& id = deleting[i];
                group* g = find(id);
                if (!g) {
                    continue;
                }
                if (e == error_code::none) {
                    erase_offsets(*g, tombstoned[i]);
                    drop_group(id);
                } else {
                    g->state = group_state::empty;  // as it was, keeping when it became empty (expiry)
                    for (auto& r : results) {
                        if (r.group_id == id) {
                            r.error_code = code(group_write_error(e));
                        }
                    }
                }
            }
            reply(std::move(done), std::move(results));
        });
    }

    // ---- loading

    void replay(const offsets_record& r) {
        if (replay_consumer(r)) {
            return;
        }
        if (auto* oc = std::get_if<offset_commit_record>(&r)) {
            const auto& k = oc->key;
            if (oc->value) {
                group& g = get_or_create(k.group);
                committed_offset o;
                o.offset = oc->value->offset;
                o.leader_epoch = oc->value->leader_epoch;
                o.metadata = oc->value->metadata;
                o.commit_timestamp = oc->value->commit_timestamp;
                o.expire_timestamp = oc->value->expire_timestamp;
                g.offsets[k.topic][k.partition] = std::move(o);
            } else if (group* g = find(k.group)) {
                erase_offsets(*g, {{k.topic, k.partition}});
            }
        } else if (auto* gm = std::get_if<group_metadata_record>(&r)) {
            const std::string& id = gm->key.group;
            if (!gm->value) {
                if (group* g = find(id); g && g->is_consumer()) {
                    return;  // the classic group this one was converted from
                }
                drop_group(id);
                return;
            }
            load_group(id, *gm->value);
        }
    }

    void load_group(const std::string& id, const protocol::group_metadata_value& v) {
        topic_offsets keep;
        if (auto it = groups.find(id); it != groups.end()) {
            keep = std::move(it->second.offsets);
            groups.erase(it);
        }
        group& g = get_or_create(id);
        g.offsets = std::move(keep);
        g.generation = v.generation;
        if (!v.protocol_type.empty()) {
            g.protocol_type = v.protocol_type;
        }
        g.protocol_name = v.protocol;
        g.leader = v.leader;
        g.state_timestamp = v.current_state_timestamp;
        for (const auto& mm : v.members) {
            if (g.members.contains(mm.member_id)) {
                continue;  // a damaged record: keep the first
            }
            member m;
            m.id = mm.member_id;
            m.instance_id = mm.group_instance_id;
            if (m.instance_id && g.static_members.contains(*m.instance_id)) {
                m.instance_id.reset();
            }
            m.client_id = mm.client_id;
            m.client_host = mm.client_host;
            m.rebalance_timeout_ms = mm.rebalance_timeout;
            m.session_timeout_ms = mm.session_timeout;
            m.protocol_type = v.protocol_type;
            m.protocols.push_back({v.protocol.value_or(""), mm.subscription});
            m.assignment = mm.assignment;
            add_member(g, std::move(m), nullptr);
        }
        if (g.leader && !g.members.contains(*g.leader)) {
            g.leader = g.members.empty() ? std::nullopt : std::optional(g.members.begin()->first);
        }
        g.state = g.members.empty() ? group_state::empty : group_state::stable;
        g.previous_state = g.state;
        g.subscribed_topics = compute_subscribed_topics(g);
    }

    void loaded() {
        if (is_unloaded || is_loaded) {
            return;
        }
        is_loaded = true;
        for (auto& [_, g] : groups) {
            if (g.is_consumer()) {
                consumer_loaded(g);
                continue;
            }
            for (auto& [__, m] : g.members) {
                heartbeat_in(m, m.session_timeout_ms);
            }
            if (int64_t(g.members.size()) > cfg.max_size) {
                prepare_rebalance(g);  // group.max.size was lowered
            }
        }
        next_expiry_check = now() + expiry_interval();
        reindex_all();
    }

    // ---- timers

    void poll() {
        if (!is_loaded || is_unloaded) {
            return;
        }
        const int64_t t = now();
        std::vector<std::string> ids;
        for (const auto& [id, g] : groups) {
            ids.push_back(id);
        }
        for (const std::string& id : ids) {
            poll_group(id, t);
        }
        reindex_all();
        if (t >= next_expiry_check) {
            next_expiry_check = t + expiry_interval();
            expire_offsets();
        }
    }

    void poll_group(const std::string& id, int64_t t) {
        group* g = find(id);
        if (!g) {
            return;
        }
        if (g->is_consumer()) {
            poll_consumer_group(id, t);
            return;
        }
        std::vector<std::string> due;
        for (const auto& [mid, deadline] : g->pending_members) {
            if (deadline <= t) {
                due.push_back(mid);
            }
        }
        for (const std::string& mid : due) {
            remove_member(*g, mid);
            if (g->in(group_state::preparing_rebalance) && g->all_joined()) {
                complete_join(*g);
            }
        }
        due.clear();
        for (auto& [mid, m] : g->members) {
            if (m.heartbeat_deadline <= t) {
                if (m.satisfied_heartbeat()) {
                    m.heartbeat_deadline = no_deadline;  // watched again once its rebalance ends
                } else {
                    due.push_back(mid);
                }
            }
        }
        for (const std::string& mid : due) {
            auto it = g->members.find(mid);
            if (it != g->members.end() && it->second.heartbeat_deadline <= t) {
                remove_member_and_update(*g, mid);
            }
        }
        if (g->sync_deadline <= t) {
            g->sync_deadline = no_deadline;
            expire_pending_sync(*g);
        }
        if (g->join_deadline <= t) {
            if (g->join_kind == join_timer::initial_delay) {
                initial_delay_passed(*g);
            } else {
                complete_join(*g);
            }
        }
    }

    int64_t next_deadline() const {
        if (!is_loaded || is_unloaded) {
            return no_deadline;
        }
        return timers.empty() ? next_expiry_check : std::min(next_expiry_check, timers.begin()->first);
    }

    // Kafka's cleanupGroupMetadata: the offsets past offsets.retention of groups that allow
    // it, then each Empty group left with no offsets, by tombstones.
    void expire_offsets() {
        if (expiry_in_flight) {
            return;
        }
        const int64_t wall = host.wall_ms();
        std::vector<shard_host::record> records;
        std::vector<std::pair<std::string, std::vector<std::pair<std::string, int32_t>>>> expired;
        std::vector<std::string> emptied;
        for (const auto& [id, g] : groups) {
            if (g.in(group_state::dead) || !g.pending_members.empty() || consumer_busy.contains(id)) {
                continue;  // (a consumer group's write in flight decides what it holds)
            }
            // Since when an offset counts as unused: an Empty group's offsets since it became
            // empty (Kafka 2.1+), a simple group's since their commit; a Stable consumer group's
            // offsets of topics nobody subscribes to since their commit; none otherwise.
            bool since_empty = false;
            if (g.protocol_type) {
                if (g.in(group_state::empty)) {
                    since_empty = g.state_timestamp != -1;
                } else if (!(g.uses_consumer_protocol() && g.subscribed_topics && g.in(group_state::stable))) {
                    continue;
                }
            }
            bool all = true;
            std::vector<std::pair<std::string, int32_t>> mine;
            for (const auto& [topic, parts] : g.offsets) {
                if (g.is_subscribed(topic)) {
                    all = false;
                    continue;
                }
                for (const auto& [p, o] : parts) {
                    const int64_t base = since_empty ? g.state_timestamp : o.commit_timestamp;
                    const bool gone = o.expire_timestamp != -1 ? wall >= o.expire_timestamp
                                                               : wall - base >= cfg.offsets_retention_ms;
                    if (gone) {
                        records.push_back(offset_tombstone(id, topic, p));
                        mine.emplace_back(topic, p);
                    } else {
                        all = false;
                    }
                }
            }
            if (!mine.empty()) {
                expired.emplace_back(id, std::move(mine));
            }
            if (all && g.in(group_state::empty)) {
                group_tombstones(id, g, records);
                emptied.push_back(id);
            }
        }
        if (records.empty()) {
            return;
        }
        expiry_in_flight = true;
        write(std::move(records), [this, expired = std::move(expired), emptied = std::move(emptied)](error_code e) {
            expiry_in_flight = false;
            if (e != error_code::none) {
                return;  // tried again at the next check
            }
            for (const auto& [id, which] : expired) {
                if (group* g = find(id)) {
                    erase_offsets(*g, which);
                }
            }
            for (const std::string& id : emptied) {
                group* g = find(id);
                if (g && g->in(group_state::empty) && g->members.empty() && g->pending_members.empty()) {
                    drop_group(id);  // unless someone joined since
                }
            }
        });
    }

    void unload() {
        if (is_unloaded) {
            return;
        }
        is_unloaded = true;
        auto pending = std::move(writes);
        writes.clear();
        for (auto& [_, f] : pending) {
            f(error_code::not_coordinator);
        }
        for (auto& [_, g] : groups) {
            answer_parked(g, error_code::not_coordinator);
        }
        groups.clear();
        timers.clear();
        timer_of.clear();
    }
};

group_shard::group_shard(int32_t partition, shard_host& host, group_config cfg)
    : _partition(partition), _impl(std::make_unique<impl>(partition, host, cfg)) {}

group_shard::~group_shard() {
    _impl->unload();
}

void group_shard::replay(const offsets_record& r) {
    _impl->replay(r);
}

void group_shard::loaded() {
    _impl->loaded();
}

void group_shard::join(const protocol::join_group_request& req, int16_t version, const client_info& client,
                       std::function<void(protocol::join_group_response)> done) {
    _impl->join(req, version, client, std::move(done));
    _impl->reindex(req.group_id);
}

void group_shard::sync(const protocol::sync_group_request& req, int16_t version,
                       std::function<void(protocol::sync_group_response)> done) {
    _impl->sync(req, version, std::move(done));
    _impl->reindex(req.group_id);
}

protocol::heartbeat_response group_shard::heartbeat(const protocol::heartbeat_request& req, int16_t version) {
    (void)version;
    protocol::heartbeat_response r;
    r.error_code = code(_impl->heartbeat(req));
    _impl->reindex(req.group_id);
    return r;
}

void group_shard::leave(const protocol::leave_group_request& req, int16_t version,
                        std::function<void(protocol::leave_group_response)> done) {
    _impl->leave(req, version, std::move(done));
    _impl->reindex(req.group_id);
}

void group_shard::consumer_heartbeat(const protocol::consumer_group_heartbeat_request& req, int16_t version,
                                     const client_info& client,
                                     std::function<void(protocol::consumer_group_heartbeat_response)> done) {
    _impl->consumer_heartbeat(req, version, client, std::move(done));
}

protocol::consumer_group_describe_response::described_group group_shard::consumer_describe(const std::string& group_id) const {
    return _impl->consumer_describe(group_id);
}

void group_shard::commit_offsets(const protocol::offset_commit_request& req, int16_t version,
                                 std::function<void(protocol::offset_commit_response)> done) {
    (void)version;  // v1's per-partition commit timestamp is ignored, as Kafka 4 does
    _impl->commit_offsets(req, version, std::move(done));
    _impl->reindex(req.group_id);  // a member's commit keeps its session alive
}

fetched_group group_shard::fetch_offsets(const std::string& group_id, const std::optional<std::vector<wanted_topic>>& wanted,
                                         bool require_stable, const fetching_member& who) const {
    // require_stable waits for pending transactional offsets; without transactions nothing is
    // ever pending, so it is answered the same.
    (void)require_stable;
    return _impl->fetch_offsets(group_id, wanted, who);
}

void group_shard::delete_offsets(const protocol::offset_delete_request& req,
                                 std::function<void(protocol::offset_delete_response)> done) {
    _impl->delete_offsets(req, std::move(done));
}

protocol::describe_groups_response::described_group group_shard::describe(const std::string& group_id) const {
    return _impl->describe(group_id);
}

void group_shard::list(const std::vector<std::string>& states_filter, const std::vector<std::string>& types_filter,
                       std::vector<protocol::list_groups_response::listed_group>& out) const {
    _impl->list(states_filter, types_filter, out);
}

void group_shard::delete_groups(const std::vector<std::string>& group_ids,
                                std::function<void(std::vector<protocol::delete_groups_response::deletable_group_result>)> done) {
    _impl->delete_groups(group_ids, std::move(done));
}

void group_shard::poll() {
    _impl->poll();
}

int64_t group_shard::next_deadline_ms() const {
    return _impl->next_deadline();
}

void group_shard::unload() {
    _impl->unload();
}

std::vector<group_shard::group_view> group_shard::groups() const {
    std::vector<group_view> out;
    for (const auto& [id, g] : _impl->groups) {
        group_view v;
        v.group_id = id;
        v.state = g.is_consumer() ? g.consumer->state_name() : state_name(g.state);
        v.members = int32_t(g.is_consumer() ? g.consumer->members.size() : g.members.size());
        for (const auto& [topic, parts] : g.offsets) {
            for (const auto& [p, o] : parts) {
                fetched_offset f;
                f.topic = topic;
                f.partition = p;
                f.offset = o.offset;
                f.leader_epoch = o.leader_epoch;
                f.metadata = o.metadata;
                v.offsets.push_back(std::move(f));
            }
        }
        out.push_back(std::move(v));
    }
    return out;
}

} // namespace trib::broker::groups
