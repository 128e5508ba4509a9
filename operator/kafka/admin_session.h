#pragma once
// A blocking Kafka-protocol session for the reconcile pass: the operator's way to ask a running
// cluster for something (DrainBrokers, AlterPartitionReassignments, DescribeQuorum,
// AddRaftVoter, IncrementalAlterConfigs, ...) the way any Kafka client does, through
// net::kafka_client. A reconcile worker thread owns one session for a pass (or longer); each
// call runs a private io_context until the answer or the timeout, so nothing else of the
// operator's threads is touched. Not thread-safe: one thread per session.
//
//   kafka::admin_session s({.timeout = 5s, .client_id = "tributary-operator"});
//   std::string why;
//   auto resp = s.call<protocol::drain_brokers_response>(broker, req, 0, why);
//
// The version sent is the highest both this build and the peer serve, at most `max_version`
// (negotiated through ApiVersions once per peer). Coordinators serve no ApiVersions:
// call_coordinator sends exactly the version given. A failure is an error with a readable
// reason in `why` ("host:port: DrainBrokers: timed out"); the session keeps the connection to
// each peer it reached and reconnects after a failure (net::kafka_client's back-off).
//
// TLS: a call goes with the TLS of the calling thread's kafka::tls_scope (kafka/security.h:
// the cluster CA and the operator's certificate of the cluster the pass talks to), plaintext
// outside any scope. A connection is kept per peer and TLS source, so a renewed certificate
// (a new source) makes new connections and a plaintext one is never taken for a TLS one.
#include "common/listeners.h"
#include "common/result.h"
#include "net/kafka_client.h"
#include "net/tls.h"
#include "protocol/api.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>

namespace trib::op::kafka {

// An answer's error as text: its name, then ": message" when the answer has one
// ("NOT_CONTROLLER: this coordinator is not the active controller").
std::string error_text(int16_t code, const std::optional<std::string>& message);

struct session_options {
    std::chrono::milliseconds timeout{5000};  // each call, connecting included
    std::string client_id = "tributary-operator";
};

class admin_session {
public:
    explicit admin_session(session_options options = {});
    admin_session(const admin_session&) = delete;
    admin_session& operator=(const admin_session&) = delete;
    ~admin_session();

    // Sends `req` to `to` and waits for the answer. Errors: those of net::kafka_client
    // (not_connected, timed_out, unsupported_version, connection_lost, bad_response), with
    // the reason in `why`. The answer's own error codes are the caller's to read.
    template<typename Resp, typename Req>
    result<Resp> call(const config::host_port& to, const Req& req, int16_t max_version, std::string& why);
    // The same to a coordinator (its CONTROLLER listener), at exactly `version`.
    template<typename Resp, typename Req>
    result<Resp> call_coordinator(const config::host_port& to, const Req& req, int16_t version, std::string& why);

    // Forgets every connection (the next call to a peer connects again).
    void close_all();

    const session_options& options() const noexcept { return _options; }

private:
    // negotiate: ask ApiVersions on connecting (brokers), or not (coordinators).
    net::kafka_client& client_for(const config::host_port& to, bool negotiate);
    template<typename Resp, typename Req>
    result<Resp> send(const config::host_port& to, const Req& req, int16_t version, bool negotiate, std::string& why);
    // Runs `body` (a coroutine returning result<T>) on the private io_context to its end.
    template<typename T, typename Body>
    result<T> run(Body body);
    static std::string describe_failure(const config::host_port& to, int16_t api_key, const std::error_code& ec,
                                        const std::string& last_error);

    session_options _options;
    asio::io_context _ctx;
    // By host:port, negotiate, and the TLS source (null: plaintext).
    std::map<std::tuple<std::string, bool, std::shared_ptr<net::tls_source>>, std::unique_ptr<net::kafka_client>>
        _clients;
};

template<typename T, typename Body>
result<T> admin_session::run(Body body) {
    // The completion handler of co_spawn needs a default-constructible value; result<T> is
    // not, so the coroutine stores it and returns nothing.
    std::optional<result<T>> out;
    auto wrapped = [&out, body = std::move(body)]() mutable -> asio::awaitable<void> {
        out.emplace(co_await body());
    };
    asio::co_spawn(_ctx, std::move(wrapped), [](std::exception_ptr e) {
        if (e) {
            std::rethrow_exception(e);  // a broken invariant inside the client: not ours to hide
        }
    });
    // Not run(): a connection's reader stays on the context between calls; the call's own
    // deadline ends it.
    _ctx.restart();
    while (!out && _ctx.run_one() > 0) {
    }
    if (!out) {
        return make_error_code(std::errc::operation_canceled);  // not reached: the coroutine is work
    }
    return std::move(*out);
}

template<typename Resp, typename Req>
result<Resp> admin_session::send(const config::host_port& to, const Req& req, int16_t version, bool negotiate,
                                 std::string& why) {
    auto& c = client_for(to, negotiate);
    const auto timeout = _options.timeout;
    auto r = run<Resp>([&c, &req, version, negotiate, timeout]() -> asio::awaitable<result<Resp>> {
        if (auto ok = co_await c.connect(timeout); !ok) {
            co_return ok.error();
        }
        int16_t v = version;
        if (negotiate) {
            auto agreed = c.version_for(Req::api_key, version);
            if (!agreed) {
                co_return agreed.error();
            }
            v = *agreed;
        }
        co_return co_await c.call<Resp>(req, v, timeout);
    });
    if (!r) {
        why = describe_failure(to, Req::api_key, r.error(), c.last_error());
    }
    return r;
}

template<typename Resp, typename Req>
result<Resp> admin_session::call(const config::host_port& to, const Req& req, int16_t max_version, std::string& why) {
    return send<Resp>(to, req, max_version, true, why);
}

template<typename Resp, typename Req>
result<Resp> admin_session::call_coordinator(const config::host_port& to, const Req& req, int16_t version,
                                             std::string& why) {
    return send<Resp>(to, req, version, false, why);
}

} // namespace trib::op::kafka
