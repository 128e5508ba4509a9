#pragma once

// raft::transport over the network: the coordinators' Raft messages in CoordinatorRaftMessages
// envelopes (raft/envelope.h), one-way and batched, over one Kafka connection per peer.
//
//   net_transport t(service_ctx.get_executor(), node_id(1), cluster_id, {});
//   t.start([&](raft::message m) { driver.step(std::move(m)); });
//   t.set_peers(voters);          // again whenever the voter set or an address changes
//   t.send(ready.messages);       // returns at once
//   // the service's dispatcher, for an API key it does not serve itself:
//   if (auto body = t.handle(h.api_key, h.api_version, rest)) { answer with *body }
//
// Sending: each peer has a net::kafka_client (no ApiVersions unless it logs in with SASL:
// nothing else needs it; its reconnect back-off paces the attempts to a peer that is down;
// TLS and SASL as options.security says) and a queue of encoded
// messages. One sender coroutine per peer takes everything queued, up to batch_bytes (at
// least one message), sends it as one envelope, awaits the answer and starts over, so while
// an envelope is out the next batch gathers. The messages of a call that fails (no connection,
// a timeout, a refusal) are dropped, not sent again: Raft retransmits what still matters, and
// an old append resent after newer ones would only be refused. Failures are logged once per
// change of state (a peer down for an hour logs twice: down, up again), not per envelope. A
// queue above peer_queue_bytes drops its oldest messages first: the newest say the most
// (the latest term, commit end, vote). Order holds per connection: when a peer's address
// changes, an envelope still out on the old connection may arrive after the first one on the
// new (the core takes stale messages for what they are).
//
// Observer reports (types.h) travel in the same queues and envelopes, counted as messages.
//
// Receiving: handle() decodes an envelope, hands each message to the deliver callback in
// order, each observer report to the reports callback, and answers 0; an envelope refused
// (envelope.h) is answered with its error code and the reason, logged as a warning, and
// nothing of it is delivered.
//
// Threading and lifetime: everything runs on the executor's thread (the coordinator
// service's io_context), as transport.h says. The sender coroutines own their peer (client,
// queue) and the counters they update, not the transport: close() cancels them and closes
// the clients, after which the transport may be destroyed at once. The io_context must then
// run (the cancelled senders finish and free their peers) or be destroyed, which frees them
// too; the service closes the log, and with it the transport, on its own thread before it
// stops its io_context, so both hold. The destructor closes.
#include "common/bytes.h"
#include "common/ids.h"
#include "common/runtime.h"
#include "coordinator/raft/envelope.h"
#include "coordinator/raft/transport.h"
#include "coordinator/raft/types.h"
#include "net/client_security.h"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace trib::coordinator::raft {

struct net_transport_options {
    std::string client_id = "tributary-coordinator-raft";
    // Encoded messages waiting for one peer; above it the oldest are dropped.
    size_t peer_queue_bytes = 16 * 1024 * 1024;
    // Message bodies in one envelope (at least one message, however big).
    size_t batch_bytes = 2 * 1024 * 1024;
    // One envelope's call, connecting included. A peer that takes longer is treated as down.
    std::chrono::milliseconds call_timeout{5000};
    // The client's reconnect back-off (net/kafka_client.h).
    std::chrono::milliseconds reconnect_backoff{50};
    std::chrono::milliseconds reconnect_backoff_max{1000};
    // TLS and SASL to the other voters' controller listener (coordinator_config.h); plaintext
    // by default. With SASL the client asks ApiVersions first (the SASL requests' versions).
    net::client_security security;
};

// Counters since construction (raft/transport.h), for /metrics.
using net_transport_stats = transport_stats;

class net_transport final : public transport {
public:
    net_transport(asio::any_io_executor ex, node_id self, std::string cluster_id, net_transport_options options = {});
    net_transport(const net_transport&) = delete;
    net_transport& operator=(const net_transport&) = delete;
    ~net_transport() override;

    void start(deliver_fn deliver) override;
    void send(std::vector<message> msgs) override;
    void on_reports(report_fn f) override { _reports = std::move(f); }
    void send_report(observer_report r) override;
    void set_peers(const voter_set& peers) override;
    std::optional<bytes> handle(int16_t api_key, int16_t api_version, bytes_view body) override;
    void close() override;

    // Safe to call from any thread (a /metrics scrape).
    net_transport_stats stats() const;
    std::optional<transport_stats> traffic() const override { return stats(); }

private:
    struct counters {
        std::atomic<uint64_t> sent{0};
        std::atomic<uint64_t> envelopes_sent{0};
        std::atomic<uint64_t> dropped_queue_full{0};
        std::atomic<uint64_t> dropped_failed{0};
        std::atomic<uint64_t> dropped_no_peer{0};
        std::atomic<uint64_t> received{0};
        std::atomic<uint64_t> refused{0};
    };
    class peer;

    void log_refusal(const std::string& reason);
    // The peer a message or report (`what`, for the log) from `from` to `to` goes to; nullptr,
    // counted as dropped, when `to` is no peer (or the transport is closed) or `from` is not
    // this node.
    peer* route(node_id from, node_id to, const char* what);

    asio::any_io_executor _ex;
    node_id _self;
    std::string _cluster_id;
    net_transport_options _options;
    std::shared_ptr<counters> _counters;
    std::map<node_id, std::shared_ptr<peer>> _peers;
    deliver_fn _deliver;
    report_fn _reports;
    bool _closed = false;
    // The last refusal logged and when, so a peer sending the same bad envelope over and over
    // is logged again only now and then.
    std::string _last_refusal;
    std::chrono::steady_clock::time_point _last_refusal_at{};
};

} // namespace trib::coordinator::raft
