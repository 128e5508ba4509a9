// tributary-admin drain: moves every replica and leadership off brokers (DrainBrokers, the
// controller's drain, coordinator/README.md), undrains them, or describes what drained brokers
// still hold; with --wait, reports progress each second until the brokers named are empty.
// tributary-admin unregister: removes a stopped, empty broker's registration (UnregisterBroker).
#include "admin/args.h"
#include "admin/commands.h"
#include "net/kafka_client.h"
#include "protocol/error_code.h"
#include "protocol/messages/drain_brokers.h"
#include "protocol/messages/unregister_broker.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace trib::admin {

namespace {

enum class drain_mode : int8_t { drain = 0, undrain = 1, describe = 2 };

struct drain_options {
    config::host_port bootstrap;
    std::vector<int32_t> brokers;
    drain_mode mode = drain_mode::drain;
    bool wait = false;
    std::chrono::milliseconds timeout{30000};
};

using drain_state = protocol::drain_brokers_response::drain_state;

// One line per broker on stdout, then one per partition that cannot move now.
void print_states(const std::vector<drain_state>& states) {
    for (const auto& s : states) {
        std::printf("broker %d: %s, %d replicas, %d leaderships, %d moves in flight%s\n", s.broker_id,
                    s.drained ? "drained" : "not drained", s.replicas, s.leaders, s.moves_in_flight,
                    s.drained && s.replicas == 0 && s.leaders == 0 ? ", empty" : "");
        for (const auto& why : s.stuck) {
            std::printf("  cannot move now: %s\n", why.c_str());
        }
    }
    std::fflush(stdout);
}

asio::awaitable<std::optional<protocol::drain_brokers_response>> ask(net::kafka_client& c, const drain_options& o,
                                                                     drain_mode mode) {
    if (auto ok = co_await c.connect(o.timeout); !ok) {
        report_failure("drain", fmt::format("{} ({})", ok.error().message(), c.last_error()));
        co_return std::nullopt;
    }
    auto v = c.version_for(protocol::drain_brokers_request::api_key, 0);
    if (!v) {
        report_failure("drain", "the broker does not serve DrainBrokers (not a Tributary broker?)");
        co_return std::nullopt;
    }
    protocol::drain_brokers_request req;
    req.broker_ids = o.brokers;
    req.mode = int8_t(mode);
    auto resp = co_await c.call<protocol::drain_brokers_response>(req, *v, o.timeout);
    if (!resp) {
        report_failure("drain", "DrainBrokers: " + resp.error().message());
        co_return std::nullopt;
    }
    if (resp->error_code != 0) {
        report_failure("drain", fmt::format("{}: {}", protocol::error_code_name(protocol::error_code(resp->error_code)),
                                            resp->error_message.value_or("")));
        co_return std::nullopt;
    }
    co_return std::move(*resp);
}

// Whether every broker named is empty (for --wait); all drained ones when none is named.
bool empty(const protocol::drain_brokers_response& r, const std::vector<int32_t>& named) {
    for (const auto& s : r.brokers) {
        const bool asked = named.empty() || std::find(named.begin(), named.end(), s.broker_id) != named.end();
        if (asked && (s.replicas > 0 || s.leaders > 0)) {
            return false;
        }
    }
    return true;
}

asio::awaitable<int> drain_async(asio::any_io_executor ex, const drain_options& o) {
    net::kafka_client_options co;
    co.client_id = "tributary-admin";
    co.connect_timeout = o.timeout;
    net::kafka_client c(ex, o.bootstrap, co);
    auto first = co_await ask(c, o, o.mode);
    if (!first) {
        c.close();
        co_return 1;
    }
    print_states(first->brokers);
    if (!o.wait || o.mode == drain_mode::undrain || empty(*first, o.brokers)) {
        c.close();
        co_return 0;
    }
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    asio::steady_timer pause(ex);
    for (;;) {
        if (std::chrono::steady_clock::now() + std::chrono::seconds(1) > deadline) {
            c.close();
            co_return report_failure("drain", "the brokers still hold replicas after --timeout-ms");
        }
        pause.expires_after(std::chrono::seconds(1));
        boost::system::error_code ec;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        auto now = co_await ask(c, o, drain_mode::describe);
        if (!now) {
            continue;  // a coordinator failover: the broker answers again once it knows the next one
        }
        print_states(now->brokers);
        if (empty(*now, o.brokers)) {
            c.close();
            co_return 0;
        }
    }
}

asio::awaitable<int> unregister_async(asio::any_io_executor ex, config::host_port bootstrap, int32_t broker,
                                      std::chrono::milliseconds timeout) {
    net::kafka_client_options co;
    co.client_id = "tributary-admin";
    co.connect_timeout = timeout;
    net::kafka_client c(ex, bootstrap, co);
    int rc = 0;
    if (auto ok = co_await c.connect(timeout); !ok) {
        rc = report_failure("unregister", fmt::format("{} ({})", ok.error().message(), c.last_error()));
    } else if (auto v = c.version_for(protocol::unregister_broker_request::api_key, 0); !v) {
        rc = report_failure("unregister", "the broker does not serve UnregisterBroker");
    } else {
        protocol::unregister_broker_request req;
        req.broker_id = broker;
        auto resp = co_await c.call<protocol::unregister_broker_response>(req, *v, timeout);
        if (!resp) {
            rc = report_failure("unregister", "UnregisterBroker: " + resp.error().message());
        } else if (resp->error_code != 0) {
            rc = report_failure("unregister",
                                fmt::format("{}: {}", protocol::error_code_name(protocol::error_code(resp->error_code)),
                                            resp->error_message.value_or("")));
        } else {
            std::printf("broker %d unregistered\n", broker);
        }
    }
    c.close();
    co_return rc;
}

std::chrono::milliseconds timeout_of(const parsed_args& a, std::chrono::milliseconds fallback) {
    if (auto v = a.value("timeout-ms")) {
        auto n = parse_integer(*v, "--timeout-ms");
        if (n < 1) {
            throw std::invalid_argument("--timeout-ms must be positive");
        }
        return std::chrono::milliseconds(n);
    }
    return fallback;
}

} // namespace

int drain(const std::vector<std::string>& words) {
    drain_options o;
    try {
        auto a = parsed_args::parse(words, {.with_value = {"bootstrap-server", "brokers", "timeout-ms"},
                                            .flags = {"undrain", "describe", "wait"}});
        o.bootstrap = config::parse_host_port(a.required("bootstrap-server"));
        if (a.flag("undrain") && a.flag("describe")) {
            throw std::invalid_argument("--undrain and --describe exclude each other");
        }
        o.mode = a.flag("undrain") ? drain_mode::undrain : a.flag("describe") ? drain_mode::describe : drain_mode::drain;
        if (auto b = a.value("brokers")) {
            o.brokers = parse_id_list(*b, "--brokers");
        } else if (o.mode != drain_mode::describe) {
            throw std::invalid_argument("--brokers is required to drain or undrain");
        }
        o.wait = a.flag("wait");
        // With --wait the whole drain must fit: a larger default.
        o.timeout = timeout_of(a, o.wait ? std::chrono::milliseconds(3'600'000) : o.timeout);
    } catch (const std::exception& e) {
        return report_failure("drain", e.what(), 2);
    }
    return run_on_io_context([&o](asio::any_io_executor ex) { return drain_async(ex, o); });
}

int unregister(const std::vector<std::string>& words) {
    config::host_port bootstrap;
    int32_t broker = -1;
    std::chrono::milliseconds timeout{30000};
    try {
        auto a = parsed_args::parse(words, {.with_value = {"bootstrap-server", "broker", "timeout-ms"}, .flags = {}});
        bootstrap = config::parse_host_port(a.required("bootstrap-server"));
        broker = int32_t(parse_integer(a.required("broker"), "--broker"));
        timeout = timeout_of(a, timeout);
    } catch (const std::exception& e) {
        return report_failure("unregister", e.what(), 2);
    }
    return run_on_io_context([&](asio::any_io_executor ex) { return unregister_async(ex, bootstrap, broker, timeout); });
}

} // namespace trib::admin
