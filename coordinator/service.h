#pragma once

// The coordinator as a network service: the controller, its metadata log and the RPCs
// brokers call (CoordinatorRegisterBroker, CoordinatorBrokerHeartbeat,
// CoordinatorFetchMetadata long poll, CoordinatorAdmin envelope), all on one thread: the
// coordinator's load is a few requests per broker per second, and one thread keeps the
// controller free of locks.
#include "coordinator/clock.h"
#include "coordinator/controller.h"
#include "net/dispatcher.h"
#include "net/client_security.h"
#include "net/server.h"
#include "security/authorizer.h"
#include "security/listener_sasl.h"
#include "coordinator/quorum_status.h"
#include "coordinator/replicated_log.h"

#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <filesystem>
#include <list>
#include <memory>
#include <thread>

namespace trib::coordinator {

struct service_config {
    controller_config controller;
    std::vector<net::listen_endpoint> listeners;
    net::tls_contexts tls;                                 // SSL and SASL_SSL listeners
    std::map<std::string, security::listener_sasl> sasl;  // SASL_PLAINTEXT and SASL_SSL listeners
    net::client_security client;                           // to the other voters (net_transport)
    // authorizer.class.name, super.users, allow.everyone.if.no.acl.found: who may send what
    // (coordinator/authorization.h), against the ACLs of the committed metadata image.
    security::authorizer_config authorizer;
    // Opens the metadata log (single_voter_log::factory, or a Raft log); required.
    log_factory open_log;
    std::filesystem::path metadata_dir;          // <log.dirs>/__cluster_metadata-0 (for messages)
    uint64_t snapshot_bytes = 20 << 20;          // metadata.log.max.record.bytes.between.snapshots
    std::chrono::milliseconds tick{250};         // how often leases are checked
    int32_t max_request_bytes = 100 << 20;
};

class service final : public net::request_dispatcher {
public:
    explicit service(service_config cfg, clock& clk);
    service(const service&) = delete;
    service& operator=(const service&) = delete;
    ~service() override;

    // Replays the metadata log, binds the listeners and starts the service thread; the bound
    // ports. Throws on failure (a start-up error).
    std::vector<uint16_t> start();
    // Stops accepting, closes connections, joins the thread and closes the log.
    void stop();

    // From any thread: the log is replayed and a leader is known (this node or another): what
    // /readyz says. active(): this node is the active controller.
    bool ready() const noexcept { return _ready.load(); }
    bool active() const noexcept { return _active.load(); }

    // On SIGTERM of the active controller: the log's hand_over_leadership(), on the service
    // thread. The voter asked to take over, or nullopt.
    std::optional<node_id> hand_over_leadership();

    // Runs `f` on the service thread and waits for it (tests, tools).
    template<typename F>
    auto call(F f) -> decltype(f(std::declval<controller&>()));
    // The same with the metadata log, read-only (/metrics: its stats() and voters(), which
    // only the service thread may read). After start(), before stop().
    template<typename F>
    auto call_log(F f) -> decltype(f(std::declval<const replicated_log&>()));

    // net::request_dispatcher: answers one request frame (an undecodable one closes the
    // connection).
    asio::awaitable<net::dispatch_result> dispatch(bytes frame, const net::connection_info& conn) override;
    // A SASL session per connection (net/sasl_connection.h, the broker's too): on a SASL
    // listener nothing but ApiVersions, SaslHandshake and SaslAuthenticate is served before the
    // client logs in, and a session bounded by connections.max.reauth.ms ends unless the client
    // re-authenticates (KIP-368).
    std::unique_ptr<net::connection_state> open_connection(const std::string& listener) override;

private:
    // Runs `f()` on the service thread and waits for its result (or exception).
    template<typename F>
    auto on_thread(F f) -> decltype(f());
    asio::awaitable<std::optional<bytes>> handle(const bytes& frame, const net::connection_info& conn);
    // Why the connection's principal may not send `api_key` (holding `inner_api_key` for
    // CoordinatorAdmin), logged; nullopt when it may (coordinator/authorization.h).
    std::optional<std::string> refused(const net::connection_info& conn, int16_t api_key, int16_t inner_api_key = -1);
    // ApiVersions, SaslHandshake, SaslAuthenticate, and the refusal of anything else before
    // SASL authentication; nullopt for the requests handle() serves.
    std::optional<net::dispatch_result> serve_session(const bytes& frame, const net::connection_info& conn);
    class notifier;
    void committed();
    // Publishes the log's leadership to ready() and active().
    void observe_leadership();
    asio::awaitable<void> tick_loop();
    asio::awaitable<void> fetch_metadata(const protocol::coordinator_fetch_metadata_request& req,
                                         protocol::coordinator_fetch_metadata_response& resp);
    // DescribeQuorum from the admin envelope: the log's leader and voters, the brokers as
    // observers (from their heartbeats).
    admin_reply describe_quorum(int16_t version, bytes_view body) const;
    // AddRaftVoter / RemoveRaftVoter from the admin envelope: the log changes its voters.
    asio::awaitable<admin_reply> change_voters(int16_t api_key, int16_t version, const bytes& body);

    service_config _cfg;
    clock& _clock;
    asio::io_context _ctx{1};
    std::unique_ptr<notifier> _notifier;
    std::unique_ptr<controller> _controller;
    std::unique_ptr<replicated_log> _log;
    observer_progress _observers;  // brokers' progress through the log, from their heartbeats
    std::unique_ptr<net::server> _server;
    std::list<asio::steady_timer*> _waiters;  // long polls, woken on commit
    asio::steady_timer _ticker{_ctx};
    std::thread _thread;
    bool _running = false;
    std::atomic<bool> _ready{false};
    std::atomic<bool> _active{false};
};

} // namespace trib::coordinator

#include <future>
#include <utility>

namespace trib::coordinator {

template<typename F>
auto service::on_thread(F f) -> decltype(f()) {
    using R = decltype(f());
    std::promise<R> p;
    asio::post(_ctx, [&] {
        try {
            if constexpr (std::is_void_v<R>) {
                f();
                p.set_value();
            } else {
                p.set_value(f());
            }
        } catch (...) {
            p.set_exception(std::current_exception());
        }
    });
    return p.get_future().get();
}

template<typename F>
auto service::call(F f) -> decltype(f(std::declval<controller&>())) {
    return on_thread([&]() -> decltype(auto) { return f(*_controller); });
}

template<typename F>
auto service::call_log(F f) -> decltype(f(std::declval<const replicated_log&>())) {
    return on_thread([&]() -> decltype(auto) { return f(std::as_const(*_log)); });
}

} // namespace trib::coordinator
