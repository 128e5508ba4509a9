// tributary-admin reassignments: the partition reassignments in flight (ListPartitionReassignments),
// one line each on stdout; with --wait, asks again each second until none is left (or
// --timeout-ms passes: exit 1).
#include "admin/args.h"
#include "admin/commands.h"
#include "net/kafka_client.h"
#include "protocol/error_code.h"
#include "protocol/messages/list_partition_reassignments.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <cstdio>

namespace trib::admin {

namespace {

struct reassignments_options {
    config::host_port bootstrap;
    bool wait = false;
    std::chrono::milliseconds timeout{30000};
};

std::string ids(const std::vector<int32_t>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) {
        s += fmt::format("{}{}", i ? "," : "", v[i]);
    }
    return s;
}

// Asks once; the number in flight, or -1 after reporting why not.
asio::awaitable<int> list_once(net::kafka_client& c, std::chrono::milliseconds timeout, bool print) {
    if (auto ok = co_await c.connect(timeout); !ok) {
        report_failure("reassignments", fmt::format("{} ({})", ok.error().message(), c.last_error()));
        co_return -1;
    }
    auto v = c.version_for(protocol::list_partition_reassignments_request::api_key, 0);
    if (!v) {
        report_failure("reassignments", "the broker does not serve ListPartitionReassignments");
        co_return -1;
    }
    protocol::list_partition_reassignments_request req;
    req.timeout_ms = int32_t(timeout.count());
    auto resp = co_await c.call<protocol::list_partition_reassignments_response>(req, *v, timeout);
    if (!resp) {
        report_failure("reassignments", "ListPartitionReassignments: " + resp.error().message());
        co_return -1;
    }
    if (resp->error_code != 0) {
        report_failure("reassignments", fmt::format("ListPartitionReassignments: {}: {}",
                                                    protocol::error_code_name(protocol::error_code(resp->error_code)),
                                                    resp->error_message.value_or("")));
        co_return -1;
    }
    int n = 0;
    for (const auto& t : resp->topics) {
        for (const auto& p : t.partitions) {
            ++n;
            if (print) {
                std::printf("%s-%d replicas [%s] adding [%s] removing [%s]\n", t.name.c_str(), p.partition_index,
                            ids(p.replicas).c_str(), ids(p.adding_replicas).c_str(), ids(p.removing_replicas).c_str());
            }
        }
    }
    std::fflush(stdout);
    co_return n;
}

asio::awaitable<int> reassignments_async(asio::any_io_executor ex, const reassignments_options& o) {
    net::kafka_client_options co;
    co.client_id = "tributary-admin";
    co.connect_timeout = o.timeout;
    net::kafka_client c(ex, o.bootstrap, co);
    const auto deadline = std::chrono::steady_clock::now() + o.timeout;
    asio::steady_timer pause(ex);
    bool first = true;
    for (;;) {
        const int n = co_await list_once(c, o.timeout, !o.wait || first);
        first = false;
        if (n < 0) {
            c.close();
            co_return 1;
        }
        if (!o.wait || n == 0) {
            std::fprintf(stderr, "%d reassignments in flight\n", n);
            c.close();
            co_return 0;
        }
        if (std::chrono::steady_clock::now() + std::chrono::seconds(1) > deadline) {
            c.close();
            co_return report_failure("reassignments", fmt::format("{} still in flight after --timeout-ms", n));
        }
        pause.expires_after(std::chrono::seconds(1));
        boost::system::error_code ec;
        co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace

int reassignments(const std::vector<std::string>& words) {
    reassignments_options o;
    try {
        auto a = parsed_args::parse(words, {.with_value = {"bootstrap-server", "timeout-ms"}, .flags = {"wait"}});
        o.bootstrap = config::parse_host_port(a.required("bootstrap-server"));
        o.wait = a.flag("wait");
        if (auto v = a.value("timeout-ms")) {
            auto n = parse_integer(*v, "--timeout-ms");
            if (n < 1) {
                throw std::invalid_argument("--timeout-ms must be positive");
            }
            o.timeout = std::chrono::milliseconds(n);
        }
    } catch (const std::exception& e) {
        return report_failure("reassignments", e.what(), 2);
    }
    return run_on_io_context([&o](asio::any_io_executor ex) { return reassignments_async(ex, o); });
}

} // namespace trib::admin
