#pragma once

// The active controller: decides metadata changes and applies committed ones.
//
// Every decision is made against the image of committed records, builds the records that
// express it (checked by applying them to a scratch copy of the image, so a decision never
// proposes a record the image would refuse), appends them to the replicated log as one
// batch, and answers once the batch is committed. Brokers' leases are soft state kept here,
// not in the log: after a restart every registered broker gets a fresh lease.
//
// Invariants kept by the decisions (and checked by metadata_image::apply):
//   - a partition's leader is -1 or an unfenced member of its ISR; the ISR is a non-empty
//     subset of the replicas (a fenced last member stays, leaderless, as KRaft does);
//   - leader epochs only grow, and grow on every leader change;
//   - a node id belongs to one incarnation while its lease lives.
//
// Single-threaded: every call (and the log's completions) on one thread.
#include "coordinator/clock.h"
#include "coordinator/replicated_log.h"
#include "protocol/error_code.h"
#include "protocol/messages.h"

#include <cstdint>
#include <functional>
#include <map>
#include <random>
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

    controller(controller_config cfg, clock& clk);
    controller(const controller&) = delete;
    controller& operator=(const controller&) = delete;

    // Must be set before any decision (the log is opened with this controller as its state
    // machine, so it comes after construction).
    void set_log(replicated_log& log) { _log = &log; }

    void apply(offset at, const metadata_record& r) override;
    void restore(const metadata_image& image) override;
    const metadata_image& image() const noexcept { return _image; }
    const controller_config& config() const noexcept { return _cfg; }

    void register_broker(const register_request& req, std::function<void(register_response)> done);
    void heartbeat(const heartbeat_request& req, std::function<void(heartbeat_response)> done);
    // Fences every unfenced broker whose lease has run out. Call periodically.
    void tick();
    // A Kafka admin request (CreateTopics, DeleteTopics, CreatePartitions,
    // IncrementalAlterConfigs, AlterConfigs) of `version`, encoded without header.
    void admin(int16_t api_key, int16_t api_version, bytes_view body, std::function<void(admin_reply)> done);

    // Whether the broker's lease is running (registered and heard from in time).
    bool lease_alive(int32_t broker) const;
    // Brokers new replicas may be placed on: registered, unfenced, lease alive.
    std::vector<int32_t> usable_brokers() const;

private:
    class change;  // records being built against a scratch image
    void commit(change& c, std::function<void(result<offset>)> done);
    // Moves leadership and ISR membership off `broker` (about to be fenced / replaced).
    void fence_effects(change& c, int32_t broker);
    // Gives leaderless partitions whose ISR holds `broker` to it.
    void unfence_effects(change& c, int32_t broker);
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

    controller_config _cfg;
    clock& _clock;
    replicated_log* _log = nullptr;
    metadata_image _image;
    std::map<int32_t, int64_t> _lease_deadline;  // broker -> now_ms when its lease runs out
    std::mt19937_64 _rng;
};

} // namespace trib::coordinator
