#pragma once

// Metadata decisions for a broker running without a coordinator: it is its own controller.
// It keeps the topic list in <data dir>/cluster-metadata.yaml (written to a temp file,
// fsynced and renamed, so a crash leaves the old or the new version) and publishes snapshots
// to the metadata cache. The coordinator (a separate program, coordinator/) replaces this
// for multi-broker clusters; the handlers see the same interface either way.
#include "broker/broker_config.h"
#include "broker/cluster_metadata.h"
#include "broker/partition_manager.h"
#include "protocol/error_code.h"

#include <boost/asio/io_context.hpp>

#include <map>
#include <string>
#include <thread>

namespace trib::broker {

struct admin_outcome {
    protocol::error_code code = protocol::error_code::none;
    std::string message;
};

struct new_topic {
    std::string name;
    int32_t partitions = -1;          // -1: num.partitions
    int16_t replication_factor = -1;  // -1: default.replication.factor
    std::map<std::string, std::string> configs;
};

class local_authority {
public:
    local_authority(const broker_config& cfg, metadata_cache& cache, partition_manager& partitions);
    local_authority(const local_authority&) = delete;
    local_authority& operator=(const local_authority&) = delete;
    ~local_authority();

    // Loads the saved metadata, opens the partition logs, starts the decision thread.
    void start();
    void stop();

    // Each runs on the decision thread and completes once the new metadata is published and
    // every log it needs is open.
    // Arguments by reference, copied before the work is posted (see partition_manager::on_partition).
    asio::awaitable<admin_outcome> create_topic(const new_topic& t, bool validate_only);
    asio::awaitable<admin_outcome> delete_topic(const std::string& name);
    asio::awaitable<admin_outcome> create_partitions(const std::string& name, int32_t count, bool validate_only);
    // Sets (value) or removes (nullopt) topic config overrides; with `replace_all` the
    // overrides become exactly `changes` (AlterConfigs), else they are edited (Incremental).
    using config_changes = std::vector<std::pair<std::string, std::optional<std::string>>>;
    asio::awaitable<admin_outcome> alter_topic_configs(const std::string& name, const config_changes& changes,
                                                       bool replace_all, bool validate_only);
    // A producer id never handed out before, on this broker or before a restart: ids are
    // reserved in blocks, and a block is saved before any id of it is used.
    asio::awaitable<int64_t> allocate_producer_id();

private:
    template<typename F>
    asio::awaitable<admin_outcome> run(F f);
    admin_outcome do_create(const new_topic& t, bool validate_only);
    void commit(std::shared_ptr<cluster_snapshot> next);
    void load();
    void save(const cluster_snapshot& s);

    const broker_config& _cfg;
    metadata_cache& _cache;
    partition_manager& _partitions;
    asio::io_context _ctx;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> _guard;
    std::thread _thread;
    int64_t _next_producer_id = 0;      // decision thread only
    int64_t _producer_id_block_end = 0; // saved; ids below it may have been used
};

// Why a topic name is invalid (Kafka's rules), or nullopt.
std::optional<std::string> invalid_topic_name(std::string_view name);

} // namespace trib::broker
