#pragma once

// A follower copies its leaders' logs with Kafka's Fetch: one fetcher per source broker,
// carrying every partition this broker follows that broker for, one request at a time
// (v12, replica id = this broker, each partition's current leader epoch and the epoch of the
// last batch it holds). The leader reads up to its log end for it, counts the fetch offset
// as this replica's log end (the high watermark and the ISR follow from it) and answers
// DivergingEpoch where this replica's history parts from its own.
//
// For each partition the fetcher keeps where to fetch from (the replica's log end) and the
// epoch of its last batch, read from the partition when it starts following and updated by
// each append; the appends run on the partitions' owner cores, one hop per core per answer.
// An answer for a partition that has meanwhile left this fetcher, or changed epoch, is
// dropped: the metadata moved on and the manager has told the fetcher (fetcher_manager.h).
//
// Errors: a failed request backs off replica.fetch.backoff.ms and retries; a partition whose
// leader answers an error (not leader, fenced or unknown epoch) backs off alone until the
// metadata brings its new state.
//
// Fetch sessions (KIP-227): the fetcher keeps one session with its leader, as Kafka's
// FetchSessionHandler does (fetch_session_handler below): a full fetch first, then
// incremental ones that name only the partitions whose fetch state changed (offset, epochs),
// forget those it no longer fetches (unfollowed, or backing off after an error) and add new
// ones; the leader answers only the partitions with something new. A session error, a
// failed request or an answer naming partitions the session lacks starts over with a full
// fetch.
//
// Follower throttle (replication/quota.h): the bytes copied into partitions the topic's
// follower.replication.throttled.replicas names for this broker are counted in the broker's
// follower quota; while its rate is above follower.replication.throttled.rate, such a
// partition is left out of the requests unless this replica is in the ISR or its last fetch
// reached the leader's high watermark (Kafka's ReplicaFetcherThread looks at the latter). It
// is fetched again once the rate has fallen.
#include "broker/broker_config.h"
#include "broker/delayed.h"
#include "broker/partition_manager.h"
#include "broker/replication/quota.h"
#include "net/kafka_client.h"
#include "protocol/messages.h"

#include <future>
#include <map>
#include <memory>
#include <set>
#include <span>

namespace trib::broker {

// The client side of a fetch session (Kafka's FetchSessionHandler): what the leader's
// session holds, and the session id and epoch of the next request.
class fetch_session_handler {
public:
    // A partition's fetch state, as a request carries it.
    struct wanted {
        int64_t fetch_offset = 0;
        int32_t current_leader_epoch = -1;
        int32_t last_fetched_epoch = -1;
        int32_t max_bytes = 0;
        bool operator==(const wanted&) const = default;
    };
    using partitions = std::map<topic_partition, wanted>;

    // Fills req's session id and epoch, topics and forgotten topics for fetching `next`: all
    // of it in a full fetch, else what changed since the session last heard among `changed`
    // (sorted; every partition whose entry in `next` may differ from the last request's, so
    // a fetch of a thousand partitions of which one moved compares one).
    void build(const partitions& next, std::span<const topic_partition> changed, protocol::fetch_request& req);
    // Takes the answer to the last built request. Returns false when it can't be used (a
    // session error, or partitions the request didn't ask for): the next request is full.
    bool handle_response(const protocol::fetch_response& resp);
    // The last request failed (no answer): the next is a full fetch that closes the session.
    void handle_error();

    int32_t session_id() const noexcept { return _id; }
    int32_t epoch() const noexcept { return _epoch; }
    bool full() const noexcept { return _epoch == 0; }

private:
    int32_t _id = 0;
    int32_t _epoch = 0;  // of the next request: 0 full (opening a session), > 0 incremental
    bool _sent_full = true;
    partitions _session;  // what the leader's session has (as of the last built request)
};

// Whether the follower throttle may hold a followed replica back.
struct follower_throttle {
    bool throttled = false;  // follower.replication.throttled.replicas names it
    bool in_isr = false;     // the replica is in the partition's ISR: never held back
    bool operator==(const follower_throttle&) const = default;
};

class replica_fetcher : public std::enable_shared_from_this<replica_fetcher> {
public:
    replica_fetcher(asio::any_io_executor ex, partition_manager& partitions, const broker_config& cfg,
                    replication_quotas& quotas, node_id source, config::host_port target);
    replica_fetcher(const replica_fetcher&) = delete;
    replica_fetcher& operator=(const replica_fetcher&) = delete;

    // From any thread; each posts to the fetcher's executor.
    void start();
    // Copy `tp`, which follows the source at `epoch` (again, if it did at an older epoch);
    // `throttle` as the latest metadata says (it may change at the same epoch).
    void follow(const topic_partition& tp, leader_epoch epoch, follower_throttle throttle = {});
    void unfollow(const topic_partition& tp);
    // The source broker's address changed.
    void retarget(config::host_port target);
    // Ends the loop: the future is ready once it has (nothing of it runs after).
    std::future<void> stop();

    node_id source() const noexcept { return _source; }

private:
    struct position {
        leader_epoch epoch;                 // the leader epoch it follows at
        offset fetch_offset{-1};            // the replica's log end; -1: not read yet
        int32_t last_fetched_epoch = -1;    // epoch of the replica's last batch
        std::chrono::steady_clock::time_point delay_until{};
        follower_throttle throttle{};
        bool caught_up = false;  // the last answer's data took it to the leader's high watermark
    };
    struct outcome;

    asio::awaitable<void> run();
    asio::awaitable<void> read_positions();
    asio::awaitable<void> apply(protocol::fetch_response& resp);
    void wake() { _waiter->wake(); }

    asio::any_io_executor _ex;
    partition_manager& _partitions;
    const broker_config& _cfg;
    replication_quotas& _quotas;
    node_id _source;
    config::host_port _target;
    bool _retargeted = false;  // _client is closed for an old address: the loop replaces it
    std::unique_ptr<net::kafka_client> _client;
    std::shared_ptr<waiter> _waiter;
    std::map<topic_partition, position> _positions;  // on _ex only
    std::vector<topic_partition> _unread;  // followed anew, their log end not read yet; on _ex only
    // Positions changed since run() last brought _next up to date from them, and those it
    // held back for a while (backing off, throttled), looked at again every cycle. On _ex only.
    std::set<topic_partition> _dirty;
    std::set<topic_partition> _held;
    bool _stopped = false;
    std::promise<void> _done;
    std::string _last_failure;  // logged once until a fetch succeeds
    fetch_session_handler _session;  // on _ex only
    fetch_session_handler::partitions _next;  // what run() asks for next; on _ex only
};

} // namespace trib::broker
