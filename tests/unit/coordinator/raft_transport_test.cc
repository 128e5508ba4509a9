// raft::net_transport between coordinators on loopback: each node is a transport behind a
// net::server whose dispatcher does what the coordinator service does with a request it does
// not serve itself (hand it to transport.handle, frame the answer). All nodes, their servers
// and their clients share the test thread's io_context, as they share the service's thread in
// the coordinator. The envelope codec (raft/envelope.h) is tested without sockets below.
#include "coordinator/raft/net_transport.h"

#include "coordinator/client/records.h"
#include "coordinator/raft/codec.h"
#include "coordinator/raft/envelope.h"
#include "net/dispatcher.h"
#include "net/kafka_client.h"
#include "net/server.h"
#include "protocol/api.h"
#include "protocol/wire.h"
#include "tests/fakes/run_until.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace trib::coordinator::raft {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view cluster = "cluster-T";

// What the coordinator service does for an API key it does not serve: the transport's
// answer with a response header, or the connection closed.
class transport_dispatcher final : public net::request_dispatcher {
public:
    explicit transport_dispatcher(transport& t) : _t(t) {}

    asio::awaitable<net::dispatch_result> dispatch(bytes frame, const net::connection_info&) override {
        protocol::reader r(frame);
        protocol::request_header h;
        if (!protocol::decode_request_header(r, h)) {
            co_return net::close_connection{"undecodable request header"};
        }
        auto body = _t.handle(h.api_key, h.api_version, bytes_view(frame.data() + r.offset(), r.remaining()));
        if (!body) {
            co_return net::close_connection{"not a raft transport request"};
        }
        ++envelopes;
        protocol::writer w;
        w.write_int32(0);
        protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, 0));
        net::outgoing_frame out;
        out.data = w.take();
        out.data.insert(out.data.end(), body->begin(), body->end());
        store_be32(out.data.data(), uint32_t(out.data.size() - 4));
        co_return net::respond{std::move(out)};
    }

    int envelopes = 0;  // answered

private:
    transport& _t;
};

net_transport_options test_options() {
    net_transport_options o;
    o.call_timeout = 5s;
    o.reconnect_backoff = 5ms;
    o.reconnect_backoff_max = 20ms;
    return o;
}

// A port on 127.0.0.1 that refuses connections until a node listens on it: bound, not
// listening (the kernel answers a connect with a reset).
class refusing_port {
public:
    explicit refusing_port(asio::io_context& ctx) : _socket(ctx) {
        _socket.open(asio::ip::tcp::v4());
        _socket.bind({asio::ip::make_address("127.0.0.1"), 0});
        port = _socket.local_endpoint().port();
    }
    void release() { _socket.close(); }
    uint16_t port = 0;

private:
    asio::ip::tcp::acceptor _socket;
};

// One coordinator: a transport, the dispatcher in front of it, its listener, and what it
// was delivered.
struct node {
    node(asio::io_context& ctx, int id, std::string_view cluster_id = cluster, net_transport_options o = test_options())
        : id(id), t(ctx.get_executor(), node_id(id), std::string(cluster_id), std::move(o)), dispatcher(t),
          server(std::vector<asio::io_context*>{&ctx}, dispatcher, net::connection_limits{}) {
        t.on_reports([this](observer_report r) { reports.push_back(std::move(r)); });
        t.start([this](message m) { received.push_back(std::move(m)); });
    }
    // The server is not stop()ped: that posts work referring to it. Destroying it cancels its
    // accepts, which end without touching it.
    ~node() { t.close(); }

    void listen(uint16_t at = 0) { port = server.start({{"RAFT", "127.0.0.1", at}}).at(0); }
    voter address() const { return voter{node_id(id), "127.0.0.1", port}; }

    int id;
    net_transport t;
    transport_dispatcher dispatcher;
    net::server server;
    uint16_t port = 0;
    std::vector<message> received;
    std::vector<observer_report> reports;
};

// Coordinator 7 (outside the voters) reporting itself to `to`, from `from` (7, or a voter
// relaying it).
observer_report report(int from, int to, int64_t log_end = 42) {
    observer_report r{node_id(from), node_id(to), node_id(7), {}, "c7.example", 9097, offset(log_end)};
    r.directory_id.b[0] = 0x77;
    r.directory_id.b[15] = 0x07;
    return r;
}

voter_set voters_of(std::initializer_list<const node*> nodes) {
    voter_set out;
    for (const auto* n : nodes) {
        out.push_back(n->address());
    }
    std::sort(out.begin(), out.end(), [](const voter& a, const voter& b) { return a.id < b.id; });
    return out;
}

voter_set three_voters() {
    return {{node_id(1), "c1", 9093}, {node_id(2), "c2", 9094}, {node_id(3), "c3", 9095}};
}

// An entry of `names.size()` topic records at `at`.
entry topics_entry(int64_t at, int64_t term, std::initializer_list<const char*> names) {
    std::vector<metadata_record> records;
    for (const char* name : names) {
        topic_record t;
        t.name = name;
        records.emplace_back(std::move(t));
    }
    return entry{offset(at), int32_t(records.size()), term_id(term), entry_kind::data, make_batch(records, 42)};
}

// Every kind of message the core sends, from `from` to `to`.
std::vector<message> every_message(int from, int to) {
    const entry noop{offset(10), 1, term_id(7), entry_kind::data, {}};
    const entry voters{offset(14), 1, term_id(7), entry_kind::voters, encode_voters(three_voters())};
    const std::vector<message_body> bodies = {
        vote_request{.term = term_id(3), .last_end = offset(100), .last_term = term_id(2), .pre_vote = true},
        vote_request{.term = term_id(4), .transfer = true},
        vote_response{.term = term_id(3), .granted = true, .pre_vote = true},
        vote_response{.term = term_id(4)},
        append_request{.term = term_id(7),
                       .prev_end = offset(10),
                       .prev_term = term_id(6),
                       .entries = {noop, topics_entry(11, 7, {"a", "b", "c"}), voters},
                       .commit = offset(9),
                       .lease_tick = 17},
        append_request{.term = term_id(7), .prev_end = offset(15), .prev_term = term_id(7), .entries = {},
                       .commit = offset(15)},
        append_response{.term = term_id(7), .end = offset(12), .hint_term = term_id(5)},
        append_response{.term = term_id(7), .success = true, .end = offset(15), .lease_tick = 17},
        snapshot_request{.term = term_id(8),
                         .meta = {offset(1000), term_id(6), three_voters()},
                         .chunk_at = 65536,
                         .data = bytes(3000, 0x5a),
                         .last = true},
        snapshot_response{.term = term_id(8), .end = offset(1000), .next_chunk = 68536, .done = true},
        timeout_now{.term = term_id(9)},
    };
    std::vector<message> out;
    for (const auto& b : bodies) {
        out.push_back(message{node_id(from), node_id(to), b});
    }
    return out;
}

// A heartbeat numbered by its commit end, to tell messages apart.
message numbered(int from, int to, int64_t n) {
    append_request a;
    a.term = term_id(1);
    a.commit = offset(n);
    return message{node_id(from), node_id(to), a};
}

std::vector<int64_t> numbers_of(const std::vector<message>& msgs) {
    std::vector<int64_t> out;
    for (const auto& m : msgs) {
        out.push_back(std::get<append_request>(m.body).commit.value());
    }
    return out;
}

envelope_response decode_answer(const std::optional<bytes>& body) {
    EXPECT_TRUE(body.has_value());
    envelope_response resp;
    if (body) {
        protocol::reader r(*body);
        resp.decode(r, rpc_version);
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(r.remaining(), 0u);
    }
    return resp;
}

bytes envelope_body(const envelope_request& req) {
    protocol::writer w;
    req.encode(w, rpc_version);
    return w.take();
}

class raft_transport : public ::testing::Test {
protected:
    asio::io_context ctx;

    bool run_until(const std::function<bool()>& done) { return fakes::run_until(ctx, done); }
};

TEST_F(raft_transport, every_message_type_arrives_intact_and_in_order) {
    node a(ctx, 1), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.set_peers(voters_of({&a, &b}));
    b.t.set_peers(voters_of({&a, &b}));

    a.t.send(every_message(1, 2));
    const auto expected = every_message(1, 2);
    ASSERT_TRUE(run_until([&] { return b.received.size() >= expected.size(); }));
    EXPECT_EQ(b.received, expected);

    // And back: answers are messages of their own, in envelopes of their own.
    b.t.send(every_message(2, 1));
    ASSERT_TRUE(run_until([&] { return a.received.size() >= expected.size(); }));
    EXPECT_EQ(a.received, every_message(2, 1));

    ASSERT_TRUE(run_until([&] { return a.t.stats().sent == expected.size(); }));
    EXPECT_EQ(a.t.stats().dropped_failed, 0u);
    EXPECT_EQ(b.t.stats().received, expected.size());
    EXPECT_EQ(b.t.stats().refused, 0u);
}

TEST_F(raft_transport, many_messages_batch_into_few_envelopes_in_order_per_peer) {
    node a(ctx, 1), b(ctx, 2), c(ctx, 3);
    for (node* n : {&a, &b, &c}) {
        n->listen();
    }
    for (node* n : {&a, &b, &c}) {
        n->t.set_peers(voters_of({&a, &b, &c}));
    }

    // Sent one at a time, as a driver does ready after ready, interleaved between two peers.
    constexpr int count = 1000;
    std::vector<int64_t> want;
    for (int i = 0; i < count; ++i) {
        a.t.send({numbered(1, 2, i)});
        a.t.send({numbered(1, 3, i)});
        want.push_back(i);
    }
    ASSERT_TRUE(run_until([&] { return b.received.size() >= count && c.received.size() >= count; }));
    EXPECT_EQ(numbers_of(b.received), want);
    EXPECT_EQ(numbers_of(c.received), want);
    // Everything was queued before the senders ran: one envelope each.
    EXPECT_EQ(b.dispatcher.envelopes, 1);
    EXPECT_EQ(c.dispatcher.envelopes, 1);

    // While an envelope is out, what is sent meanwhile gathers for the next one.
    for (int i = count; i < 2 * count; ++i) {
        a.t.send({numbered(1, 2, i)});
        want.push_back(i);
        if (i % 100 == 0) {
            ctx.poll();
        }
    }
    ASSERT_TRUE(run_until([&] { return a.t.stats().sent == uint64_t(3 * count); }));
    EXPECT_EQ(numbers_of(b.received), want);
    EXPECT_LE(b.dispatcher.envelopes, 25);
    EXPECT_EQ(a.t.stats().envelopes_sent, uint64_t(b.dispatcher.envelopes + c.dispatcher.envelopes));
}

TEST_F(raft_transport, the_batch_limit_splits_envelopes_but_lets_a_big_message_through) {
    auto o = test_options();
    o.batch_bytes = 200;
    node a(ctx, 1, cluster, o), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.set_peers(voters_of({&a, &b}));

    std::vector<message> msgs;
    for (int i = 0; i < 50; ++i) {
        msgs.push_back(numbered(1, 2, i));
    }
    snapshot_request big;  // alone over the limit
    big.term = term_id(2);
    big.meta = snapshot_meta{offset(10), term_id(1), three_voters()};
    big.data = bytes(5000, 7);
    msgs.push_back(message{node_id(1), node_id(2), big});
    a.t.send(msgs);

    ASSERT_TRUE(run_until([&] { return b.received.size() >= msgs.size(); }));
    EXPECT_EQ(b.received, msgs);
    const size_t heartbeat_bytes = encode(msgs[0], cluster)->body.size();
    const int per_envelope = int(200 / heartbeat_bytes);
    ASSERT_GT(per_envelope, 1);
    // 50 heartbeats, as many as fit per envelope, then the snapshot chunk on its own.
    EXPECT_EQ(b.dispatcher.envelopes, (50 + per_envelope - 1) / per_envelope + 1);
}

TEST_F(raft_transport, a_peer_not_listening_loses_messages_until_it_starts) {
    node a(ctx, 1), b(ctx, 2);
    refusing_port port(ctx);
    a.listen();
    b.port = port.port;
    a.t.set_peers(voters_of({&a, &b}));

    a.t.send({numbered(1, 2, 1), numbered(1, 2, 2)});
    ASSERT_TRUE(run_until([&] { return a.t.stats().dropped_failed == 2; }));
    // More of it, through the client's back-off: dropped too, no crash, no spinning.
    for (int i = 3; i < 10; ++i) {
        a.t.send({numbered(1, 2, i)});
        ASSERT_TRUE(run_until([&] { return a.t.stats().dropped_failed == uint64_t(i); }));
    }
    EXPECT_EQ(a.t.stats().sent, 0u);

    port.release();
    b.listen(port.port);
    a.t.send({numbered(1, 2, 10), numbered(1, 2, 11)});
    // (delivered before the answer reaches the sender, which counts them then)
    ASSERT_TRUE(run_until([&] { return b.received.size() >= 2 && a.t.stats().sent == 2; }));
    EXPECT_EQ(numbers_of(b.received), (std::vector<int64_t>{10, 11}));
    EXPECT_EQ(a.t.stats().dropped_failed, 9u);
}

TEST_F(raft_transport, a_changed_address_reconnects_and_keeps_what_was_queued) {
    node a(ctx, 1), b(ctx, 2);
    refusing_port nowhere(ctx);
    a.listen();
    b.listen();
    voter_set wrong = voters_of({&a, &b});
    wrong[1].port = nowhere.port;
    a.t.set_peers(wrong);
    a.t.send({numbered(1, 2, 1)});
    ASSERT_TRUE(run_until([&] { return a.t.stats().dropped_failed == 1; }));

    a.t.send({numbered(1, 2, 2)});  // queued for the old address: the sender waits out its back-off
    a.t.set_peers(voters_of({&a, &b}));
    a.t.send({numbered(1, 2, 3)});
    ASSERT_TRUE(run_until([&] { return b.received.size() >= 2; }));
    EXPECT_EQ(numbers_of(b.received), (std::vector<int64_t>{2, 3}));
}

TEST_F(raft_transport, messages_to_nodes_not_listed_are_dropped) {
    node a(ctx, 1), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.send({numbered(1, 2, 1)});  // no peers yet
    a.t.set_peers(voters_of({&a, &b}));
    a.t.send({numbered(1, 3, 2), numbered(1, 1, 3), numbered(1, 2, 4)});
    ASSERT_TRUE(run_until([&] { return b.received.size() >= 1; }));
    EXPECT_EQ(numbers_of(b.received), (std::vector<int64_t>{4}));
    EXPECT_EQ(a.t.stats().dropped_no_peer, 3u);

    a.t.set_peers(voters_of({&a}));  // node 2 removed
    a.t.send({numbered(1, 2, 5)});
    EXPECT_EQ(a.t.stats().dropped_no_peer, 4u);
}

TEST_F(raft_transport, another_clusters_envelopes_are_refused_and_reported) {
    node a(ctx, 1, "cluster-X"), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.set_peers(voters_of({&a, &b}));
    a.t.send(every_message(1, 2));
    const uint64_t n = every_message(1, 2).size();
    ASSERT_TRUE(run_until([&] { return a.t.stats().dropped_failed == n; }));
    EXPECT_TRUE(b.received.empty());
    EXPECT_EQ(b.t.stats().refused, 1u);
    EXPECT_EQ(a.t.stats().sent, 0u);

    // What the sender was told.
    auto body = encode_envelope("cluster-X", node_id(1), node_id(2), every_message(1, 2));
    ASSERT_TRUE(body);
    auto resp = decode_answer(b.t.handle(api_messages, rpc_version, *body));
    EXPECT_EQ(resp.error_code, protocol::to_int(protocol::error_code::inconsistent_cluster_id));
    ASSERT_TRUE(resp.error_message);
    EXPECT_NE(resp.error_message->find("cluster-X"), std::string::npos) << *resp.error_message;
    EXPECT_TRUE(b.received.empty());
}

TEST_F(raft_transport, malformed_envelopes_are_answered_with_an_error_and_deliver_nothing) {
    node b(ctx, 2);
    auto refused_with = [&](bytes_view body, protocol::error_code code, int16_t version = rpc_version) {
        auto resp = decode_answer(b.t.handle(api_messages, version, body));
        EXPECT_EQ(resp.error_code, protocol::to_int(code));
        EXPECT_TRUE(resp.error_message && !resp.error_message->empty());
    };
    const auto good = *encode_envelope(cluster, node_id(1), node_id(2), every_message(1, 2));

    refused_with(bytes{}, protocol::error_code::invalid_request);
    refused_with(bytes{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, protocol::error_code::invalid_request);
    for (size_t cut : {size_t(1), good.size() / 2, good.size() - 1}) {
        refused_with(bytes_view(good.data(), cut), protocol::error_code::invalid_request);
    }
    bytes trailing = good;
    trailing.push_back(0);
    refused_with(trailing, protocol::error_code::invalid_request);
    refused_with(good, protocol::error_code::unsupported_version, 1);

    // Addressed to node 3.
    refused_with(*encode_envelope(cluster, node_id(1), node_id(3), every_message(1, 3)),
                 protocol::error_code::inconsistent_voter_set);
    // An item that does not decode, among good ones.
    auto items = [](const std::vector<message>& msgs) {
        std::vector<encoded_rpc> out;
        for (const auto& m : msgs) {
            out.push_back(*encode(m, cluster));
        }
        return out;
    };
    {
        auto list = items(every_message(1, 2));
        list[3].body.resize(list[3].body.size() / 2);
        refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), list)),
                     protocol::error_code::invalid_request);
    }
    {
        auto list = items(every_message(1, 2));
        list[0].api_key = 42;  // not a raft message
        refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), list)),
                     protocol::error_code::invalid_request);
    }
    {
        auto list = items(every_message(1, 2));
        list[1].request = !list[1].request;  // a request's body read as a response
        refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), list)),
                     protocol::error_code::invalid_request);
    }
    {
        // A timeout_now acknowledgement (no message), and a response carrying an error.
        std::vector<encoded_rpc> ack = {
            {api_timeout_now, false, *encode_error_response(api_timeout_now, protocol::error_code::none, "",
                                                            node_id(1), node_id(2))}};
        refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), ack)),
                     protocol::error_code::invalid_request);
        std::vector<encoded_rpc> err = {{api_vote, false,
                                         *encode_error_response(api_vote, protocol::error_code::invalid_request, "x",
                                                                node_id(1), node_id(2))}};
        refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), err)),
                     protocol::error_code::invalid_request);
    }
    // Items from or to other nodes than the envelope says.
    refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), items(every_message(3, 2)))),
                 protocol::error_code::invalid_request);
    refused_with(envelope_body(make_envelope(cluster, node_id(1), node_id(2), items(every_message(1, 3)))),
                 protocol::error_code::invalid_request);
    // A negative sender.
    refused_with(envelope_body(make_envelope(cluster, node_id(-1), node_id(2), {})),
                 protocol::error_code::invalid_request);

    EXPECT_TRUE(b.received.empty());
    EXPECT_EQ(b.t.stats().refused, 16u);
    EXPECT_EQ(b.t.stats().received, 0u);

    // Other keys are not the transport's; a good envelope still goes through.
    EXPECT_FALSE(b.t.handle(api_vote, rpc_version, good).has_value());
    auto ok = decode_answer(b.t.handle(api_messages, rpc_version, good));
    EXPECT_EQ(ok.error_code, 0);
    EXPECT_FALSE(ok.error_message.has_value());
    EXPECT_EQ(b.received, every_message(1, 2));
}

TEST_F(raft_transport, a_malformed_envelope_over_the_wire_is_answered_not_dropped) {
    node b(ctx, 2);
    b.listen();
    net::kafka_client_options co;
    co.ask_api_versions = false;
    net::kafka_client client(ctx.get_executor(), config::host_port{"127.0.0.1", b.port}, co);
    envelope_request req = make_envelope(cluster, node_id(1), node_id(2), {{api_append, true, bytes{1, 2, 3}}});
    std::optional<result<envelope_response>> answer;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> { answer = co_await client.call<envelope_response>(req, rpc_version, 5s); },
        [](std::exception_ptr e) { log_failed_coroutine(e, "test call"); });
    ASSERT_TRUE(run_until([&] { return answer.has_value(); }));
    ASSERT_TRUE(*answer) << answer->error().message();
    EXPECT_EQ((*answer)->error_code, protocol::to_int(protocol::error_code::invalid_request));
    EXPECT_TRUE(b.received.empty());
    client.close();
    ctx.poll();
}

TEST_F(raft_transport, a_full_queue_drops_its_oldest_messages) {
    const size_t one = encode(numbered(1, 2, 0), cluster)->body.size();
    auto o = test_options();
    o.peer_queue_bytes = 10 * one;
    node a(ctx, 1, cluster, o), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.set_peers(voters_of({&a, &b}));
    // All queued before the sender runs: only the newest ten fit.
    for (int i = 0; i < 25; ++i) {
        a.t.send({numbered(1, 2, i)});
    }
    EXPECT_EQ(a.t.stats().dropped_queue_full, 15u);
    ASSERT_TRUE(run_until([&] { return b.received.size() >= 10; }));
    std::vector<int64_t> newest;
    for (int i = 15; i < 25; ++i) {
        newest.push_back(i);
    }
    EXPECT_EQ(numbers_of(b.received), newest);
}

TEST_F(raft_transport, close_drops_what_is_queued_and_later_sends) {
    refusing_port nowhere(ctx);
    auto a = std::make_unique<node>(ctx, 1);
    a->listen();
    voter_set peers = {a->address(), voter{node_id(2), "127.0.0.1", nowhere.port}};
    a->t.set_peers(peers);
    a->t.send({numbered(1, 2, 1)});
    ASSERT_TRUE(run_until([&] { return a->t.stats().dropped_failed == 1; }));
    a->t.send({numbered(1, 2, 2), numbered(1, 2, 3)});  // waiting out the back-off
    a->t.close();
    a->t.close();  // idempotent
    EXPECT_EQ(a->t.stats().dropped_no_peer, 2u);
    a->t.send({numbered(1, 2, 4)});
    a->t.set_peers(peers);  // nothing starts again
    a->t.send({numbered(1, 2, 5)});
    EXPECT_EQ(a->t.stats().dropped_no_peer, 4u);
    auto answer = decode_answer(
        a->t.handle(api_messages, rpc_version, *encode_envelope(cluster, node_id(2), node_id(1), every_message(2, 1))));
    EXPECT_NE(answer.error_code, 0);
    EXPECT_TRUE(a->received.empty());
    // Destroyed at once; the cancelled sender finishes on the io_context.
    a.reset();
    ctx.poll();
    ctx.restart();
}

TEST_F(raft_transport, a_peer_that_never_answers_times_out_and_close_interrupts_the_call) {
    // Listening, never accepting: connections complete in the kernel's backlog and requests
    // are written, but no answer ever comes.
    asio::ip::tcp::acceptor silent(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    auto o = test_options();
    o.call_timeout = 100ms;
    auto a = std::make_unique<node>(ctx, 1, cluster, o);
    a->listen();
    voter_set peers = {a->address(), voter{node_id(2), "127.0.0.1", silent.local_endpoint().port()}};
    a->t.set_peers(peers);
    a->t.send({numbered(1, 2, 1), numbered(1, 2, 2)});
    ASSERT_TRUE(run_until([&] { return a->t.stats().dropped_failed == 2; }));

    // Now closed and destroyed with a call out (its deadline far away): the sender ends when
    // the io_context runs the cancellation, owning all it touches.
    o.call_timeout = 60s;
    a = std::make_unique<node>(ctx, 1, cluster, o);
    a->t.set_peers(peers);
    a->t.send({numbered(1, 2, 3)});
    for (int i = 0; i < 20; ++i) {
        ctx.poll();  // connect and write the request
    }
    a.reset();
    ctx.poll();
    ctx.restart();
}

TEST_F(raft_transport, observer_reports_travel_with_the_messages_and_come_out_apart) {
    node a(ctx, 1), b(ctx, 2);
    a.listen();
    b.listen();
    a.t.set_peers(voters_of({&a, &b}));
    a.t.send_report(report(1, 2, 10));
    a.t.send({numbered(1, 2, 1)});
    a.t.send_report(report(1, 2, 11));
    ASSERT_TRUE(run_until([&] { return b.reports.size() == 2 && b.received.size() == 1; }));
    EXPECT_EQ(b.reports[0], report(1, 2, 10));
    EXPECT_EQ(b.reports[1], report(1, 2, 11)) << "reports keep their order";
    EXPECT_EQ(b.received[0], numbered(1, 2, 1));
    EXPECT_EQ(b.t.stats().received, 3u) << "reports count as messages";
    EXPECT_EQ(b.t.stats().refused, 0u);

    // To a node that is no peer, or not from this node: dropped and counted, nothing sent.
    a.t.send_report(report(1, 3));
    EXPECT_EQ(a.t.stats().dropped_no_peer, 1u);
    a.t.send_report(report(4, 2));
    EXPECT_EQ(a.t.stats().dropped_failed, 1u);
    a.t.close();
    a.t.send_report(report(1, 2));
    EXPECT_EQ(a.t.stats().dropped_no_peer, 2u);
}

// ---- the envelope codec -------------------------------------------------------------------

TEST(raft_envelope, round_trips_every_message) {
    const auto msgs = every_message(1, 2);
    auto body = encode_envelope(cluster, node_id(1), node_id(2), msgs);
    ASSERT_TRUE(body);
    auto env = decode_envelope(*body, cluster, node_id(2));
    ASSERT_TRUE(env) << env.error().message();
    EXPECT_EQ(env->sender, node_id(1));
    EXPECT_EQ(env->messages, msgs);

    auto empty = encode_envelope(cluster, node_id(1), node_id(2), {});
    ASSERT_TRUE(empty);
    auto none = decode_envelope(*empty, cluster, node_id(2));
    ASSERT_TRUE(none);
    EXPECT_TRUE(none->messages.empty());
}

TEST(raft_envelope, refusals_name_their_reason) {
    const auto msgs = every_message(1, 2);
    EXPECT_EQ(encode_envelope(cluster, node_id(1), node_id(3), msgs).error(), envelope_errc::mismatched_ids);
    const auto body = *encode_envelope(cluster, node_id(1), node_id(2), msgs);

    std::string why;
    auto wrong = decode_envelope(body, "cluster-U", node_id(2), &why);
    EXPECT_EQ(wrong.error(), envelope_errc::wrong_cluster);
    EXPECT_EQ(envelope_error_code(wrong.error()), protocol::error_code::inconsistent_cluster_id);
    EXPECT_NE(why.find("cluster-T"), std::string::npos) << why;

    auto elsewhere = decode_envelope(body, cluster, node_id(5), &why);
    EXPECT_EQ(elsewhere.error(), envelope_errc::wrong_receiver);
    EXPECT_EQ(envelope_error_code(elsewhere.error()), protocol::error_code::inconsistent_voter_set);
    EXPECT_NE(why.find("node 5"), std::string::npos) << why;

    EXPECT_EQ(decode_envelope(bytes_view(body.data(), 3), cluster, node_id(2)).error(), envelope_errc::malformed);
    EXPECT_EQ(envelope_error_code(std::make_error_code(std::errc::io_error)),
              protocol::error_code::unknown_server_error);
}

TEST(raft_envelope, carries_observer_reports_beside_the_messages) {
    const auto msgs = every_message(1, 2);
    const std::vector<observer_report> reports = {report(1, 2, 0), report(1, 2, 99)};
    auto body = encode_envelope(cluster, node_id(1), node_id(2), msgs, reports);
    ASSERT_TRUE(body);
    auto env = decode_envelope(*body, cluster, node_id(2));
    ASSERT_TRUE(env) << env.error().message();
    EXPECT_EQ(env->messages, msgs);
    EXPECT_EQ(env->reports, reports);
    // A relayed report: the hop is the envelope's, the observer another node.
    auto relayed = encode_envelope(cluster, node_id(3), node_id(2), {}, std::vector{report(3, 2)});
    ASSERT_TRUE(relayed);
    env = decode_envelope(*relayed, cluster, node_id(2));
    ASSERT_TRUE(env);
    EXPECT_EQ(env->reports.at(0).observer, node_id(7));
    EXPECT_EQ(env->reports.at(0).host, "c7.example");
    EXPECT_EQ(env->reports.at(0).port, 9097);
    EXPECT_EQ(env->reports.at(0).directory_id, report(3, 2).directory_id);
    EXPECT_EQ(encode_envelope(cluster, node_id(1), node_id(2), {}, std::vector{report(1, 3)}).error(),
              envelope_errc::mismatched_ids);
}

TEST(raft_envelope, malformed_observer_reports_are_refused) {
    auto with_item = [](bool request, bytes item_body) {
        envelope_request req = make_envelope(cluster, node_id(1), node_id(2), {});
        auto& m = req.messages.emplace_back();
        m.api_key = api_observer;
        m.request = request;
        m.body = std::move(item_body);
        return envelope_body(req);
    };
    std::string why;
    // As a response item: reports are requests only.
    auto r = decode_envelope(with_item(false, encode_report(report(1, 2), cluster).body), cluster, node_id(2), &why);
    EXPECT_EQ(r.error(), envelope_errc::bad_item);
    EXPECT_NE(why.find("observer report"), std::string::npos) << why;
    // Another cluster's, a negative log end or observer id, truncated, or another hop.
    EXPECT_EQ(decode_report(encode_report(report(1, 2), "cluster-U").body, cluster).error(), store_errc::wrong_cluster);
    const auto foreign = with_item(true, encode_report(report(1, 2), "cluster-U").body);
    EXPECT_EQ(decode_envelope(foreign, cluster, node_id(2)).error(), envelope_errc::bad_item);
    EXPECT_EQ(decode_report(encode_report(report(1, 2, -1), cluster).body, cluster).error(), store_errc::bad_message);
    auto nobody = report(1, 2);
    nobody.observer = node_id(-1);
    EXPECT_EQ(decode_report(encode_report(nobody, cluster).body, cluster).error(), store_errc::bad_message);
    auto whole = encode_report(report(1, 2), cluster).body;
    EXPECT_EQ(decode_report(bytes_view(whole.data(), whole.size() - 3), cluster).error(), store_errc::bad_message);
    EXPECT_EQ(decode_envelope(with_item(true, encode_report(report(1, 5), cluster).body), cluster, node_id(2), &why)
                  .error(),
              envelope_errc::mismatched_ids);
    EXPECT_NE(why.find("report from node 1 to node 5"), std::string::npos) << why;
}

// The fuzzer's seed `name` for decode_envelope (tests/fuzz/fuzz_raft_codec.cc, input kind 13):
// `msgs` then `reports` from node 1 to node 2 of "fuzz-cluster". TRIB_WRITE_FUZZ_SEED=1 writes
// it again.
void check_fuzz_seed(const char* name, const std::vector<message>& msgs, const std::vector<observer_report>& reports) {
    const auto path = std::filesystem::path(TRIB_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_raft_codec" / name;
    if (std::getenv("TRIB_WRITE_FUZZ_SEED")) {
        auto body = encode_envelope("fuzz-cluster", node_id(1), node_id(2), msgs, reports);
        ASSERT_TRUE(body);
        std::ofstream out(path, std::ios::binary);
        out.put(13);
        out.write(reinterpret_cast<const char*>(body->data()), std::streamsize(body->size()));
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    bytes seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(seed.empty());
    EXPECT_EQ(seed[0], 13);
    auto env = decode_envelope(bytes_view(seed).subspan(1), "fuzz-cluster", node_id(2));
    ASSERT_TRUE(env) << env.error().message();
    EXPECT_EQ(env->messages, msgs);
    EXPECT_EQ(env->reports, reports);
}

// Every message.
TEST(raft_envelope, the_fuzz_seed_decodes) { check_fuzz_seed("envelope", every_message(1, 2), {}); }

// The same with observer reports after the messages; and one report alone (input kind 14).
TEST(raft_envelope, the_observer_fuzz_seeds_decode) {
    check_fuzz_seed("envelope-observer", every_message(1, 2), {report(1, 2), report(1, 2, 7)});
    const auto path = std::filesystem::path(TRIB_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_raft_codec/observer_report";
    if (std::getenv("TRIB_WRITE_FUZZ_SEED")) {
        const auto body = encode_report(report(1, 2), "fuzz-cluster").body;
        std::ofstream out(path, std::ios::binary);
        out.put(14);
        out.write(reinterpret_cast<const char*>(body.data()), std::streamsize(body.size()));
    }
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in) << path;
    bytes seed((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_FALSE(seed.empty());
    EXPECT_EQ(seed[0], 14);
    auto r = decode_report(bytes_view(seed).subspan(1), "fuzz-cluster");
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(*r, report(1, 2));
}

} // namespace
} // namespace trib::coordinator::raft
