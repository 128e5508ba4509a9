#include "admin/cluster.h"

#include <fmt/format.h>

namespace trib::admin {

namespace balancer = coordinator::balancer;

namespace {

// Adds `broker`'s replica sizes to `view.sizes` (largest wins); false with `why` on failure.
asio::awaitable<bool> read_sizes(asio::any_io_executor ex, const protocol::metadata_response::metadata_response_broker& b,
                                 std::chrono::milliseconds timeout, cluster_view& view, std::string& why) {
    net::kafka_client_options o;
    o.client_id = "tributary-admin";
    o.connect_timeout = timeout;
    net::kafka_client c(ex, {b.host, uint16_t(b.port)}, o);
    if (auto ok = co_await c.connect(timeout); !ok) {
        why = fmt::format("{} ({})", ok.error().message(), c.last_error());
        co_return false;
    }
    auto v = c.version_for(protocol::describe_log_dirs_request::api_key, protocol::describe_log_dirs_request::max_version);
    if (!v) {
        why = "no DescribeLogDirs";
        co_return false;
    }
    const auto req = balancer::all_log_dirs_request();
    auto resp = co_await c.call<protocol::describe_log_dirs_response>(req, *v, timeout);
    c.close();
    if (!resp) {
        why = "DescribeLogDirs: " + resp.error().message();
        co_return false;
    }
    co_return balancer::add_sizes(view, *resp, why);
}

} // namespace

asio::awaitable<result<cluster_view>> read_cluster(asio::any_io_executor ex, net::kafka_client& bootstrap,
                                                   std::chrono::milliseconds timeout, std::string& why) {
    if (auto ok = co_await bootstrap.connect(timeout); !ok) {
        why = fmt::format("cannot reach {}: {} ({})", config::format_host_port(bootstrap.target().host, bootstrap.target().port),
                          ok.error().message(), bootstrap.last_error());
        co_return errc::unreachable;
    }
    // v1 is the first with racks and a null topic list meaning all topics.
    auto v = bootstrap.version_for(protocol::metadata_request::api_key, protocol::metadata_request::max_version);
    if (!v || *v < 1) {
        why = "the broker serves no Metadata version with racks (v1+)";
        co_return errc::broker_error;
    }
    const auto req = balancer::all_topics_metadata_request();
    auto md = co_await bootstrap.call<protocol::metadata_response>(req, *v, timeout);
    if (!md) {
        why = "Metadata: " + md.error().message();
        co_return errc::unreachable;
    }
    cluster_view view;
    balancer::set_metadata(view, std::move(*md));
    for (const auto& b : view.metadata.brokers) {
        std::string reason;
        if (!co_await read_sizes(ex, b, timeout, view, reason)) {
            view.warnings.push_back(fmt::format("sizes from broker {} unknown: {}", b.node_id, reason));
        }
    }
    co_return view;
}

} // namespace trib::admin
