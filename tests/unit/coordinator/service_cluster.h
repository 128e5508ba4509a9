#pragma once

// The coordinator service on a loopback port (real clock, short timeouts) and coordinator
// clients of it, for the end-to-end tests.
#include "coordinator/client/client.h"
#include "coordinator/service.h"
#include "coordinator/single_voter_log.h"

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <memory>

namespace trib::coordinator::testing {

struct cluster {
    explicit cluster(const std::filesystem::path& dir, controller_config ctl = {}) {
        using namespace std::chrono_literals;
        cfg.controller = std::move(ctl);
        cfg.controller.cluster_id = "e2e";
        cfg.controller.session_timeout_ms = 3000;
        cfg.controller.heartbeat_interval_ms = 100;
        cfg.controller.seed = 7;
        cfg.listeners.push_back({"CONTROLLER", "127.0.0.1", 0});
        cfg.metadata_dir = dir / "__cluster_metadata-0";
        cfg.open_log = single_voter_log::factory(cfg.metadata_dir, {});
        cfg.tick = 20ms;
        svc = std::make_unique<service>(cfg, clk);
        port = svc->start().at(0);
        cfg.listeners.back().port = port;  // a restart listens where the clients look
    }
    // Stops the service (its connections close) and starts it again from its metadata log,
    // on the same port.
    void restart() {
        svc->stop();
        svc.reset();
        svc = std::make_unique<service>(cfg, clk);
        svc->start();
    }
    std::shared_ptr<coordinator_client> client(asio::io_context& ctx, int32_t id) {
        using namespace std::chrono_literals;
        client_config c;
        c.coordinators.push_back({"127.0.0.1", port});
        c.cluster_id = "e2e";
        c.id = node_id(id);
        c.listeners.push_back({"PLAINTEXT", "127.0.0.1", uint16_t(9090 + id)});
        c.fetch_max_wait = 300ms;
        c.request_timeout = 5s;
        return std::make_shared<coordinator_client>(ctx.get_executor(), c);
    }
    // Stops the clients, lets their closes run, then stops the service.
    void stop(asio::io_context& ctx, std::initializer_list<std::shared_ptr<coordinator_client>> clients) {
        for (const auto& cl : clients) {
            cl->stop();
        }
        ctx.run_for(std::chrono::milliseconds(50));
        svc->stop();
    }
    steady_clock clk;
    service_config cfg;
    std::unique_ptr<service> svc;
    uint16_t port = 0;
};

} // namespace trib::coordinator::testing
