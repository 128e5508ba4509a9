// net::kafka_client against a net::server on loopback whose test dispatcher plays a broker:
// it answers ApiVersions with ranges the test sets, and a Metadata request by the topic
// names in it (echo them; hold the request; close the connection; answer with a bad frame).
// The client runs on the test thread's own io_context; the server on one pool thread.
#include "net/kafka_client.h"

#include "net/dispatcher.h"
#include "net/server.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/metadata.h"
#include "protocol/messages/sasl_authenticate.h"
#include "protocol/messages/sasl_handshake.h"
#include "protocol/records.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace trib::net {
namespace {

using namespace std::chrono_literals;
using protocol::metadata_request;
using protocol::metadata_response;

// What a Metadata request's topic names ask the fake broker to do (the first name decides):
//   "gate"       wait until gate_size gated requests are in, then answer them all
//   "forever"    never answer
//   "close"      close the connection
//   "garbage"    answer with the right correlation id and a body that does not decode
//   "oversize"   answer with a size prefix of 2 GiB - 1
//   "wrong-corr" answer with another correlation id
// Anything else, and the gated ones once the gate opens: a response naming the same topics.
// With sasl_lifetime set it serves SASL PLAIN (any password), giving sessions that lifetime,
// and closes a connection whose session has ended at its next Metadata request, as a broker
// with connections.max.reauth.ms does.
class fake_broker final : public request_dispatcher {
public:
    struct sasl_session final : connection_state {
        std::optional<std::chrono::steady_clock::time_point> ends;
    };
    std::unique_ptr<connection_state> open_connection(const std::string&) override {
        return std::make_unique<sasl_session>();
    }

    asio::awaitable<dispatch_result> dispatch(bytes frame, const connection_info& conn) override {
        protocol::reader r(frame);
        protocol::request_header h;
        if (!protocol::decode_request_header(r, h)) {
            co_return close_connection{"undecodable header"};
        }
        if (h.api_key == protocol::api_versions_key) {
            co_return respond{api_versions(h)};
        }
        auto* session = static_cast<sasl_session*>(conn.state);
        if (h.api_key == protocol::sasl_handshake_request::api_key) {
            protocol::sasl_handshake_response resp;
            resp.mechanisms = {"PLAIN"};
            co_return respond{encode(h, resp)};
        }
        if (h.api_key == protocol::sasl_authenticate_request::api_key) {
            protocol::sasl_authenticate_response resp;
            resp.session_lifetime_ms = sasl_lifetime.count();
            session->ends = std::chrono::steady_clock::now() + sasl_lifetime;
            ++authentications;
            co_return respond{encode(h, resp)};
        }
        if (sasl_lifetime.count() > 0 && h.api_key == metadata_request::api_key &&
            (!session->ends || std::chrono::steady_clock::now() >= *session->ends)) {
            ++expired_closes;
            co_return close_connection{"session expired"};
        }
        if (h.api_key == protocol::fetch_request::api_key) {
            co_return respond{fetch(h)};
        }
        if (h.api_key != metadata_request::api_key) {
            co_return close_connection{"unexpected API"};
        }
        {
            std::lock_guard lock(mu);
            metadata_versions.push_back(h.api_version);
        }
        metadata_request req;
        req.decode(r, h.api_version);
        if (!r.ok() || !req.topics || req.topics->empty()) {
            co_return close_connection{"bad metadata request"};
        }
        const std::string first = req.topics->front().name.value_or("");
        if (first == "close") {
            co_return close_connection{"asked to"};
        }
        if (first == "garbage") {
            co_return respond{raw_frame(h.correlation_id, {0xff, 0xff, 0xff, 0xff, 0xff})};
        }
        if (first == "wrong-corr") {
            co_return respond{echo(h, req, h.correlation_id + 1000)};
        }
        if (first == "oversize") {
            outgoing_frame out;
            out.data = {0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0};
            co_return respond{std::move(out)};
        }
        if (first == "forever" || first == "gate") {
            asio::steady_timer t(co_await asio::this_coro::executor);
            t.expires_at(std::chrono::steady_clock::time_point::max());
            bool opens_gate = false;
            if (first == "gate") {
                if (gated.size() + 1 == gate_size) {
                    for (auto* g : gated) {
                        g->cancel();
                    }
                    gated.clear();
                    opens_gate = true;  // the last one in answers at once
                } else {
                    gated.push_back(&t);
                }
            }
            boost::system::error_code ec;
            if (!opens_gate) {
                co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            }
        }
        co_return respond{echo(h, req, h.correlation_id)};
    }

    outgoing_frame api_versions(const protocol::request_header& h) {
        {
            std::lock_guard lock(mu);
            api_versions_seen.push_back(h.api_version);
        }
        protocol::api_versions_response resp;
        for (const auto& [key, range] : served) {
            auto& k = resp.api_keys.emplace_back();
            k.api_key = key;
            k.min_version = range.first;
            k.max_version = range.second;
        }
        int16_t version = h.api_version;
        if (version > served[protocol::api_versions_key].second) {
            // The broker's rule: a version it does not serve gets the v0 layout and the error.
            resp.error_code = int16_t(protocol::error_code::unsupported_version);
            version = 0;
        } else if (refuse_api_versions) {
            resp.error_code = int16_t(protocol::error_code::cluster_authorization_failed);
        }
        protocol::writer w;
        w.write_int32(0);
        protocol::encode_response_header(w, h.correlation_id, 0);
        resp.encode(w, version);
        return finish(w);
    }

    // A Fetch answer: partition 0 with fetch_records, whatever was asked.
    outgoing_frame fetch(const protocol::request_header& h) const {
        protocol::fetch_response resp;
        auto& t = resp.responses.emplace_back();
        t.topic = "t";
        auto& p = t.partitions.emplace_back();
        p.high_watermark = 1000;
        p.records = protocol::record_set{fetch_records, {}};
        protocol::writer w;
        w.write_int32(0);
        protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, h.api_version));
        resp.encode(w, h.api_version);
        return finish(w);
    }

    static outgoing_frame echo(const protocol::request_header& h, const metadata_request& req, int32_t correlation_id) {
        metadata_response resp;
        for (const auto& t : *req.topics) {
            resp.topics.emplace_back().name = t.name;
        }
        protocol::writer w;
        w.write_int32(0);
        protocol::encode_response_header(w, correlation_id, protocol::response_header_version(h.api_key, h.api_version));
        resp.encode(w, h.api_version);
        return finish(w);
    }

    template<typename Resp>
    static outgoing_frame encode(const protocol::request_header& h, const Resp& resp) {
        protocol::writer w;
        w.write_int32(0);
        protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, h.api_version));
        resp.encode(w, h.api_version);
        return finish(w);
    }

    static outgoing_frame raw_frame(int32_t correlation_id, const bytes& body) {
        protocol::writer w;
        w.write_int32(0);
        w.write_int32(correlation_id);
        w.write_raw(body);
        return finish(w);
    }

    static outgoing_frame finish(protocol::writer& w) {
        outgoing_frame out;
        out.data = w.take();
        store_be32(out.data.data(), uint32_t(out.data.size() - 4));
        return out;
    }

    size_t api_versions_count() {
        std::lock_guard lock(mu);
        return api_versions_seen.size();
    }

    // Set before the server starts.
    std::map<int16_t, std::pair<int16_t, int16_t>> served{
        {protocol::api_versions_key, {0, 3}}, {metadata_request::api_key, {0, 12}}, {1, {4, 12}}};
    bool refuse_api_versions = false;
    std::chrono::milliseconds sasl_lifetime{0};
    bytes fetch_records;
    std::atomic<int> authentications{0};
    std::atomic<int> expired_closes{0};
    size_t gate_size = 1;

    std::mutex mu;
    std::vector<int16_t> api_versions_seen;
    std::vector<int16_t> metadata_versions;

private:
    std::vector<asio::steady_timer*> gated;  // server thread only
};

metadata_request topics(std::initializer_list<const char*> names) {
    metadata_request req;
    for (const char* n : names) {
        req.topics->emplace_back().name = n;
    }
    return req;
}

std::vector<std::string> names_of(const metadata_response& resp) {
    std::vector<std::string> out;
    for (const auto& t : resp.topics) {
        out.push_back(t.name.value_or("<null>"));
    }
    return out;
}

class kafka_client_test : public ::testing::Test {
protected:
    void start_server() {
        pool.start();
        port = srv.start({listen_endpoint{"PLAINTEXT", "127.0.0.1", 0}}).at(0);
    }
    void TearDown() override {
        srv.stop();
        pool.stop();
    }

    kafka_client_options options() const {
        kafka_client_options o;
        o.client_id = "kafka-client-test";
        o.connect_timeout = 5s;
        o.reconnect_backoff = 1ms;  // tests that reconnect at once; the back-off test sets its own
        o.reconnect_backoff_max = 1ms;
        return o;
    }

    // Runs `body` on a fresh io_context on this thread until it returns (bounded).
    template<typename F>
    void run(F body) {
        asio::io_context ctx;
        // Coroutines take executors by reference: g++ 12 may move a by-value argument bitwise,
        // and an executor points into itself.
        const asio::any_io_executor ex = ctx.get_executor();
        bool finished = false;
        asio::co_spawn(
            ctx,
            [&]() -> asio::awaitable<void> {
                co_await body(ex);
                finished = true;
            },
            [](std::exception_ptr e) {
                if (e) {
                    std::rethrow_exception(e);
                }
            });
        ctx.run_for(60s);
        ASSERT_TRUE(finished) << "the client coroutine did not finish";
    }

    // Calls Metadata with these topic names on `c`.
    static asio::awaitable<result<metadata_response>> ask(kafka_client& c, const metadata_request& req,
                                                          std::chrono::milliseconds timeout = 10s,
                                                          int16_t version = 12) {
        co_return co_await c.call<metadata_response>(req, version, timeout);
    }

    // Calls Metadata with each request at once (each call its own coroutine) and waits for all.
    static asio::awaitable<std::vector<result<metadata_response>>> ask_together(
        kafka_client& c, const std::vector<metadata_request>& reqs, std::chrono::milliseconds timeout) {
        auto ex = co_await asio::this_coro::executor;
        std::vector<result<metadata_response>> got(reqs.size(), client_errc::not_connected);
        size_t done = 0;
        asio::steady_timer all_done(ex, std::chrono::steady_clock::time_point::max());
        for (size_t i = 0; i < reqs.size(); ++i) {
            asio::co_spawn(
                ex,
                [&, i]() -> asio::awaitable<void> {
                    got[i] = co_await ask(c, reqs[i], timeout);
                    if (++done == reqs.size()) {
                        all_done.cancel();
                    }
                },
                asio::detached);
        }
        boost::system::error_code ec;
        while (done < reqs.size()) {
            co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        co_return got;
    }

    // What a call asking `what` got, and then an ordinary call after it on the same client.
    struct two_calls {
        result<metadata_response> first = client_errc::not_connected;
        result<metadata_response> then = client_errc::not_connected;
    };
    two_calls call_then_another(const char* what, std::chrono::milliseconds timeout = 10s) {
        two_calls out;
        run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
            kafka_client c(ex, {"127.0.0.1", port}, options());
            const auto req = topics({what});
            out.first = co_await ask(c, req, timeout);
            const auto fine = topics({"fine"});
            out.then = co_await ask(c, fine);
        });
        return out;
    }

    fake_broker broker;
    io_pool pool{1};
    server srv{pool, broker, connection_limits{}};
    uint16_t port = 0;
};

TEST_F(kafka_client_test, pipelined_calls_are_answered_each_with_its_own_response) {
    // The broker answers none of the gated calls until all of them are in: a client that
    // waited for each answer before sending the next would time out here.
    constexpr size_t n = 5;
    broker.gate_size = n;
    start_server();
    std::vector<result<metadata_response>> got;
    bool connected_after = false;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        std::vector<metadata_request> reqs;
        for (size_t i = 0; i < n; ++i) {
            reqs.push_back(topics({"gate"}));
            reqs.back().topics->emplace_back().name = "id-" + std::to_string(i);
        }
        got = co_await ask_together(c, reqs, 20s);
        connected_after = c.connected();
    });
    ASSERT_EQ(got.size(), n);
    for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(got[i]) << "call " << i << ": " << got[i].error().message();
        EXPECT_EQ(names_of(*got[i]), (std::vector<std::string>{"gate", "id-" + std::to_string(i)}));
    }
    EXPECT_TRUE(connected_after);
    EXPECT_EQ(broker.api_versions_count(), 1u) << "one connection for all the calls";
}

TEST_F(kafka_client_test, flexible_and_older_versions_use_their_header_versions) {
    start_server();
    std::vector<result<metadata_response>> got;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        const auto req = topics({"a", "b"});
        for (int16_t v : {int16_t(1), int16_t(8), int16_t(9), int16_t(12)}) {
            got.push_back(co_await ask(c, req, 10s, v));
        }
    });
    ASSERT_EQ(got.size(), 4u);
    for (const auto& r : got) {
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_EQ(names_of(*r), (std::vector<std::string>{"a", "b"}));
    }
    std::lock_guard lock(broker.mu);
    EXPECT_EQ(broker.metadata_versions, (std::vector<int16_t>{1, 8, 9, 12}));
}

TEST_F(kafka_client_test, a_call_past_its_deadline_times_out_and_the_next_reconnects) {
    start_server();
    auto r = call_then_another("forever", 200ms);
    ASSERT_FALSE(r.first);
    EXPECT_EQ(r.first.error(), make_error_code(client_errc::timed_out));
    ASSERT_TRUE(r.then) << r.then.error().message();
    EXPECT_EQ(names_of(*r.then), std::vector<std::string>{"fine"});
    EXPECT_EQ(broker.api_versions_count(), 2u) << "the late call's connection was closed";
}

TEST_F(kafka_client_test, the_server_closing_fails_every_outstanding_call_and_the_next_reconnects) {
    start_server();
    std::vector<result<metadata_response>> outstanding;
    result<metadata_response> after = client_errc::not_connected;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        if (auto ok = co_await c.connect(10s); !ok) {
            co_return;
        }
        const std::vector<metadata_request> reqs{topics({"forever"}), topics({"forever"}), topics({"close"})};
        outstanding = co_await ask_together(c, reqs, 20s);
        const auto fine = topics({"y"});
        after = co_await ask(c, fine);
    });
    ASSERT_EQ(outstanding.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_FALSE(outstanding[i]) << "call " << i;
        EXPECT_EQ(outstanding[i].error(), make_error_code(client_errc::connection_lost)) << "call " << i;
    }
    ASSERT_TRUE(after) << after.error().message();
    EXPECT_EQ(names_of(*after), std::vector<std::string>{"y"});
    EXPECT_EQ(broker.api_versions_count(), 2u);
}

TEST_F(kafka_client_test, an_undecodable_body_fails_that_call_only) {
    start_server();
    auto r = call_then_another("garbage");
    ASSERT_FALSE(r.first);
    EXPECT_EQ(r.first.error(), make_error_code(client_errc::bad_response));
    ASSERT_TRUE(r.then) << r.then.error().message();
    EXPECT_EQ(broker.api_versions_count(), 1u) << "the framing was intact: the connection stays";
}

TEST_F(kafka_client_test, an_oversized_frame_or_a_wrong_correlation_id_fails_the_connection) {
    start_server();
    size_t connections = 0;
    for (const char* what : {"oversize", "wrong-corr"}) {
        auto r = call_then_another(what);
        ASSERT_FALSE(r.first) << what;
        EXPECT_EQ(r.first.error(), make_error_code(client_errc::bad_response)) << what;
        ASSERT_TRUE(r.then) << what << ": " << r.then.error().message();
        EXPECT_EQ(broker.api_versions_count() - connections, 2u) << what << ": the bad frame cost a connection";
        connections = broker.api_versions_count();
    }
}

TEST_F(kafka_client_test, versions_are_negotiated_with_an_older_broker) {
    // A broker serving ApiVersions up to v2 refuses our v3 in the v0 layout; we ask again at v2.
    broker.served = {{protocol::api_versions_key, {0, 2}},
                     {metadata_request::api_key, {1, 7}},
                     {1, {4, 11}},      // Fetch
                     {9999, {0, 3}}};   // an API this build has no codecs for
    start_server();
    std::vector<result<int16_t>> versions;
    result<metadata_response> too_new = client_errc::not_connected;
    result<metadata_response> fine = client_errc::not_connected;
    std::vector<result<int16_t>> before_connect;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        before_connect.push_back(c.version_for(metadata_request::api_key, 12));
        if (auto ok = co_await c.connect(10s); !ok) {
            co_return;
        }
        versions.push_back(c.version_for(metadata_request::api_key, 12));  // 7: the broker's max
        versions.push_back(c.version_for(metadata_request::api_key, 5));   // 5: what we want
        versions.push_back(c.version_for(metadata_request::api_key, 0));   // below the broker's min
        versions.push_back(c.version_for(1, 12));                          // 11: the broker's max
        versions.push_back(c.version_for(1, 3));                           // below both mins
        versions.push_back(c.version_for(9999, 3));                        // not ours
        versions.push_back(c.version_for(2, 7));                           // not the broker's
        const auto req = topics({"v"});
        too_new = co_await ask(c, req, 10s, 9);
        fine = co_await ask(c, req, 10s, 7);
    });
    ASSERT_EQ(before_connect.size(), 1u);
    EXPECT_EQ(before_connect[0].error(), make_error_code(client_errc::not_connected));
    ASSERT_EQ(versions.size(), 7u);
    EXPECT_EQ(*versions[0], 7);
    EXPECT_EQ(*versions[1], 5);
    EXPECT_EQ(*versions[3], 11);
    for (size_t i : {size_t(2), size_t(4), size_t(5), size_t(6)}) {
        ASSERT_FALSE(versions[i]) << i;
        EXPECT_EQ(versions[i].error(), make_error_code(client_errc::unsupported_version)) << i;
    }
    ASSERT_FALSE(too_new);
    EXPECT_EQ(too_new.error(), make_error_code(client_errc::unsupported_version));
    ASSERT_TRUE(fine) << fine.error().message();
    std::lock_guard lock(broker.mu);
    EXPECT_EQ(broker.api_versions_seen, (std::vector<int16_t>{3, 2}));
    EXPECT_EQ(broker.metadata_versions, std::vector<int16_t>{7}) << "the v9 call sent nothing";
}

TEST_F(kafka_client_test, an_api_versions_error_fails_the_connection_attempt_with_the_reason) {
    broker.refuse_api_versions = true;
    start_server();
    result<void> r;
    std::string why;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        r = co_await c.connect(10s);
        why = c.last_error();
    });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), make_error_code(client_errc::not_connected));
    EXPECT_NE(why.find("CLUSTER_AUTHORIZATION_FAILED"), std::string::npos) << why;
}

// A Fetch answer's records come as the leader sent them, in one buffer, however big (here
// past the reader's first 64 KiB); a last batch cut short is what record_set_iterator leaves
// for the next fetch.
TEST_F(kafka_client_test, fetched_records_arrive_in_one_buffer_and_a_cut_last_batch_is_left_out) {
    bytes whole;
    size_t first_two = 0;  // bytes of the two whole batches
    const std::string value(1000, 'v');
    for (int64_t base = 0; base < 300; base += 100) {
        protocol::batch_options o;
        o.base_offset = base;
        protocol::batch_builder b(o);
        for (int i = 0; i < 100; ++i) {
            b.add(std::to_string(base + i), value, 1700000000000 + i);
        }
        auto batch = b.build();
        ASSERT_TRUE(batch);
        whole.insert(whole.end(), batch->begin(), batch->end());
        if (base == 100) {
            first_two = whole.size();
        }
    }
    broker.fetch_records = bytes(whole.begin(), whole.end() - 10);
    start_server();
    result<protocol::fetch_response> got = client_errc::not_connected;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        if (auto ok = co_await c.connect(10s); !ok) {
            co_return;
        }
        protocol::fetch_request req;
        req.replica_id = 2;
        auto& p = req.topics.emplace_back();
        p.topic = "t";
        p.partitions.emplace_back().partition_max_bytes = 1 << 20;
        got = co_await c.call<protocol::fetch_response>(req, 12, 10s);
    });
    ASSERT_TRUE(got) << got.error().message();
    ASSERT_EQ(got->responses.size(), 1u);
    ASSERT_EQ(got->responses[0].partitions.size(), 1u);
    const auto& records = got->responses[0].partitions[0].records;
    ASSERT_TRUE(records);
    EXPECT_TRUE(records->data == broker.fetch_records) << "the bytes as sent";
    protocol::record_set_iterator it(records->data);
    int64_t next = 0;
    for (;;) {
        auto b = it.next();
        ASSERT_TRUE(b) << b.error().message();
        if (!*b) {
            break;
        }
        EXPECT_EQ((*b)->header.base_offset, next);
        next = (*b)->header.last_offset() + 1;
        EXPECT_TRUE(protocol::validate_batch((*b)->data)) << "at " << (*b)->header.base_offset;
    }
    EXPECT_EQ(next, 200) << "two whole batches";
    EXPECT_TRUE(it.partial_tail());
    EXPECT_EQ(it.consumed(), first_two);
}

TEST_F(kafka_client_test, without_api_versions_only_our_own_range_is_checked) {
    start_server();
    result<metadata_response> in_range = client_errc::not_connected;
    result<metadata_response> out_of_range = client_errc::not_connected;
    result<int16_t> version = 0;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        auto o = options();
        o.ask_api_versions = false;
        kafka_client c(ex, {"127.0.0.1", port}, o);
        const auto req = topics({"q"});
        in_range = co_await ask(c, req, 10s, 4);
        out_of_range = co_await ask(c, req, 10s, metadata_request::max_version + 1);
        version = c.version_for(metadata_request::api_key, 4);
    });
    ASSERT_TRUE(in_range) << in_range.error().message();
    EXPECT_EQ(names_of(*in_range), std::vector<std::string>{"q"});
    EXPECT_EQ(out_of_range.error(), make_error_code(client_errc::unsupported_version));
    EXPECT_EQ(version.error(), make_error_code(client_errc::not_connected));
    EXPECT_EQ(broker.api_versions_count(), 0u);
}

// A port nothing listens on: bound, then closed.
uint16_t closed_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    ::close(fd);
    return ntohs(a.sin_port);
}

TEST_F(kafka_client_test, a_refused_connection_backs_off_before_the_next_attempt) {
    std::vector<result<metadata_response>> got;
    std::vector<std::chrono::steady_clock::duration> wait_left;
    std::string why;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        auto o = options();
        o.reconnect_backoff = 30s;  // far beyond the second call's deadline
        o.reconnect_backoff_max = 60s;
        kafka_client c(ex, {"127.0.0.1", closed_port()}, o);
        const auto req = topics({"t"});
        got.push_back(co_await ask(c, req, 5s));
        why = c.last_error();
        wait_left.push_back(c.reconnect_at() - std::chrono::steady_clock::now());
        // Within the back-off: this call waits for it until its own deadline, never tries.
        got.push_back(co_await ask(c, req, 50ms));
    });
    ASSERT_EQ(got.size(), 2u);
    ASSERT_FALSE(got[0]);
    EXPECT_EQ(got[0].error(), make_error_code(client_errc::not_connected));
    EXPECT_FALSE(why.empty());
    EXPECT_GT(wait_left[0], std::chrono::seconds(20)) << "the back-off is visible through reconnect_at()";
    ASSERT_FALSE(got[1]);
    EXPECT_EQ(got[1].error(), make_error_code(client_errc::timed_out));
}

// A peer on a plain socket that reads `expected` requests and then writes every answer as
// `chunks` says: the bytes of all the answers back to back, cut into writes of these sizes
// (the last write takes what is left). Each write is read by the client before the next goes
// out: the client's socket is in this process, so the peer finds it by its port and waits
// until the write has reached it (the peer's send queue is empty) and the client has taken
// every byte of it (FIONREAD). Answers echo the Metadata request's topics.
class scripted_peer {
public:
    scripted_peer(size_t expected, std::vector<size_t> chunks) : _expected(expected), _chunks(std::move(chunks)) {
        _listen = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(_listen, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::listen(_listen, 1);
        socklen_t len = sizeof a;
        ::getsockname(_listen, reinterpret_cast<sockaddr*>(&a), &len);
        port = ntohs(a.sin_port);
        _thread = std::thread([this] { serve(); });
    }
    ~scripted_peer() {
        _thread.join();
        ::close(_listen);
    }
    uint16_t port = 0;
    std::string failure;  // why the peer gave up, "" when it served the script

private:
    // The descriptor in this process whose local end is `accepted`'s remote end.
    static int client_socket(int accepted) {
        sockaddr_in peer{};
        socklen_t len = sizeof peer;
        if (::getpeername(accepted, reinterpret_cast<sockaddr*>(&peer), &len) != 0) {
            return -1;
        }
        for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
            int candidate = std::atoi(entry.path().filename().c_str());
            sockaddr_in local{};
            socklen_t local_len = sizeof local;
            if (candidate != accepted &&
                ::getsockname(candidate, reinterpret_cast<sockaddr*>(&local), &local_len) == 0 &&
                local.sin_family == AF_INET && local.sin_port == peer.sin_port &&
                local.sin_addr.s_addr == peer.sin_addr.s_addr) {
                return candidate;
            }
        }
        return -1;
    }
    bool read_exact(int fd, uint8_t* into, size_t n) {
        while (n > 0) {
            ssize_t got = ::read(fd, into, n);
            if (got <= 0) {
                return false;
            }
            into += got;
            n -= size_t(got);
        }
        return true;
    }
    void serve() {
        int fd = ::accept(_listen, nullptr, nullptr);
        if (fd < 0) {
            failure = "accept failed";
            return;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        const int client_fd = client_socket(fd);
        if (client_fd < 0) {
            failure = "the client's socket is not in this process";
            ::close(fd);
            return;
        }
        bytes out;
        for (size_t i = 0; i < _expected && failure.empty(); ++i) {
            uint8_t prefix[4];
            bytes frame;
            if (!read_exact(fd, prefix, 4)) {
                failure = "no request " + std::to_string(i);
                break;
            }
            frame.resize(load_be32(prefix));
            if (!read_exact(fd, frame.data(), frame.size())) {
                failure = "request " + std::to_string(i) + " cut short";
                break;
            }
            protocol::reader r(frame);
            protocol::request_header h;
            metadata_request req;
            if (!protocol::decode_request_header(r, h) || (req.decode(r, h.api_version), !r.ok()) || !req.topics) {
                failure = "request " + std::to_string(i) + " does not decode";
                break;
            }
            const auto answer = fake_broker::echo(h, req, h.correlation_id);
            out.insert(out.end(), answer.data.begin(), answer.data.end());
        }
        size_t at = 0;
        for (size_t c = 0; c <= _chunks.size() && at < out.size() && failure.empty(); ++c) {
            size_t n = c < _chunks.size() ? std::min(_chunks[c], out.size() - at) : out.size() - at;
            if (::write(fd, out.data() + at, n) != ssize_t(n)) {
                failure = "write failed";
                break;
            }
            at += n;
            // Until the client has taken it: the next chunk then arrives as a read of its own.
            // (Not after the last: the client may be done and have closed its socket.)
            for (int unsent = 1, unread = 1; at < out.size() && (unsent > 0 || unread > 0);) {
                if (::ioctl(fd, SIOCOUTQ, &unsent) != 0 || ::ioctl(client_fd, FIONREAD, &unread) != 0) {
                    failure = "SIOCOUTQ or FIONREAD failed";
                    break;
                }
                if (unsent > 0 || unread > 0) {
                    std::this_thread::yield();
                }
            }
        }
        // Until the client hangs up.
        uint8_t rest;
        while (::read(fd, &rest, 1) > 0) {
        }
        ::close(fd);
    }

    size_t _expected;
    std::vector<size_t> _chunks;
    int _listen = -1;
    std::thread _thread;
};

// Answers arrive however TCP cuts them: a size prefix split over reads, a body in pieces, the
// end of one answer and a whole next one in a single read. Each call still gets its own.
TEST_F(kafka_client_test, answers_split_or_joined_by_the_stream_reach_their_calls) {
    // Three pipelined calls. Their answers: 1, 2 then 1 byte (the first prefix in three reads),
    // 5 bytes (the rest of the prefix and the start of the body), 3, and then all the rest: the
    // first answer's end and the other two whole in one read.
    scripted_peer peer(3, {1, 2, 1, 5, 3});
    std::vector<result<metadata_response>> got;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        auto o = options();
        o.ask_api_versions = false;
        kafka_client c(ex, {"127.0.0.1", peer.port}, o);
        std::vector<metadata_request> reqs;
        for (int i = 0; i < 3; ++i) {
            reqs.push_back(topics({"split"}));
            reqs.back().topics->emplace_back().name = "call-" + std::to_string(i);
        }
        got = co_await ask_together(c, reqs, 20s);
        c.close();
    });
    EXPECT_EQ(peer.failure, "");
    ASSERT_EQ(got.size(), 3u);
    for (size_t i = 0; i < 3; ++i) {
        ASSERT_TRUE(got[i]) << "call " << i << ": " << got[i].error().message();
        EXPECT_EQ(names_of(*got[i]), (std::vector<std::string>{"split", "call-" + std::to_string(i)}));
    }
}

TEST_F(kafka_client_test, close_fails_outstanding_calls_and_every_later_one) {
    start_server();
    result<metadata_response> outstanding = client_errc::not_connected;
    result<metadata_response> later = client_errc::not_connected;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        kafka_client c(ex, {"127.0.0.1", port}, options());
        if (auto ok = co_await c.connect(10s); !ok) {
            co_return;
        }
        bool done = false;
        asio::steady_timer finished(ex, std::chrono::steady_clock::time_point::max());
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
                const auto req = topics({"forever"});
                outstanding = co_await ask(c, req, 20s);
                done = true;
                finished.cancel();
            },
            asio::detached);
        // Let the call go out (it is in flight once the spawned coroutine has run), then close.
        co_await asio::post(ex, asio::use_awaitable);
        c.close();
        boost::system::error_code ec;
        while (!done) {
            co_await finished.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        const auto req = topics({"x"});
        later = co_await ask(c, req);
    });
    ASSERT_FALSE(outstanding);
    EXPECT_EQ(outstanding.error(), make_error_code(client_errc::closed));
    ASSERT_FALSE(later);
    EXPECT_EQ(later.error(), make_error_code(client_errc::closed));
}

} // namespace
} // namespace trib::net

namespace trib::net {
namespace {

TEST_F(kafka_client_test, a_sasl_session_near_its_end_is_replaced_by_a_new_connection) {
    // KIP-368: the broker closes a connection whose session has ended at its next request.
    // The client replaces its connection once 85% of the lifetime has passed, so calls made
    // one after another across several lifetimes all succeed.
    broker.served[protocol::sasl_handshake_request::api_key] = {0, 1};
    broker.served[protocol::sasl_authenticate_request::api_key] = {0, 2};
    broker.sasl_lifetime = 400ms;
    start_server();
    int calls = 0;
    std::vector<std::string> failures;
    run([&](const asio::any_io_executor& ex) -> asio::awaitable<void> {
        auto o = options();
        o.sasl_mechanism = "PLAIN";
        o.sasl_username = "broker";
        o.sasl_password = "secret";
        kafka_client c(ex, {"127.0.0.1", port}, o);
        asio::steady_timer pace(ex);
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        const auto fine = topics({"fine"});  // named: g++ 12 and temporaries in co_await
        while (broker.authentications < 4 && std::chrono::steady_clock::now() < deadline) {
            auto got = co_await ask(c, fine);
            ++calls;
            if (!got) {
                failures.push_back(got.error().message() + ": " + c.last_error());
            }
            pace.expires_after(20ms);  // a replica fetcher's pace, not a busy loop
            boost::system::error_code ec;
            co_await pace.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    });
    EXPECT_GE(broker.authentications, 4) << "sessions renewed (" << calls << " calls)";
    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_EQ(broker.expired_closes, 0);
}

} // namespace
} // namespace trib::net
