#pragma once

// How the coordinators' Raft messages travel between voters: the seam between the Raft log's
// driver (coordinator/raft_log.h), which hands out the core's messages and steps in what
// arrives, and the wire (coordinator/raft/net_transport.h: Kafka-framed, one-way batches over
// a connection per peer). Tests connect drivers in one process through an in-memory
// transport instead.
//
// Delivery is best effort, as the Raft core expects: a message may be lost (a connection
// breaks, a queue is full, a peer is down), but is never changed, and messages to one peer
// leave in the order they were sent. There are no replies at this level: an answer (a vote,
// an append's acknowledgement) is a message of its own, sent back the same way.
//
// Everything is called on the owner's thread (the coordinator service's io_context), and the
// receive callback runs there too.
#include "common/bytes.h"
#include "coordinator/raft/types.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

namespace trib::coordinator::raft {

// What went through a transport since it was built (/metrics: coordinator/README.md).
struct transport_stats {
    uint64_t sent = 0;                // messages in envelopes a peer took
    uint64_t envelopes_sent = 0;      // those envelopes
    uint64_t dropped_queue_full = 0;  // oldest messages dropped from a full queue
    uint64_t dropped_failed = 0;      // messages in envelopes whose call failed or was refused
    uint64_t dropped_no_peer = 0;     // to a node not (or no longer) a peer, or dropped by close()
    uint64_t received = 0;            // messages delivered
    uint64_t refused = 0;             // envelopes this node refused
    bool operator==(const transport_stats&) const = default;
};

class transport {
public:
    using deliver_fn = std::function<void(message)>;
    using report_fn = std::function<void(observer_report)>;
    virtual ~transport() = default;

    // Where received messages go (each addressed to this node and well-formed on the wire; the
    // core checks the rest). Called once, before anything is sent or received.
    virtual void start(deliver_fn deliver) = 0;
    // Sends each message to its `to` node, best effort (see above); returns at once.
    virtual void send(std::vector<message> msgs) = 0;
    // Observer reports (types.h): not Raft messages, but carried the same way, best effort,
    // to peers only; received ones go to `on_reports`' callback (set before start()). The
    // defaults carry none: a transport that does not override them keeps observers unseen.
    virtual void on_reports(report_fn /*f*/) {}
    virtual void send_report(observer_report /*r*/) {}
    // The nodes messages may go to and where they listen (voters and learners; this node's
    // own entry is ignored). Messages to a node not listed are dropped. Replaces the last call.
    virtual void set_peers(const voter_set& peers) = 0;
    // A request another coordinator sent this one over the coordinator's listener (the
    // service hands over what it does not serve itself): the response body (without the
    // response header) when `api_key` is the transport's, nullopt otherwise. A body that does
    // not decode is answered with an error code (and logged), never a crash.
    virtual std::optional<bytes> handle(int16_t api_key, int16_t api_version, bytes_view body) = 0;
    // Drops what is queued and closes the connections; later sends are dropped. Idempotent.
    virtual void close() = 0;
    // Its counters, for /metrics; nullopt for a transport that keeps none (the in-memory ones
    // tests connect drivers with).
    virtual std::optional<transport_stats> traffic() const { return std::nullopt; }
};

} // namespace trib::coordinator::raft
