// tributary-coordinator: the metadata quorum (the role of KRaft controllers).
//
//   tributary-coordinator [controller.properties | coordinator.yaml]... [--override key=value]...
//
// Settings use Apache Kafka's names; later files override earlier ones, KAFKA_* environment
// variables override the files, and values may say ${env:NAME} (see common/config.h).
// SIGINT / SIGTERM stop it cleanly: listeners close, the metadata log is closed (flushed,
// marked clean).
#include "common/listeners.h"
#include "common/log.h"
#include "common/metric_series.h"
#include "common/repeating_timer.h"
#include "common/status_server.h"
#include "coordinator/coordinator_config.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <array>
#include <iostream>
#include <string>
#include <vector>

using namespace trib;
using namespace trib::coordinator;

namespace {

// A Prometheus counter following a count the log or its transport keeps (they know nothing
// of Prometheus): each refresh adds what the count grew by since the last, so the series is
// a counter rate() may be taken of, not a gauge that happens to grow.
class mirrored_counter {
public:
    explicit mirrored_counter(prometheus::Counter& c) : _counter(&c) {}
    void follow(uint64_t count) {
        if (count > _seen) {
            _counter->Increment(double(count - _seen));
        }
        _seen = count;
    }

private:
    prometheus::Counter* _counter;
    uint64_t _seen = 0;
};

struct described {
    const char* name;
    const char* help;
    const char* reason = nullptr;  // the `reason` label, when the family has one
};

// In the order raft_metrics::update() lists their values.
constexpr std::array<described, 8> raft_gauges{{
    {"tributary_coordinator_raft_term", "The current Raft term (KRaft's epoch)"},
    {"tributary_coordinator_raft_leader_id", "The Raft leader this coordinator knows of; -1: none"},
    {"tributary_coordinator_raft_commit_offset", "One past the last metadata log entry a majority of voters holds"},
    {"tributary_coordinator_raft_applied_offset",
     "One past the last metadata log entry applied to this coordinator's state"},
    {"tributary_coordinator_raft_log_start_offset",
     "The first offset in the metadata log (earlier ones are only in the snapshot)"},
    {"tributary_coordinator_raft_log_end_offset", "One past the last metadata log entry written here, committed or not"},
    {"tributary_coordinator_raft_voters", "Voters in the voter set in force here"},
    {"tributary_coordinator_raft_voter", "1 while this coordinator is in the voter set"},
}};
constexpr std::array<described, 7> raft_counters{{
    {"tributary_coordinator_raft_elections_total", "Elections this coordinator started (each a new term)"},
    {"tributary_coordinator_raft_pre_votes_total", "Pre-vote rounds this coordinator started that asked other voters"},
    {"tributary_coordinator_raft_leader_changes_total", "Times this coordinator learned of a leader for a new term"},
    {"tributary_coordinator_raft_snapshots_taken_total", "Snapshots of this coordinator's own state written"},
    {"tributary_coordinator_raft_snapshots_installed_total", "Snapshots received from a leader and installed"},
    {"tributary_coordinator_raft_dropped_messages_total", "Malformed Raft messages dropped"},
    {"tributary_coordinator_raft_fsync_rounds_total",
     "Rounds of fsyncs of the metadata log (each covers every write asked for before it)"},
}};
constexpr const char* dropped_help = "Raft messages not delivered, by reason";
constexpr std::array<described, 7> transport_counters{{
    {"tributary_coordinator_raft_transport_messages_sent_total", "Raft messages in envelopes another coordinator took"},
    {"tributary_coordinator_raft_transport_envelopes_sent_total", "Envelopes of Raft messages another coordinator took"},
    {"tributary_coordinator_raft_transport_messages_dropped_total", dropped_help, "queue_full"},
    {"tributary_coordinator_raft_transport_messages_dropped_total", dropped_help, "call_failed"},
    {"tributary_coordinator_raft_transport_messages_dropped_total", dropped_help, "no_peer"},
    {"tributary_coordinator_raft_transport_messages_received_total", "Raft messages received from other coordinators"},
    {"tributary_coordinator_raft_transport_envelopes_refused_total",
     "Envelopes from other coordinators this one refused (another cluster or receiver, not decodable)"},
}};

// tributary_coordinator_raft_*: the metadata quorum as this coordinator sees it
// (coordinator/README.md lists them). A single-voter log reports itself as the leader of
// term 0, alone, counting nothing.
class raft_metrics {
public:
    explicit raft_metrics(prometheus::Registry& r)
      : _role_family(prometheus::BuildGauge()
                         .Name("tributary_coordinator_raft_role")
                         .Help("1 for this coordinator's Raft role, 0 for the others (observer: not a voter)")
                         .Register(r)),
        _lag_family(prometheus::BuildGauge()
                        .Name("tributary_coordinator_raft_voter_lag_records")
                        .Help("On the leader: its commit offset minus each voter's log end offset")
                        .Register(r)) {
        for (auto role : all_log_roles) {
            _roles.push_back(&_role_family.Add({{"role", log_role_name(role)}}));
        }
        for (const auto& d : raft_gauges) {
            _gauges.push_back(&prometheus::BuildGauge().Name(d.name).Help(d.help).Register(r).Add({}));
        }
        auto counters = [&](const auto& table, std::vector<mirrored_counter>& out) {
            for (const auto& d : table) {
                const auto labels = d.reason ? prometheus::Labels{{"reason", d.reason}} : prometheus::Labels{};
                out.emplace_back(prometheus::BuildCounter().Name(d.name).Help(d.help).Register(r).Add(labels));
            }
        };
        counters(raft_counters, _counters);
        counters(transport_counters, _transport);
    }

    void update(const log_stats& s, const std::vector<voter_view>& voters) {
        for (size_t i = 0; i < std::size(all_log_roles); ++i) {
            _roles[i]->Set(all_log_roles[i] == s.role ? 1 : 0);
        }
        const std::array<double, raft_gauges.size()> gauges{
            double(s.term.value()),        double(s.leader.value()),
            double(s.commit_end.value()),  double(s.applied_end.value()),
            double(s.log_start.value()),   double(s.log_end.value()),
            double(s.voters),              s.is_voter ? 1.0 : 0.0};
        for (size_t i = 0; i < gauges.size(); ++i) {
            _gauges[i]->Set(gauges[i]);
        }
        const std::array<uint64_t, raft_counters.size()> counts{
            s.elections, s.pre_votes, s.leader_changes, s.snapshots_taken, s.snapshots_installed,
            s.dropped_messages, s.fsync_rounds};
        for (size_t i = 0; i < counts.size(); ++i) {
            _counters[i].follow(counts[i]);
        }
        if (const auto& t = s.transport) {
            const std::array<uint64_t, transport_counters.size()> traffic{
                t->sent, t->envelopes_sent, t->dropped_queue_full, t->dropped_failed, t->dropped_no_peer,
                t->received, t->refused};
            for (size_t i = 0; i < traffic.size(); ++i) {
                _transport[i].follow(traffic[i]);
            }
        }
        // Only a leader knows how far the others are; elsewhere the series go away rather
        // than show a lag from when this node last led.
        if (s.role == log_role::leader) {
            for (const auto& v : voters) {
                if (v.log_end_offset >= 0) {
                    const auto lag = std::max<int64_t>(0, s.commit_end.value() - v.log_end_offset);
                    _lag.set(_lag_family, {{"voter", std::to_string(v.endpoint.id.value())}}, double(lag));
                }
            }
        }
        _lag.sweep();
    }

private:
    prometheus::Family<prometheus::Gauge>& _role_family;
    std::vector<prometheus::Gauge*> _roles;  // in all_log_roles' order
    std::vector<prometheus::Gauge*> _gauges;  // in raft_gauges' order
    std::vector<mirrored_counter> _counters;  // raft_counters'
    std::vector<mirrored_counter> _transport;  // transport_counters'
    prometheus::Family<prometheus::Gauge>& _lag_family;
    series_set _lag;
};

} // namespace

int main(int argc, char** argv) {
    auto args = config::parse_command_line(argc, argv, coordinator_schema(), "tributary-coordinator");
    if (auto* code = std::get_if<int>(&args)) {
        return *code;
    }
    auto opts = std::get<config::load_options>(std::move(args));

    service_config cfg;
    config::values raw;
    try {
        cfg = load_coordinator_config(opts, &raw);
    } catch (const std::exception& e) {
        std::cerr << "tributary-coordinator: configuration: " << e.what() << "\n";
        return 2;
    }
    log::set_process_name("coordinator-" + std::to_string(cfg.controller.id.value()));
    log::set_level(raw.get_string("log.level"));
    TLOG_INFO("starting coordinator {} of cluster {} with metadata in {}", cfg.controller.id.value(),
              cfg.controller.cluster_id, cfg.metadata_dir.string());

    steady_clock clk;
    service svc(cfg, clk);
    asio::io_context main_ctx(1);
    std::atomic<bool> serving{false};
    // /metrics: what the controller knows about the cluster, refreshed every second.
    auto registry = std::make_shared<prometheus::Registry>();
    auto& brokers = prometheus::BuildGauge()
                        .Name("tributary_coordinator_brokers")
                        .Help("Brokers registered with this coordinator, by state")
                        .Register(*registry);
    auto& registered = brokers.Add({{"state", "registered"}});
    auto& usable = brokers.Add({{"state", "usable"}});
    auto& topics = prometheus::BuildGauge()
                       .Name("tributary_coordinator_topics")
                       .Help("Topics in the cluster's metadata")
                       .Register(*registry)
                       .Add({});
    auto& active = prometheus::BuildGauge()
                       .Name("tributary_coordinator_active_controller")
                       .Help("1 while this coordinator is the active controller (decides), else 0")
                       .Register(*registry)
                       .Add({});
    auto& committed = prometheus::BuildGauge()
                          .Name("tributary_coordinator_metadata_committed_offset")
                          .Help("One past the last committed record of the metadata log")
                          .Register(*registry)
                          .Add({});
    raft_metrics raft(*registry);
    // Ready: the metadata log is replayed (start() returned) and a leader is known.
    status_server status(main_ctx, registry, [&] { return serving.load() && svc.ready(); });
    try {
        svc.start();
        if (raw.has("tributary.http.listener")) {
            auto hp = config::parse_host_port(raw.get_string("tributary.http.listener"), true);
            auto port = status.start(hp.host, hp.port);
            TLOG_INFO("metrics and health on {}:{} (/metrics, /healthz, /readyz)", hp.host.empty() ? "*" : hp.host,
                      port);
        }
    } catch (const std::exception& e) {
        TLOG_ERROR("start-up failed: {}", e.what());
        svc.stop();
        return 1;
    }
    auto update = [&] {
        svc.call([&](controller& c) {
            registered.Set(static_cast<double>(c.image().brokers().size()));
            usable.Set(static_cast<double>(c.usable_brokers().size()));
            topics.Set(static_cast<double>(c.image().topics().size()));
            committed.Set(static_cast<double>(c.image().next_offset().value()));
        });
        auto [log, voters] = svc.call_log([](const replicated_log& l) { return std::pair{l.stats(), l.voters()}; });
        raft.update(log, voters);
        active.Set(svc.active() ? 1 : 0);
    };
    repeating_timer refresh(main_ctx, std::chrono::seconds(1), update);
    update();  // the first scrape already sees the replayed log
    refresh.start();
    // The active controller hands its leadership to the most caught-up voter before it
    // stops (as Kafka's controller resigns on a clean shutdown), so a roll of the quorum costs
    // a leadership transfer, not an election timeout; it waits for that at most two election
    // timeouts, then stops anyway.
    asio::steady_timer handover(main_ctx);
    const auto handover_limit = 2 * std::chrono::milliseconds(raw.get_int32("controller.quorum.election.timeout.ms"));
    std::function<void(std::chrono::steady_clock::time_point)> await_handover =
        [&](std::chrono::steady_clock::time_point until) {
            if (!svc.active()) {
                TLOG_INFO("leadership handed over");
                return;
            }
            if (std::chrono::steady_clock::now() >= until) {
                TLOG_WARN("leadership not handed over within {} ms; stopping anyway", handover_limit.count());
                return;
            }
            handover.expires_after(std::chrono::milliseconds(20));
            handover.async_wait([&, until](boost::system::error_code) { await_handover(until); });
        };
    asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        TLOG_INFO("signal {}: shutting down", sig);
        serving = false;
        refresh.stop();
        status.stop();
        if (!svc.active()) {
            return;
        }
        if (auto to = svc.hand_over_leadership()) {
            TLOG_INFO("handing the leadership over to coordinator {}", to->value());
            await_handover(std::chrono::steady_clock::now() + handover_limit);
        }
    });
    // Ready only once the signal handler is in: as PID 1 in a container, a SIGTERM that came
    // before it would be ignored, and the coordinator would never stop.
    serving = true;
    TLOG_INFO("coordinator {} ready", cfg.controller.id.value());
    main_ctx.run();

    svc.stop();
    TLOG_INFO("coordinator {} stopped", cfg.controller.id.value());
    return 0;
}
