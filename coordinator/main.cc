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
#include "common/status_server.h"
#include "coordinator/coordinator_config.h"
#include "coordinator/identity.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/gauge.h>

#include <iostream>

using namespace trib;
using namespace trib::coordinator;

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

    try {
        auto dir_id = load_directory_id(cfg.metadata_dir.parent_path(), cfg.controller.id.value(),
                                        cfg.controller.cluster_id);
        TLOG_INFO("metadata directory {} has directory id {}", cfg.metadata_dir.parent_path().string(),
                  dir_id.to_string());
    } catch (const std::exception& e) {
        TLOG_ERROR("start-up failed: {}", e.what());
        return 1;
    }
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
        active.Set(svc.active() ? 1 : 0);
    };
    asio::steady_timer refresh(main_ctx);
    std::function<void()> schedule = [&] {
        refresh.expires_after(std::chrono::seconds(1));
        refresh.async_wait([&](boost::system::error_code ec) {
            if (ec) {
                return;
            }
            update();
            schedule();
        });
    };
    update();  // the first scrape already sees the replayed log
    schedule();
    asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        TLOG_INFO("signal {}: shutting down", sig);
        serving = false;
        refresh.cancel();
        status.stop();
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
