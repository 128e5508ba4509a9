#include "broker/fetch_session.h"

#include <cassert>
#include <climits>

namespace trib::broker {

fetch_session::fetch_session(int32_t id, bool privileged, bool uses_topic_ids, int64_t now_ms)
  : _id(id), _privileged(privileged), _uses_topic_ids(uses_topic_ids), _created_ms(now_ms), _last_used_ms(now_ms) {}

fetch_session::changes fetch_session::update(std::span<const session_fetch> fetches,
                                             std::span<const session_key> forgotten) {
    changes c;
    for (const auto& f : fetches) {
        auto it = _index.find(f.key);
        if (it == _index.end()) {
            cached p;
            static_cast<session_fetch&>(p) = f;
            p.token = ++_next_token;
            _active.push_back(std::move(p));
            auto e = std::prev(_active.end());
            _index.emplace(f.key, e);
            _by_token.emplace(e->token, e);
            ++c.added;
        } else {
            // The request's view changes; what was last sent stays. The mark goes: the
            // fetch offset may have moved.
            auto e = it->second;
            static_cast<session_fetch&>(*e) = f;
            e->mark = {};
            if (e->quiet) {
                e->quiet = false;
                _active.splice(_active.end(), _quiet, e);
            }
            ++c.updated;
        }
    }
    for (const auto& k : forgotten) {
        auto it = _index.find(k);
        if (it != _index.end()) {
            auto e = it->second;
            _by_token.erase(e->token);
            (e->quiet ? _quiet : _active).erase(e);  // its subscription goes with it
            _index.erase(it);
            ++c.removed;
        }
    }
    return c;
}

std::vector<session_fetch> fetch_session::partitions() const {
    std::vector<session_fetch> out;
    out.reserve(_active.size());
    for (const auto& p : _active) {
        out.push_back(p);
    }
    return out;
}

std::vector<partition_mark> fetch_session::marks() const {
    std::vector<partition_mark> out;
    out.reserve(_active.size());
    for (const auto& p : _active) {
        out.push_back(p.mark);
    }
    return out;
}

std::pair<std::vector<session_fetch>, std::vector<partition_mark>> fetch_session::take_posted() {
    std::pair<std::vector<session_fetch>, std::vector<partition_mark>> out;
    if (!_inbox->pending()) {
        return out;
    }
    for (uint64_t token : _inbox->drain()) {
        auto it = _by_token.find(token);
        if (it == _by_token.end()) {
            continue;  // forgotten since
        }
        auto e = it->second;
        if (e->sub) {
            // Before the fetch reads the partition's stamp: a bump after that posts again.
            e->sub->posted.store(false, std::memory_order_seq_cst);
        }
        if (e->quiet) {
            e->quiet = false;
            _active.splice(_active.end(), _quiet, e);
            out.first.push_back(*e);
            out.second.push_back(e->mark);
        }
    }
    return out;
}

void fetch_session::settle(entry e) {
    if (e->quiet || !e->mark.settled || !e->mark.news) {
        return;
    }
    if (!e->sub || e->subscribed != e->mark.news) {
        // A partition whose news is new to it (its first settled read, or the partition was
        // recreated here): the old subscription, if any, goes with its shared_ptr.
        e->sub = std::make_shared<news_subscription>(_inbox, e->token, reader());
        e->subscribed = e->mark.news;
        e->subscribed->subscribe(e->sub);
    }
    if (e->mark.unchanged(reader())) {
        e->quiet = true;
        _quiet.splice(_quiet.end(), _active, e);
    }
}

void fetch_session::sent(const session_key& key, const session_read& r) {
    auto it = _index.find(key);
    if (it == _index.end() || !r.read) {
        return;
    }
    auto& p = *it->second;
    p.mark = r.mark;
    p.high_watermark = r.error_code != 0 ? -1 : r.high_watermark;
    p.last_stable_offset = r.last_stable_offset;
    p.leader_log_start = r.log_start_offset;
    settle(it->second);
}

bool fetch_session::must_send(const session_key& key, const session_read& r) {
    auto it = _index.find(key);
    if (it == _index.end()) {
        return r.read;
    }
    auto e = it->second;
    if (!r.read) {
        settle(e);  // left out of the reads: its mark held, so it may go quiet now
        return false;
    }
    auto& p = *e;
    p.mark = r.mark;
    bool send = r.bytes > 0 || r.diverging;
    if (r.error_code != 0) {
        p.high_watermark = -1;  // sent again once the error is gone
        return true;
    }
    if (p.high_watermark != r.high_watermark) {
        p.high_watermark = r.high_watermark;
        send = true;
    }
    if (p.last_stable_offset != r.last_stable_offset) {
        p.last_stable_offset = r.last_stable_offset;
        send = true;
    }
    if (p.leader_log_start != r.log_start_offset) {
        p.leader_log_start = r.log_start_offset;
        send = true;
    }
    if (r.bytes > 0) {
        _active.splice(_active.end(), _active, e);  // iterators stay valid
    }
    settle(e);
    return send;
}

namespace {
prometheus::Counter& request_kind(prometheus::Family<prometheus::Counter>& f, const char* kind) {
    return f.Add({{"kind", kind}});
}
} // namespace

fetch_session_metrics::fetch_session_metrics(prometheus::Registry& r) {
    sessions = &prometheus::BuildGauge()
                    .Name("kafka_server_fetchsessioncache_numincrementalfetchsessions")
                    .Help("Incremental fetch sessions cached (KIP-227)")
                    .Register(r)
                    .Add({});
    partitions = &prometheus::BuildGauge()
                      .Name("kafka_server_fetchsessioncache_numincrementalfetchpartitionscached")
                      .Help("Partitions in the cached incremental fetch sessions")
                      .Register(r)
                      .Add({});
    evictions = &prometheus::BuildCounter()
                     .Name("kafka_server_fetchsessioncache_incrementalfetchsessionevictions_total")
                     .Help("Incremental fetch sessions evicted to make room for new ones")
                     .Register(r)
                     .Add({});
    auto& kinds = prometheus::BuildCounter()
                      .Name("tributary_fetch_session_requests_total")
                      .Help("Fetch requests by session kind: full (opens a session), incremental, sessionless, error")
                      .Register(r);
    full = &request_kind(kinds, "full");
    incremental = &request_kind(kinds, "incremental");
    sessionless = &request_kind(kinds, "sessionless");
    errors = &request_kind(kinds, "error");
}

fetch_session_cache::fetch_session_cache(size_t max_sessions, int64_t eviction_ms, int32_t id_base, int32_t id_range,
                                         fetch_session_metrics* metrics, uint64_t seed)
  : _max(max_sessions), _eviction_ms(eviction_ms), _id_base(id_base), _id_range(id_range), _metrics(metrics),
    _rng(static_cast<std::mt19937::result_type>(seed)) {
    assert(id_range > 1 && int64_t(id_base) + id_range - 1 <= INT32_MAX);
}

fetch_session_cache::~fetch_session_cache() {
    if (_metrics) {
        _metrics->sessions->Decrement(double(_sessions.size()));
        _metrics->partitions->Decrement(double(_partitions));
    }
}

int32_t fetch_session_cache::new_id() {
    std::uniform_int_distribution<int32_t> pick(0, _id_range - 1);
    for (;;) {
        int32_t id = _id_base + pick(_rng);
        if (id != fetch_session_ids::invalid_id && !_sessions.contains(id)) {
            return id;
        }
    }
}

fetch_session* fetch_session_cache::create(int64_t now_ms, bool privileged, bool uses_topic_ids,
                                           std::span<const session_fetch> parts) {
    if (_max == 0 || (_sessions.size() >= _max && !try_evict(privileged, parts.size(), now_ms))) {
        return nullptr;
    }
    int32_t id = new_id();
    auto s = std::make_unique<fetch_session>(id, privileged, uses_topic_ids, now_ms);
    s->update(parts, {});
    auto* raw = s.get();
    _sessions.emplace(id, std::move(s));
    if (_metrics) {
        _metrics->sessions->Increment();
    }
    touch(*raw, now_ms);
    return raw;
}

fetch_session* fetch_session_cache::find(int32_t id) {
    auto it = _sessions.find(id);
    return it == _sessions.end() ? nullptr : it->second.get();
}

void fetch_session_cache::forget_keys(const fetch_session& s) {
    _last_used.erase({s._last_used_ms, s._id});
    _evictable_by_all.erase(key_of(s));
    _evictable_by_privileged.erase(key_of(s));
}

void fetch_session_cache::touch(fetch_session& s, int64_t now_ms) {
    forget_keys(s);
    _partitions -= s._cached_size;
    if (_metrics) {
        _metrics->partitions->Decrement(double(s._cached_size));
    }
    s._last_used_ms = now_ms;
    s._cached_size = s.size();
    _partitions += s._cached_size;
    if (_metrics) {
        _metrics->partitions->Increment(double(s._cached_size));
    }
    _last_used.emplace(std::pair{s._last_used_ms, s._id}, &s);
    // As Kafka decides it at each touch: a session older than the eviction time may be
    // evicted by anyone; a consumer's younger one by followers only.
    bool old = now_ms - s._created_ms > _eviction_ms;
    if (!s._privileged || old) {
        _evictable_by_privileged.emplace(key_of(s), &s);
    }
    if (old) {
        _evictable_by_all.emplace(key_of(s), &s);
    }
}

bool fetch_session_cache::remove(int32_t id) {
    auto it = _sessions.find(id);
    if (it == _sessions.end()) {
        return false;
    }
    auto& s = *it->second;
    forget_keys(s);
    _partitions -= s._cached_size;
    if (_metrics) {
        _metrics->partitions->Decrement(double(s._cached_size));
        _metrics->sessions->Decrement();
    }
    _sessions.erase(it);
    return true;
}

bool fetch_session_cache::try_evict(bool privileged, size_t size, int64_t now_ms) {
    fetch_session* victim = nullptr;
    if (_last_used.empty()) {
        return false;
    }
    if (auto lru = _last_used.begin(); now_ms - lru->first.first > _eviction_ms) {
        victim = lru->second;  // idle for longer than the eviction time
    } else {
        auto& candidates = privileged ? _evictable_by_privileged : _evictable_by_all;
        if (candidates.empty()) {
            return false;
        }
        // The least valuable evictable session goes if it is worth no more than the new one
        // (the new one's id, 0, ranks below any other on a tie: a tie keeps the old session).
        auto first = candidates.begin();
        if (evictable_key{privileged, size, 0} < first->first) {
            return false;
        }
        victim = first->second;
    }
    remove(victim->_id);
    ++_evictions;
    if (_metrics) {
        _metrics->evictions->Increment();
    }
    return true;
}

incremental_begin begin_incremental(fetch_session_cache& cache, int32_t id, int32_t epoch, bool privileged,
                                    bool uses_topic_ids, std::span<const session_fetch> fetches,
                                    std::span<const session_key> forgotten, int64_t now_ms) {
    incremental_begin out;
    auto* s = cache.find(id);
    if (!s || s->privileged() != privileged) {
        out.error = protocol::error_code::fetch_session_id_not_found;
        return out;
    }
    if (s->epoch() != epoch) {
        out.error = protocol::error_code::invalid_fetch_session_epoch;
        return out;
    }
    if (s->uses_topic_ids() != uses_topic_ids) {
        out.error = protocol::error_code::fetch_session_topic_id_error;
        return out;
    }
    s->update(fetches, forgotten);
    if (s->empty()) {
        cache.remove(id);
        out.closed = true;
        out.parts.assign(fetches.begin(), fetches.end());
        return out;
    }
    cache.touch(*s, now_ms);
    s->advance_epoch();
    s->take_posted();  // the quiet partitions with news are read by this fetch
    out.epoch = s->epoch();
    out.parts = s->partitions();
    out.marks = s->marks();
    out.inbox = s->inbox();
    return out;
}

std::optional<std::pair<std::vector<session_fetch>, std::vector<partition_mark>>>
take_posted(fetch_session_cache& cache, int32_t id, int32_t epoch) {
    auto* s = cache.find(id);
    if (!s || s->epoch() != epoch) {
        return std::nullopt;
    }
    return s->take_posted();
}

int32_t open_session(fetch_session_cache& cache, int64_t now_ms, bool privileged, bool uses_topic_ids,
                     std::span<const session_fetch> parts, std::span<const session_read> reads) {
    auto* s = cache.create(now_ms, privileged, uses_topic_ids, parts);
    if (!s) {
        return fetch_session_ids::invalid_id;
    }
    for (size_t i = 0; i < parts.size() && i < reads.size(); ++i) {
        s->sent(parts[i].key, reads[i]);
    }
    return s->id();
}

std::vector<bool> select_incremental(fetch_session_cache& cache, int32_t id, int32_t epoch,
                                     std::span<const session_fetch> parts, std::span<const session_read> reads) {
    std::vector<bool> send(parts.size(), true);
    auto* s = cache.find(id);
    if (!s || s->epoch() != epoch) {
        // Evicted or closed meanwhile: the client finds out on its next fetch.
        for (size_t i = 0; i < parts.size() && i < reads.size(); ++i) {
            send[i] = reads[i].read;
        }
        return send;
    }
    for (size_t i = 0; i < parts.size() && i < reads.size(); ++i) {
        send[i] = s->must_send(parts[i].key, reads[i]);
    }
    return send;
}

fetch_sessions::fetch_sessions(size_t cores, size_t max_sessions, int64_t eviction_ms, prometheus::Registry& registry)
  : _id_range(int32_t(INT32_MAX / int64_t(std::max<size_t>(cores, 1)))), _metrics(registry) {
    cores = std::max<size_t>(cores, 1);
    for (size_t c = 0; c < cores; ++c) {
        // The slots split evenly; the first cores take the remainder.
        size_t slots = max_sessions / cores + (c < max_sessions % cores ? 1 : 0);
        _caches.push_back(std::make_unique<fetch_session_cache>(slots, eviction_ms, int32_t(c) * _id_range,
                                                                _id_range, &_metrics));
    }
}

std::optional<size_t> fetch_sessions::core_of(int32_t id) const noexcept {
    if (id <= 0) {
        return std::nullopt;
    }
    size_t core = size_t(id / _id_range);
    if (core >= _caches.size()) {
        return std::nullopt;
    }
    return core;
}

} // namespace trib::broker
