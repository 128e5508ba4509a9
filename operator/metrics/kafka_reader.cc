#include "operator/metrics/kafka_reader.h"

#include "common/listeners.h"
#include "common/log.h"
#include "common/runtime.h"
#include "protocol/error_code.h"
#include "protocol/messages/api_versions.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>

namespace trib::op::metrics {

namespace {

using clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr int64_t earliest_timestamp = -2;
constexpr int64_t latest_timestamp = -1;
constexpr int32_t max_response_bytes = 64 << 20;

// A reason as the error and, when the caller asked, its sentence.
std::error_code fail(std::string* why, errc e, std::string text) {
    if (why) {
        *why = std::move(text);
    }
    return make_error_code(e);
}

// One blocking connection to a broker. Each step starts an asynchronous operation on the
// private io_context and runs it until the operation completes or `deadline` passes; then
// the socket is closed, the operation ends aborted, and the step returns errc::timed_out.
class broker_connection {
public:
    broker_connection(asio::io_context& ctx, std::string client_id)
      : _ctx(ctx), _socket(ctx), _client_id(std::move(client_id)) {}

    // Resolves and connects; a readable reason in `why` on failure.
    std::error_code connect(const config::host_port& to, clock::time_point deadline, std::string& why) {
        tcp::resolver resolver(_ctx);
        tcp::resolver::results_type endpoints;
        auto ec = run(deadline, [&](auto done) {
            resolver.async_resolve(to.host, std::to_string(to.port),
                                   [&endpoints, done](error_code e, tcp::resolver::results_type r) {
                                       endpoints = std::move(r);
                                       done(e);
                                   });
        }, [&] { resolver.cancel(); });
        if (!ec) {
            ec = run(deadline, [&](auto done) {
                asio::async_connect(_socket, endpoints, [done](error_code e, const tcp::endpoint&) { done(e); });
            }, [&] { close(); });
        }
        if (ec) {
            why = fmt::format("{}: {}", config::format_host_port(to.host, to.port), reason(ec));
            close();
            return ec == asio::error::timed_out ? make_error_code(errc::timed_out) : make_error_code(errc::unreachable);
        }
        error_code ignored;
        _socket.set_option(tcp::no_delay(true), ignored);
        return {};
    }

    // Sends `req` at `version` and decodes the answer into `resp`.
    template<typename Req, typename Resp>
    std::error_code call(const Req& req, int16_t version, Resp& resp, clock::time_point deadline, std::string& why) {
        protocol::writer w;
        w.write_int32(0);
        protocol::request_header h{Req::api_key, version, _next_correlation++, _client_id, {}};
        protocol::encode_request_header(w, h);
        req.encode(w, version);
        bytes frame = w.take();
        store_be32(frame.data(), uint32_t(frame.size() - 4));
        bytes reply;
        if (auto ec = exchange(frame, reply, deadline)) {
            why = fmt::format("{} v{}: {}", protocol::find_api(Req::api_key)->name, version, reason(ec));
            close();
            return ec == asio::error::timed_out ? make_error_code(errc::timed_out) : make_error_code(errc::unreachable);
        }
        if (auto ec = detail::decode_response(reply, version, h.correlation_id, resp)) {
            why = fmt::format("{} v{}: the response ({} bytes) does not decode", protocol::find_api(Req::api_key)->name,
                              version, reply.size());
            close();
            return ec;
        }
        return {};
    }

    void close() {
        error_code ignored;
        _socket.close(ignored);
    }

private:
    static std::string reason(error_code ec) {
        return ec == asio::error::timed_out ? "timed out" : ec.message();
    }

    // Runs start(done) on the io_context until done(ec) is called or `deadline` passes; in
    // the latter case cancel() aborts the operation, which then completes before we return.
    template<typename Start, typename Cancel>
    error_code run(clock::time_point deadline, Start start, Cancel cancel) {
        std::optional<error_code> outcome;
        start([&outcome](error_code e) { outcome = e; });
        _ctx.restart();
        _ctx.run_until(deadline);
        if (outcome) {
            return *outcome;
        }
        cancel();
        _ctx.restart();
        _ctx.run();
        return asio::error::timed_out;
    }

    error_code exchange(const bytes& request, bytes& response, clock::time_point deadline) {
        auto close_socket = [&] { close(); };
        auto ec = run(deadline, [&](auto done) {
            asio::async_write(_socket, asio::buffer(request), [done](error_code e, size_t) { done(e); });
        }, close_socket);
        uint8_t size_buf[4];
        if (!ec) {
            ec = run(deadline, [&](auto done) {
                asio::async_read(_socket, asio::buffer(size_buf), [done](error_code e, size_t) { done(e); });
            }, close_socket);
        }
        if (ec) {
            return ec;
        }
        auto size = int32_t(load_be32(size_buf));
        if (size < 4 || size > max_response_bytes) {
            return asio::error::message_size;
        }
        response.resize(size_t(size));
        return run(deadline, [&](auto done) {
            asio::async_read(_socket, asio::buffer(response), [done](error_code e, size_t) { done(e); });
        }, close_socket);
    }

    asio::io_context& _ctx;
    tcp::socket _socket;
    std::string _client_id;
    int32_t _next_correlation = 1;
};

// The version to use of an API: the highest both we and the broker speak, or -1 when that
// is below `at_least`.
int16_t pick_version(const protocol::api_versions_response& av, int16_t key, int16_t ours_max, int16_t at_least) {
    for (const auto& k : av.api_keys) {
        if (k.api_key == key) {
            auto v = std::min(k.max_version, ours_max);
            return v >= std::max(k.min_version, at_least) ? v : int16_t(-1);
        }
    }
    return -1;
}

std::string error_name(int16_t code) {
    return std::string(protocol::error_code_name(protocol::error_code(code)));
}

// What the bootstrap connection learned: the versions to use and the Metadata answer.
struct bootstrap_answer {
    int16_t list_offsets_version = -1;
    protocol::metadata_response metadata;
};

// ApiVersions v0 (any broker answers it) by `hello_deadline`, then Metadata by `deadline`,
// on one connection.
std::error_code ask_bootstrap(broker_connection& c, clock::time_point hello_deadline, clock::time_point deadline,
                              bootstrap_answer& out, std::string& why) {
    protocol::api_versions_response av;
    if (auto ec = c.call(protocol::api_versions_request{}, 0, av, hello_deadline, why)) {
        return ec;
    }
    if (av.error_code != 0) {
        why = "ApiVersions: " + error_name(av.error_code);
        return make_error_code(errc::broker_error);
    }
    // Metadata v1 is the first with the controller id and a null topic list ("all topics");
    // ListOffsets v1 the first with a single offset per partition.
    auto md_version = pick_version(av, protocol::metadata_request::api_key, protocol::metadata_request::max_version, 1);
    out.list_offsets_version =
        pick_version(av, protocol::list_offsets_request::api_key, protocol::list_offsets_request::max_version, 1);
    if (md_version < 0 || out.list_offsets_version < 0) {
        why = fmt::format("the broker does not speak {}", md_version < 0 && out.list_offsets_version < 0
                              ? "Metadata v1+ nor ListOffsets v1+"
                              : md_version < 0 ? "Metadata v1+" : "ListOffsets v1+");
        return make_error_code(errc::unsupported);
    }
    protocol::metadata_request req;
    req.topics = std::nullopt;  // all topics
    req.allow_auto_topic_creation = false;
    return c.call(req, md_version, out.metadata, deadline, why);
}

// The ListOffsets request for `partitions` (indexes into view.partitions) at `timestamp`.
protocol::list_offsets_request offsets_request(const cluster_view& view, const std::vector<size_t>& partitions,
                                               int64_t timestamp) {
    protocol::list_offsets_request req;
    req.replica_id = -1;  // a client, not a follower
    for (size_t i : partitions) {
        const auto& p = view.partitions[i];
        if (req.topics.empty() || req.topics.back().name != p.topic) {
            req.topics.push_back({.name = p.topic, .partitions = {}, .unknown_tags = {}});
        }
        protocol::list_offsets_request::list_offsets_partition lp;
        lp.partition_index = p.partition;
        lp.timestamp = timestamp;
        req.topics.back().partitions.push_back(lp);
    }
    return req;
}

// Both ListOffsets of one leader; failures become lines in view.problems.
void read_offsets(asio::io_context& ctx, const read_options& o, clock::time_point deadline, int16_t version,
                  const broker_info& leader, const std::vector<size_t>& partitions, cluster_view& view) {
    if (leader.port <= 0 || leader.port > 65535) {
        view.problems.push_back(fmt::format("broker {} advertises port {}", leader.id, leader.port));
        return;
    }
    broker_connection c(ctx, o.client_id);
    std::string why;
    auto to = config::host_port{leader.host, uint16_t(leader.port)};
    if (c.connect(to, std::min(deadline, clock::now() + o.connect_timeout), why)) {
        view.problems.push_back(fmt::format("broker {}: {}", leader.id, why));
        return;
    }
    for (bool oldest : {true, false}) {
        protocol::list_offsets_response resp;
        auto req = offsets_request(view, partitions, oldest ? earliest_timestamp : latest_timestamp);
        if (c.call(req, version, resp, deadline, why)) {
            view.problems.push_back(fmt::format("broker {}: {}", leader.id, why));
            return;
        }
        detail::apply_offsets(resp, oldest, view);
    }
}

} // namespace

namespace detail {

cluster_view view_from_metadata(const protocol::metadata_response& md) {
    cluster_view v;
    v.cluster_id = md.cluster_id.value_or("");
    v.controller_id = md.controller_id;
    for (const auto& b : md.brokers) {
        v.brokers.push_back({b.node_id, b.host, b.port, b.rack.value_or("")});
    }
    std::sort(v.brokers.begin(), v.brokers.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const auto& t : md.topics) {
        auto name = t.name.value_or("");
        if (t.error_code != 0) {
            v.problems.push_back(fmt::format("topic {}: {}", name, error_name(t.error_code)));
            continue;
        }
        for (const auto& p : t.partitions) {
            if (p.error_code != 0 && p.error_code != protocol::to_int(protocol::error_code::leader_not_available)) {
                v.problems.push_back(fmt::format("{}[{}]: {}", name, p.partition_index, error_name(p.error_code)));
            }
            v.partitions.push_back({.topic = name, .partition = p.partition_index, .leader = p.leader_id,
                                    .replicas = p.replica_nodes, .isr = p.isr_nodes});
        }
    }
    std::sort(v.partitions.begin(), v.partitions.end(),
              [](const auto& a, const auto& b) { return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition); });
    return v;
}

void apply_offsets(const protocol::list_offsets_response& resp, bool oldest, cluster_view& view) {
    for (const auto& t : resp.topics) {
        for (const auto& p : t.partitions) {
            auto it = std::lower_bound(view.partitions.begin(), view.partitions.end(), std::tie(t.name, p.partition_index),
                                       [](const partition_info& a, const auto& key) {
                                           return std::tie(a.topic, a.partition) < key;
                                       });
            if (it == view.partitions.end() || it->topic != t.name || it->partition != p.partition_index) {
                continue;  // not asked for
            }
            if (p.error_code != 0) {
                view.problems.push_back(fmt::format("{}[{}]: ListOffsets {}: {}", t.name, p.partition_index,
                                                    oldest ? "earliest" : "latest", error_name(p.error_code)));
                continue;
            }
            (oldest ? it->oldest_offset : it->current_offset) = p.offset;
        }
    }
}

} // namespace detail

result<cluster_view> read_cluster(std::string_view bootstrap, const read_options& o, std::string* why) {
    const auto deadline = clock::now() + o.timeout;
    std::vector<config::host_port> addresses;
    try {
        for (size_t start = 0; start <= bootstrap.size();) {
            auto end = std::min(bootstrap.find(',', start), bootstrap.size());
            auto item = bootstrap.substr(start, end - start);
            // Spaces around entries are allowed, as Kafka's clients allow them.
            item.remove_prefix(std::min(item.find_first_not_of(" \t"), item.size()));
            item.remove_suffix(item.size() - std::min(item.find_last_not_of(" \t") + 1, item.size()));
            if (!item.empty()) {
                addresses.push_back(config::parse_host_port(item));
            }
            start = end + 1;
        }
    } catch (const std::exception& e) {
        return fail(why, errc::bad_bootstrap, fmt::format("bad bootstrap address list \"{}\": {}", bootstrap, e.what()));
    }
    if (addresses.empty()) {
        return fail(why, errc::bad_bootstrap, "empty bootstrap address list");
    }

    asio::io_context ctx(1);
    bootstrap_answer answer;
    std::vector<std::string> failures;
    bool answered = false;
    for (const auto& a : addresses) {
        if (clock::now() >= deadline) {
            break;
        }
        broker_connection c(ctx, o.client_id);
        std::string reason;
        const auto attempt_deadline = std::min(deadline, clock::now() + o.connect_timeout);
        auto ec = c.connect(a, attempt_deadline, reason);
        if (!ec && (ec = ask_bootstrap(c, attempt_deadline, deadline, answer, reason))) {
            reason = config::format_host_port(a.host, a.port) + ": " + reason;
        }
        if (!ec) {
            answered = true;
            break;
        }
        failures.push_back(std::move(reason));
    }
    if (!answered) {
        std::string joined;
        for (const auto& f : failures) {
            joined += (joined.empty() ? "" : "; ") + f;
        }
        if (failures.size() < addresses.size()) {
            joined += fmt::format("{}{} of {} addresses not tried within {} ms", joined.empty() ? "" : "; ",
                                  addresses.size() - failures.size(), addresses.size(), o.timeout.count());
        }
        return fail(why, errc::unreachable, "no bootstrap broker answered: " + joined);
    }

    cluster_view view = detail::view_from_metadata(answer.metadata);
    // Partitions grouped by leader (indexes into view.partitions, ascending: topics stay
    // together in each request).
    std::map<int32_t, std::vector<size_t>> by_leader;
    for (size_t i = 0; i < view.partitions.size(); ++i) {
        if (view.partitions[i].leader >= 0) {
            by_leader[view.partitions[i].leader].push_back(i);
        }
    }
    for (const auto& [leader, partitions] : by_leader) {
        auto b = std::find_if(view.brokers.begin(), view.brokers.end(), [&](const auto& x) { return x.id == leader; });
        if (b == view.brokers.end()) {
            view.problems.push_back(fmt::format("broker {} leads {} partitions but is not in Metadata", leader,
                                                partitions.size()));
            continue;
        }
        read_offsets(ctx, o, deadline, answer.list_offsets_version, *b, partitions, view);
    }
    for (const auto& p : view.problems) {
        TLOG_DEBUG("cluster {} via {}: {}", view.cluster_id, bootstrap, p);
    }
    return view;
}

} // namespace trib::op::metrics
