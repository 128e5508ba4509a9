#include "coordinator/coordinator_config.h"

#include "common/listeners.h"
#include "common/log.h"
#include "coordinator/identity.h"
#include "coordinator/raft/net_transport.h"
#include "coordinator/raft_log.h"
#include "net/client_security.h"
#include "net/tls.h"
#include "security/authorizer_config.h"
#include "security/listener_sasl.h"
#include "security/sasl.h"

#include <algorithm>

namespace trib::coordinator {

using config::at_least;
using config::between;
using config::type;

const config::schema& coordinator_schema() {
    static const config::schema s = [] {
        config::schema s;
        auto add = [&](std::string name, type t, std::optional<std::string> def, std::string doc,
                       config::validator v = {}, std::vector<std::string> aliases = {}) {
            s.add(config::key_spec{std::move(name), t, std::move(def), std::move(doc), std::move(v), std::move(aliases)});
        };
        add("node.id", type::int32, "0", "This coordinator's id: one of controller.quorum.voters.", at_least(0));
        add("cluster.id", type::string, "tributary-local", "Cluster id; brokers of another cluster are refused.");
        add("controller.quorum.voters", type::string, std::nullopt,
            "The voters, id@host:port,...; unset: this node alone, on its first listener.", config::valid_voters());
        add("controller.quorum.election.timeout.ms", type::int32, "1000",
            "Raft: a follower that hears no leader for a random time in [this, 2 x this) campaigns; a leader "
            "that hears from no majority for this long steps down.",
            at_least(20));
        add("listeners", type::list, "CONTROLLER://127.0.0.1:19091", "Where brokers reach the coordinator.",
            config::valid_listeners());
        add("log.dirs", type::list, "/tmp/tributary-coordinator", "The metadata log lives in the first one.", {},
            {"log.dir"});
        add("metadata.log.dir", type::string, std::nullopt, "Directory of the metadata log; default: the first of log.dirs.");
        add("broker.session.timeout.ms", type::int64, "9000", "A broker not heard from for this long is fenced.",
            at_least(1));
        add("broker.heartbeat.interval.ms", type::int32, "2000", "How often brokers heartbeat.", at_least(1));
        add("num.partitions", type::int32, "1", "Partitions of a topic created without a count.", at_least(1));
        add("default.replication.factor", type::int32, "1", "Replication factor of a topic created without one.",
            between(1, 32767));
        add("metadata.log.segment.bytes", type::int64, "1073741824", "Metadata log segment size.", at_least(14));
        add("metadata.log.max.record.bytes.between.snapshots", type::int64, "20971520",
            "Bytes appended to the metadata log before the next snapshot.", at_least(1));
        add("unclean.leader.election.enable", type::boolean, "false",
            "Default of the topic config: may a replica not in sync lead when no in-sync one is left.");
        add("auto.leader.rebalance.enable", type::boolean, "true", "Move leadership back to preferred replicas.");
        add("leader.imbalance.check.interval.seconds", type::int64, "300", "How often leader imbalance is checked.",
            at_least(1));
        add("leader.imbalance.per.broker.percentage", type::int32, "10",
            "Share of a broker's preferred partitions led elsewhere that triggers a rebalance.", between(0, 100));
        add("tributary.drain.max.moves", type::int32, "10",
            "Reassignments a broker drain keeps under way at once.", at_least(1));
        add("socket.request.max.bytes", type::int32, "104857600", "Largest request accepted.", at_least(1));
        add("log.level", type::string, "info", "trace, debug, info, warn, error.",
            config::one_of({"trace", "debug", "info", "warn", "error"}));
        add("process.roles", type::list, std::nullopt, "Accepted for compatibility (controller).");
        add("controller.listener.names", type::list, std::nullopt,
            "The listener coordinators reach each other on (the first name; default: the first of listeners): "
            "its security protocol, listener.name.<l>.ssl.* and the SASL login apply to this coordinator's "
            "connections to the other voters.");
        add("listener.security.protocol.map", type::list, std::nullopt,
            "Listener name -> security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL); unset: every "
            "listener is PLAINTEXT (or the protocol it is named after).",
            config::valid_protocol_map());
        add("tributary.http.listener", type::string, std::nullopt,
            "host:port serving /metrics, /healthz and /readyz over HTTP; unset: not served.");
        // SSL listeners (net/tls.h) and SASL ones (security/listener_sasl.h): the broker's keys.
        net::add_tls_keys(s);
        security::add_listener_sasl_keys(s);
        // Who may send what (coordinator/authorization.h): the broker's authorizer keys.
        security::add_authorizer_keys(s);
        return s;
    }();
    return s;
}

namespace {

// The mechanisms a coordinator listener serves. SCRAM's credentials live in the metadata log
// the coordinator itself serves, so it can't check them before that log is up (Kafka refuses
// SCRAM on a controller listener for the same reason); OAUTHBEARER is not built here.
constexpr std::string_view coordinator_mechanism_refusal =
    "a coordinator listener serves PLAIN only (SCRAM credentials live in the metadata log the "
    "coordinators serve, so as in Kafka they can't authenticate the controller listener; "
    "OAUTHBEARER is not served by the coordinator)";

std::string protocol_of(const std::map<std::string, std::string>& map, bool map_set, const std::string& listener) {
    if (auto it = map.find(listener); it != map.end()) {
        return it->second;
    }
    if (map_set) {
        throw config::config_error("listener.security.protocol.map: no security protocol for listener " + listener);
    }
    for (auto p : {"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}) {
        if (listener == p) {
            return listener;
        }
    }
    return "PLAINTEXT";
}

} // namespace

coordinator_security load_coordinator_security(const config::values& v, const std::vector<std::string>& listeners) {
    coordinator_security out;
    const bool map_set = v.has("listener.security.protocol.map");
    const auto map = map_set ? config::parse_protocol_map(v.get_string("listener.security.protocol.map"))
                             : std::map<std::string, std::string>{};
    for (const auto& l : listeners) {
        out.protocols[l] = protocol_of(map, map_set, l);
    }
    out.controller_listener = listeners.at(0);
    if (v.has("controller.listener.names")) {
        auto names = v.get_list("controller.listener.names");
        if (names.empty()) {
            throw config::config_error("controller.listener.names: no listener named");
        }
        out.controller_listener = names.front();
        if (!out.protocols.count(out.controller_listener)) {
            out.protocols[out.controller_listener] = protocol_of(map, map_set, out.controller_listener);
        }
    }
    const auto per_listener = v.with_prefix("listener.name.");
    // Every listener.name. key must be a TLS key (in the schema: not seen here) or a SASL one of
    // a listener this coordinator knows.
    for (const auto& [key, value] : per_listener) {
        bool known = false;
        for (const auto& [l, protocol] : out.protocols) {
            const std::string prefix = net::listener_prefix(l);
            if (key.starts_with(prefix)) {
                const auto rest = key.substr(prefix.size());
                known = rest == "sasl.enabled.mechanisms" || rest.ends_with(".sasl.jaas.config") ||
                        security::is_listener_reauth_key(rest);
            }
            if (known) {
                break;
            }
        }
        if (!known) {
            throw config::config_error("unknown configuration key '" + key +
                                       "' (listener.name.<listener>. takes ssl.*, sasl.enabled.mechanisms, "
                                       "<mechanism>.sasl.jaas.config and [<mechanism>.]connections.max.reauth.ms, "
                                       "for a listener of `listeners` or "
                                       "controller.listener.names)");
        }
    }
    for (const auto& l : listeners) {
        const auto& protocol = out.protocols.at(l);
        if (protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL") {
            out.sasl.emplace(l, security::load_listener_sasl(v, per_listener, l,
                                                             {security::mechanism_plain}, coordinator_mechanism_refusal));
        }
    }
    // The TLS contexts are made last: a SASL mistake is named before a file is read.
    for (const auto& l : listeners) {
        const auto& protocol = out.protocols.at(l);
        if (protocol == "SSL" || protocol == "SASL_SSL") {
            out.tls[l] = std::make_shared<net::tls_source>(net::tls_settings_for(v, l));
        }
    }
    auto served = out.sasl.find(out.controller_listener);
    out.client = net::load_client_security(v, out.protocols, out.controller_listener,
                                           "sasl.mechanism.controller.protocol",
                                           served == out.sasl.end() ? nullptr : &served->second,
                                           "the controller listener");
    return out;
}

const std::set<std::string>& ignored_keys() {
    static const std::set<std::string> keys = {"log4j.*", "inter.broker.listener.name", "advertised.listeners",
                                               "num.network.threads", "num.io.threads"};
    return keys;
}

service_config load_coordinator_config(const config::load_options& in, config::values* raw) {
    config::load_options opts = in;
    opts.ignored_unknown.insert(ignored_keys().begin(), ignored_keys().end());
    // Per-listener TLS keys (listener.name.<l>.ssl.*) exist only for the listeners named: a
    // first pass learns them (as the broker does), the second checks every key against a
    // schema with theirs.
    std::vector<std::string> names;
    {
        auto first_opts = opts;
        first_opts.ignored_unknown.insert("listener.name.*");
        auto first = config::load(coordinator_schema(), first_opts);
        for (const auto& l : config::parse_listeners(first.get_string("listeners"))) {
            names.push_back(l.name);
        }
        if (first.has("controller.listener.names")) {
            for (const auto& n : first.get_list("controller.listener.names")) {
                if (std::find(names.begin(), names.end(), n) == names.end()) {
                    names.push_back(n);
                }
            }
        }
    }
    auto schema = coordinator_schema();
    net::add_listener_tls_keys(schema, names);
    auto v = config::load(schema, opts);
    service_config c;
    c.controller.id = node_id(v.get_int32("node.id"));
    c.controller.cluster_id = v.get_string("cluster.id");
    c.controller.session_timeout_ms = v.get_int64("broker.session.timeout.ms");
    c.controller.heartbeat_interval_ms = v.get_int32("broker.heartbeat.interval.ms");
    c.controller.num_partitions = v.get_int32("num.partitions");
    c.controller.default_replication_factor = int16_t(v.get_int32("default.replication.factor"));
    c.controller.unclean_leader_election_enable = v.get_bool("unclean.leader.election.enable");
    c.controller.auto_leader_rebalance_enable = v.get_bool("auto.leader.rebalance.enable");
    c.controller.leader_imbalance_check_interval_ms = v.get_int64("leader.imbalance.check.interval.seconds") * 1000;
    c.controller.leader_imbalance_per_broker_percentage = v.get_int32("leader.imbalance.per.broker.percentage");
    c.controller.drain_max_moves = v.get_int32("tributary.drain.max.moves");
    if (c.controller.heartbeat_interval_ms >= c.controller.session_timeout_ms) {
        throw config::config_error("broker.heartbeat.interval.ms must be below broker.session.timeout.ms");
    }
    for (const auto& l : config::parse_listeners(v.get_string("listeners"))) {
        c.listeners.push_back({l.name, l.host, l.port});
    }
    if (c.listeners.empty()) {
        throw config::config_error("listeners: at least one listener is needed");
    }
    {
        std::vector<std::string> listener_names;
        for (const auto& l : c.listeners) {
            listener_names.push_back(l.name);
        }
        auto sec = load_coordinator_security(v, listener_names);
        c.tls = std::move(sec.tls);
        c.sasl = std::move(sec.sasl);
        c.client = std::move(sec.client);
    }
    c.authorizer = security::load_authorizer_config(v);
    // This voter, as brokers reach it: named in NOT_CONTROLLER hints by whoever is not leading.
    raft::voter self{c.controller.id, c.listeners.front().host, c.listeners.front().port};
    raft::voter_set voters;
    if (v.has("controller.quorum.voters")) {
        for (const auto& at : config::parse_voters(v.get_string("controller.quorum.voters"))) {
            voters.push_back({node_id(at.id), at.host, at.port});
        }
        std::sort(voters.begin(), voters.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        for (const auto& at : voters) {
            if (at.id == c.controller.id) {
                self = at;
            }
        }
    }
    // Raft, also for a quorum of one (it elects itself at once and can grow by AddRaftVoter),
    // and for a coordinator not among the voters: it joins an existing quorum (AddRaftVoter)
    // and follows the log without a vote until then. The voters only seed a new log: once
    // the log holds a voter set, that set rules (a restart with the configuration it was
    // first started with keeps the voters added since).
    if (voters.empty()) {
        voters.push_back(self);
    }
    std::filesystem::path dir = v.has("metadata.log.dir") ? std::filesystem::path(v.get_string("metadata.log.dir"))
                                                          : std::filesystem::path(v.get_list("log.dirs").at(0));
    c.metadata_dir = dir / "__cluster_metadata-0";
    storage::log_config log;
    log.segment_bytes = uint64_t(v.get_int64("metadata.log.segment.bytes"));
    log.retention_ms = -1;  // snapshots, not retention, shorten the metadata log
    const std::chrono::milliseconds election(v.get_int32("controller.quorum.election.timeout.ms"));
    const std::string cluster_id = c.controller.cluster_id;
    const node_id id = c.controller.id;
    const net::client_security client = c.client;
    c.open_log = raft_log::factory(c.metadata_dir, [=](asio::io_context& ctx) {
        raft_log_options o;
        o.log = log;
        o.self = self;
        o.voters = voters;
        // The directory this log lives in names this voter (KIP-853), read (or written, the
        // first time) when the log opens, beside it: a directory of another node or cluster
        // stops start-up here.
        o.self.directory_id = load_directory_id(dir, id.value(), cluster_id);
        TLOG_INFO("metadata directory {} has directory id {}", dir.string(), o.self.directory_id.to_string());
        // A lone coordinator seeds the voter set with itself, and knows its own directory:
        // voters it adds later come with theirs (AddRaftVoter), so the whole set is keyed.
        // Voters of a configured quorum have none (as in Kafka's static quorums).
        if (o.voters.size() == 1 && o.voters.front().id == id) {
            o.voters.front().directory_id = o.self.directory_id;
        }
        o.ctx = &ctx;
        o.election_timeout = election;
        // Ten ticks per election timeout: heartbeats every tick, timeouts drawn in ticks.
        o.tick = std::max(std::chrono::milliseconds(2), election / 10);
        raft::net_transport_options t;
        t.client_id = "coordinator-" + std::to_string(id.value()) + "-raft";
        t.security = client;
        o.transport = std::make_unique<raft::net_transport>(ctx.get_executor(), id, cluster_id, t);
        return o;
    });
    c.snapshot_bytes = uint64_t(v.get_int64("metadata.log.max.record.bytes.between.snapshots"));
    c.max_request_bytes = v.get_int32("socket.request.max.bytes");
    if (raw) {
        *raw = v;
    }
    return c;
}

} // namespace trib::coordinator
