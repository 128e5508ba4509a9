// tributary-admin reassignments: the partition reassignments in flight (ListPartitionReassignments),
// one line each on stdout, with what each new replica still lacks: offsets (the leader's log end
// against the replica's, both from ListOffsets with replica id -2, which any replica answers with
// its own log end) and bytes (the leader's log size against the replica's, DescribeLogDirs); with
// --wait, asks again each second until none is left (or --timeout-ms passes: exit 1).
#include "admin/args.h"
#include "admin/commands.h"
#include "net/kafka_client.h"
#include "protocol/error_code.h"
#include "protocol/messages/describe_log_dirs.h"
#include "protocol/messages/list_offsets.h"
#include "protocol/messages/list_partition_reassignments.h"
#include "protocol/messages/metadata.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fmt/format.h>

#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <tuple>

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

using tp = std::pair<std::string, int32_t>;

// One replica's log as its broker reports it: log end offset and size in bytes (-1: unknown).
struct replica_log {
    int64_t end = -1;
    int64_t size = -1;
};

// What broker `b` (at `addr`) says of its replicas of `parts`: log ends (ListOffsets, replica id
// -2, latest) and sizes (DescribeLogDirs). Missing answers stay unknown: progress is a report,
// not a check.
asio::awaitable<void> read_replicas(asio::any_io_executor ex, config::host_port addr, int32_t b,
                                    const std::set<tp>& parts, std::chrono::milliseconds timeout,
                                    std::map<std::tuple<std::string, int32_t, int32_t>, replica_log>& out) {
    net::kafka_client_options co;
    co.client_id = "tributary-admin";
    co.connect_timeout = timeout;
    net::kafka_client c(ex, addr, co);
    if (auto ok = co_await c.connect(timeout); !ok) {
        c.close();
        co_return;
    }
    std::map<std::string, std::vector<int32_t>> by_topic;
    for (const auto& p : parts) {
        by_topic[p.first].push_back(p.second);
    }
    if (auto v = c.version_for(protocol::list_offsets_request::api_key, 7); v && *v >= 1) {
        protocol::list_offsets_request req;
        req.replica_id = -2;  // Kafka's debugging replica id: any replica answers with its log end
        for (const auto& [topic, ps] : by_topic) {
            auto& t = req.topics.emplace_back();
            t.name = topic;
            for (int32_t p : ps) {
                auto& rp = t.partitions.emplace_back();
                rp.partition_index = p;
                rp.timestamp = -1;
            }
        }
        if (auto r = co_await c.call<protocol::list_offsets_response>(req, *v, timeout)) {
            for (const auto& t : r->topics) {
                for (const auto& p : t.partitions) {
                    if (p.error_code == 0) {
                        out[{t.name, p.partition_index, b}].end = p.offset;
                    }
                }
            }
        }
    }
    if (auto v = c.version_for(protocol::describe_log_dirs_request::api_key, 4)) {
        protocol::describe_log_dirs_request req;
        req.topics.emplace();
        for (const auto& [topic, ps] : by_topic) {
            req.topics->push_back({topic, ps, {}});
        }
        if (auto r = co_await c.call<protocol::describe_log_dirs_response>(req, *v, timeout)) {
            for (const auto& dir : r->results) {
                for (const auto& t : dir.topics) {
                    for (const auto& p : t.partitions) {
                        if (!p.is_future_key) {
                            out[{t.name, p.partition_index, b}].size = p.partition_size;
                        }
                    }
                }
            }
        }
    }
    c.close();
}

std::string to_go(int64_t leader, int64_t replica, const char* unit) {
    if (leader < 0 || replica < 0) {
        return fmt::format("? {}", unit);
    }
    return fmt::format("{} {}", std::max<int64_t>(0, leader - replica), unit);
}

// For each partition moving, what each adding replica still lacks against its leader:
// "topic-p" -> text to append to its line.
asio::awaitable<std::map<tp, std::string>> progress_of(
    asio::any_io_executor ex, net::kafka_client& c,
    const std::vector<std::pair<tp, std::vector<int32_t>>>& moving, std::chrono::milliseconds timeout) {
    std::map<tp, std::string> out;
    auto v = c.version_for(protocol::metadata_request::api_key, 12);
    if (moving.empty() || !v || *v < 1) {
        co_return out;
    }
    protocol::metadata_request mreq;
    mreq.topics.emplace();
    std::set<std::string> topics;
    for (const auto& [p, adding] : moving) {
        topics.insert(p.first);
    }
    for (const auto& t : topics) {
        auto& mt = mreq.topics->emplace_back();
        mt.name = t;
    }
    mreq.allow_auto_topic_creation = false;
    auto md = co_await c.call<protocol::metadata_response>(mreq, *v, timeout);
    if (!md) {
        co_return out;
    }
    std::map<int32_t, config::host_port> addr;
    for (const auto& b : md->brokers) {
        addr[b.node_id] = {b.host, uint16_t(b.port)};
    }
    std::map<tp, int32_t> leader;
    for (const auto& t : md->topics) {
        for (const auto& p : t.partitions) {
            if (t.name) {
                leader[{*t.name, p.partition_index}] = p.leader_id;
            }
        }
    }
    std::map<int32_t, std::set<tp>> asks;  // broker -> partitions to ask it about
    for (const auto& [p, adding] : moving) {
        if (auto it = leader.find(p); it != leader.end() && it->second >= 0) {
            asks[it->second].insert(p);
        }
        for (int32_t r : adding) {
            asks[r].insert(p);
        }
    }
    std::map<std::tuple<std::string, int32_t, int32_t>, replica_log> logs;
    for (const auto& [b, parts] : asks) {
        if (auto a = addr.find(b); a != addr.end()) {
            co_await read_replicas(ex, a->second, b, parts, timeout, logs);
        }
    }
    for (const auto& [p, adding] : moving) {
        auto l = leader.find(p);
        const replica_log lead = l == leader.end() ? replica_log{} : logs[{p.first, p.second, l->second}];
        std::string text;
        for (int32_t r : adding) {
            const replica_log& rl = logs[{p.first, p.second, r}];
            text += fmt::format("{}{}: {}, {} to go", text.empty() ? " (" : "; ", r, to_go(lead.end, rl.end, "offsets"),
                                to_go(lead.size, rl.size, "bytes"));
        }
        if (!text.empty()) {
            out[p] = text + ")";
        }
    }
    co_return out;
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
    std::vector<std::pair<tp, std::vector<int32_t>>> moving;
    for (const auto& t : resp->topics) {
        for (const auto& p : t.partitions) {
            ++n;
            moving.push_back({{t.name, p.partition_index}, p.adding_replicas});
        }
    }
    std::map<tp, std::string> progress;
    if (print) {
        auto ex = co_await asio::this_coro::executor;
        progress = co_await progress_of(ex, c, moving, timeout);
    }
    for (const auto& t : resp->topics) {
        for (const auto& p : t.partitions) {
            if (print) {
                const auto& more = progress[{t.name, p.partition_index}];
                std::printf("%s-%d replicas [%s] adding [%s] removing [%s]%s\n", t.name.c_str(), p.partition_index,
                            ids(p.replicas).c_str(), ids(p.adding_replicas).c_str(), ids(p.removing_replicas).c_str(),
                            more.c_str());
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
