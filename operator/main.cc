// tributary-operator: will manage Tributary clusters on Kubernetes. Until the operator issue
// fills it in, it reconciles nothing: it starts, says so, serves /healthz, /readyz and
// /metrics like the other programs, and stops cleanly on SIGINT / SIGTERM, so the image,
// its Deployment and its probes can be built and tested now.
//
//   tributary-operator [operator.properties | operator.yaml]... [--override key=value]...
//
// Settings come from those files, TRIBUTARY_OPERATOR_* environment variables
// (TRIBUTARY_OPERATOR_HTTP_LISTENER is http.listener) and --override, in that order.
#include "common/config.h"
#include "common/listeners.h"
#include "common/log.h"
#include "common/status_server.h"

#include <boost/asio/signal_set.hpp>
#include <prometheus/gauge.h>

#include <atomic>
#include <iostream>

using namespace trib;

namespace {

const config::schema& operator_schema() {
    static const config::schema s = [] {
        config::schema s;
        s.add({.name = "http.listener", .default_value = ":8080",
               .doc = "host:port serving /metrics, /healthz and /readyz over HTTP (empty host: all interfaces)."});
        s.add({.name = "log.level", .default_value = "info", .doc = "trace, debug, info, warn, error.",
               .validate = config::one_of({"trace", "debug", "info", "warn", "error"})});
        return s;
    }();
    return s;
}

} // namespace

int main(int argc, char** argv) {
    auto args = config::parse_command_line(argc, argv, operator_schema(), "tributary-operator");
    if (auto* code = std::get_if<int>(&args)) {
        return *code;
    }
    auto opts = std::get<config::load_options>(std::move(args));
    opts.env_prefix = "TRIBUTARY_OPERATOR_";
    config::values cfg;
    config::host_port http;
    try {
        cfg = config::load(operator_schema(), opts);
        http = config::parse_host_port(cfg.get_string("http.listener"), true);
    } catch (const std::exception& e) {
        std::cerr << "tributary-operator: configuration: " << e.what() << "\n";
        return 2;
    }
    log::set_process_name("operator");
    log::set_level(cfg.get_string("log.level"));
    TLOG_INFO("tributary-operator {}: no reconciliation yet (the operator issue adds it); "
              "serving health and metrics only", config::version);

    // One gauge, so /metrics says which build runs: tributary_operator_build_info{version}=1.
    auto registry = std::make_shared<prometheus::Registry>();
    prometheus::BuildGauge()
        .Name("tributary_operator_build_info")
        .Help("Always 1; the version label names the running build.")
        .Register(*registry)
        .Add({{"version", config::version}})
        .Set(1);

    asio::io_context ctx(1);
    std::atomic<bool> stopping{false};
    status_server status(ctx, registry, [&] { return !stopping.load(); });
    try {
        auto port = status.start(http.host, http.port);
        TLOG_INFO("metrics and health on {}:{} (/metrics, /healthz, /readyz)", http.host.empty() ? "*" : http.host,
                  port);
    } catch (const std::exception& e) {
        TLOG_ERROR("start-up failed: {}", e.what());
        return 1;
    }
    asio::signal_set signals(ctx, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code, int sig) {
        TLOG_INFO("signal {}: shutting down", sig);
        stopping = true;
        status.stop();
    });
    ctx.run();
    TLOG_INFO("operator stopped");
    return 0;
}
