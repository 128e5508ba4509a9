// tributary-coordinator: the metadata quorum (the role of KRaft controllers).
//
//   tributary-coordinator [controller.properties | coordinator.yaml] [--override key=value]...
//
// Settings use Apache Kafka's names; KAFKA_* environment variables override the file.
// SIGINT / SIGTERM stop it cleanly: listeners close, the metadata log is closed (flushed,
// marked clean).
#include "common/log.h"
#include "coordinator/coordinator_config.h"

#include <boost/asio/signal_set.hpp>

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

    steady_clock clk;
    service svc(cfg, clk);
    try {
        svc.start();
    } catch (const std::exception& e) {
        TLOG_ERROR("start-up failed: {}", e.what());
        return 1;
    }
    TLOG_INFO("coordinator {} ready", cfg.controller.id.value());

    asio::io_context main_ctx(1);
    asio::signal_set signals(main_ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) { TLOG_INFO("signal {}: shutting down", sig); });
    main_ctx.run();

    svc.stop();
    TLOG_INFO("coordinator {} stopped", cfg.controller.id.value());
    return 0;
}
