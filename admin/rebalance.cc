// tributary-admin rebalance: plans replica moves with coordinator/client/balancer.h from what
// the cluster reports, prints the plan as kafka-reassign-partitions JSON (stdout or --output)
// with a summary for people on stderr, and with --execute starts it (AlterPartitionReassignments).
#include "admin/args.h"
#include "admin/cluster.h"
#include "admin/commands.h"
#include "admin/plan_json.h"
#include "protocol/error_code.h"
#include "protocol/messages/alter_partition_reassignments.h"

#include <fmt/format.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

namespace trib::admin {

namespace balancer = coordinator::balancer;

namespace {

struct rebalance_options {
    config::host_port bootstrap;
    selection select;
    balancer::options plan;
    std::optional<std::string> output;
    std::optional<std::string> rollback_output;
    bool execute = false;
    std::chrono::milliseconds timeout{30000};
};

rebalance_options parse(const std::vector<std::string>& words) {
    option_spec spec{.with_value = {"bootstrap-server", "leaving", "topics", "tolerance", "leader-tolerance",
                                    "bytes-tolerance", "max-moves", "output", "rollback-output", "timeout-ms"},
                     .flags = {"execute"}};
    auto a = parsed_args::parse(words, spec);
    rebalance_options o;
    o.bootstrap = config::parse_host_port(a.required("bootstrap-server"));
    if (auto v = a.value("leaving")) {
        o.select.leaving = parse_id_list(*v, "--leaving");
    }
    if (auto v = a.value("topics")) {
        o.select.topics = parse_name_list(*v);
    }
    auto count = [&](const char* name, int64_t lo, int64_t hi) -> std::optional<int64_t> {
        auto v = a.value(name);
        if (!v) {
            return std::nullopt;
        }
        auto n = parse_integer(*v, std::string("--") + name);
        if (n < lo || n > hi) {
            throw std::invalid_argument(fmt::format("--{}: {} is not within [{}, {}]", name, n, lo, hi));
        }
        return n;
    };
    if (auto n = count("tolerance", 0, 1 << 20)) {
        o.plan.replica_tolerance = int32_t(*n);
        o.plan.leader_tolerance = int32_t(*n);
    }
    if (auto n = count("leader-tolerance", 0, 1 << 20)) {
        o.plan.leader_tolerance = int32_t(*n);
    }
    if (auto v = a.value("bytes-tolerance")) {
        o.plan.bytes_tolerance = parse_decimal(*v, "--bytes-tolerance");
    }
    if (auto n = count("max-moves", 0, INT32_MAX)) {
        o.plan.max_moves = int32_t(*n);
    }
    if (auto n = count("timeout-ms", 1, 3600 * 1000)) {
        o.timeout = std::chrono::milliseconds(*n);
    }
    o.output = a.value("output");
    o.rollback_output = a.value("rollback-output");
    o.execute = a.flag("execute");
    return o;
}

bool write_file(const std::string& path, const std::string& text, std::string& why) {
    std::ofstream f(path, std::ios::trunc);
    f << text;
    f.close();
    if (!f) {
        why = fmt::format("cannot write {}", path);
        return false;
    }
    return true;
}

// Sends the plan; prints one line per partition the controller refused. 0 when all started.
asio::awaitable<int> execute(net::kafka_client& c, const balancer::plan& p, std::chrono::milliseconds timeout) {
    const auto req = balancer::reassignment_request(p.changes, timeout);
    auto v = c.version_for(protocol::alter_partition_reassignments_request::api_key, 0);
    if (!v) {
        co_return report_failure("rebalance", "the broker does not serve AlterPartitionReassignments");
    }
    auto resp = co_await c.call<protocol::alter_partition_reassignments_response>(req, *v, timeout + std::chrono::seconds(5));
    if (!resp) {
        co_return report_failure("rebalance", "AlterPartitionReassignments: " + resp.error().message());
    }
    if (resp->error_code != 0) {
        co_return report_failure("rebalance",
                                 fmt::format("AlterPartitionReassignments: {}: {}",
                                             protocol::error_code_name(protocol::error_code(resp->error_code)),
                                             resp->error_message.value_or("")));
    }
    int refused = 0, started = 0;
    for (const auto& t : resp->responses) {
        for (const auto& part : t.partitions) {
            if (part.error_code == 0) {
                ++started;
                continue;
            }
            ++refused;
            std::fprintf(stderr, "%s-%d: %s: %s\n", t.name.c_str(), part.partition_index,
                         std::string(protocol::error_code_name(protocol::error_code(part.error_code))).c_str(),
                         part.error_message.value_or("").c_str());
        }
    }
    std::fprintf(stderr, "reassignment started for %d partitions, refused for %d\n", started, refused);
    co_return refused == 0 ? 0 : 1;
}

asio::awaitable<int> rebalance_async(asio::any_io_executor ex, const rebalance_options& o) {
    net::kafka_client_options co;
    co.client_id = "tributary-admin";
    co.connect_timeout = o.timeout;
    net::kafka_client c(ex, o.bootstrap, co);
    std::string why;
    auto view = co_await read_cluster(ex, c, o.timeout, why);
    if (!view) {
        co_return report_failure("rebalance", why);
    }
    for (const auto& w : view->warnings) {
        std::fprintf(stderr, "warning: %s\n", w.c_str());
    }
    auto in = balancer_input(*view, o.select, why);
    if (!in) {
        co_return report_failure("rebalance", why, 2);
    }
    in->opts = o.plan;
    auto p = balancer::plan_moves(*in, &why);
    if (!p) {
        co_return report_failure("rebalance", "no plan: " + why);
    }
    const auto plan_text = reassignment_json(*p);
    if (o.output) {
        if (!write_file(*o.output, plan_text, why)) {
            co_return report_failure("rebalance", why);
        }
    } else {
        std::fputs(plan_text.c_str(), stdout);
        std::fflush(stdout);
    }
    if (o.rollback_output && !write_file(*o.rollback_output, rollback_json(*p), why)) {
        co_return report_failure("rebalance", why);
    }
    std::fputs(summary_text(*p).c_str(), stderr);
    if (!o.execute || p->changes.empty()) {
        c.close();
        co_return 0;
    }
    const int rc = co_await execute(c, *p, o.timeout);
    c.close();
    co_return rc;
}

} // namespace

int rebalance(const std::vector<std::string>& words) {
    rebalance_options o;
    try {
        o = parse(words);
    } catch (const std::exception& e) {
        return report_failure("rebalance", e.what(), 2);
    }
    return run_on_io_context([&o](asio::any_io_executor ex) { return rebalance_async(ex, o); });
}

} // namespace trib::admin
