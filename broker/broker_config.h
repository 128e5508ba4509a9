#pragma once

// The broker's settings, with Apache Kafka's names (see broker_config.cc for the schema).
#include "net/connection.h"
#include "net/client_security.h"
#include "net/kafka_client.h"
#include "net/server.h"
#include "broker/cluster_metadata.h"
#include "broker/groups/group_shard.h"
#include "broker/sasl_config.h"
#include "common/config.h"
#include "security/authorizer.h"
#include "storage/log.h"

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace trib::broker {

using net::connection_limits;
using net::listen_endpoint;

// How followers copy leaders' logs and when they count as in sync (Kafka's replica.* keys).
struct replication_config {
    int64_t lag_time_max_ms = 30000;
    int32_t fetch_max_bytes = 1048576;
    int32_t fetch_response_max_bytes = 10485760;
    int32_t fetch_wait_max_ms = 500;
    int32_t fetch_min_bytes = 1;
    int32_t fetch_backoff_ms = 1000;
    int32_t socket_timeout_ms = 30000;
    // The throttles' rates are measured over this many samples of this length (Kafka's
    // replication.quota.window.num and replication.quota.window.size.seconds).
    int32_t quota_window_samples = 11;
    int32_t quota_window_seconds = 1;
};

// The log cleaner (Kafka's log.cleaner.* keys; per-topic settings are in storage::log_config).
struct cleaner_config {
    bool enable = true;
    int64_t backoff_ms = 15000;
    uint64_t dedupe_buffer_bytes = 128 << 20;
};

// Consumer groups: the offsets topic and the group coordinator (offsets.*, group.* keys).
struct groups_config {
    int32_t offsets_partitions = 50;
    int16_t offsets_replication_factor = 3;
    int32_t offsets_segment_bytes = 104857600;
    int32_t commit_timeout_ms = 5000;
    groups::group_config shard;  // what each group shard keeps to
};

struct broker_config {
    int32_t node_id = 0;
    std::string cluster_id;
    std::vector<listen_endpoint> listeners;
    std::vector<listen_endpoint> advertised;        // one per listener, same order
    std::map<std::string, std::string> security_protocols;  // listener name -> protocol
    std::string inter_broker_listener;
    net::tls_contexts tls;                          // SSL and SASL_SSL listeners' TLS, first contexts made at load
    // How this broker reaches other brokers (replica fetchers, the consumer lag reader) over the
    // inter-broker listener: TLS with its settings when it is SSL or SASL_SSL (following its
    // files as the listener does: a connection made after they change uses them), and the
    // SASL login over a SASL_PLAINTEXT or SASL_SSL one.
    net::client_security inter_broker;
    void secure_inter_broker(net::kafka_client_options& o) const { inter_broker.apply(o); }
    sasl_config sasl;                               // the SASL_PLAINTEXT and SASL_SSL listeners' settings
    // How this broker reaches the coordinators (controller.listener.names): TLS and SASL.
    net::client_security controller;
    security::authorizer_config authorizer;         // authorizer.class.name, super.users, ...
    std::vector<std::filesystem::path> log_dirs;    // log.dirs: every one holds partition logs
    std::filesystem::path data_dir;                 // the first of log.dirs: also the broker's own files
    int32_t num_partitions = 1;
    int16_t default_replication_factor = 1;
    int32_t min_insync_replicas = 1;
    bool auto_create_topics = true;
    int32_t message_max_bytes = 1048588;
    std::string message_timestamp_type = "CreateTime";
    storage::log_config log_defaults;               // compact: log.cleanup.policy has compact
    bool cleanup_delete = true;                      // log.cleanup.policy has delete
    connection_limits limits;
    size_t io_threads = 2;
    std::optional<std::string> rack;
    replication_config replication;
    cleaner_config cleaner;
    int32_t fetch_session_cache_slots = 1000;       // max.incremental.fetch.session.cache.slots
    groups_config groups;
    int64_t lag_interval_ms = 5000;                 // tributary.lag.interval.ms; 0: no lag metrics
    int64_t log_dir_move_rate = 0;  // tributary.log.dirs.move.max.bytes.per.second; 0: no limit
    config::values raw;                              // everything, for DescribeConfigs
};

const config::schema& broker_schema();
// Loads and checks; throws config::config_error naming the key on a bad value.
broker_config load_broker_config(const config::load_options& opts);

// The topic-level configs in force for a topic on broker `node`, as topic keys: the topic's
// own overrides, over the broker's dynamic configs (`node`), over the cluster-wide dynamic
// defaults (""), Kafka's order. Keys absent here take the static broker configuration.
std::map<std::string, std::string> topic_configs_in_force(const cluster_snapshot& s, int32_t node,
                                                          const topic_info& t);

// A replication throttle's rate in force on this broker (`key`: leader.replication.throttled.rate
// or follower.replication.throttled.rate): this broker's dynamic config, over the cluster-wide
// dynamic default, over the static configuration (unlimited: INT64_MAX).
int64_t replication_throttle_rate(const broker_config& b, const cluster_snapshot& s, const std::string& key);

// The bound on this broker's moves between log directories (AlterReplicaLogDirs):
// replica.alter.log.dirs.io.max.bytes.per.second as this broker's dynamic config, over the
// cluster-wide dynamic default, over the static one; when none of these is set (the static
// default, unlimited), tributary.log.dirs.move.max.bytes.per.second (0: no limit). nullopt:
// no limit.
std::optional<int64_t> log_dir_move_rate(const broker_config& b, const cluster_snapshot& s);

// The storage settings a topic's effective configs give (overrides on the broker's defaults;
// the keys and their validation are coordinator/client/topic_config.h).
storage::log_config topic_log_config(const broker_config& b, const std::map<std::string, std::string>& overrides);

} // namespace trib::broker
