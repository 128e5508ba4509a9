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

namespace {

void usage() {
    std::cerr << "usage: tributary-coordinator [config.properties|config.yaml] [--override key=value]...\n"
                 "       tributary-coordinator --help-config\n";
}

} // namespace

int main(int argc, char** argv) {
    config::load_options opts;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "--help" || a == "-h") {
            usage();
            return 0;
        }
        if (a == "--help-config") {
            std::cout << coordinator_schema().help();
            return 0;
        }
        try {
            if (a == "--override" && i + 1 < argc) {
                opts.overrides.push_back(config::parse_override(argv[++i]));
            } else if (a.rfind("--override=", 0) == 0) {
                opts.overrides.push_back(config::parse_override(a.substr(11)));
            } else if (!a.starts_with("-") && !opts.file) {
                opts.file = a;
            } else {
                usage();
                return 2;
            }
        } catch (const std::exception& e) {
            std::cerr << "tributary-coordinator: " << e.what() << "\n";
            return 2;
        }
    }

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
