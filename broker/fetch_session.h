#pragma once

// Incremental fetch sessions (KIP-227), the broker's side, with the semantics of Kafka's
// FetchSession/FetchManager.
//
// A fetch request names a session id and epoch:
//   id 0,  epoch -1   sessionless full fetch: every partition answered, no session
//   id 0,  epoch 0    full fetch that opens a session when the cache has room: the answer
//                     carries the new id (0 when there was no room), the session's next
//                     epoch is 1
//   id S,  epoch 0    closes S, then as above (the client starts over)
//   id S,  epoch -1   closes S; answered as a sessionless full fetch
//   id S,  epoch E>0  incremental: S must exist (else FETCH_SESSION_ID_NOT_FOUND) at epoch E
//                     (else INVALID_FETCH_SESSION_EPOCH); the request's partitions are added
//                     to or updated in S, `forgotten_topics_data` leave it, the fetch reads
//                     S's partitions and the answer carries only those with something new:
//                     records, a changed high watermark, last stable offset or log start, an
//                     error, a diverging epoch. S's epoch moves to E+1. Unlike Kafka, it
//                     leaves out of the read the partitions the request doesn't name that
//                     have not changed since a read found nothing more in them (their marks,
//                     below): a read would find nothing new there.
//
// Quiet partitions: a partition whose mark holds is set aside in the session, subscribed to
// its news (delayed.h); the first change posts it to the session's inbox, and the next fetch
// (or the one waiting) takes it up again. An incremental fetch touches only the session's
// active partitions and waits on its inbox once, so a session of 1,000 idle partitions and
// one busy one costs about what a session of the busy one does. (Copying, checking and
// watching every partition on every fetch made each idle partition on a broker raise the
// cost of every replica fetch and consumer fetch.)
// A session that uses topic ids (Fetch v13+) answers FETCH_SESSION_TOPIC_ID_ERROR to a
// request of a version without them, and the other way round. A session opened by a
// follower (a fetch with a replica id) answers FETCH_SESSION_ID_NOT_FOUND to a fetch without
// one, and the other way round: its quiet partitions hear of the changes its opener reads (a
// follower's of every append, a consumer's of visible ones), so another reader would miss
// appends or be woken for nothing. (Kafka doesn't check this; only a misbehaving client
// mixes them, and it starts a new session with a full fetch.)
//
// The cache is bounded (max.incremental.fetch.session.cache.slots). Without a free slot, a
// new session may take the place of the least recently used one if that was idle longer than
// the eviction time (120 s, Kafka's min.incremental.fetch.session.eviction.ms); else of the
// "least valuable" session that may be evicted: followers' sessions (privileged) rank above
// consumers', then more partitions above fewer; a session younger than the eviction time can
// be evicted only by a privileged one, and only if it is a consumer's. Else the fetch is
// answered without a session (id 0), and the client stays with full fetches.
//
// Where sessions live: one cache per core, each touched only on its core (no lock). A new
// session goes into the cache of the core that served its full fetch, which is the core of
// the client's connection, so its incremental fetches (same connection) normally find it
// without a hop. The session id encodes that core (ids of core c lie in
// [c*range, (c+1)*range), range = INT32_MAX / cores), so a client that reconnects and lands
// on another core still finds its session: the handler hops to the owner core for the two
// session steps of a fetch (Kafka splits its cache into shards the same way). The slots are
// split evenly between the cores, as Kafka splits them between its shards.
#include "broker/delayed.h"
#include "protocol/error_code.h"
#include "protocol/wire.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace trib::broker {

// Kafka's min.incremental.fetch.session.eviction.ms (a constant there too, not a setting).
constexpr int64_t fetch_session_eviction_ms = 120000;

namespace fetch_session_ids {
constexpr int32_t invalid_id = 0;
constexpr int32_t initial_epoch = 0;
constexpr int32_t final_epoch = -1;
// The epoch after `e`: wraps to 1, never to 0 or -1, as Kafka's nextEpoch.
constexpr int32_t next_epoch(int32_t e) noexcept {
    return e < 0 ? final_epoch : (e == INT32_MAX ? 1 : e + 1);
}
} // namespace fetch_session_ids

// A partition of a session: by topic id when the session uses them (the name is then what
// the metadata gave for it, maybe empty), else by name with a zero id.
struct session_key {
    protocol::uuid topic_id;
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const session_key&) const = default;
};

// What a fetch request says of one partition (added or updated in the session).
struct session_fetch {
    session_key key;
    int64_t fetch_offset = 0;
    int64_t log_start_offset = -1;  // the fetcher's (a follower's log start), -1 for consumers
    int32_t max_bytes = 0;
    int32_t current_leader_epoch = -1;
    int32_t last_fetched_epoch = -1;
};

// What a session knows of a partition between fetches: a read found nothing more to send in
// it (`settled`: no error, the fetcher at the end of what it may read, a follower in the
// ISR), and the partition's change stamp then (delayed.h). While that stamp stays, a fetch
// may leave the partition out. A partition the request names is read whatever its mark.
struct partition_mark {
    std::shared_ptr<partition_news> news;
    uint64_t stamp = 0;
    bool settled = false;
    // Whether a fetch may leave the partition out now.
    bool unchanged(partition_news::reader r) const noexcept { return settled && news && news->stamp(r) == stamp; }
};

// What the broker read for one partition, as far as the session cares.
struct session_read {
    bool read = true;  // false: left out of this fetch's reads (its mark held): nothing to send
    int16_t error_code = 0;
    int64_t high_watermark = -1;
    int64_t last_stable_offset = -1;
    int64_t log_start_offset = -1;
    size_t bytes = 0;
    bool diverging = false;  // a DivergingEpoch answer
    partition_mark mark;      // of the read
};

// One session: its partitions in the order fetches read them, each with the request's view
// and what the last response said of it.
class fetch_session {
public:
    struct cached : session_fetch {
        // Last sent: -1 after an error, so the partition is sent again once the error is gone.
        int64_t high_watermark = -1;
        int64_t last_stable_offset = -1;
        int64_t leader_log_start = -1;
        partition_mark mark;  // reset when a request names the partition
        uint64_t token = 0;   // names it in the session's inbox
        bool quiet = false;   // set aside until its news posts it
        std::shared_ptr<news_subscription> sub;           // to `subscribed`'s news, once settled
        std::shared_ptr<partition_news> subscribed;
    };

    fetch_session(int32_t id, bool privileged, bool uses_topic_ids, int64_t now_ms);

    int32_t id() const noexcept { return _id; }
    int32_t epoch() const noexcept { return _epoch; }
    bool privileged() const noexcept { return _privileged; }
    bool uses_topic_ids() const noexcept { return _uses_topic_ids; }
    int64_t created_ms() const noexcept { return _created_ms; }
    int64_t last_used_ms() const noexcept { return _last_used_ms; }
    size_t size() const noexcept { return _active.size() + _quiet.size(); }
    bool empty() const noexcept { return size() == 0; }
    size_t quiet() const noexcept { return _quiet.size(); }
    const std::shared_ptr<session_inbox>& inbox() const noexcept { return _inbox; }
    // An incremental fetch was taken at the current epoch: the next must name the one after.
    void advance_epoch() noexcept { _epoch = fetch_session_ids::next_epoch(_epoch); }

    // Adds or updates the partitions `fetches` names (an added one goes last), then drops
    // `forgotten`. Returns how many were added, updated and removed.
    struct changes {
        size_t added = 0, updated = 0, removed = 0;
    };
    changes update(std::span<const session_fetch> fetches, std::span<const session_key> forgotten);

    // The partitions to read (the active ones), in the session's order, and their marks.
    std::vector<session_fetch> partitions() const;
    std::vector<partition_mark> marks() const;
    // Drains the inbox: the quiet partitions posted become active again, at the end of the
    // order. Returns those, with their marks (a partition posted while active stays as it is).
    std::pair<std::vector<session_fetch>, std::vector<partition_mark>> take_posted();

    // A full fetch's answer for `key`: records what was sent.
    void sent(const session_key& key, const session_read& r);
    // An incremental fetch's answer for `key`: whether it must be in the response (Kafka's
    // rules: records, a changed high watermark / last stable offset / log start, an error, a
    // diverging epoch), recording what is sent. A partition the fetch did not read is not. A
    // partition with records moves to the end of the session's order, so the others come
    // first next time (the response size limit then goes to them). A key the session lacks
    // must be sent.
    bool must_send(const session_key& key, const session_read& r);

private:
    friend class fetch_session_cache;
    using entry = std::list<cached>::iterator;

    partition_news::reader reader() const noexcept {
        return _privileged ? partition_news::reader::follower : partition_news::reader::consumer;
    }
    // A partition read (or left out) by a fetch: set aside if its mark holds, subscribed
    // first and the stamp compared after, so a change in between keeps it active.
    void settle(entry e);

    int32_t _id;
    int32_t _epoch = fetch_session_ids::next_epoch(fetch_session_ids::initial_epoch);
    bool _privileged;
    bool _uses_topic_ids;
    int64_t _created_ms;
    int64_t _last_used_ms;
    size_t _cached_size = 0;  // size at the last touch, for the eviction keys
    // The partitions fetches read, in their order, and those set aside; an entry moves
    // between them by splice, so `_index` and `_by_token` stay valid.
    std::list<cached> _active;
    std::list<cached> _quiet;
    std::map<session_key, entry> _index;
    std::unordered_map<uint64_t, entry> _by_token;
    uint64_t _next_token = 0;
    std::shared_ptr<session_inbox> _inbox = std::make_shared<session_inbox>();
};

// The metrics, shared by the per-core caches (prometheus-cpp's gauges and counters are
// atomic), named as Kafka's FetchSessionCache beans come out of Strimzi's JMX-to-Prometheus
// rules:
//   kafka_server_fetchsessioncache_numincrementalfetchsessions          sessions cached
//   kafka_server_fetchsessioncache_numincrementalfetchpartitionscached  their partitions
//   kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total  sessions evicted
//   tributary_fetch_session_requests_total{kind}  fetches by session kind (full, incremental,
//     sessionless, error): Kafka has no such bean; it shows that clients use the sessions
struct fetch_session_metrics {
    explicit fetch_session_metrics(prometheus::Registry& r);
    prometheus::Gauge* sessions = nullptr;
    prometheus::Gauge* partitions = nullptr;
    prometheus::Counter* evictions = nullptr;
    prometheus::Counter* full = nullptr;
    prometheus::Counter* incremental = nullptr;
    prometheus::Counter* sessionless = nullptr;
    prometheus::Counter* errors = nullptr;
};

// One core's sessions. Not thread-safe: used on its core only.
class fetch_session_cache {
public:
    // Ids are drawn from [id_base, id_base + id_range), never 0.
    fetch_session_cache(size_t max_sessions, int64_t eviction_ms, int32_t id_base, int32_t id_range,
                        fetch_session_metrics* metrics = nullptr, uint64_t seed = std::random_device{}());
    ~fetch_session_cache();
    fetch_session_cache(const fetch_session_cache&) = delete;
    fetch_session_cache& operator=(const fetch_session_cache&) = delete;

    // A new session of `parts` (in this order) if there is room or one may be evicted;
    // nullptr otherwise. Its epoch is 1.
    fetch_session* create(int64_t now_ms, bool privileged, bool uses_topic_ids, std::span<const session_fetch> parts);
    fetch_session* find(int32_t id);
    bool remove(int32_t id);
    // The session was used at `now_ms` (and may have changed size).
    void touch(fetch_session& s, int64_t now_ms);

    size_t size() const noexcept { return _sessions.size(); }
    size_t partitions() const noexcept { return _partitions; }
    uint64_t evictions() const noexcept { return _evictions; }

private:
    // Kafka's eviction order: consumers before followers, then fewer partitions, then id.
    struct evictable_key {
        bool privileged = false;
        size_t size = 0;
        int32_t id = 0;
        auto operator<=>(const evictable_key&) const = default;
    };
    static evictable_key key_of(const fetch_session& s) { return {s._privileged, s._cached_size, s._id}; }
    bool try_evict(bool privileged, size_t size, int64_t now_ms);
    void forget_keys(const fetch_session& s);
    int32_t new_id();

    size_t _max;
    int64_t _eviction_ms;
    int32_t _id_base;
    int32_t _id_range;
    fetch_session_metrics* _metrics;
    std::mt19937 _rng;
    std::map<int32_t, std::unique_ptr<fetch_session>> _sessions;
    std::map<std::pair<int64_t, int32_t>, fetch_session*> _last_used;  // (last used, id)
    // Sessions any new session may evict (older than the eviction time at their last touch),
    // and those a privileged one may evict (those, and every consumer's session).
    std::map<evictable_key, fetch_session*> _evictable_by_all;
    std::map<evictable_key, fetch_session*> _evictable_by_privileged;
    size_t _partitions = 0;
    uint64_t _evictions = 0;
};

// The two session steps of a fetch, on the session's core (Kafka's FetchManager.newContext
// and the contexts' updateAndGenerateResponseData).
//
// Before the reads, for an incremental fetch (epoch > 0): finds the session, checks its epoch
// and kind, applies the request's partitions and forgotten ones and moves its epoch on.
// Gives the partitions to read, or the error to answer with; a session left with no
// partition is closed, and the fetch answered as a sessionless one (of the request's
// partitions).
struct incremental_begin {
    protocol::error_code error = protocol::error_code::none;
    bool closed = false;                // the session became empty and was removed
    int32_t epoch = 0;                  // the session's epoch after this fetch's
    std::vector<session_fetch> parts;   // the session's active partitions, in its order
    std::vector<partition_mark> marks;  // theirs, same order
    std::shared_ptr<session_inbox> inbox;  // where news of its quiet partitions comes
};
incremental_begin begin_incremental(fetch_session_cache& cache, int32_t id, int32_t epoch, bool privileged,
                                    bool uses_topic_ids, std::span<const session_fetch> fetches,
                                    std::span<const session_key> forgotten, int64_t now_ms);
// While an incremental fetch waits and its inbox has news: the quiet partitions posted since,
// now active, for the fetch to read too (fetch_session::take_posted); nullopt when the session
// is gone or has moved past `epoch` (another fetch took it over).
std::optional<std::pair<std::vector<session_fetch>, std::vector<partition_mark>>>
take_posted(fetch_session_cache& cache, int32_t id, int32_t epoch);
// After the reads of a full fetch (epoch 0): opens a session of the partitions read, in
// their order, recording what is sent. Returns its id, or 0 when the cache had no room.
int32_t open_session(fetch_session_cache& cache, int64_t now_ms, bool privileged, bool uses_topic_ids,
                     std::span<const session_fetch> parts, std::span<const session_read> reads);
// After the reads of an incremental fetch: which of `parts` (with `reads`, same order) the
// response carries. When the session is gone or has moved past `epoch` meanwhile, all.
std::vector<bool> select_incremental(fetch_session_cache& cache, int32_t id, int32_t epoch,
                                     std::span<const session_fetch> parts, std::span<const session_read> reads);

// The per-core caches (see the top of this file).
class fetch_sessions {
public:
    fetch_sessions(size_t cores, size_t max_sessions, int64_t eviction_ms, prometheus::Registry& registry);

    // The core whose cache holds session `id`, or nullopt for an id no core gives out.
    std::optional<size_t> core_of(int32_t id) const noexcept;
    // Core `core`'s cache: use it on that core only.
    fetch_session_cache& on(size_t core) { return *_caches[core]; }
    fetch_session_metrics& metrics() noexcept { return _metrics; }

private:
    int32_t _id_range;
    fetch_session_metrics _metrics;
    std::vector<std::unique_ptr<fetch_session_cache>> _caches;
};

} // namespace trib::broker
