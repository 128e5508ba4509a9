// NOT_CONTROLLER and where the active controller is. Service side: a coordinator whose log
// says it does not lead decides nothing and names the leader its log knows. Client side:
// rpc_channel follows such a name straight to the active controller, and without one tries
// the next coordinator (fake coordinators on loopback answer as the test says).
#include "coordinator/client/rpc.h"
#include "coordinator/service.h"
#include "tests/fakes/coordinator_fake_log.h"
#include "tests/fakes/run_until.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <gtest/gtest.h>

#include <functional>
#include <memory>

namespace trib::coordinator {
namespace {

using namespace std::chrono_literals;
using protocol::error_code;
using heartbeat_request = protocol::coordinator_broker_heartbeat_request;
using heartbeat_response = protocol::coordinator_broker_heartbeat_response;

int16_t code(error_code e) { return static_cast<int16_t>(e); }

// One request on a fresh blocking connection, its decoded answer.
template<typename Resp, typename Req>
Resp raw_call(uint16_t port, const Req& req) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), port});
    asio::write(s, asio::buffer(net::encode_request_frame(req, 0, 7, "test")));
    uint8_t size[4];
    asio::read(s, asio::buffer(size));
    bytes body(load_be32(size));
    asio::read(s, asio::buffer(body));
    auto resp = net::decode_response<Resp>(body, 0, 7);
    EXPECT_TRUE(resp) << "a whole answer to request 7";
    return resp ? *resp : Resp{};
}

// A coordinator service on a log that does not lead; `leader` is who its log says leads.
struct follower {
    explicit follower(std::optional<raft::voter> leader) {
        cfg.controller.cluster_id = "hints";
        cfg.controller.id = node_id(1);
        cfg.listeners.push_back({"CONTROLLER", "127.0.0.1", 0});
        cfg.tick = 20ms;
        cfg.open_log = [leader](state_machine& sm, asio::io_context&) {
            return std::make_unique<testing::fake_log>(sm, leadership{false, term_id(3), leader});
        };
        svc = std::make_unique<service>(cfg, clk);
        port = svc->start().at(0);
    }
    ~follower() { svc->stop(); }
    steady_clock clk;
    service_config cfg;
    std::unique_ptr<service> svc;
    uint16_t port = 0;
};

TEST(not_controller, a_coordinator_that_does_not_lead_names_the_active_controller) {
    follower f(raft::voter{node_id(2), "127.0.0.1", 4321});
    EXPECT_FALSE(f.svc->active());
    EXPECT_TRUE(f.svc->ready()) << "a leader is known";

    heartbeat_request hb;
    hb.broker_id = 5;
    auto h = raw_call<heartbeat_response>(f.port, hb);
    EXPECT_EQ(h.error_code, code(error_code::not_controller));
    EXPECT_EQ(h.controller_id, 2);
    EXPECT_EQ(h.controller_host, std::optional<std::string>("127.0.0.1"));
    EXPECT_EQ(h.controller_port, 4321);

    protocol::coordinator_register_broker_request reg;
    reg.cluster_id = "hints";
    reg.broker_id = 5;
    auto r = raw_call<protocol::coordinator_register_broker_response>(f.port, reg);
    EXPECT_EQ(r.error_code, code(error_code::not_controller));
    EXPECT_EQ(r.controller_id, 2);
    EXPECT_EQ(r.controller_port, 4321);

    protocol::create_topics_request create;
    create.topics.push_back({"t", 1, 1, {}, {}, {}});
    protocol::writer w;
    create.encode(w, 7);
    protocol::coordinator_admin_request admin;
    admin.request_api_key = protocol::create_topics_request::api_key;
    admin.request_api_version = 7;
    admin.body = w.take();
    auto a = raw_call<protocol::coordinator_admin_response>(f.port, admin);
    EXPECT_EQ(a.error_code, code(error_code::not_controller));
    EXPECT_EQ(a.controller_id, 2);
    EXPECT_EQ(a.controller_host, std::optional<std::string>("127.0.0.1"));

    // The committed log is served by any coordinator; a reader ahead of this one is sent on
    // rather than told to start over.
    protocol::coordinator_fetch_metadata_request fetch;
    fetch.from_offset = 0;
    fetch.max_wait_ms = 0;
    auto served = raw_call<protocol::coordinator_fetch_metadata_response>(f.port, fetch);
    EXPECT_EQ(served.error_code, 0);
    EXPECT_EQ(served.committed_offset, 0);
    fetch.from_offset = 5;
    auto ahead = raw_call<protocol::coordinator_fetch_metadata_response>(f.port, fetch);
    EXPECT_EQ(ahead.error_code, code(error_code::not_controller));
    EXPECT_EQ(ahead.controller_id, 2);
}

TEST(not_controller, without_a_known_leader_there_is_no_name_and_no_readiness) {
    follower f(std::nullopt);
    EXPECT_FALSE(f.svc->ready());
    heartbeat_request hb;
    hb.broker_id = 5;
    auto h = raw_call<heartbeat_response>(f.port, hb);
    EXPECT_EQ(h.error_code, code(error_code::not_controller));
    EXPECT_EQ(h.controller_id, -1);
    EXPECT_FALSE(h.controller_host.has_value());
}

// A coordinator on loopback answering every heartbeat with `answer()`.
class fake_coordinator {
public:
    fake_coordinator(asio::io_context& ctx, std::function<heartbeat_response()> answer)
      : _ctx(ctx), _acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0}), _answer(std::move(answer)) {
        asio::co_spawn(ctx, accept_loop(), asio::detached);
    }
    ~fake_coordinator() { close(); }
    void close() {
        boost::system::error_code ec;
        _acceptor.close(ec);
    }
    config::host_port address() const { return {"127.0.0.1", _acceptor.local_endpoint().port()}; }
    int connections = 0;
    int requests = 0;

private:
    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto s = co_await _acceptor.async_accept(asio::use_awaitable);
            ++connections;
            asio::co_spawn(_ctx, serve(std::move(s)), asio::detached);
        }
    }
    asio::awaitable<void> serve(asio::ip::tcp::socket s) {
        for (;;) {
            uint8_t size[4];
            co_await asio::async_read(s, asio::buffer(size), asio::use_awaitable);
            bytes frame(load_be32(size));
            co_await asio::async_read(s, asio::buffer(frame), asio::use_awaitable);
            protocol::reader r(frame);
            protocol::request_header h;
            if (!protocol::decode_request_header(r, h)) {
                co_return;
            }
            ++requests;
            protocol::writer w;
            w.write_int32(0);
            protocol::encode_response_header(w, h.correlation_id, protocol::response_header_version(h.api_key, 0));
            _answer().encode(w, 0);
            bytes out = w.take();
            store_be32(out.data(), uint32_t(out.size() - 4));
            co_await asio::async_write(s, asio::buffer(out), asio::use_awaitable);
        }
    }

    asio::io_context& _ctx;
    asio::ip::tcp::acceptor _acceptor;
    std::function<heartbeat_response()> _answer;
};

heartbeat_response not_controller(std::optional<config::host_port> leader) {
    heartbeat_response r;
    r.error_code = code(error_code::not_controller);
    if (leader) {
        r.controller_id = 9;
        r.controller_host = leader->host;
        r.controller_port = leader->port;
    }
    return r;
}

heartbeat_response fine() {
    heartbeat_response r;
    r.lease_ms = 1234;
    return r;
}

// One heartbeat through `ch`: its transport error and answer.
std::pair<std::error_code, heartbeat_response> heartbeat(asio::io_context& ctx, rpc_channel& ch,
                                                         std::chrono::milliseconds timeout = 5s) {
    std::pair<std::error_code, heartbeat_response> out;
    bool done = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            out.first = co_await ch.call(heartbeat_request{}, out.second, timeout);
            done = true;
        },
        asio::detached);
    EXPECT_TRUE(fakes::run_until(ctx, [&] { return done; }));
    return out;
}

TEST(not_controller, the_client_goes_straight_to_the_controller_it_is_told_of) {
    asio::io_context ctx;
    fake_coordinator leader(ctx, fine);
    fake_coordinator follower_a(ctx, [&] { return not_controller(leader.address()); });
    fake_coordinator follower_b(ctx, fine);  // a voter tried in turn would have been this one
    rpc_channel ch(ctx.get_executor(), {follower_a.address(), follower_b.address()}, "test");
    auto [ec, resp] = heartbeat(ctx, ch);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(resp.error_code, 0);
    EXPECT_EQ(resp.lease_ms, 1234) << "the leader's answer";
    EXPECT_EQ(follower_a.requests, 1);
    EXPECT_EQ(leader.requests, 1);
    EXPECT_EQ(follower_b.connections, 0) << "no voter tried in turn";
    EXPECT_EQ(ch.connected_to(), std::optional<config::host_port>(leader.address()));
    // It stays with the leader.
    auto [ec2, again] = heartbeat(ctx, ch);
    ASSERT_FALSE(ec2);
    EXPECT_EQ(leader.requests, 2);
    EXPECT_EQ(ch.connects(), 2u);
}

TEST(not_controller, without_a_name_the_client_tries_the_next_coordinator) {
    asio::io_context ctx;
    fake_coordinator follower_a(ctx, [] { return not_controller(std::nullopt); });
    fake_coordinator leader(ctx, fine);
    rpc_channel ch(ctx.get_executor(), {follower_a.address(), leader.address()}, "test");
    auto [ec, resp] = heartbeat(ctx, ch);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(resp.error_code, 0);
    EXPECT_EQ(follower_a.requests, 1);
    EXPECT_EQ(leader.requests, 1);
}

TEST(not_controller, coordinators_learned_from_the_quorum_are_tried_after_the_configured_ones) {
    asio::io_context ctx;
    fake_coordinator configured(ctx, [] { return not_controller(std::nullopt); });
    fake_coordinator added(ctx, fine);  // a voter added since the broker was configured
    rpc_channel ch(ctx.get_executor(), {configured.address()}, "test");
    auto [before, refused] = heartbeat(ctx, ch, 1s);
    ASSERT_FALSE(before) << before.message();
    EXPECT_EQ(refused.error_code, code(error_code::not_controller)) << "only the configured coordinator is known yet";
    EXPECT_EQ(added.requests, 0);

    ch.set_learned({configured.address(), added.address()});
    EXPECT_EQ(ch.targets(), (std::vector{configured.address(), added.address()})) << "no duplicates";
    auto [ec, resp] = heartbeat(ctx, ch);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(resp.error_code, 0);
    EXPECT_EQ(added.requests, 1);

    // A later voter set replaces what was learned; the configured ones stay.
    ch.set_learned({});
    EXPECT_EQ(ch.targets(), std::vector{configured.address()});
}

TEST(not_controller, when_no_coordinator_leads_the_caller_gets_not_controller_within_its_deadline) {
    asio::io_context ctx;
    fake_coordinator a(ctx, [] { return not_controller(std::nullopt); });
    fake_coordinator b(ctx, [] { return not_controller(std::nullopt); });
    rpc_channel ch(ctx.get_executor(), {a.address(), b.address()}, "test");
    const auto start = std::chrono::steady_clock::now();
    auto [ec, resp] = heartbeat(ctx, ch, 2s);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(resp.error_code, code(error_code::not_controller));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    EXPECT_GE(a.requests, 2) << "both tried, more than once (an election takes a moment)";
    EXPECT_GE(b.requests, 2);
}

} // namespace
} // namespace trib::coordinator
