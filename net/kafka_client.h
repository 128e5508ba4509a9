#pragma once

// A Kafka client connection to one broker (host:port), for requests one broker sends another:
// followers fetching from leaders, later anything else. It lives on one executor (one core)
// and every member is called from coroutines on that executor.
//
//   kafka_client c(ex, {"127.0.0.1", 9092}, {.client_id = "broker-2-fetcher"});
//   auto v = co_await c.connect(5s);                      // optional: call() connects too
//   auto version = c.version_for(fetch_request::api_key, 12);
//   auto resp = co_await c.call<protocol::fetch_response>(req, *version, 30s);
//
// - Connecting resolves the host, connects and asks ApiVersions (v3, falling back as the
//   broker's v0-layout refusal says), all within options.connect_timeout and the caller's
//   deadline. Calls made meanwhile share that one attempt. A peer without ApiVersions (the
//   coordinator) is reached with options.ask_api_versions = false.
// - Calls are pipelined: each is written at once, several wait for answers together, and the
//   broker answers in request order, so the reader hands each frame to the oldest call and
//   fails the connection if its correlation id is another.
// - Each call has a deadline. When it passes the call fails with timed_out and the connection
//   is closed (as Kafka's clients do): answers come in order, so everything sent after the
//   late one is stuck behind it anyway.
// - A failed connection fails every outstanding call (connection_lost, or bad_response for a
//   frame that can't be right) and is logged with the reason; the next call reconnects, but
//   not before reconnect_at(): reconnect.backoff.ms after a lost connection, doubling after
//   each failed attempt up to reconnect.backoff.max.ms. A call waits for the back-off (within
//   its deadline) instead of failing at once, so a retry loop never spins.
// - Response frames are read without trusting their size: above max_response_bytes fails the
//   connection before allocating, and the buffer grows only as bytes really arrive. Bodies
//   decode with protocol::reader (client_codec.h).
// - Fetch responses: each partition's records arrive as one protocol::record_set whose `data`
//   holds the batches back to back as the leader sent them (one copy out of the frame per
//   partition, none per batch); protocol::record_set_iterator finds where the whole batches
//   end (a leader may cut the last one short).
//
// - With options.sasl_mechanism set, the connection authenticates after ApiVersions. When the
//   broker gives the session a lifetime (KIP-368, connections.max.reauth.ms), the first call
//   after 85% of it that finds nothing in flight replaces the connection with a freshly
//   authenticated one (no back-off), instead of re-authenticating on it.
// - With options.tls set, the connection is TLS (the source's context in force at the
//   attempt, looked at again each reload interval): the handshake follows the TCP connect
//   (within the same connect timeout), checking the peer's certificate against the context's
//   CAs and, with tls_verify_host, its host name or IP address (SNI is sent for a name). A
//   failed handshake is a failed connection attempt, its OpenSSL reason in last_error().
//
// close() fails what is outstanding with closed and makes every later call fail the same
// way. The owner must let outstanding calls return before destroying the client: they refer
// to it. The connection's own reader and writer hold only their connection, not the client.
#include "net/client_codec.h"
#include "common/listeners.h"
#include "common/runtime.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::net {

class tls_source;

struct kafka_client_options {
    std::string client_id = "tributary";
    std::chrono::milliseconds connect_timeout{10000};        // TCP connect plus ApiVersions
    std::chrono::milliseconds reconnect_backoff{50};         // reconnect.backoff.ms
    std::chrono::milliseconds reconnect_backoff_max{1000};   // reconnect.backoff.max.ms
    int32_t max_response_bytes = 100 * 1024 * 1024;          // a bigger size prefix fails the connection
    // false for a peer that serves no ApiVersions (the coordinator's private APIs): nothing is
    // negotiated, call() checks only this build's range and version_for() is not_connected.
    bool ask_api_versions = true;
    // TLS: a client tls_source (net/tls.h), whose context in force each connection attempt
    // takes (so a changed keystore or truststore is used from the next connection); null:
    // plaintext.
    std::shared_ptr<tls_source> tls;
    bool tls_verify_host = true;
    // SASL after ApiVersions (SaslHandshake v1, then SaslAuthenticate until the exchange
    // ends; security/sasl.h's client, which checks a SCRAM server's signature too) as
    // sasl_username; empty mechanism: no SASL. A refused authentication is a failed
    // connection attempt, the broker's reason in last_error().
    std::string sasl_mechanism;
    std::string sasl_username, sasl_password;
    // false: a failed attempt is logged at debug level only (the owner logs last_error() its
    // own way: rpc_channel, which makes a client per attempt, once per reason).
    bool log_connect_failures = true;
};

class kafka_client {
public:
    using clock = std::chrono::steady_clock;

    kafka_client(asio::any_io_executor ex, config::host_port target, kafka_client_options options = {});
    kafka_client(const kafka_client&) = delete;
    kafka_client& operator=(const kafka_client&) = delete;
    ~kafka_client();

    // Connects unless connected. Errors: not_connected (with last_error() saying why),
    // timed_out, closed.
    asio::awaitable<result<void>> connect(std::chrono::milliseconds timeout);

    // Sends `req` at `version` and decodes the answer. Connects first when needed. Errors:
    // those of connect(), unsupported_version (a version the broker or this build does not
    // serve: nothing is sent), timed_out, connection_lost, bad_response. A call whose answer
    // does not decode fails alone (bad_response); the connection stays, its framing intact.
    // Not for requests without an answer (Produce with acks=0).
    template<typename Resp, typename Req>
    asio::awaitable<result<Resp>> call(const Req& req, int16_t version, std::chrono::milliseconds timeout);

    // The highest version of `api_key`, at most `wanted_max`, that both this build and the
    // broker serve, from the broker's last ApiVersions answer. not_connected before any
    // answer, unsupported_version when there is no such version.
    result<int16_t> version_for(int16_t api_key, int16_t wanted_max) const;
    // The broker's ranges (empty before the first ApiVersions answer).
    const api_version_table& api_versions() const noexcept { return _versions; }

    void close();

    bool connected() const noexcept;
    // Whether the other end closed this connection while nothing was outstanding on it, though
    // the reader has not run since to notice: a peek at the socket, never blocking (end of
    // stream or an error). For an owner that keeps a connection idle between calls and runs
    // its executor only now and then (a test), so a request is not written into a dead
    // connection. False while calls are outstanding, or without a connection (see connected()).
    bool peer_closed() const noexcept;
    // The earliest time the next connection attempt starts (in the past when it may start now).
    clock::time_point reconnect_at() const noexcept;
    // Why the last connection attempt or connection failed, for logs ("" when none has).
    const std::string& last_error() const noexcept { return _last_error; }
    const config::host_port& target() const noexcept { return _target; }

private:
    struct link;
    struct pending_call;

    asio::awaitable<result<void>> ensure_link(clock::time_point deadline);
    asio::awaitable<result<void>> open_link(clock::time_point deadline);
    asio::awaitable<result<void>> negotiate(const std::shared_ptr<link>& l, clock::time_point deadline);
    asio::awaitable<result<void>> authenticate(const std::shared_ptr<link>& l, clock::time_point deadline);
    // Queues `frame` (taken) on `l` and waits for the answer to `correlation_id`.
    asio::awaitable<result<bytes>> exchange(const std::shared_ptr<link>& l, bytes& frame, int32_t correlation_id,
                                            clock::time_point deadline);
    result<void> check_version(int16_t api_key, int16_t version, int16_t ours_min, int16_t ours_max) const;
    void connect_failed(std::string reason);
    void wake_connect_waiters();
    int32_t next_correlation_id() noexcept;

    asio::any_io_executor _ex;
    config::host_port _target;
    std::string _peer;                         // host:port, for logs
    kafka_client_options _options;
    asio::ip::tcp::resolver _resolver;
    asio::steady_timer _backoff_timer;
    std::shared_ptr<link> _link;               // the current connection, or the last one (dead)
    api_version_table _versions;               // from the last ApiVersions answer
    bool _connecting = false;                  // a call is inside open_link
    uint64_t _connect_attempts = 0;            // finished attempts, so waiters see one end
    std::vector<asio::steady_timer*> _connect_waiters;
    clock::time_point _reconnect_at{};         // after a failed attempt
    std::chrono::milliseconds _backoff;        // the wait after the next failure
    std::string _last_error;
    int32_t _next_correlation = 0;
    bool _closed = false;
};

template<typename Resp, typename Req>
asio::awaitable<result<Resp>> kafka_client::call(const Req& req, int16_t version, std::chrono::milliseconds timeout) {
    static_assert(Req::api_key == Resp::api_key, "a request and the response of another API");
    const auto deadline = clock::now() + timeout;
    if (auto linked = co_await ensure_link(deadline); !linked) {
        co_return linked.error();
    }
    if (auto ok = check_version(Req::api_key, version, Req::min_version, Req::max_version); !ok) {
        co_return ok.error();
    }
    const int32_t correlation_id = next_correlation_id();
    bytes frame = encode_request_frame(req, version, correlation_id, _options.client_id);
    const std::shared_ptr<link> l = _link;
    auto answer = co_await exchange(l, frame, correlation_id, deadline);
    if (!answer) {
        co_return answer.error();
    }
    co_return decode_response<Resp>(*answer, version, correlation_id);
}

} // namespace trib::net
