#include "broker/broker_config.h"

#include "common/config.h"
#include "common/cpu_limit.h"
#include "common/listeners.h"
#include "net/tls.h"
#include "security/authorizer_config.h"
#include "coordinator/client/topic_config.h"

#include <algorithm>
#include <limits>
#include <set>

#include <unistd.h>

namespace trib::broker {

using config::at_least;
using config::between;
using config::key_spec;
using config::one_of;
using config::type;

namespace {

constexpr int64_t hour_ms = 3600 * 1000LL;

config::schema make_schema() {
    config::schema s;
    auto add = [&](std::string name, type t, std::optional<std::string> def, std::string doc,
                   config::validator v = {}, std::vector<std::string> aliases = {}) {
        s.add(key_spec{std::move(name), t, std::move(def), std::move(doc), std::move(v), std::move(aliases)});
    };
    add("node.id", type::int32, "0", "This broker's id, unique in the cluster.", at_least(0), {"broker.id"});
    add("cluster.id", type::string, "tributary-local", "Cluster id reported to clients.");
    add("listeners", type::list, "PLAINTEXT://:9092", "Listeners: NAME://host:port, comma-separated.");
    add("advertised.listeners", type::list, std::nullopt,
        "Addresses given to clients, per listener; default: the listeners.");
    add("listener.security.protocol.map", type::list,
        "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
        "Listener name -> security protocol.");
    add("inter.broker.listener.name", type::string, std::nullopt, "Listener brokers use to reach each other.");
    add("broker.rack", type::string, std::nullopt, "Rack, for replica placement.");
    add("log.dirs", type::list, "/tmp/kafka-logs", "Where partition logs live: every directory is used, a new replica going to the one holding the fewest partitions; the first also holds the broker's own files.", {},
        {"log.dir"});
    add("num.partitions", type::int32, "1", "Partitions of auto-created topics.", at_least(1));
    add("default.replication.factor", type::int32, "1", "Replication factor of auto-created topics.",
        between(1, 32767));
    add("min.insync.replicas", type::int32, "1", "Default min.insync.replicas of topics.", at_least(1));
    add("auto.create.topics.enable", type::boolean, "true", "Create topics named in Metadata requests.");
    // Replication decisions the embedded coordinator takes (issue 12).
    add("unclean.leader.election.enable", type::boolean, "false",
        "Default of the topic config: may a replica not in sync lead when no in-sync one is left.");
    add("auto.leader.rebalance.enable", type::boolean, "true",
        "Move leadership back to preferred replicas (embedded coordinator).");
    add("leader.imbalance.check.interval.seconds", type::int64, "300", "How often leader imbalance is checked.",
        at_least(1));
    add("leader.imbalance.per.broker.percentage", type::int32, "10",
        "Share of a broker's preferred partitions led elsewhere that triggers a rebalance.", between(0, 100));
    add("tributary.drain.max.moves", type::int32, "10",
        "Reassignments a broker drain keeps under way at once (embedded coordinator).", at_least(1));
    add("message.max.bytes", type::int32, "1048588", "Largest record batch accepted.", at_least(0));
    add("log.message.timestamp.type", type::string, "CreateTime", "CreateTime or LogAppendTime.",
        one_of({"CreateTime", "LogAppendTime"}));
    add("log.segment.bytes", type::int64, "1073741824", "Segment size before rolling.", at_least(14));
    add("log.roll.ms", type::int64, std::nullopt, "Segment age before rolling.", at_least(1));
    add("log.roll.hours", type::int32, "168", "Segment age before rolling, in hours.", at_least(1));
    add("log.retention.ms", type::int64, std::nullopt, "How long to keep data; -1 forever.", at_least(-1));
    add("log.retention.minutes", type::int32, std::nullopt, "As log.retention.ms, in minutes.", at_least(-1));
    add("log.retention.hours", type::int32, "168", "As log.retention.ms, in hours.", at_least(-1));
    add("log.retention.bytes", type::int64, "-1", "Size kept per partition; -1 unlimited.", at_least(-1));
    add("log.retention.check.interval.ms", type::int64, "300000", "How often retention runs.", at_least(1));
    add("log.index.interval.bytes", type::int32, "4096", "Bytes between offset index entries.", at_least(0));
    add("log.flush.interval.messages", type::int64, "9223372036854775807", "Flush every N messages.",
        at_least(1));
    add("log.flush.interval.ms", type::int64, std::nullopt, "Flush when data is this old.", at_least(0));
    add("tributary.termination.message.path", type::string, "/dev/termination-log",
        "Where the broker writes why it halted (a failed log directory, a failed start-up), for Kubernetes to "
        "show as the container's termination message. Written only if the file exists, as the kubelet makes "
        "it; empty: nowhere.");
    add("tributary.log.direct.writes", type::boolean, "true",
        "Append to partition logs with O_DIRECT, bypassing the page cache (false: buffered writes, "
        "as Kafka); filesystems that refuse O_DIRECT get buffered writes.");
    add("tributary.log.writeback.bytes", type::int64, "1048576",
        "Every this many bytes a partition appends through the page cache, the broker asks the kernel to start "
        "writing them to disk (sync_file_range, off the serving cores, without waiting): dirty pages stay few "
        "and reach the disk steadily instead of piling up to vm.dirty_background_ratio and being flushed in "
        "bursts that stall appends and fetches. 0: the kernel decides when, as with Kafka.",
        at_least(0));
    add("log.cleanup.policy", type::list, "delete", "delete and/or compact.",
        config::each(one_of({"delete", "compact"})));
    // Compaction (storage/cleaner.h); topics override the last four with delete.retention.ms,
    // min.cleanable.dirty.ratio, min.compaction.lag.ms and max.compaction.lag.ms.
    add("log.cleaner.enable", type::boolean, "true", "Compact logs whose cleanup.policy includes compact.");
    add("log.cleaner.threads", type::int32, "1",
        "Accepted for compatibility: one background thread cleans every log, one log at a time.", at_least(1));
    add("log.cleaner.backoff.ms", type::int64, "15000", "Pause of the cleaner when no log needs cleaning.",
        at_least(0));
    add("log.cleaner.dedupe.buffer.size", type::int64, "134217728",
        "Memory for the cleaner's key map (each key: its bytes + 48); a dirty part that doesn't fit is cleaned in several passes.",
        at_least(1024));
    add("log.cleaner.delete.retention.ms", type::int64, "86400000",
        "How long a tombstone stays after its segment was first cleaned.", at_least(0));
    add("log.cleaner.min.cleanable.ratio", type::dbl, "0.5",
        "Share of a log's cleanable bytes not yet cleaned that starts a cleaning.", between(0.0, 1.0));
    add("log.cleaner.min.compaction.lag.ms", type::int64, "0", "Records younger than this are not compacted.",
        at_least(0));
    add("log.cleaner.max.compaction.lag.ms", type::int64, "9223372036854775807",
        "Records older than this are compacted even below the dirty ratio.", at_least(1));
    add("compression.type", type::string, "producer", "Codec the log keeps: producer keeps what clients send.",
        one_of({"producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"}));
    add("socket.request.max.bytes", type::int32, "104857600", "Largest request accepted.", at_least(1));
    add("connections.max.idle.ms", type::int64, "600000", "Idle connections are closed after this.",
        at_least(1));
    add("num.io.threads", type::int32, std::to_string(std::min<size_t>(256, read_cpu_limit().usable())),
        "Cores (io_context threads) serving requests; by default the CPUs this process may use (its affinity, "
        "lowered by a cgroup CPU limit rounded up).", between(1, 256));
    add("num.network.threads", type::int32, "3", "Accepted for compatibility; network work runs on the io threads.");
    add("transaction.state.log.replication.factor", type::int32, "3", "Replication factor of the transaction log.");
    add("transaction.state.log.min.isr", type::int32, "2", "min.insync.replicas of the transaction log.");
    add("replica.lag.time.max.ms", type::int64, "30000",
        "A follower that has not caught up with the leader's log end for this long leaves the ISR.", at_least(1));
    add("replica.fetch.max.bytes", type::int32, "1048576", "Bytes a follower asks per partition in a fetch.",
        at_least(0));
    add("replica.fetch.response.max.bytes", type::int32, "10485760", "Bytes a follower asks per fetch.",
        at_least(0));
    add("replica.fetch.wait.max.ms", type::int32, "500", "How long a follower's fetch waits at the leader for data.",
        at_least(0));
    add("replica.fetch.min.bytes", type::int32, "1", "Bytes a follower's fetch waits for.", at_least(1));
    add("replica.fetch.backoff.ms", type::int32, "1000", "Pause after a failed follower fetch.", at_least(0));
    add("replica.socket.timeout.ms", type::int32, "30000", "Deadline of a follower's request to a leader.",
        at_least(1));
    // Replication throttles (issue 15): dynamic broker configs in Kafka, which also takes
    // them here as the value below the dynamic ones.
    add("leader.replication.throttled.rate", type::int64, "9223372036854775807",
        "Bytes/s a leader sends to out-of-sync followers of its throttled replicas.", at_least(0));
    add("follower.replication.throttled.rate", type::int64, "9223372036854775807",
        "Bytes/s a follower copies into its throttled, out-of-sync replicas.", at_least(0));
    add("replica.alter.log.dirs.io.max.bytes.per.second", type::int64, "9223372036854775807",
        "Bytes/s this broker's moves between log directories copy at most, together.", at_least(0));
    add("replication.quota.window.num", type::int32, "11", "Samples the replication throttles' rates span.",
        at_least(1));
    add("replication.quota.window.size.seconds", type::int32, "1", "Length of one such sample.", at_least(1));
    // Consumer groups (issue 13): the offsets topic and the classic group coordinator.
    add("offsets.topic.num.partitions", type::int32, "50", "Partitions of __consumer_offsets (fixed once created).",
        at_least(1));
    add("offsets.topic.replication.factor", type::int32, "3",
        "Replication factor of __consumer_offsets (capped at the brokers registered when it is created).",
        between(1, 32767));
    add("offsets.topic.segment.bytes", type::int32, "104857600", "segment.bytes of __consumer_offsets.", at_least(14));
    add("offsets.commit.timeout.ms", type::int32, "5000",
        "How long a group write (commit, assignment) waits for the offsets topic's in-sync replicas.", at_least(1));
    add("offsets.retention.minutes", type::int32, "10080",
        "How long an empty group's committed offsets are kept.", at_least(1));
    add("offsets.retention.check.interval.ms", type::int64, "600000",
        "How often expired offsets of empty groups are looked for.", at_least(1));
    add("offset.metadata.max.bytes", type::int32, "4096", "Largest metadata string of a committed offset.",
        at_least(0));
    add("group.min.session.timeout.ms", type::int32, "6000", "Smallest session timeout a member may ask for.",
        at_least(0));
    add("group.max.session.timeout.ms", type::int32, "1800000", "Largest session timeout a member may ask for.",
        at_least(0));
    add("group.initial.rebalance.delay.ms", type::int32, "3000",
        "How long a new group's first rebalance waits for more members.", at_least(0));
    add("group.max.size", type::int32, "2147483647", "Most members in a classic group.", at_least(1));
    // The new consumer protocol (KIP-848).
    add("group.consumer.session.timeout.ms", type::int32, "45000",
        "How long a consumer group member may go without a heartbeat.", at_least(1));
    add("group.consumer.heartbeat.interval.ms", type::int32, "5000",
        "How often consumer group members heartbeat.", at_least(1));
    add("group.consumer.max.size", type::int32, "2147483647", "Most members in a consumer group.", at_least(1));
    add("group.consumer.assignors", type::list, "uniform,range",
        "Server-side assignors consumer groups may name; the first is the default.",
        config::each(one_of({"uniform", "range"})));
    add("max.incremental.fetch.session.cache.slots", type::int32, "1000",
        "Incremental fetch sessions (KIP-227) this broker keeps; 0: none, every fetch is a full one.",
        at_least(0));
    add("controlled.shutdown.enable", type::boolean, "true",
        "On SIGTERM, have the coordinator move this broker's leaderships away before stopping.");
    add("controller.quorum.voters", type::string, std::nullopt, "Coordinators: id@host:port,...");
    add("process.roles", type::list, std::nullopt, "Accepted for compatibility (broker, controller).");
    add("controller.listener.names", type::list, std::nullopt,
        "The coordinators' listener (the first name): its protocol in listener.security.protocol.map, "
        "listener.name.<l>.ssl.* and the SASL login (sasl.mechanism.controller.protocol, "
        "listener.name.<l>.<mechanism>.sasl.jaas.config) secure this broker's connections to them.");
    add("tributary.log.dirs.move.max.bytes.per.second", type::int64, "0",
        "How fast a replica's log is copied to another log directory (AlterReplicaLogDirs) when "
        "replica.alter.log.dirs.io.max.bytes.per.second is set nowhere; 0: no limit.",
        at_least(0));
    add("tributary.lag.interval.ms", type::int64, "5000",
        "How often the consumer lag of the groups this broker coordinates is read for /metrics; 0: never.",
        at_least(0));
    add("tributary.http.listener", type::string, std::nullopt,
        "host:port serving /metrics, /healthz and /readyz over HTTP; unset: not served.");
    add("log.level", type::string, "info", "trace, debug, info, warn, error.",
        one_of({"trace", "debug", "info", "warn", "error"}));
    // SSL listeners (net/tls.h): ssl.keystore.*, ssl.truststore.*, ssl.client.auth, ...
    net::add_tls_keys(s);
    add_sasl_keys(s);
    // ACLs (security/authorizer.h): the coordinator reads the same keys.
    security::add_authorizer_keys(s);
    return s;
}

std::vector<listen_endpoint> to_endpoints(const std::vector<config::listener>& ls) {
    std::vector<listen_endpoint> out;
    for (const auto& l : ls) {
        out.push_back({l.name, l.host, l.port});
    }
    return out;
}

} // namespace

const config::schema& broker_schema() {
    static const auto s = make_schema();
    return s;
}

namespace {
int64_t get_or(const std::map<std::string, std::string>& m, const std::string& k, int64_t def) {
    auto it = m.find(k);
    return it == m.end() ? def : std::stoll(it->second);
}
} // namespace

std::map<std::string, std::string> topic_configs_in_force(const cluster_snapshot& s, int32_t node,
                                                          const topic_info& t) {
    std::map<std::string, std::string> out;
    for (const char* scope : {"", "self"}) {
        auto it = s.broker_configs.find(std::string(scope) == "self" ? std::to_string(node) : std::string());
        if (it == s.broker_configs.end()) {
            continue;
        }
        for (const auto& [topic_key, broker_key] : coordinator::topic_config_keys()) {
            if (broker_key.empty()) {
                continue;  // a topic-only key (the throttled replica lists)
            }
            if (auto v = it->second.find(broker_key); v != it->second.end()) {
                out[topic_key] = v->second;
            }
        }
    }
    for (const auto& [k, v] : t.configs) {
        out[k] = v;
    }
    return out;
}

int64_t replication_throttle_rate(const broker_config& b, const cluster_snapshot& s, const std::string& key) {
    for (const auto& scope : {std::to_string(b.node_id), std::string()}) {
        auto it = s.broker_configs.find(scope);
        if (it == s.broker_configs.end()) {
            continue;
        }
        if (auto v = it->second.find(key); v != it->second.end()) {
            try {
                return std::stoll(v->second);  // validated by the coordinator: a long >= 0
            } catch (const std::exception&) {
                break;
            }
        }
    }
    return b.raw.get_int64(key);
}

std::optional<int64_t> log_dir_move_rate(const broker_config& b, const cluster_snapshot& s) {
    const int64_t rate = replication_throttle_rate(b, s, "replica.alter.log.dirs.io.max.bytes.per.second");
    if (rate != std::numeric_limits<int64_t>::max()) {
        return rate;
    }
    if (b.log_dir_move_rate > 0) {
        return b.log_dir_move_rate;
    }
    return std::nullopt;
}

namespace {
double get_double_or(const std::map<std::string, std::string>& m, const std::string& k, double def) {
    auto it = m.find(k);
    return it == m.end() ? def : std::stod(it->second);
}
} // namespace

storage::log_config topic_log_config(const broker_config& b, const std::map<std::string, std::string>& o) {
    storage::log_config c = b.log_defaults;
    // cleanup.policy: compact and/or delete (validated: coordinator/client/topic_config.cc).
    bool del = b.cleanup_delete;
    if (auto policy = o.find("cleanup.policy"); policy != o.end()) {
        const auto items = config::split_list(policy->second);
        c.compact = std::find(items.begin(), items.end(), "compact") != items.end();
        del = std::find(items.begin(), items.end(), "delete") != items.end();
    }
    c.delete_retention_ms = get_or(o, "delete.retention.ms", c.delete_retention_ms);
    c.min_cleanable_dirty_ratio = get_double_or(o, "min.cleanable.dirty.ratio", c.min_cleanable_dirty_ratio);
    c.min_compaction_lag_ms = get_or(o, "min.compaction.lag.ms", c.min_compaction_lag_ms);
    c.max_compaction_lag_ms = get_or(o, "max.compaction.lag.ms", c.max_compaction_lag_ms);
    c.retention_ms = get_or(o, "retention.ms", c.retention_ms);
    c.retention_bytes = get_or(o, "retention.bytes", c.retention_bytes);
    c.segment_bytes = uint64_t(get_or(o, "segment.bytes", int64_t(c.segment_bytes)));
    c.segment_ms = get_or(o, "segment.ms", c.segment_ms);
    c.flush_messages = get_or(o, "flush.messages", c.flush_messages);
    c.flush_ms = get_or(o, "flush.ms", c.flush_ms);
    c.index_interval_bytes = uint32_t(get_or(o, "index.interval.bytes", c.index_interval_bytes));
    c.max_batch_bytes = uint32_t(get_or(o, "max.message.bytes", c.max_batch_bytes));
    if (!del) {
        // compact alone: nothing is deleted by time or size.
        c.retention_ms = -1;
        c.retention_bytes = -1;
    }
    return c;
}

broker_config load_broker_config(const config::load_options& opts) {
    // Per-listener TLS keys (listener.name.<listener>.ssl.*) exist only for the listeners
    // configured: a first pass learns them, the second checks every key against a schema
    // that has theirs, so a misspelt override is refused like any unknown key.
    auto first_opts = opts;
    first_opts.ignored_unknown.insert("listener.name.*");
    const auto first = config::load(broker_schema(), first_opts);
    std::vector<std::string> listener_names;
    for (const auto& l : config::parse_listeners(first.get_string("listeners"))) {
        listener_names.push_back(l.name);
    }
    // The coordinators' listener, which this broker reaches as a client: its TLS keys too.
    std::vector<std::string> controller_names;
    if (first.has("controller.listener.names")) {
        controller_names = first.get_list("controller.listener.names");
        for (const auto& n : controller_names) {
            if (std::find(listener_names.begin(), listener_names.end(), n) == listener_names.end()) {
                listener_names.push_back(n);
            }
        }
    }
    auto schema = broker_schema();
    net::add_listener_tls_keys(schema, listener_names);
    auto v = config::load(schema, opts);
    broker_config c;
    c.node_id = v.get_int32("node.id");
    c.cluster_id = v.get_string("cluster.id");
    c.listeners = to_endpoints(config::parse_listeners(v.get_string("listeners")));
    if (c.listeners.empty()) {
        throw config::config_error("listeners: at least one listener is needed");
    }
    if (v.has("advertised.listeners")) {
        auto adv = to_endpoints(config::parse_listeners(v.get_string("advertised.listeners")));
        for (const auto& l : c.listeners) {
            auto it = std::find_if(adv.begin(), adv.end(), [&](const auto& a) { return a.name == l.name; });
            if (it == adv.end()) {
                throw config::config_error("advertised.listeners: no address for listener " + l.name);
            }
            c.advertised.push_back(*it);
        }
    } else {
        // Like Kafka: a listener bound to all interfaces is advertised with this host's name.
        char host[256] = {};
        gethostname(host, sizeof host - 1);
        for (auto l : c.listeners) {
            if (l.host.empty() || l.host == "0.0.0.0" || l.host == "::") {
                l.host = host;
            }
            c.advertised.push_back(l);
        }
    }
    c.security_protocols = config::parse_protocol_map(v.get_string("listener.security.protocol.map"));
    for (const auto& l : c.listeners) {
        auto it = c.security_protocols.find(l.name);
        if (it == c.security_protocols.end()) {
            throw config::config_error("listener.security.protocol.map: no security protocol for listener " + l.name);
        }
    }
    c.inter_broker_listener = v.has("inter.broker.listener.name") ? v.get_string("inter.broker.listener.name")
                                                                  : c.listeners.front().name;
    if (std::none_of(c.listeners.begin(), c.listeners.end(),
                     [&](const auto& l) { return l.name == c.inter_broker_listener; })) {
        throw config::config_error("inter.broker.listener.name: " + c.inter_broker_listener +
                                   " is not one of the listeners");
    }
    // The SASL settings; every listener.name. key that is not a TLS one is checked here.
    {
        std::vector<std::string> sasl_listeners, all_listeners;
        for (const auto& l : c.listeners) {
            all_listeners.push_back(l.name);
            const auto& protocol = c.security_protocols.at(l.name);
            if (protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL") {
                sasl_listeners.push_back(l.name);
            }
        }
        // listener.name.<controller>.<mechanism>.sasl.jaas.config: this broker's login there.
        all_listeners.insert(all_listeners.end(), controller_names.begin(), controller_names.end());
        c.sasl = load_sasl_config(v, sasl_listeners, all_listeners, c.inter_broker_listener);
    }
    // SSL and SASL_SSL listeners: their contexts are made now, so a bad key or file stops the
    // start. This must come after the SASL settings: load_sasl_config checks that every
    // listener.name. key is one this broker reads, and a SASL_SSL listener's mistakes (a
    // missing JAAS entry, GSSAPI) should be named before a TLS context is built from files.
    // A SASL_SSL connection does the TLS handshake first (net/tls.h), then the same SASL gate
    // as SASL_PLAINTEXT (session.h), with listener.name.<l>.ssl.* and
    // listener.name.<l>.<mechanism>.sasl.jaas.config both applying.
    for (const auto& l : c.listeners) {
        const auto& protocol = c.security_protocols.at(l.name);
        if (protocol == "SSL" || protocol == "SASL_SSL") {
            c.tls[l.name] = std::make_shared<net::tls_source>(net::tls_settings_for(v, l.name));
        }
    }
    c.inter_broker.listener = c.inter_broker_listener;
    c.inter_broker.protocol = c.security_protocols.at(c.inter_broker_listener);
    if (const auto& p = c.inter_broker.protocol; p == "SSL" || p == "SASL_SSL") {
        const auto& settings = c.tls.at(c.inter_broker_listener)->settings();
        c.inter_broker.tls = std::make_shared<net::tls_source>(settings, net::tls_role::client);
        c.inter_broker.verify_host = settings.verify_peer_host;
    }
    c.inter_broker.login = c.sasl.inter_broker;
    // The coordinators' controller listener (controller.listener.names, its first name): how
    // this broker reaches them, with its protocol in listener.security.protocol.map, its
    // listener.name.<l>.ssl.* (truststore; keystore for mTLS) and, for SASL, the login of
    // sasl.mechanism.controller.protocol. Unset (or no controller.quorum.voters: the
    // coordinator runs in this process): plaintext.
    if (!controller_names.empty() && v.has("controller.quorum.voters")) {
        const auto& name = controller_names.front();
        if (std::any_of(c.listeners.begin(), c.listeners.end(), [&](const auto& l) { return l.name == name; })) {
            throw config::config_error("controller.listener.names: " + name +
                                       " is one of this broker's listeners; it names the coordinators' listener");
        }
        c.controller = net::load_client_security(v, c.security_protocols, name, "sasl.mechanism.controller.protocol",
                                                 nullptr, "the controller listener");
    }
    for (const auto& d : v.get_list("log.dirs")) {
        std::filesystem::path dir = std::filesystem::path(d).lexically_normal();
        if (d.empty()) {
            throw config::config_error("log.dirs: an empty directory name");
        }
        if (dir.has_filename() == false && dir != dir.root_path()) {
            dir = dir.parent_path();  // "/a/b/" is "/a/b"
        }
        for (const auto& other : c.log_dirs) {
            if (other == dir) {
                throw config::config_error("log.dirs: " + d + " is listed twice");
            }
        }
        c.log_dirs.push_back(dir);
    }
    if (c.log_dirs.empty()) {
        throw config::config_error("log.dirs: no directory");
    }
    c.data_dir = c.log_dirs.front();
    c.num_partitions = v.get_int32("num.partitions");
    c.default_replication_factor = int16_t(v.get_int32("default.replication.factor"));
    c.min_insync_replicas = v.get_int32("min.insync.replicas");
    c.auto_create_topics = v.get_bool("auto.create.topics.enable");
    c.authorizer = security::load_authorizer_config(v);
    c.message_max_bytes = v.get_int32("message.max.bytes");
    c.message_timestamp_type = v.get_string("log.message.timestamp.type");
    if (v.has("broker.rack")) {
        c.rack = v.get_string("broker.rack");
    }

    auto& l = c.log_defaults;
    l.segment_bytes = uint64_t(v.get_int64("log.segment.bytes"));
    l.segment_ms = v.has("log.roll.ms") ? v.get_int64("log.roll.ms") : v.get_int32("log.roll.hours") * hour_ms;
    if (v.has("log.retention.ms")) {
        l.retention_ms = v.get_int64("log.retention.ms");
    } else if (v.has("log.retention.minutes")) {
        l.retention_ms = v.get_int32("log.retention.minutes") * 60000LL;
    } else {
        l.retention_ms = v.get_int32("log.retention.hours") * hour_ms;
    }
    if (l.retention_ms < 0) {
        l.retention_ms = -1;
    }
    l.retention_bytes = v.get_int64("log.retention.bytes");
    l.index_interval_bytes = uint32_t(v.get_int32("log.index.interval.bytes"));
    l.flush_messages = v.get_int64("log.flush.interval.messages");
    if (v.has("log.flush.interval.ms")) {
        l.flush_ms = v.get_int64("log.flush.interval.ms");
    }
    l.max_batch_bytes = uint32_t(c.message_max_bytes);
    l.direct_writes = v.get_bool("tributary.log.direct.writes");
    l.writeback_bytes = uint64_t(v.get_int64("tributary.log.writeback.bytes"));
    const auto policy = v.get_list("log.cleanup.policy");
    l.compact = std::find(policy.begin(), policy.end(), "compact") != policy.end();
    c.cleanup_delete = std::find(policy.begin(), policy.end(), "delete") != policy.end();
    l.delete_retention_ms = v.get_int64("log.cleaner.delete.retention.ms");
    l.min_cleanable_dirty_ratio = v.get_double("log.cleaner.min.cleanable.ratio");
    l.min_compaction_lag_ms = v.get_int64("log.cleaner.min.compaction.lag.ms");
    l.max_compaction_lag_ms = v.get_int64("log.cleaner.max.compaction.lag.ms");
    c.cleaner.enable = v.get_bool("log.cleaner.enable");
    c.cleaner.backoff_ms = v.get_int64("log.cleaner.backoff.ms");
    c.cleaner.dedupe_buffer_bytes = uint64_t(v.get_int64("log.cleaner.dedupe.buffer.size"));

    auto& r = c.replication;
    r.lag_time_max_ms = v.get_int64("replica.lag.time.max.ms");
    r.fetch_max_bytes = v.get_int32("replica.fetch.max.bytes");
    r.fetch_response_max_bytes = v.get_int32("replica.fetch.response.max.bytes");
    r.fetch_wait_max_ms = v.get_int32("replica.fetch.wait.max.ms");
    r.fetch_min_bytes = v.get_int32("replica.fetch.min.bytes");
    r.fetch_backoff_ms = v.get_int32("replica.fetch.backoff.ms");
    r.socket_timeout_ms = v.get_int32("replica.socket.timeout.ms");
    r.quota_window_samples = v.get_int32("replication.quota.window.num");
    r.quota_window_seconds = v.get_int32("replication.quota.window.size.seconds");
    c.fetch_session_cache_slots = v.get_int32("max.incremental.fetch.session.cache.slots");
    auto& g = c.groups;
    g.offsets_partitions = v.get_int32("offsets.topic.num.partitions");
    g.offsets_replication_factor = int16_t(v.get_int32("offsets.topic.replication.factor"));
    g.offsets_segment_bytes = v.get_int32("offsets.topic.segment.bytes");
    g.commit_timeout_ms = v.get_int32("offsets.commit.timeout.ms");
    g.shard.offsets_retention_ms = v.get_int32("offsets.retention.minutes") * 60000LL;
    g.shard.max_metadata_size = v.get_int32("offset.metadata.max.bytes");
    g.shard.offsets_retention_check_interval_ms = v.get_int64("offsets.retention.check.interval.ms");
    g.shard.min_session_timeout_ms = v.get_int32("group.min.session.timeout.ms");
    g.shard.max_session_timeout_ms = v.get_int32("group.max.session.timeout.ms");
    g.shard.initial_rebalance_delay_ms = v.get_int32("group.initial.rebalance.delay.ms");
    g.shard.max_size = v.get_int32("group.max.size");
    g.shard.consumer_session_timeout_ms = v.get_int32("group.consumer.session.timeout.ms");
    g.shard.consumer_heartbeat_interval_ms = v.get_int32("group.consumer.heartbeat.interval.ms");
    g.shard.consumer_max_size = v.get_int32("group.consumer.max.size");
    g.shard.consumer_assignors = v.get_list("group.consumer.assignors");
    c.lag_interval_ms = v.get_int64("tributary.lag.interval.ms");
    c.log_dir_move_rate = v.get_int64("tributary.log.dirs.move.max.bytes.per.second");

    c.limits.max_request_bytes = v.get_int32("socket.request.max.bytes");
    c.limits.idle_timeout = std::chrono::milliseconds(v.get_int64("connections.max.idle.ms"));
    c.io_threads = size_t(v.get_int32("num.io.threads"));
    c.raw = std::move(v);
    return c;
}

} // namespace trib::broker
