// The controller's side of replication: partition epochs, AlterPartition, the ISR at
// creation, controlled shutdown, unclean leader election, ElectLeaders, the preferred
// leader rebalance and partition reassignment.
#include "tests/fakes/coordinator_harness.h"

#include "coordinator/client/errc.h"
#include "coordinator/client/topic_config.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <map>
#include <set>

namespace trib::coordinator::testing {
namespace {

using protocol::error_code;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

// A harness with helpers for the requests of this file.
class repl_harness : public harness {
public:
    explicit repl_harness(controller_config cfg = {}) : harness(std::move(cfg)) {}

    int64_t epoch_of(int32_t b) { return image().broker(b)->epoch; }

    const partition_state& partition(const std::string& topic, int32_t i) {
        return image().topic(topic)->partitions.at(size_t(i));
    }

    // AlterPartition for one partition, as its leader `from` would send it.
    controller::alter_partition_response alter(int32_t from, const std::string& topic, int32_t index,
                                               std::vector<int32_t> isr, int16_t version = 3,
                                               std::optional<int32_t> leader_epoch = std::nullopt,
                                               std::optional<int32_t> partition_epoch = std::nullopt) {
        const auto& p = partition(topic, index);
        controller::alter_partition_request req;
        req.broker_id = from;
        req.broker_epoch = epoch_of(from);
        auto& t = req.topics.emplace_back();
        t.topic_id = image().topic(topic)->id;
        auto& pd = t.partitions.emplace_back();
        pd.partition_index = index;
        pd.leader_epoch = leader_epoch.value_or(p.leader_epoch);
        pd.partition_epoch = partition_epoch.value_or(p.partition_epoch);
        for (int32_t b : isr) {
            pd.new_isr.push_back(b);
            auto& m = pd.new_isr_with_epochs.emplace_back();
            m.broker_id = b;
            m.broker_epoch = image().broker(b) ? epoch_of(b) : -1;
        }
        return alter(req, version);
    }

    controller::alter_partition_response alter(const controller::alter_partition_request& req, int16_t version) {
        std::optional<controller::alter_partition_response> out;
        ctrl->alter_partition(req, version, [&](controller::alter_partition_response r) { out = std::move(r); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(controller::alter_partition_response{});
    }

    // Error of the only partition of an AlterPartition answer (or the top-level one).
    static int16_t error_of(const controller::alter_partition_response& r) {
        if (r.error_code != 0 || r.topics.empty() || r.topics[0].partitions.empty()) {
            return r.error_code;
        }
        return r.topics[0].partitions[0].error_code;
    }

    controller::heartbeat_response shutdown_heartbeat(int32_t id) {
        controller::heartbeat_request req;
        req.broker_id = id;
        req.incarnation_id = make_uuid(uint8_t(id));
        req.broker_epoch = epoch_of(id);
        req.applied_offset = INT64_MAX;
        req.want_shut_down = true;
        std::optional<controller::heartbeat_response> out;
        ctrl->heartbeat(req, [&](controller::heartbeat_response r) { out = std::move(r); });
        EXPECT_TRUE(out.has_value());
        return out.value_or(controller::heartbeat_response{});
    }

    // Lets every broker but `silent` heartbeat while time passes beyond a lease, then ticks.
    void expire(const std::set<int32_t>& silent) {
        for (int step = 0; step < 5; ++step) {
            clk.advance(2000);
            for (const auto& [id, b] : image().brokers()) {
                if (!silent.contains(id) && !b.fenced) {
                    heartbeat(id, b.incarnation, b.epoch);
                }
            }
            ctrl->tick();
        }
    }

    // Fences `b` (its lease runs out while the others heartbeat), then lets it come back: it
    // is live again but, having missed records, out of every ISR it was taken out of.
    void fence_and_return(int32_t b) {
        expire({b});
        EXPECT_TRUE(image().broker(b)->fenced);
        heartbeat(b, make_uuid(uint8_t(b)), epoch_of(b));
        EXPECT_FALSE(image().broker(b)->fenced);
    }

    protocol::elect_leaders_response elect(int8_t type,
                                           std::optional<std::vector<std::pair<std::string, int32_t>>> parts) {
        protocol::elect_leaders_request req;
        req.election_type = type;
        if (parts) {
            req.topic_partitions.emplace();
            for (const auto& [topic, p] : *parts) {
                auto& tp = req.topic_partitions->emplace_back();
                tp.topic = topic;
                tp.partitions.push_back(p);
            }
        } else {
            req.topic_partitions = std::nullopt;
        }
        return admin<protocol::elect_leaders_request, protocol::elect_leaders_response>(req, 2);
    }

    void set_topic_config(const std::string& topic, const std::string& key, const std::string& value) {
        protocol::incremental_alter_configs_request req;
        auto& r = req.resources.emplace_back();
        r.resource_type = int8_t(resource_type::topic);
        r.resource_name = topic;
        auto& op = r.configs.emplace_back();
        op.name = key;
        op.config_operation = 0;
        op.value = value;
        auto resp = admin<protocol::incremental_alter_configs_request, protocol::incremental_alter_configs_response>(
            req, 1);
        ASSERT_EQ(resp.responses.at(0).error_code, 0) << resp.responses[0].error_message.value_or("");
    }

    // AlterPartitionReassignments of one partition (nullopt: cancel): its error and message.
    std::pair<int16_t, std::string> reassign(const std::string& topic, int32_t index,
                                             std::optional<std::vector<int32_t>> target) {
        protocol::alter_partition_reassignments_request req;
        auto& t = req.topics.emplace_back();
        t.name = topic;
        auto& p = t.partitions.emplace_back();
        p.partition_index = index;
        p.replicas = std::move(target);
        auto resp = admin<protocol::alter_partition_reassignments_request,
                          protocol::alter_partition_reassignments_response>(req, 0);
        EXPECT_EQ(resp.error_code, 0);
        if (resp.responses.empty() || resp.responses[0].partitions.empty()) {
            ADD_FAILURE() << "no answer for the partition";
            return {-1, {}};
        }
        const auto& r = resp.responses[0].partitions[0];
        return {r.error_code, r.error_message.value_or("")};
    }

    // ListPartitionReassignments of every partition: "topic-index" -> (replicas, adding, removing).
    std::map<std::string, std::array<std::vector<int32_t>, 3>> ongoing() {
        protocol::list_partition_reassignments_request req;
        req.topics = std::nullopt;
        auto resp = admin<protocol::list_partition_reassignments_request,
                          protocol::list_partition_reassignments_response>(req, 0);
        EXPECT_EQ(resp.error_code, 0);
        std::map<std::string, std::array<std::vector<int32_t>, 3>> out;
        for (const auto& t : resp.topics) {
            for (const auto& p : t.partitions) {
                out[t.name + "-" + std::to_string(p.partition_index)] = {p.replicas, p.adding_replicas,
                                                                         p.removing_replicas};
            }
        }
        return out;
    }

    // DrainBrokers: mode 0 drain, 1 undrain, 2 describe.
    protocol::drain_brokers_response drain(int8_t mode, std::vector<int32_t> ids) {
        protocol::drain_brokers_request req;
        req.broker_ids = std::move(ids);
        req.mode = mode;
        return admin<protocol::drain_brokers_request, protocol::drain_brokers_response>(req, 0);
    }

    static std::optional<protocol::drain_brokers_response::drain_state> state_of(
        const protocol::drain_brokers_response& r, int32_t b) {
        for (const auto& s : r.brokers) {
            if (s.broker_id == b) {
                return s;
            }
        }
        return std::nullopt;
    }

    protocol::unregister_broker_response unregister(int32_t id) {
        protocol::unregister_broker_request req;
        req.broker_id = id;
        return admin<protocol::unregister_broker_request, protocol::unregister_broker_response>(req, 0);
    }

    // Every partition of `topic` whose reassignment is under way: its leader takes every
    // replica into the ISR (as it would once they caught up), which ends the move.
    void catch_up(const std::string& topic) {
        for (int32_t i = 0; i < int32_t(image().topic(topic)->partitions.size()); ++i) {
            const auto p = partition(topic, i);
            if (p.reassigning()) {
                ASSERT_EQ(error_of(alter(p.leader, topic, i, p.replicas)), 0) << topic << "-" << i;
            }
        }
    }

    // Creates `topic` with the given replica lists (partition i on assignment[i]).
    void create_assigned(const std::string& topic, const std::vector<std::vector<int32_t>>& assignment) {
        protocol::create_topics_request req;
        auto& t = req.topics.emplace_back();
        t.name = topic;
        t.num_partitions = -1;
        t.replication_factor = -1;
        for (size_t i = 0; i < assignment.size(); ++i) {
            auto& a = t.assignments.emplace_back();
            a.partition_index = int32_t(i);
            a.broker_ids = assignment[i];
        }
        auto resp = admin<protocol::create_topics_request, protocol::create_topics_response>(req, 7);
        ASSERT_EQ(resp.topics.at(0).error_code, 0) << resp.topics[0].error_message.value_or("");
    }
};

// ---- partition epoch ---------------------------------------------------------------------

TEST(partition_epoch, image_refuses_a_change_whose_partition_epoch_does_not_grow) {
    metadata_image img;
    ASSERT_TRUE(img.apply(offset(0), topic_record{"t", make_uuid(1), {}}));
    partition_record p;
    p.topic_id = make_uuid(1);
    p.replicas = {1, 2};
    p.isr = {1};
    p.leader = 1;
    p.partition_epoch = 3;
    ASSERT_TRUE(img.apply(offset(1), p));
    partition_change_record c;
    c.topic_id = make_uuid(1);
    c.replicas = {1, 2};
    c.isr = {1, 2};
    c.leader = 1;
    c.partition_epoch = 3;
    EXPECT_FALSE(img.apply(offset(2), c)) << "same partition epoch";
    c.partition_epoch = 2;
    EXPECT_FALSE(img.apply(offset(2), c)) << "lower partition epoch";
    c.partition_epoch = 4;
    ASSERT_TRUE(img.apply(offset(2), c));
    EXPECT_EQ(img.topic("t")->partitions[0].partition_epoch, 4);
    EXPECT_EQ(img.to_snapshot("c", node_id(0)).partition("t", 0)->partition_epoch, 4);

    // A snapshot keeps it.
    metadata_image copy;
    offset at(0);
    for (const auto& r : img.to_records()) {
        ASSERT_TRUE(copy.apply(at, r));
        at = at + 1;
    }
    EXPECT_EQ(copy.topic("t")->partitions[0].partition_epoch, 4);
}

TEST(partition_epoch, records_from_before_partition_epochs_still_replay) {
    // A log written before the field existed has 0 everywhere (the tag is absent).
    metadata_image img;
    ASSERT_TRUE(img.apply(offset(0), topic_record{"t", make_uuid(1), {}}));
    partition_record p;
    p.topic_id = make_uuid(1);
    p.replicas = {1};
    p.isr = {1};
    p.leader = 1;
    ASSERT_TRUE(img.apply(offset(1), p));
    partition_change_record c;
    c.topic_id = make_uuid(1);
    c.replicas = {1};
    c.isr = {1};
    c.leader = -1;
    c.leader_epoch = 1;
    EXPECT_TRUE(img.apply(offset(2), c));
    // The tag is written only when set: such records encode exactly as before.
    partition_change_record old_form = c;
    auto decoded = decode_record_value(encode_record_value(old_form));
    ASSERT_TRUE(decoded);
    EXPECT_EQ(std::get<partition_change_record>(*decoded).partition_epoch, 0);
}

TEST(partition_epoch, every_controller_change_bumps_it) {
    repl_harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}});
    EXPECT_EQ(h.partition("t", 0).partition_epoch, 0);
    EXPECT_EQ(h.partition("t", 0).isr, (std::vector<int32_t>{1, 2}));
    h.expire({1});  // fencing the leader: leader and ISR change
    const auto& p = h.partition("t", 0);
    EXPECT_EQ(p.leader, 2);
    EXPECT_EQ(p.leader_epoch, 1);
    EXPECT_EQ(p.partition_epoch, 1);
    h.heartbeat(1, make_uuid(1), h.epoch_of(1));  // back, but not in the ISR: nothing changes
    EXPECT_EQ(h.partition("t", 0).partition_epoch, 1);
    auto r = h.alter(2, "t", 0, {2, 1});  // ISR grows: the partition epoch, not the leader epoch
    ASSERT_EQ(repl_harness::error_of(r), 0);
    EXPECT_EQ(h.partition("t", 0).partition_epoch, 2);
    EXPECT_EQ(h.partition("t", 0).leader_epoch, 1);
}

// ---- AlterPartition ----------------------------------------------------------------------

TEST(alter_partition, the_leader_grows_and_shrinks_the_isr) {
    controller_config leader_alone;
    leader_alone.followers_replicate = false;
    repl_harness h(leader_alone);  // the ISR starts as the leader alone: there are members to add
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    ASSERT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{1});
    auto r = h.alter(1, "t", 0, {1, 2, 3});
    ASSERT_EQ(r.error_code, 0);
    ASSERT_EQ(r.topics.size(), 1u);
    EXPECT_EQ(r.topics[0].topic_id, h.image().topic("t")->id);
    const auto& out = r.topics[0].partitions.at(0);
    EXPECT_EQ(out.error_code, 0);
    EXPECT_EQ(out.leader_id, 1);
    EXPECT_EQ(out.leader_epoch, 0);
    EXPECT_EQ(out.isr, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(out.partition_epoch, 1);
    EXPECT_EQ(h.partition("t", 0).isr, (std::vector<int32_t>{1, 2, 3}));

    // v2 (a plain list) shrinks it.
    r = h.alter(1, "t", 0, {1, 3}, 2);
    ASSERT_EQ(repl_harness::error_of(r), 0);
    EXPECT_EQ(h.partition("t", 0).isr, (std::vector<int32_t>{1, 3}));
    EXPECT_EQ(h.partition("t", 0).partition_epoch, 2);

    // The same ISR again: answered with the current state, nothing written.
    const auto next = h.image().next_offset();
    r = h.alter(1, "t", 0, {3, 1});
    ASSERT_EQ(repl_harness::error_of(r), 0);
    EXPECT_EQ(r.topics[0].partitions[0].partition_epoch, 2);
    EXPECT_EQ(r.topics[0].partitions[0].isr, (std::vector<int32_t>{1, 3}));
    EXPECT_EQ(h.image().next_offset(), next);
}

TEST(alter_partition, stale_or_wrong_requests_are_refused_as_kraft_does) {
    repl_harness h;
    for (int32_t b = 1; b <= 4; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2})), 0);  // partition epoch 1
    const auto before = h.partition("t", 0);

    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3}, 3, std::nullopt, 0)),
              code(error_code::invalid_update_version));
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3}, 3, std::nullopt, 5)),
              code(error_code::not_controller));
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3}, 3, 1)), code(error_code::not_controller));
    EXPECT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {1, 2, 3})), code(error_code::invalid_request))
        << "only the leader may change the ISR";
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {2, 3})), code(error_code::invalid_request))
        << "the leader must stay in the ISR";
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 4})), code(error_code::invalid_request))
        << "4 holds no replica";
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 2})), code(error_code::invalid_request))
        << "a member named twice";

    // A member at another broker epoch (v3).
    auto req_with_epoch = [&](int64_t epoch3) {
        controller::alter_partition_request req;
        req.broker_id = 1;
        req.broker_epoch = h.epoch_of(1);
        auto& t = req.topics.emplace_back();
        t.topic_id = h.image().topic("t")->id;
        auto& pd = t.partitions.emplace_back();
        pd.leader_epoch = before.leader_epoch;
        pd.partition_epoch = before.partition_epoch;
        pd.new_isr_with_epochs.push_back({1, h.epoch_of(1), {}});
        pd.new_isr_with_epochs.push_back({3, epoch3, {}});
        return req;
    };
    EXPECT_EQ(repl_harness::error_of(h.alter(req_with_epoch(h.epoch_of(3) + 100), 3)),
              code(error_code::ineligible_replica));

    // Stale requester.
    auto req = req_with_epoch(h.epoch_of(3));
    req.broker_epoch = h.epoch_of(1) - 1;
    EXPECT_EQ(h.alter(req, 3).error_code, code(error_code::stale_broker_epoch));

    // Unknown topic id.
    req = req_with_epoch(h.epoch_of(3));
    req.topics[0].topic_id = make_uuid(99);
    EXPECT_EQ(repl_harness::error_of(h.alter(req, 3)), code(error_code::unknown_topic_id));

    EXPECT_EQ(h.partition("t", 0), before) << "no refused request changed anything";

    // A fenced broker cannot join.
    h.expire({3});
    ASSERT_TRUE(h.image().broker(3)->fenced);
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3})), code(error_code::ineligible_replica));

    // After a leader change the old leader's epoch is fenced.
    const auto p = h.partition("t", 0);
    h.expire({1, 3});
    ASSERT_EQ(h.partition("t", 0).leader, 2);
    h.heartbeat(1, make_uuid(1), h.epoch_of(1));
    EXPECT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2}, 3, p.leader_epoch, p.partition_epoch)),
              code(error_code::fenced_leader_epoch));
}

// ---- ISR at creation ----------------------------------------------------------------------

TEST(creation, every_unfenced_replica_is_in_sync) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    ASSERT_EQ(h.create_topic("t", 3, 3).error_code, 0);
    for (const auto& p : h.image().topic("t")->partitions) {
        EXPECT_EQ(p.isr, p.replicas);
        EXPECT_EQ(p.leader, p.replicas.front());
    }
    protocol::create_partitions_request req;
    auto& t = req.topics.emplace_back();
    t.name = "t";
    t.count = 4;
    t.assignments = std::nullopt;
    auto resp = h.admin<protocol::create_partitions_request, protocol::create_partitions_response>(req, 3);
    ASSERT_EQ(resp.results.at(0).error_code, 0);
    EXPECT_EQ(h.partition("t", 3).isr, h.partition("t", 3).replicas);
}

// ---- controlled shutdown ---------------------------------------------------------------------

TEST(controlled_shutdown, moves_leaderships_and_isr_membership_then_says_shut_down) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}, {2, 1, 3}, {3, 2, 1}});
    h.create_assigned("alone", {{1}});

    auto r = h.shutdown_heartbeat(1);
    EXPECT_EQ(r.error_code, 0);
    EXPECT_FALSE(r.should_shut_down) << "its leadership moved in this heartbeat; the next may stop it";
    EXPECT_TRUE(h.ctrl->in_controlled_shutdown(1));
    EXPECT_EQ(h.partition("t", 0).leader, 2);
    EXPECT_EQ(h.partition("t", 0).leader_epoch, 1);
    for (int32_t i = 0; i < 3; ++i) {
        EXPECT_FALSE(std::count(h.partition("t", i).isr.begin(), h.partition("t", i).isr.end(), 1))
            << "broker 1 leaves the ISR of partition " << i;
    }
    EXPECT_EQ(h.partition("t", 1).leader, 2);
    EXPECT_EQ(h.partition("t", 1).leader_epoch, 0);
    EXPECT_EQ(h.partition("alone", 0).leader, 1) << "its only in-sync copy stays";

    r = h.shutdown_heartbeat(1);
    EXPECT_TRUE(r.should_shut_down);

    // No new leaderships while shutting down: a preferred election for it is refused, a
    // join of the ISR too.
    EXPECT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {2, 3, 1})), code(error_code::ineligible_replica));
    auto e = h.elect(0, std::vector<std::pair<std::string, int32_t>>{{"t", 0}});
    EXPECT_EQ(e.replica_election_results.at(0).partition_result.at(0).error_code,
              code(error_code::preferred_leader_not_available));
    ASSERT_EQ(h.create_topic("new", 3, 2).error_code, 0);
    for (const auto& p : h.image().topic("new")->partitions) {
        EXPECT_FALSE(std::count(p.replicas.begin(), p.replicas.end(), 1)) << "no new replicas on it";
    }

    // Its lease ends: fenced, and the shutdown is over.
    h.expire({1});
    EXPECT_TRUE(h.image().broker(1)->fenced);
    EXPECT_FALSE(h.ctrl->in_controlled_shutdown(1));
}

TEST(controlled_shutdown, a_restart_on_the_same_data_ends_it) {
    // The broker stops after ShouldShutDown and starts again at once on the same data: it
    // registers with the incarnation it keeps on disk, before its lease ran out.
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    h.shutdown_heartbeat(1);
    ASSERT_TRUE(h.shutdown_heartbeat(1).should_shut_down);
    ASSERT_TRUE(h.ctrl->in_controlled_shutdown(1));
    ASSERT_EQ(h.register_broker(1, make_uuid(1)).error_code, 0);
    EXPECT_FALSE(h.ctrl->in_controlled_shutdown(1)) << "a new process, not the one shutting down";
    EXPECT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {2, 3, 1})), 0) << "it may rejoin the ISR";
    EXPECT_EQ(h.partition("t", 0).isr, (std::vector<int32_t>{2, 3, 1}));
}

TEST(controlled_shutdown, a_fenced_broker_may_stop_at_once) {
    repl_harness h;
    auto reg = h.register_broker(1, make_uuid(1));
    ASSERT_EQ(reg.error_code, 0);
    auto r = h.shutdown_heartbeat(1);
    EXPECT_TRUE(r.is_fenced);
    EXPECT_TRUE(r.should_shut_down);
}

// ---- unclean leader election --------------------------------------------------------------

// The unclean tests need a partition whose last in-sync replica is fenced while another
// replica is live: broker 2 is fenced and comes back (out of the ISR, which is {1} now), then
// broker 1, the last member, is fenced.
void leave_broker_1_the_last_in_sync_replica(repl_harness& h) {
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}});
    ASSERT_EQ(h.partition("t", 0).isr, (std::vector<int32_t>{1, 2}));
    h.fence_and_return(2);
    ASSERT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{1});
    ASSERT_EQ(h.partition("t", 0).leader, 1);
}

TEST(unclean, off_by_default_the_partition_waits_for_its_in_sync_replica) {
    repl_harness h;
    ASSERT_NO_FATAL_FAILURE(leave_broker_1_the_last_in_sync_replica(h));
    const auto before = h.partition("t", 0);
    h.expire({1});
    ASSERT_TRUE(h.image().broker(1)->fenced);
    ASSERT_FALSE(h.image().broker(2)->fenced);
    const auto& p = h.partition("t", 0);
    EXPECT_EQ(p.leader, -1) << "broker 2 is live but out of sync: it does not lead";
    EXPECT_EQ(p.isr, std::vector<int32_t>{1}) << "the last ISR member stays";
    EXPECT_EQ(p.leader_epoch, before.leader_epoch + 1);
}

TEST(unclean, enabled_for_the_topic_a_live_replica_takes_over) {
    repl_harness h;
    ASSERT_NO_FATAL_FAILURE(leave_broker_1_the_last_in_sync_replica(h));
    h.set_topic_config("t", "unclean.leader.election.enable", "true");
    const auto before = h.partition("t", 0);
    h.expire({1});
    const auto& p = h.partition("t", 0);
    EXPECT_EQ(p.leader, 2);
    EXPECT_EQ(p.isr, std::vector<int32_t>{2});
    EXPECT_EQ(p.leader_epoch, before.leader_epoch + 1);
}

TEST(unclean, cluster_default_applies_when_a_replica_comes_back_later) {
    controller_config cfg;
    cfg.unclean_leader_election_enable = true;
    repl_harness h(cfg);
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}});
    h.expire({2});  // broker 2 leaves the ISR: {1}
    ASSERT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{1});
    h.expire({1, 2});  // broker 1 too: nobody can lead
    EXPECT_EQ(h.partition("t", 0).leader, -1);
    EXPECT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{1});
    const auto before = h.partition("t", 0);
    h.heartbeat(2, make_uuid(2), h.epoch_of(2));  // the out-of-sync replica comes back first
    EXPECT_EQ(h.partition("t", 0).leader, 2);
    EXPECT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{2});
    EXPECT_EQ(h.partition("t", 0).leader_epoch, before.leader_epoch + 1);
}

TEST(unclean, turning_it_on_later_elects_at_the_next_tick) {
    repl_harness h;
    ASSERT_NO_FATAL_FAILURE(leave_broker_1_the_last_in_sync_replica(h));
    h.expire({1});
    ASSERT_EQ(h.partition("t", 0).leader, -1);
    h.ctrl->tick();
    EXPECT_EQ(h.partition("t", 0).leader, -1) << "off: the partition waits";
    const auto before = h.partition("t", 0);
    h.set_topic_config("t", "unclean.leader.election.enable", "true");
    h.ctrl->tick();
    EXPECT_EQ(h.partition("t", 0).leader, 2);
    EXPECT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{2});
    EXPECT_EQ(h.partition("t", 0).leader_epoch, before.leader_epoch + 1);
}

TEST(unclean, topic_config_is_validated) {
    EXPECT_FALSE(validate_topic_config("unclean.leader.election.enable", "true"));
    EXPECT_FALSE(validate_topic_config("unclean.leader.election.enable", "false"));
    EXPECT_TRUE(validate_topic_config("unclean.leader.election.enable", "yes"));
    // The cleaner's topic keys.
    EXPECT_FALSE(validate_topic_config("min.cleanable.dirty.ratio", "0.5"));
    EXPECT_FALSE(validate_topic_config("min.cleanable.dirty.ratio", "0"));
    EXPECT_TRUE(validate_topic_config("min.cleanable.dirty.ratio", "1.5"));
    EXPECT_TRUE(validate_topic_config("min.cleanable.dirty.ratio", "half"));
    EXPECT_FALSE(validate_topic_config("delete.retention.ms", "0"));
    EXPECT_TRUE(validate_topic_config("delete.retention.ms", "-1"));
    EXPECT_TRUE(validate_topic_config("max.compaction.lag.ms", "0"));
    EXPECT_FALSE(validate_topic_config("min.compaction.lag.ms", "1000"));
}

// ---- ElectLeaders ---------------------------------------------------------------------------

TEST(elect_leaders, preferred_moves_leadership_back_to_the_first_replica) {
    repl_harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}, {2, 1}});
    h.create_assigned("quiet", {{2, 1}});
    h.expire({1});
    ASSERT_EQ(h.partition("t", 0).leader, 2);
    h.heartbeat(1, make_uuid(1), h.epoch_of(1));
    auto e = h.elect(0, std::vector<std::pair<std::string, int32_t>>{{"t", 0}});
    EXPECT_EQ(e.replica_election_results.at(0).partition_result.at(0).error_code,
              code(error_code::preferred_leader_not_available))
        << "broker 1 is not back in the ISR yet";
    ASSERT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {2, 1})), 0);

    // All partitions: every topic is answered, with only the partitions that needed an election.
    e = h.elect(0, std::nullopt);
    ASSERT_EQ(e.error_code, 0);
    ASSERT_EQ(e.replica_election_results.size(), 2u);
    EXPECT_EQ(e.replica_election_results[0].topic, "quiet");
    EXPECT_TRUE(e.replica_election_results[0].partition_result.empty());
    ASSERT_EQ(e.replica_election_results[1].partition_result.size(), 1u);
    EXPECT_EQ(e.replica_election_results[1].partition_result[0].partition_id, 0);
    EXPECT_EQ(e.replica_election_results[1].partition_result[0].error_code, 0);
    EXPECT_EQ(h.partition("t", 0).leader, 1);
    EXPECT_EQ(h.partition("t", 0).leader_epoch, 2);

    e = h.elect(0, std::vector<std::pair<std::string, int32_t>>{{"t", 1}, {"t", 7}, {"nope", 0}});
    ASSERT_EQ(e.replica_election_results.size(), 2u);
    EXPECT_EQ(e.replica_election_results[0].partition_result.at(0).error_code,
              code(error_code::election_not_needed));
    EXPECT_EQ(e.replica_election_results[0].partition_result.at(1).error_code,
              code(error_code::unknown_topic_or_partition));
    EXPECT_EQ(e.replica_election_results[1].partition_result.at(0).error_code,
              code(error_code::unknown_topic_or_partition));
}

TEST(elect_leaders, unclean_elects_a_live_replica_for_a_leaderless_partition) {
    repl_harness h;
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}, {2, 1}});
    // Broker 2 drops out of both ISRs and comes back; only t-1's leader (1 now) takes it back
    // in sync. Then broker 1 is fenced: t-1 moves to broker 2 cleanly, t-0 has no in-sync
    // replica left that can lead.
    h.fence_and_return(2);
    ASSERT_EQ(h.partition("t", 1).leader, 1);
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 1, {1, 2})), 0);
    h.expire({1});
    ASSERT_EQ(h.partition("t", 0).leader, -1);
    ASSERT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{1});
    ASSERT_EQ(h.partition("t", 1).leader, 2);
    const auto before = h.partition("t", 0);
    auto e = h.elect(1, std::vector<std::pair<std::string, int32_t>>{{"t", 0}, {"t", 1}});
    EXPECT_EQ(e.replica_election_results.at(0).partition_result.at(0).error_code, 0);
    EXPECT_EQ(e.replica_election_results.at(0).partition_result.at(1).error_code,
              code(error_code::election_not_needed));
    EXPECT_EQ(h.partition("t", 0).leader, 2);
    EXPECT_EQ(h.partition("t", 0).isr, std::vector<int32_t>{2});
    EXPECT_EQ(h.partition("t", 0).leader_epoch, before.leader_epoch + 1);
}

TEST(elect_leaders, unclean_without_a_live_replica_is_refused) {
    repl_harness h;
    h.add_live_broker(1);
    h.create_assigned("t", {{1}});
    h.expire({1});
    auto e = h.elect(1, std::vector<std::pair<std::string, int32_t>>{{"t", 0}});
    EXPECT_EQ(e.replica_election_results.at(0).partition_result.at(0).error_code,
              code(error_code::eligible_leaders_not_available));
}

// ---- auto leader rebalance --------------------------------------------------------------

TEST(rebalance, tick_moves_leadership_back_once_the_interval_passes) {
    controller_config cfg;
    cfg.leader_imbalance_check_interval_ms = 60'000;
    repl_harness h(cfg);
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}, {2, 1}});
    h.ctrl->tick();  // starts the interval
    h.expire({1});
    h.heartbeat(1, make_uuid(1), h.epoch_of(1));
    ASSERT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {2, 1})), 0);
    ASSERT_EQ(h.partition("t", 0).leader, 2);
    h.expire({});  // 10 s: not yet
    EXPECT_EQ(h.partition("t", 0).leader, 2);
    for (int i = 0; i < 6; ++i) {
        h.expire({});
    }
    EXPECT_EQ(h.partition("t", 0).leader, 1) << "broker 1 led 0 of its 1 preferred partitions: 100% > 10%";
    EXPECT_EQ(h.partition("t", 1).leader, 2);
}

TEST(rebalance, off_leaves_leadership_where_it_is) {
    controller_config cfg;
    cfg.auto_leader_rebalance_enable = false;
    cfg.leader_imbalance_check_interval_ms = 1000;
    repl_harness h(cfg);
    h.add_live_broker(1);
    h.add_live_broker(2);
    h.create_assigned("t", {{1, 2}});
    h.expire({1});
    h.heartbeat(1, make_uuid(1), h.epoch_of(1));
    ASSERT_EQ(repl_harness::error_of(h.alter(2, "t", 0, {2, 1})), 0);
    h.expire({});
    EXPECT_EQ(h.partition("t", 0).leader, 2);
}

// ---- reassignment ------------------------------------------------------------------------

using ints = std::vector<int32_t>;

TEST(reassignment, new_replicas_are_added_first_and_the_old_removed_once_they_are_in_sync) {
    repl_harness h;
    for (int32_t b = 1; b <= 4; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}, {2, 3, 1}});
    const auto before = h.partition("t", 0);

    auto [e, msg] = h.reassign("t", 0, ints{2, 3, 4});
    ASSERT_EQ(e, 0) << msg;
    auto p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{2, 3, 4, 1})) << "the target, then the replicas leaving";
    EXPECT_EQ(p.adding, (ints{4}));
    EXPECT_EQ(p.removing, (ints{1}));
    EXPECT_EQ(p.isr, (ints{1, 2, 3})) << "nobody leaves the ISR before the new replica is in it";
    EXPECT_EQ(p.leader, 1);
    EXPECT_EQ(p.leader_epoch, before.leader_epoch);
    EXPECT_GT(p.partition_epoch, before.partition_epoch);
    auto listed = h.ongoing();
    ASSERT_EQ(listed.size(), 1u) << "partition 1 is not moving";
    EXPECT_EQ(listed["t-0"][0], (ints{2, 3, 4, 1}));
    EXPECT_EQ(listed["t-0"][1], (ints{4}));
    EXPECT_EQ(listed["t-0"][2], (ints{1}));

    // The leader takes the new replica into the ISR: the move ends in the same record, and
    // the leader, which leaves, hands over to the first target replica in sync.
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3, 4})), 0);
    p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{2, 3, 4}));
    EXPECT_EQ(p.isr, (ints{2, 3, 4}));
    EXPECT_EQ(p.leader, 2);
    EXPECT_EQ(p.leader_epoch, before.leader_epoch + 1);
    EXPECT_FALSE(p.reassigning());
    EXPECT_TRUE(h.ongoing().empty());

    // The move is in the log: a restarted controller sees the same.
    h.reopen();
    EXPECT_EQ(h.partition("t", 0), p);
}

TEST(reassignment, a_move_in_progress_survives_a_restart_and_completes_after_it) {
    repl_harness h;
    for (int32_t b = 1; b <= 4; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    ASSERT_EQ(h.reassign("t", 0, ints{3, 4}).first, 0);
    h.reopen();
    for (int32_t b = 1; b <= 4; ++b) {
        h.heartbeat(b, make_uuid(uint8_t(b)), h.epoch_of(b));
    }
    auto p = h.partition("t", 0);
    ASSERT_EQ(p.adding, (ints{3, 4}));
    ASSERT_EQ(p.removing, (ints{1, 2}));
    // One of two new replicas in sync is not enough.
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3})), 0);
    EXPECT_TRUE(h.partition("t", 0).reassigning());
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3, 4})), 0);
    p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{3, 4}));
    EXPECT_EQ(p.isr, (ints{3, 4}));
    EXPECT_EQ(p.leader, 3);
}

TEST(reassignment, cancel_reverts_to_the_original_replicas) {
    repl_harness h;
    for (int32_t b = 1; b <= 6; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    ASSERT_EQ(h.reassign("t", 0, ints{4, 5, 6}).first, 0);
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3, 4})), 0);
    ASSERT_TRUE(h.partition("t", 0).reassigning());
    ASSERT_EQ(h.partition("t", 0).isr, (ints{1, 2, 3, 4}));

    auto [e, msg] = h.reassign("t", 0, std::nullopt);
    ASSERT_EQ(e, 0) << msg;
    auto p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{1, 2, 3}));
    EXPECT_EQ(p.isr, (ints{1, 2, 3})) << "the replicas being added leave the ISR";
    EXPECT_EQ(p.leader, 1);
    EXPECT_FALSE(p.reassigning());
    EXPECT_TRUE(h.ongoing().empty());

    EXPECT_EQ(h.reassign("t", 0, std::nullopt).first, code(error_code::no_reassignment_in_progress));
}

TEST(reassignment, a_new_target_replaces_the_one_in_progress) {
    repl_harness h;
    for (int32_t b = 1; b <= 5; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    ASSERT_EQ(h.reassign("t", 0, ints{1, 2, 4}).first, 0);
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3})), 0);  // nothing new yet
    ASSERT_EQ(h.reassign("t", 0, ints{1, 2, 5}).first, 0);
    auto p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{1, 2, 5, 3})) << "4 is forgotten; 3 is still the one leaving";
    EXPECT_EQ(p.adding, (ints{5}));
    EXPECT_EQ(p.removing, (ints{3}));
    // Back to the original set: nothing left to do, the move ends at once.
    ASSERT_EQ(h.reassign("t", 0, ints{1, 2, 3}).first, 0);
    p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{1, 2, 3}));
    EXPECT_FALSE(p.reassigning());
}

TEST(reassignment, dropping_or_reordering_replicas_completes_at_once) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}, {1, 2, 3}});
    ASSERT_EQ(h.reassign("t", 0, ints{3, 2}).first, 0);
    auto p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{3, 2}));
    EXPECT_EQ(p.isr, (ints{2, 3}));
    EXPECT_EQ(p.leader, 3) << "the leader left: the first target replica in sync leads";
    EXPECT_FALSE(p.reassigning());

    const auto q = h.partition("t", 1);
    ASSERT_EQ(h.reassign("t", 1, ints{2, 1, 3}).first, 0);
    EXPECT_EQ(h.partition("t", 1).replicas, (ints{2, 1, 3}));
    EXPECT_EQ(h.partition("t", 1).leader, q.leader) << "a new preferred order does not move leadership";
    // The same target again writes nothing.
    const auto end = h.image().next_offset();
    ASSERT_EQ(h.reassign("t", 1, ints{2, 1, 3}).first, 0);
    EXPECT_EQ(h.image().next_offset(), end);
}

TEST(reassignment, bad_targets_are_refused_with_a_reason) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    const auto before = h.partition("t", 0);
    auto [e1, m1] = h.reassign("t", 0, ints{1, 9});
    EXPECT_EQ(e1, code(error_code::invalid_replica_assignment));
    EXPECT_NE(m1.find("broker 9"), std::string::npos) << m1;
    EXPECT_EQ(h.reassign("t", 0, ints{1, 1}).first, code(error_code::invalid_replica_assignment));
    EXPECT_EQ(h.reassign("t", 0, ints{}).first, code(error_code::invalid_replica_assignment));
    EXPECT_EQ(h.reassign("t", 5, ints{1, 2}).first, code(error_code::unknown_topic_or_partition));
    EXPECT_EQ(h.reassign("nope", 0, ints{1, 2}).first, code(error_code::unknown_topic_or_partition));
    EXPECT_EQ(h.partition("t", 0), before);
}

TEST(reassignment, cancel_is_refused_when_no_original_replica_is_in_sync) {
    repl_harness h;
    for (int32_t b = 1; b <= 4; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    ASSERT_EQ(h.reassign("t", 0, ints{3, 4}).first, 0);
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 2, 3})), 0);  // 3 caught up, 4 not yet
    // Both original replicas lose their leases: 3, in sync, leads and is the whole ISR.
    h.expire({1, 2});
    auto p = h.partition("t", 0);
    ASSERT_EQ(p.isr, (ints{3}));
    ASSERT_EQ(p.leader, 3);
    ASSERT_TRUE(p.reassigning());
    auto [e, msg] = h.reassign("t", 0, std::nullopt);
    EXPECT_EQ(e, code(error_code::invalid_replica_assignment));
    EXPECT_NE(msg.find("lose records"), std::string::npos) << msg;
    EXPECT_EQ(h.partition("t", 0), p);
}

TEST(reassignment, a_leaving_leader_hands_over_to_a_target_replica_in_sync) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    ASSERT_EQ(h.reassign("t", 0, ints{2, 3}).first, 0);
    // 2, the target replica in sync, shuts down and leaves the ISR; 3 joins it later.
    h.shutdown_heartbeat(2);
    ASSERT_EQ(h.partition("t", 0).isr, (ints{1}));
    ASSERT_EQ(repl_harness::error_of(h.alter(1, "t", 0, {1, 3})), 0);
    auto p = h.partition("t", 0);
    EXPECT_EQ(p.replicas, (ints{2, 3})) << "3 is eligible and in sync: it takes over";
    EXPECT_EQ(p.leader, 3);
    EXPECT_EQ(p.isr, (ints{3}));
}

// ---- drain and unregister ----------------------------------------------------------------

TEST(drain, moves_every_replica_and_leadership_off_and_keeps_new_ones_away) {
    controller_config cfg;
    cfg.drain_max_moves = 2;
    repl_harness h(cfg);
    for (int32_t b = 1; b <= 4; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}, {2, 1}, {1, 3}, {3, 2}, {1, 4}});
    auto r = h.drain(0, {1});
    ASSERT_EQ(r.error_code, 0) << r.error_message.value_or("");
    EXPECT_TRUE(h.image().is_drained(1));
    // Leaderships left at once where another replica is in sync; two moves under way.
    for (int32_t i = 0; i < 5; ++i) {
        EXPECT_NE(h.partition("t", i).leader, 1) << "partition " << i;
    }
    auto st = repl_harness::state_of(h.drain(2, {}), 1);
    ASSERT_TRUE(st.has_value());
    EXPECT_TRUE(st->drained);
    EXPECT_EQ(st->replicas, 4);
    EXPECT_EQ(st->leaders, 0);
    EXPECT_EQ(st->moves_in_flight, 2) << "tributary.drain.max.moves";
    // New topics don't go there.
    ASSERT_EQ(h.create_topic("fresh", 6, 3).error_code, 0);
    for (const auto& p : h.image().topic("fresh")->partitions) {
        EXPECT_FALSE(std::count(p.replicas.begin(), p.replicas.end(), 1)) << "a new replica on the drained broker";
    }
    // Nor moves asked for by hand.
    EXPECT_EQ(h.reassign("t", 3, ints{3, 1}).first, code(error_code::invalid_replica_assignment));
    // As the new replicas catch up, the next moves start (at each tick), until nothing is left.
    for (int round = 0; round < 5; ++round) {
        h.catch_up("t");
        h.ctrl->tick();
    }
    st = repl_harness::state_of(h.drain(2, {}), 1);
    ASSERT_TRUE(st.has_value());
    EXPECT_EQ(st->replicas, 0);
    EXPECT_EQ(st->moves_in_flight, 0);
    for (int32_t i = 0; i < 5; ++i) {
        const auto& p = h.partition("t", i);
        EXPECT_EQ(p.replicas.size(), 2u);
        EXPECT_FALSE(std::count(p.replicas.begin(), p.replicas.end(), 1)) << "partition " << i;
        EXPECT_FALSE(p.reassigning());
    }
    // Undrained, it takes replicas again.
    ASSERT_EQ(h.drain(1, {1}).error_code, 0);
    EXPECT_FALSE(h.image().is_drained(1));
    EXPECT_EQ(h.reassign("t", 3, ints{3, 1}).first, 0);
}

TEST(drain, picks_the_same_rack_then_the_least_loaded_broker) {
    repl_harness h;
    h.add_live_broker(1, "a");
    h.add_live_broker(2, "b");
    h.add_live_broker(3, "a");
    h.add_live_broker(4, "b");
    h.add_live_broker(5, "a");
    h.create_assigned("t", {{1, 2}, {3, 4}, {3, 2}});
    ASSERT_EQ(h.drain(0, {1}).error_code, 0);
    const auto& p = h.partition("t", 0);
    EXPECT_EQ(p.target_replicas(), (ints{5, 2})) << "rack a, and 5 holds less than 3";
}

TEST(drain, resumes_after_a_restart_of_the_controller) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    ASSERT_EQ(h.drain(0, {1}).error_code, 0);
    ASSERT_TRUE(h.partition("t", 0).reassigning());
    h.reopen();
    for (int32_t b = 1; b <= 3; ++b) {
        h.heartbeat(b, make_uuid(uint8_t(b)), h.epoch_of(b));
    }
    EXPECT_TRUE(h.image().is_drained(1)) << "the drain is in the log";
    h.catch_up("t");
    h.ctrl->tick();
    EXPECT_EQ(h.partition("t", 0).replicas, (ints{3, 2}));
    EXPECT_EQ(repl_harness::state_of(h.drain(2, {}), 1)->replicas, 0);
}

TEST(drain, is_refused_when_the_rest_cannot_hold_every_replica) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2, 3}});
    auto r = h.drain(0, {3});
    EXPECT_EQ(r.error_code, code(error_code::invalid_request));
    EXPECT_NE(r.error_message.value_or("").find("t-0 has 3 replicas and only 2 broker(s) would remain"),
              std::string::npos)
        << r.error_message.value_or("");
    EXPECT_FALSE(h.image().is_drained(3));
    EXPECT_EQ(h.drain(0, {9}).error_code, code(error_code::broker_id_not_registered));
    EXPECT_EQ(h.drain(5, {1}).error_code, code(error_code::invalid_request));
}

TEST(drain, what_cannot_move_is_reported_with_the_reason) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1, 2}});
    h.expire({3});  // 3 is fenced: the only broker that could take 1's replica
    ASSERT_TRUE(h.image().broker(3)->fenced);
    ASSERT_EQ(h.drain(0, {1}).error_code, 0);
    auto st = repl_harness::state_of(h.drain(2, {}), 1);
    ASSERT_TRUE(st.has_value());
    ASSERT_EQ(st->stuck.size(), 1u);
    EXPECT_NE(st->stuck[0].find("t-0: no broker can take its replica"), std::string::npos) << st->stuck[0];
    EXPECT_EQ(h.partition("t", 0).replicas, (ints{1, 2}));
    // 3 comes back: the next tick moves it.
    h.heartbeat(3, make_uuid(3), h.epoch_of(3));
    h.ctrl->tick();
    EXPECT_EQ(h.partition("t", 0).adding, (ints{3}));
}

TEST(unregister, is_refused_while_the_broker_holds_replicas_or_runs) {
    repl_harness h;
    for (int32_t b = 1; b <= 3; ++b) {
        h.add_live_broker(b);
    }
    h.create_assigned("t", {{1}});
    h.create_assigned("u", {{1, 2}});
    auto r = h.unregister(1);
    EXPECT_EQ(r.error_code, code(error_code::invalid_request));
    EXPECT_NE(r.error_message.value_or("").find("only copy of 1 partition(s) (t-0)"), std::string::npos)
        << r.error_message.value_or("");
    EXPECT_EQ(h.unregister(3).error_code, code(error_code::invalid_request)) << "3 runs";
    EXPECT_EQ(h.unregister(7).error_code, code(error_code::broker_id_not_registered));
    // Drained and stopped, 1 may go; its id stays drained.
    ASSERT_EQ(h.drain(0, {1}).error_code, 0);
    for (int round = 0; round < 3; ++round) {
        h.catch_up("t");
        h.catch_up("u");
        h.ctrl->tick();
    }
    ASSERT_EQ(repl_harness::state_of(h.drain(2, {}), 1)->replicas, 0);
    h.expire({1});
    r = h.unregister(1);
    ASSERT_EQ(r.error_code, 0) << r.error_message.value_or("");
    EXPECT_EQ(h.image().broker(1), nullptr);
    EXPECT_TRUE(h.image().is_drained(1));
    h.reopen();
    EXPECT_EQ(h.image().broker(1), nullptr);
}

} // namespace
} // namespace trib::coordinator::testing
