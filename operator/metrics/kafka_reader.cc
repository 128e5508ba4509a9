#include "operator/metrics/kafka_reader.h"

#include "common/listeners.h"
#include "common/log.h"
#include "common/runtime.h"
#include "net/tls.h"
#include "protocol/error_code.h"
#include "protocol/messages/api_versions.h"
#include "protocol/next_record_fetch.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
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
// With a TLS source (read_options::tls) the connection is TLS, the handshake within the
// connect deadline.
class broker_connection {
public:
    broker_connection(asio::io_context& ctx, std::string client_id, std::shared_ptr<net::tls_source> tls)
      : _ctx(ctx), _socket(ctx), _client_id(std::move(client_id)), _tls(std::move(tls)) {}

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
        std::string step;
        if (!ec && _tls) {
            step = "TLS handshake: ";
            _tls_context = _tls->fresh(clock::now());
            _stream = std::make_unique<asio::ssl::stream<tcp::socket&>>(_socket, *_tls_context);
            if (_tls->settings().verify_peer_host) {
                _stream->set_verify_callback(asio::ssl::host_name_verification(to.host));
            }
            ec = run(deadline, [&](auto done) {
                _stream->async_handshake(asio::ssl::stream_base::client, [done](error_code e) { done(e); });
            }, [&] { close(); });
            if (ec && ec != asio::error::timed_out) {
                why = fmt::format("{}: {}{}", config::format_host_port(to.host, to.port), step,
                                  net::tls_failure_reason(ec, _stream->native_handle()));
                close();
                return make_error_code(errc::unreachable);
            }
        }
        if (ec) {
            why = fmt::format("{}: {}{}", config::format_host_port(to.host, to.port), step, reason(ec));
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
            if (_stream) {
                asio::async_write(*_stream, asio::buffer(request), [done](error_code e, size_t) { done(e); });
            } else {
                asio::async_write(_socket, asio::buffer(request), [done](error_code e, size_t) { done(e); });
            }
        }, close_socket);
        uint8_t size_buf[4];
        if (!ec) {
            ec = run(deadline, [&](auto done) { read_exactly(asio::buffer(size_buf), done); }, close_socket);
        }
        if (ec) {
            return ec;
        }
        auto size = int32_t(load_be32(size_buf));
        if (size < 4 || size > max_response_bytes) {
            return asio::error::message_size;
        }
        response.resize(size_t(size));
        return run(deadline, [&](auto done) { read_exactly(asio::buffer(response), done); }, close_socket);
    }

    template<typename Done>
    void read_exactly(asio::mutable_buffer into, Done done) {
        if (_stream) {
            asio::async_read(*_stream, into, [done](error_code e, size_t) { done(e); });
        } else {
            asio::async_read(_socket, into, [done](error_code e, size_t) { done(e); });
        }
    }

    asio::io_context& _ctx;
    tcp::socket _socket;
    std::string _client_id;
    std::shared_ptr<net::tls_source> _tls;
    std::shared_ptr<asio::ssl::context> _tls_context;  // outlives the stream made on it
    std::unique_ptr<asio::ssl::stream<tcp::socket&>> _stream;
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
    // -1 each when the broker does not speak it (then groups are not read).
    int16_t list_groups_version = -1;
    int16_t describe_groups_version = -1;
    int16_t offset_fetch_version = -1;
    int16_t fetch_version = -1;  // -1: no lag in seconds
    int16_t consumer_group_describe_version = -1;  // -1: KIP-848 groups' members unknown
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
    out.list_groups_version =
        pick_version(av, protocol::list_groups_request::api_key, protocol::list_groups_request::max_version, 0);
    out.describe_groups_version =
        pick_version(av, protocol::describe_groups_request::api_key, protocol::describe_groups_request::max_version, 0);
    // OffsetFetch v2 is the first where a null topic list means all the group's partitions.
    out.offset_fetch_version =
        pick_version(av, protocol::offset_fetch_request::api_key, protocol::offset_fetch_request::max_version, 2);
    out.consumer_group_describe_version =
        pick_version(av, protocol::consumer_group_describe_request::api_key,
                     protocol::consumer_group_describe_request::max_version, 0);
    out.fetch_version = pick_version(av, protocol::fetch_request::api_key, protocol::fetch_request::max_version,
                                     protocol::fetch_request::min_version);
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

// The connections of one read, by broker id, opened on first use. A broker that could not
// be reached, or whose connection failed a call, is not tried again in this read: each step
// after it adds its own line to the problems instead of waiting out another timeout.
class broker_connections {
public:
    broker_connections(asio::io_context& ctx, const read_options& o, clock::time_point deadline, cluster_view& view)
      : _ctx(ctx), _options(o), _deadline(deadline), _view(view) {}

    // The connection to `b`, or nullptr with a line in the problems.
    broker_connection* get(const broker_info& b) {
        auto it = _open.find(b.id);
        if (it != _open.end()) {
            if (!it->second) {
                _view.problems.push_back(fmt::format("broker {}: not reachable (see above)", b.id));
            }
            return it->second.get();
        }
        auto& c = _open[b.id];
        if (b.port <= 0 || b.port > 65535) {
            _view.problems.push_back(fmt::format("broker {} advertises port {}", b.id, b.port));
            return nullptr;
        }
        auto conn = std::make_unique<broker_connection>(_ctx, _options.client_id, _options.tls);
        std::string why;
        auto to = config::host_port{b.host, uint16_t(b.port)};
        if (conn->connect(to, std::min(_deadline, clock::now() + _options.connect_timeout), why)) {
            _view.problems.push_back(fmt::format("broker {}: {}", b.id, why));
            return nullptr;
        }
        c = std::move(conn);
        return c.get();
    }

    // Sends `req` to `b`, waiting until `by` at the most; false, with a line in the problems,
    // when that fails (the broker is then given up for this read).
    template<typename Req, typename Resp>
    bool call(const broker_info& b, const Req& req, int16_t version, Resp& resp,
              clock::time_point by = clock::time_point::max()) {
        auto* c = get(b);
        if (!c) {
            return false;
        }
        std::string why;
        if (c->call(req, version, resp, std::min({_deadline, by, clock::now() + _options.request_timeout}), why)) {
            _view.problems.push_back(fmt::format("broker {}: {}", b.id, why));
            _open[b.id].reset();
            return false;
        }
        return true;
    }

private:
    asio::io_context& _ctx;
    const read_options& _options;
    clock::time_point _deadline;
    cluster_view& _view;
    std::map<int32_t, std::unique_ptr<broker_connection>> _open;  // null: given up
};

// Both ListOffsets of one leader; failures become lines in view.problems.
void read_offsets(broker_connections& brokers, int16_t version, const broker_info& leader,
                  const std::vector<size_t>& partitions, cluster_view& view) {
    for (bool oldest : {true, false}) {
        protocol::list_offsets_response resp;
        auto req = offsets_request(view, partitions, oldest ? earliest_timestamp : latest_timestamp);
        if (!brokers.call(leader, req, version, resp)) {
            return;
        }
        detail::apply_offsets(resp, oldest, view);
    }
}

// Step 3 at one broker: the groups it coordinates that no broker before it listed (`seen`),
// with their members and commits, appended to view.groups. No request starts after `until`
// or lasts past it (the groups left are named in the problems), so the ends of step 4 keep
// their time.
void read_groups(broker_connections& brokers, const bootstrap_answer& v, const read_options& o,
                 const broker_info& b, clock::time_point until, std::set<std::string>& seen,
                 cluster_view& view) {
    bool out_of_time = false;
    auto time_left = [&] {
        if (!out_of_time && clock::now() >= until) {
            out_of_time = true;
            view.problems.push_back(fmt::format("broker {}: consumer groups: half the read's time spent, "
                                                "the rest left out", b.id));
        }
        return !out_of_time;
    };
    if (!time_left()) {
        return;
    }
    protocol::list_groups_response listed;
    if (!brokers.call(b, protocol::list_groups_request{}, v.list_groups_version, listed, until)) {
        return;
    }
    std::vector<group_info> groups;
    for (auto& g : detail::listed_groups(listed, b.id, view.problems)) {
        if (seen.insert(g.group_id).second) {
            groups.push_back(std::move(g));
        }
    }
    const size_t batch = std::max<size_t>(1, o.group_batch);
    // Members: DescribeGroups describes classic groups, ConsumerGroupDescribe KIP-848 ones.
    std::vector<std::string> classic, consumer;
    for (const auto& g : groups) {
        (g.type == "consumer" ? consumer : classic).push_back(g.group_id);
    }
    if (v.consumer_group_describe_version < 0) {
        consumer.clear();  // members unknown
    }
    // `ids` in batches: a request from make(ids), answered as a `Resp`. False when the
    // connection is gone (then no offsets either).
    auto describe = [&]<typename Resp>(const std::vector<std::string>& ids, int16_t version, auto make, Resp) {
        for (size_t i = 0; i < ids.size() && time_left(); i += batch) {
            auto req = make(std::vector<std::string>(ids.begin() + ptrdiff_t(i),
                                                     ids.begin() + ptrdiff_t(std::min(i + batch, ids.size()))));
            Resp resp;
            if (!brokers.call(b, req, version, resp, until)) {
                return false;
            }
            detail::apply_described(resp, groups, view.problems);
        }
        return true;
    };
    auto classic_request = [](std::vector<std::string> ids) {
        protocol::describe_groups_request r;
        r.groups = std::move(ids);
        return r;
    };
    auto consumer_request = [](std::vector<std::string> ids) {
        protocol::consumer_group_describe_request r;
        r.group_ids = std::move(ids);
        return r;
    };
    if (!describe(classic, v.describe_groups_version, classic_request, protocol::describe_groups_response{}) ||
        !describe(consumer, v.consumer_group_describe_version, consumer_request,
                  protocol::consumer_group_describe_response{})) {
        return;
    }
    // Commits: several groups per OffsetFetch from v8, one before.
    std::set<std::string> read;
    const size_t per_request = v.offset_fetch_version >= 8 ? batch : 1;
    for (size_t i = 0; i < groups.size() && time_left(); i += per_request) {
        protocol::offset_fetch_request req;
        const auto end = std::min(i + per_request, groups.size());
        if (v.offset_fetch_version >= 8) {
            for (size_t j = i; j < end; ++j) {
                auto& rg = req.groups.emplace_back();
                rg.group_id = groups[j].group_id;
                rg.topics = std::nullopt;  // all its partitions
            }
        } else {
            req.group_id = groups[i].group_id;
            req.topics = std::nullopt;
        }
        protocol::offset_fetch_response resp;
        if (!brokers.call(b, req, v.offset_fetch_version, resp, until)) {
            break;
        }
        for (auto& id : detail::apply_committed(resp, v.offset_fetch_version, groups[i].group_id, groups, view.problems)) {
            read.insert(std::move(id));
        }
    }
    for (auto& g : groups) {
        if (read.count(g.group_id)) {
            view.groups.push_back(std::move(g));
        } else {
            view.problems.push_back(fmt::format("group {}: offsets not read", g.group_id));
        }
    }
}

// Step 5 at one leader: for each of its partitions (indexes into view.partitions), the
// committed offsets whose next record's timestamp is wanted; found ones go into the
// partition's next_timestamp_ms.
void read_timestamps(broker_connections& brokers, int16_t version, const broker_info& leader,
                     const std::map<size_t, std::vector<int64_t>>& todo, cluster_view& view) {
    // A commit below the log start reads the oldest record next.
    auto from = [&view](size_t i, int64_t committed) { return std::max(committed, view.partitions[i].oldest_offset); };
    protocol::next_record_fetch fetch;
    for (const auto& [i, offsets] : todo) {
        for (int64_t o : offsets) {
            fetch.want(view.partitions[i].topic, view.partitions[i].partition, from(i, o));
        }
    }
    for (size_t round = 0;; ++round) {
        auto req = fetch.request(round);
        protocol::fetch_response resp;
        if (!req || !brokers.call(leader, *req, version, resp)) {
            break;
        }
        fetch.take(resp, round);
    }
    for (const auto& [i, offsets] : todo) {
        auto& p = view.partitions[i];
        for (int64_t o : offsets) {
            if (auto ts = fetch.timestamp(p.topic, p.partition, from(i, o))) {
                p.next_timestamp_ms[o] = *ts;  // else no timestamp this read; the lag itself stands
            }
        }
    }
}

// Step 5: the offsets wanted are the groups' commits behind their partition's end.
void read_all_timestamps(broker_connections& brokers, int16_t version, const timestamp_cache* known,
                         cluster_view& view) {
    std::map<lag::partition_key, size_t> index;
    for (size_t i = 0; i < view.partitions.size(); ++i) {
        index[{view.partitions[i].topic, view.partitions[i].partition}] = i;
    }
    std::map<int32_t, std::map<size_t, std::vector<int64_t>>> by_leader;  // leader -> index -> commits
    for (const auto& g : view.groups) {
        for (const auto& c : g.offsets) {
            auto it = index.find({c.topic, c.partition});
            if (c.offset < 0 || it == index.end()) {
                continue;
            }
            auto& p = view.partitions[it->second];
            const int64_t from = std::max(c.offset, p.oldest_offset);
            if (p.leader < 0 || p.current_offset < 0 || p.oldest_offset < 0 || from >= p.current_offset ||
                p.next_timestamp_ms.count(c.offset)) {
                continue;  // caught up (lag_seconds 0), end unknown (no lag), or already known
            }
            if (known) {
                if (auto k = known->find({{c.topic, c.partition}, from}); k != known->end()) {
                    p.next_timestamp_ms[c.offset] = k->second;
                    continue;
                }
            }
            auto& offsets = by_leader[p.leader][it->second];
            if (std::find(offsets.begin(), offsets.end(), c.offset) == offsets.end()) {
                offsets.push_back(c.offset);
            }
        }
    }
    for (const auto& [leader, todo] : by_leader) {
        auto b = std::find_if(view.brokers.begin(), view.brokers.end(), [&](const auto& x) { return x.id == leader; });
        if (b != view.brokers.end()) {
            read_timestamps(brokers, version, *b, todo, view);
        }
    }
    view.timestamps_read = true;
}

} // namespace

timestamp_cache timestamps_of(const cluster_view& view) {
    timestamp_cache out;
    for (const auto& p : view.partitions) {
        for (const auto& [committed, ts] : p.next_timestamp_ms) {
            out[{{p.topic, p.partition}, std::max(committed, p.oldest_offset)}] = ts;
        }
    }
    return out;
}

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


std::vector<group_info> listed_groups(const protocol::list_groups_response& resp, int32_t coordinator,
                                      std::vector<std::string>& problems) {
    if (resp.error_code != 0) {
        problems.push_back(fmt::format("broker {}: ListGroups: {}{}", coordinator, error_name(resp.error_code),
                                       resp.groups.empty() ? "" : " (the list may be partial)"));
    }
    std::vector<group_info> out;
    for (const auto& g : resp.groups) {
        if (g.group_state == "Dead") {
            continue;
        }
        group_info info;
        info.group_id = g.group_id;
        info.coordinator = coordinator;
        info.protocol_type = g.protocol_type;
        info.type = g.group_type;
        info.state = g.group_state;
        out.push_back(std::move(info));
    }
    return out;
}

namespace {

group_info* find_group(std::vector<group_info>& groups, const std::string& id) {
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.group_id == id; });
    return it == groups.end() ? nullptr : &*it;
}

// The partitions of one group's OffsetFetch answer (either layout) into `g`.
template<typename Topics>
void add_committed(const Topics& topics, group_info& g, std::vector<std::string>& problems) {
    for (const auto& t : topics) {
        for (const auto& p : t.partitions) {
            if (p.error_code != 0) {
                problems.push_back(fmt::format("group {} {}[{}]: OffsetFetch: {}", g.group_id, t.name,
                                               p.partition_index, error_name(p.error_code)));
                continue;
            }
            g.offsets.push_back({t.name, p.partition_index, p.committed_offset});
        }
    }
}

} // namespace

namespace {

template<typename Resp>
void apply_any_described(const Resp& resp, std::string_view api, std::vector<group_info>& groups,
                         std::vector<std::string>& problems) {
    for (const auto& d : resp.groups) {
        auto* g = find_group(groups, d.group_id);
        if (!g) {
            continue;  // not asked for
        }
        if (d.error_code != 0) {
            problems.push_back(fmt::format("group {}: {}: {}", d.group_id, api, error_name(d.error_code)));
            continue;
        }
        g->members = int32_t(d.members.size());
        if (g->state.empty()) {
            g->state = d.group_state;
        }
    }
}

} // namespace

void apply_described(const protocol::describe_groups_response& resp, std::vector<group_info>& groups,
                     std::vector<std::string>& problems) {
    apply_any_described(resp, "DescribeGroups", groups, problems);
}

void apply_described(const protocol::consumer_group_describe_response& resp, std::vector<group_info>& groups,
                     std::vector<std::string>& problems) {
    apply_any_described(resp, "ConsumerGroupDescribe", groups, problems);
}

std::vector<std::string> apply_committed(const protocol::offset_fetch_response& resp, int16_t version,
                                         const std::string& asked, std::vector<group_info>& groups,
                                         std::vector<std::string>& problems) {
    std::vector<std::string> read;
    auto take = [&](const std::string& id, int16_t error, const auto& topics) {
        auto* g = find_group(groups, id);
        if (!g) {
            return;  // not asked for
        }
        if (error != 0) {
            problems.push_back(fmt::format("group {}: OffsetFetch: {}", id, error_name(error)));
            return;
        }
        g->offsets.clear();
        add_committed(topics, *g, problems);
        read.push_back(id);
    };
    if (version >= 8) {
        for (const auto& r : resp.groups) {
            take(r.group_id, r.error_code, r.topics);
        }
    } else {
        take(asked, resp.error_code, resp.topics);
    }
    return read;
}

} // namespace detail

result<cluster_view> read_cluster(std::string_view bootstrap, const read_options& o, std::string* why,
                                  const timestamp_cache* known) {
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
        broker_connection c(ctx, o.client_id, o.tls);
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
    broker_connections brokers(ctx, o, deadline, view);
    // Step 3, every group's commits, before step 4 reads any end.
    if (o.groups) {
        if (answer.list_groups_version < 0 || answer.describe_groups_version < 0 || answer.offset_fetch_version < 0) {
            view.problems.emplace_back("consumer groups not read: the broker does not speak ListGroups, "
                                       "DescribeGroups and OffsetFetch v2+");
        } else {
            std::set<std::string> seen;
            const auto until = clock::now() + (deadline - clock::now()) / 2;
            for (const auto& b : view.brokers) {
                read_groups(brokers, answer, o, b, until, seen, view);
            }
            std::sort(view.groups.begin(), view.groups.end(),
                      [](const auto& a, const auto& b) { return a.group_id < b.group_id; });
        }
    }
    // Step 4: partitions grouped by leader (indexes into view.partitions, ascending: topics
    // stay together in each request).
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
        read_offsets(brokers, answer.list_offsets_version, *b, partitions, view);
    }
    if (o.groups && o.timestamps && !view.groups.empty()) {
        if (answer.fetch_version < 0) {
            view.problems.emplace_back("lag in seconds not read: the broker does not speak Fetch v4+");
        } else {
            read_all_timestamps(brokers, answer.fetch_version, known, view);
        }
    }
    view.read_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
    for (const auto& p : view.problems) {
        TLOG_DEBUG("cluster {} via {}: {}", view.cluster_id, bootstrap, p);
    }
    return view;
}

} // namespace trib::op::metrics
