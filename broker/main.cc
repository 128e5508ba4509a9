// tributary-broker: serves Kafka clients.
//
//   tributary-broker [server.properties | broker.yaml]... [--override key=value]...
//
// Settings use Apache Kafka's names; later files override earlier ones, KAFKA_* environment
// variables override the files, and values may say ${env:NAME} (see common/config.h).
#include "broker/handlers/dispatch.h"
#include "net/server.h"
#include "broker/services.h"
#include "common/big_buffers.h"
#include "common/listeners.h"
#include "common/fatal.h"
#include "common/log.h"
#include "common/repeating_timer.h"
#include "common/status_server.h"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdio>
#include <iostream>
#include <sys/resource.h>

using namespace trib;
using namespace trib::broker;

namespace {

// Thousands of client connections need thousands of descriptors, plus the segment files:
// take the hard limit rather than the shell's soft default of 1024.
void raise_fd_limit() {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

// How long a controlled shutdown may take before the broker stops anyway (Kubernetes gives a
// pod 30 s by default between SIGTERM and SIGKILL).
constexpr auto controlled_shutdown_timeout = std::chrono::seconds(25);

} // namespace

int main(int argc, char** argv) {
    auto args = config::parse_command_line(argc, argv, broker_schema(), "tributary-broker");
    if (auto* code = std::get_if<int>(&args)) {
        return *code;
    }
    auto opts = std::get<config::load_options>(std::move(args));

    raise_fd_limit();
    keep_big_buffers_in_heap();
    std::unique_ptr<broker_services> svc;
    try {
        svc = std::make_unique<broker_services>(load_broker_config(opts));
    } catch (const std::exception& e) {
        std::cerr << "tributary-broker: configuration: " << e.what() << "\n";
        return 2;
    }
    auto& cfg = svc->config;
    log::set_process_name("broker-" + std::to_string(cfg.node_id));
    log::set_level(cfg.raw.get_string("log.level"));
    log::set_termination_message_path(cfg.raw.get_string("tributary.termination.message.path"));
    std::string dirs;
    for (const auto& d : cfg.log_dirs) {
        dirs += (dirs.empty() ? "" : ", ") + d.string();
    }
    TLOG_INFO("starting broker {} with data in {}", cfg.node_id, dirs);

    handler_dispatcher dispatcher(*svc);
    net::server srv(svc->pool, dispatcher, cfg.limits);
    asio::io_context main_ctx(1);
    std::atomic<bool> stopping{false};
    // Ready (/readyz) only once the Kafka listeners accept: a probe that passes while they
    // are still closed sends clients to a refused port.
    std::atomic<bool> serving{false};
    asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
    std::function<void()> on_signal;  // set once the broker runs
    // SIGTERM/SIGINT: a controlled shutdown first (the coordinator moves this broker's
    // leaderships to other ISR members while it still serves, so producers and followers
    // carry on elsewhere), bounded in time, then everything stops in reverse order.
    asio::steady_timer shutdown_wait(main_ctx);
    auto shutdown_deadline = std::chrono::steady_clock::now();
    std::function<void()> wait_for_moves = [&] {
        if (svc->cluster.controlled_shutdown_done() || std::chrono::steady_clock::now() >= shutdown_deadline) {
            if (!svc->cluster.controlled_shutdown_done()) {
                TLOG_WARN("controlled shutdown: leaderships not all moved in time; stopping anyway");
            }
            if (on_signal) {
                on_signal();
            }
            return;
        }
        shutdown_wait.expires_after(std::chrono::milliseconds(50));
        shutdown_wait.async_wait([&](boost::system::error_code) { wait_for_moves(); });
    };
    signals.async_wait([&](boost::system::error_code, int sig) {
        TLOG_INFO("signal {}: shutting down", sig);
        stopping = true;
        if (svc->cluster.ready() && cfg.raw.get_bool("controlled.shutdown.enable")) {
            svc->cluster.begin_controlled_shutdown();
            shutdown_deadline = std::chrono::steady_clock::now() + controlled_shutdown_timeout;
            wait_for_moves();
        } else if (on_signal) {
            on_signal();
        }
    });
    status_server status(main_ctx, svc->metrics.registry(),
                         [&] { return !stopping.load() && serving.load() && svc->cluster.ready(); });
    auto fail = [&](const std::exception& e) {
        log::fatal(fmt::format("start-up failed: {}", e.what()));
        svc->lag.stop();
        svc->cluster.stop();
        svc->fetchers.stop();
        svc->cleaner.stop();
        svc->groups.stop();
        svc->pool.stop();
        return 1;
    };
    try {
        svc->pool.start();
        svc->groups.start();
        svc->cluster.start();
        svc->cleaner.start();
        svc->lag.start();
        if (cfg.raw.has("tributary.http.listener")) {
            auto hp = config::parse_host_port(cfg.raw.get_string("tributary.http.listener"), true);
            auto port = status.start(hp.host, hp.port);
            TLOG_INFO("metrics and health on {}:{} (/metrics, /healthz, /readyz)", hp.host.empty() ? "*" : hp.host,
                      port);
        }
    } catch (const std::exception& e) {
        return fail(e);
    }
    // Clients are let in once this broker is registered and has the cluster's metadata, so
    // the first Metadata answer a client gets already lists the brokers and leaders.
    auto waiting_since = std::chrono::steady_clock::now();
    auto next_note = waiting_since + std::chrono::seconds(5);
    while (!svc->cluster.ready() && !stopping) {
        main_ctx.run_for(std::chrono::milliseconds(20));
        if (std::chrono::steady_clock::now() > next_note) {
            TLOG_INFO("waiting to register with the coordinator and catch up on metadata");
            next_note += std::chrono::seconds(5);
        }
    }
    if (!stopping) {
        try {
            auto ports = srv.start(cfg.listeners, cfg.tls);
            for (size_t i = 0; i < ports.size(); ++i) {
                TLOG_INFO("listener {} advertised as {}:{}", cfg.listeners[i].name, cfg.advertised[i].host,
                          cfg.advertised[i].port);
            }
            serving = true;
        } catch (const std::exception& e) {
            return fail(e);
        }
    }
    TLOG_INFO("broker {} ready", cfg.node_id);

    // Retention runs on a timer; SIGINT/SIGTERM stop everything in reverse order.
    repeating_timer retention(main_ctx, std::chrono::milliseconds(cfg.raw.get_int64("log.retention.check.interval.ms")),
                              [&] { svc->partitions.run_retention(); });
    retention.start();
    repeating_timer tick(main_ctx, std::chrono::seconds(1), [&] {
        svc->partitions.periodic();
        svc->quotas.publish(partition::clock_ms());
    });
    tick.start();
    on_signal = [&] {
        retention.stop();
        tick.stop();
        status.stop();
    };
    if (stopping) {
        on_signal();
    }
    main_ctx.run();

    srv.stop();
    svc->lag.stop();
    svc->cluster.stop();
    svc->fetchers.stop();
    svc->cleaner.stop();  // before the logs close: a pass waits for their owner cores
    svc->groups.stop();
    svc->partitions.close_all();
    svc->pool.stop();
    TLOG_INFO("broker {} stopped", cfg.node_id);
    return 0;
}
