#pragma once

// The active controller: decides metadata changes and applies committed ones.
//
// Two images: the committed one (every record the log applied) and the pending one (the
// committed one plus every record proposed and not committed yet). Every decision is made
// against the pending image, builds the records that express it (checked by applying them to
// a scratch copy of it, so a decision never proposes a record the image would refuse), appends
// them to the replicated log as one batch, and answers once the batch is committed: decisions
// pipeline, the next one seeing the previous ones without waiting for their commit. A decision
// that proposes nothing still answers only once the proposals made before it are committed
// (its answer may rest on them). When an append fails (leadership lost), the appends after it
// fail too (replicated_log's contract): once they have all come back, the pending image is
// the committed one again; decisions meanwhile are answered NOT_CONTROLLER.
//
// Soft state, kept here and not in the log, is neither pending nor committed: brokers' leases
// (renewed when a heartbeat arrives; a registration's lease starts when it commits) and
// controlled shutdowns (from the heartbeat that asks). Both start afresh when this node
// becomes the active controller (a restart, a leadership change).
//
// Invariants kept by the decisions (and checked by metadata_image::apply):
//   - a partition's leader is -1 or an unfenced member of its ISR; the ISR is a non-empty
//     subset of the replicas (a fenced last member stays, leaderless, as KRaft does);
//   - leader epochs only grow, and grow on every leader change; partition epochs grow on
//     every change of replicas, ISR or leader;
//   - a broker in controlled shutdown gets no new leadership, ISR membership or replica;
//   - a node id belongs to one incarnation while its lease lives.
//
// Single-threaded: every call (and the log's completions) on one thread.
#include "coordinator/clock.h"
#include "coordinator/replicated_log.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>

namespace trib::coordinator {

struct controller_config {
    std::string cluster_id;
    node_id id{0};
    int64_t session_timeout_ms = 9000;
    int32_t heartbeat_interval_ms = 2000;
    int32_t num_partitions = 1;
    int16_t default_replication_factor = 1;
    uint64_t seed = 0;  // replica placement randomness; 0: from std::random_device
    // A new partition's ISR: every replica on an unfenced broker (Kafka's; the logs are all
    // empty), or with false the leader alone, the followers joining through AlterPartition as
    // they catch up (tests of ISR growth use it).
    bool followers_replicate = true;
    // unclean.leader.election.enable: the default of the topic config (a dynamic broker
    // config "" and the topic's own override come first).
    bool unclean_leader_election_enable = false;
    // Preferred-leader rebalance in tick(): auto.leader.rebalance.enable,
    // leader.imbalance.check.interval.seconds, leader.imbalance.per.broker.percentage.
    bool auto_leader_rebalance_enable = true;
    int64_t leader_imbalance_check_interval_ms = 300'000;
    int32_t leader_imbalance_per_broker_percentage = 10;
    // Reassignments a drain keeps under way at once (tributary.drain.max.moves): each copies a
    // partition's log to another broker, so a drain doesn't flood the network or the disks.
    int32_t drain_max_moves = 10;
};

struct admin_reply {
    protocol::error_code error = protocol::error_code::none;
    std::string message;
    bytes body;         // the encoded Kafka response (header excluded)
    offset commit{0};   // the metadata offset a broker's copy must reach to show the change
};

class controller final : public state_machine {
public:
    using register_request = protocol::coordinator_register_broker_request;
    using register_response = protocol::coordinator_register_broker_response;
    using heartbeat_request = protocol::coordinator_broker_heartbeat_request;
    using heartbeat_response = protocol::coordinator_broker_heartbeat_response;
    using alter_partition_request = protocol::alter_partition_request;
    using alter_partition_response = protocol::alter_partition_response;

    controller(controller_config cfg, clock& clk);
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    // Must be set before any decision (the log is opened with this controller as its state
    // machine, so it comes after construction). The controller follows the log's leadership:
    // it decides only while the log says this node leads, and answers NOT_CONTROLLER
    // otherwise (the service adds where the active controller is).
    // `also` runs after the controller has taken each change of the log's leadership (the
    // log has one listener: this).
    void set_log(replicated_log& log, std::function<void()> also = {});
    // Whether this controller may decide now (its log leads).
    bool active() const noexcept { return _leadership.is_leader; }
    const leadership& current_leadership() const noexcept { return _leadership; }

    void apply(offset at, const metadata_record& r) override;
    void restore(const metadata_image& image) override;
    // The committed image.
    const metadata_image& image() const noexcept { return _image; }
    // The image decisions see: committed plus proposed.
    const metadata_image& pending_image() const noexcept { return _pending; }
    // Appends proposed and not completed yet.
    uint64_t in_flight() const noexcept { return _proposed - _completed; }
    const controller_config& config() const noexcept { return _cfg; }

    void register_broker(const register_request& req, std::function<void(register_response)> done);
    // With WantShutDown: controlled shutdown (leaderships and ISR memberships move away;
    // ShouldShutDown once nothing more can move).
    void heartbeat(const heartbeat_request& req, std::function<void(heartbeat_response)> done);
    // A partition leader's ISR change (AlterPartition v2-v3), decided as KRaft does.
    void alter_partition(const alter_partition_request& req, int16_t version,
                         std::function<void(alter_partition_response)> done);
    // Fences every unfenced broker whose lease has run out; elects where unclean election
    // has been allowed since; every check interval, moves leadership back to preferred
    // replicas of imbalanced brokers. Call periodically.
    void tick();
    // A Kafka admin request (CreateTopics, DeleteTopics, CreatePartitions,
    // IncrementalAlterConfigs, AlterConfigs, ElectLeaders, AlterPartitionReassignments,
    // ListPartitionReassignments, AlterUserScramCredentials) of `version`, encoded without header.
    void admin(int16_t api_key, int16_t api_version, bytes_view body, std::function<void(admin_reply)> done);

    // Whether the broker's lease is running (registered and heard from in time).
    bool lease_alive(int32_t broker) const;
    // Brokers new replicas may be placed on: registered, unfenced, lease alive, not in
    // controlled shutdown, not drained.
    std::vector<int32_t> usable_brokers() const;
    // Whether the broker asked for a controlled shutdown (soft state, like leases: its
    // heartbeats keep asking, so a restarted coordinator learns it again).
    bool in_controlled_shutdown(int32_t broker) const { return _shutting_down.contains(broker); }

private:
    class change;  // records being built against a scratch image
    // Whether a decision may be made now (this node leads, no failed append still draining);
    // brings the pending image up to date first.
    bool may_decide();
    // The log's leadership changed: a new active controller starts every registered broker's
    // lease afresh (it cannot know when they were last heard from) and forgets controlled
    // shutdowns (the brokers' heartbeats ask again), as after a restart.
    void leadership_changed(const leadership& l);
    std::string not_active_message() const;
    // Proposes the change's records (the pending image becomes its scratch); `done` gets the
    // last offset once they are committed. With no records, `done` gets committed() - 1 once
    // every append made before completed. Errors: errc::not_leader.
    void commit(change& c, std::function<void(result<offset>)> done);
    // Moves leadership and ISR membership off `broker` (about to be fenced / replaced).
    void fence_effects(change& c, int32_t broker);
    // Gives leaderless partitions whose ISR holds `broker` to it (or, where unclean election
    // is enabled and no ISR member is unfenced, those it holds a replica of).
    void unfence_effects(change& c, int32_t broker);
    // Moves leadership and ISR membership off a broker in controlled shutdown; the number
    // of partitions it leads that no other replica can take.
    size_t shutdown_effects(change& c, int32_t broker);
    void controlled_shutdown(int32_t broker, heartbeat_response resp, std::function<void(heartbeat_response)> done);
    // Commits `c` and answers a heartbeat of `broker` from the committed image (fenced,
    // metadata end), `on_commit` adding its part; NOT_CONTROLLER when the commit fails.
    void answer_heartbeat(change& c, int32_t broker, heartbeat_response resp,
                          std::function<void(heartbeat_response)> done,
                          std::function<void(heartbeat_response&)> on_commit);
    // May `b` become leader or join an ISR: registered, unfenced, not shutting down.
    bool eligible(const metadata_image& image, int32_t b) const;
    // unclean.leader.election.enable in force for topic `name`.
    bool unclean_enabled(const metadata_image& image, const std::string& name) const;
    // Preferred-replica elections for brokers leading fewer of their preferred partitions
    // than leader.imbalance.per.broker.percentage allows.
    void rebalance(change& c);
    // Leaderless partitions whose topic allows unclean election get a live replica as
    // leader (for a setting turned on after they lost their leader).
    void unclean_elections(change& c);
    // Ends reassignments whose last step waited (a leaving leader with no eligible successor
    // in the target then): normally the AlterPartition that completes the ISR ends them.
    void finish_reassignments(change& c);
    // The ISR of a new partition on `replicas`, leader first; empty when every replica is fenced.
    std::vector<int32_t> initial_isr(const metadata_image& image, const std::vector<int32_t>& replicas) const;
    // One partition's election of `type` (0 preferred, 1 unclean): its error and message.
    std::pair<protocol::error_code, std::string> elect(change& c, const topic_state& t, int32_t index, int8_t type);
    // The record taking partition `index` of topic `id` from `p` to (isr, leader), keeping its
    // replicas; the partition epoch grows by one, the leader epoch by one when the leader
    // changes. A reassignment whose adding replicas are all in `isr` completes in the same
    // record (complete_if_caught_up).
    partition_change_record next_state(const metadata_image& image, const protocol::uuid& id, int32_t index,
                                       const partition_state& p, std::vector<int32_t> isr, int32_t leader) const;
    // Ends the reassignment `pc` describes when every adding replica is in its ISR: the
    // replicas become the target, the ISR loses the removing replicas and, when the leader
    // leaves, the first eligible target replica in the ISR leads. Left as it is when the ISR
    // would be empty or a leaving leader has no eligible successor (KIP-455, as KRaft does).
    // `p`: the partition before `pc`.
    void complete_if_caught_up(const metadata_image& image, const partition_state& p,
                               partition_change_record& pc) const;
    std::vector<std::vector<int32_t>> place(int32_t partitions, int16_t rf, int32_t first_index);

    template<typename Req, typename Resp>
    void run_admin(int16_t version, bytes_view body, void (controller::*fn)(const Req&, int16_t, Resp&, change&),
                   std::function<void(admin_reply)> done);
    void create_topics(const protocol::create_topics_request& req, int16_t v, protocol::create_topics_response& resp, change& c);
    void delete_topics(const protocol::delete_topics_request& req, int16_t v, protocol::delete_topics_response& resp, change& c);
    void create_partitions(const protocol::create_partitions_request& req, int16_t v,
                           protocol::create_partitions_response& resp, change& c);
    void incremental_alter_configs(const protocol::incremental_alter_configs_request& req, int16_t v,
                                   protocol::incremental_alter_configs_response& resp, change& c);
    void alter_configs(const protocol::alter_configs_request& req, int16_t v, protocol::alter_configs_response& resp,
                       change& c);
    void elect_leaders(const protocol::elect_leaders_request& req, int16_t v, protocol::elect_leaders_response& resp,
                       change& c);
    void alter_partition_reassignments(const protocol::alter_partition_reassignments_request& req, int16_t v,
                                       protocol::alter_partition_reassignments_response& resp, change& c);
    void list_partition_reassignments(const protocol::list_partition_reassignments_request& req, int16_t v,
                                      protocol::list_partition_reassignments_response& resp, change& c);
    void drain_brokers(const protocol::drain_brokers_request& req, int16_t v, protocol::drain_brokers_response& resp,
                       change& c);
    void unregister_broker(const protocol::unregister_broker_request& req, int16_t v,
                           protocol::unregister_broker_response& resp, change& c);
    // SCRAM credentials (scram_control.h decides).
    void alter_user_scram_credentials(const protocol::alter_user_scram_credentials_request& req, int16_t v,
                                      protocol::alter_user_scram_credentials_response& resp, change& c);
    // CreateAcls, DeleteAcls (Kafka's AclControlManager): validated bindings become records.
    void create_acls(const protocol::create_acls_request& req, int16_t v, protocol::create_acls_response& resp,
                     change& c);
    void delete_acls(const protocol::delete_acls_request& req, int16_t v, protocol::delete_acls_response& resp,
                     change& c);
    // One step of every drain, at each tick: leaderships move off drained brokers to an
    // in-sync replica that may lead, and partitions with a replica on a drained broker are
    // reassigned (the drained replica replaced by a usable broker: same rack first, then a
    // rack the partition lacks, then the fewest replicas), at most drain_max_moves at a time.
    // What cannot move now is kept in _drain_stuck with the reason. Level-triggered on the
    // image, so a drain resumes after a failover of the active controller.
    void drain_step(change& c);
    // What drained (or named) broker `b` still holds, as DrainBrokers answers it.
    protocol::drain_brokers_response::drain_state drain_state_of(const metadata_image& image, int32_t b) const;
    // One partition's reassignment to `target` (nullopt: cancel): its error and message.
    std::pair<protocol::error_code, std::string> reassign(change& c, const topic_state& t, int32_t index,
                                                          const std::optional<std::vector<int32_t>>& target);

    controller_config _cfg;
    clock& _clock;
    replicated_log* _log = nullptr;
    leadership _leadership;
    metadata_image _image;    // committed
    metadata_image _pending;  // committed + proposed: what decisions see
    uint64_t _proposed = 0;   // appends made
    uint64_t _completed = 0;  // appends completed (they complete in order)
    bool _pending_stale = false;  // an append failed: _pending has records that never commit
    // Answers waiting for every append up to the first (then told whether it committed).
    std::deque<std::pair<uint64_t, std::function<void(bool)>>> _after;
    std::map<int32_t, int64_t> _lease_deadline;  // broker -> now_ms when its lease runs out
    std::set<int32_t> _shutting_down;            // brokers in controlled shutdown
    int64_t _next_rebalance_ms = -1;             // when tick() next checks leader imbalance
    // Per drained broker, "topic-p: reason" for each partition its drain could not move at the
    // last step (soft state: the next step recomputes it).
    std::map<int32_t, std::vector<std::string>> _drain_stuck;
    std::mt19937_64 _rng;
};

} // namespace trib::coordinator
