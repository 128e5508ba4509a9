#include "broker/groups/group_coordinator.h"

#include "common/log.h"
#include "protocol/records.h"
#include "security/authorizer.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <future>

namespace trib::broker::groups {

using protocol::error_code;

namespace {

constexpr auto tick_interval = std::chrono::milliseconds(100);
constexpr size_t load_chunk_bytes = 1 << 20;

int64_t wall_now_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace

// One shard this broker serves, with what its writes wait for. On its owner core only.
struct group_coordinator::hosted : shard_host, std::enable_shared_from_this<hosted> {
    hosted(group_coordinator& gc, int32_t partition, int32_t epoch, size_t core)
      : gc(gc)
      , tp{std::string(offsets_topic), partition}
      , epoch(epoch)
      , core(core)
      , shard(partition, *this, gc._cfg.shard)
      , token(std::make_shared<waiter>(gc._pool.executor(core))) {}

    int64_t wall_ms() override { return wall_now_ms(); }
    int64_t steady_ms() override { return partition::clock_ms(); }
    // The shard's answers: they hold nothing of the shard, so they run even after it went.
    void post(std::function<void()> fn) override { asio::post(gc._pool.executor(core), std::move(fn)); }

    std::optional<topic_meta> topic(const std::string& name) override {
        auto snap = gc._metadata.get();
        const auto* t = snap->topic(name);
        if (!t) {
            return std::nullopt;
        }
        return topic_meta{t->id, int32_t(t->partitions.size()), t->internal};
    }
    std::vector<std::string> topic_names() override {
        auto snap = gc._metadata.get();
        std::vector<std::string> out;
        out.reserve(snap->topics.size());
        for (const auto& [name, _] : snap->topics) {
            out.push_back(name);
        }
        return out;
    }

    describe_check topic_describe_check() override {
        return [snap = gc._metadata.get(), &cfg = gc._authorizer](const consumer::identity& who,
                                                                   const std::string& topic) {
            return security::authorize(cfg, snap->acls.get(), {who.principal, who.host},
                                       security::acl_operation::describe, security::acl_resource::topic, topic);
        };
    }

    // Later, on this core: done(err), unless the shard has been unloaded meanwhile (it
    // answered everything it waited for then).
    void answer_later(std::function<void(error_code)> done, error_code err) {
        asio::post(gc._pool.executor(core), [self = shared_from_this(), done = std::move(done), err] {
            if (!self->gone) {
                done(err);
            }
        });
    }

    // The partition, if this broker still leads it at the shard's epoch.
    partition* led() {
        partition* p = gc._partitions.local(tp);
        return p && p->check_leader(epoch) == error_code::none ? p : nullptr;
    }
    // The same, with the broker's lease held: it may act as the leader now.
    partition* leading() { return gc._partitions.leased() ? led() : nullptr; }

    void append(std::vector<record> records, std::function<void(error_code)> done) override {
        if (gone) {
            return;  // unloaded: the shard has answered its requests
        }
        partition* p = leading();
        if (!p) {
            answer_later(std::move(done), error_code::not_coordinator);
            return;
        }
        if (!p->enough_replicas()) {
            answer_later(std::move(done), error_code::not_enough_replicas);
            return;
        }
        protocol::batch_builder b;
        int64_t now = wall_ms();
        for (const auto& r : records) {
            std::optional<bytes_view> value;
            if (r.value) {
                value = bytes_view(*r.value);
            }
            b.add(bytes_view(r.key), value, now);
        }
        auto batch = b.build();
        if (!batch) {
            TLOG_ERROR("{}-{}: cannot build a group record batch: {}", tp.topic, tp.partition, batch.error().message());
            answer_later(std::move(done), error_code::unknown_server_error);
            return;
        }
        if (batch->size() > p->log().config().max_batch_bytes) {
            answer_later(std::move(done), error_code::record_list_too_large);
            return;
        }
        auto r = p->log().append(std::span<uint8_t>(*batch), p->epoch().value(), /*crc_verified=*/true);
        if (!r) {
            TLOG_WARN("{}-{}: group write failed: {}", tp.topic, tp.partition, r.error().message());
            // Kafka answers a storage error on the offsets topic as NOT_COORDINATOR.
            answer_later(std::move(done), error_code::not_coordinator);
            return;
        }
        p->appended();
        waiting.push_back({r->last + 1, std::move(done), steady_ms() + gc._cfg.commit_timeout_ms});
        asio::post(gc._pool.executor(core), [weak = weak_from_this()] {
            if (auto self = weak.lock()) {
                self->drain();
            }
        });
    }

    // Completes the writes the high watermark has passed, in the order they were appended
    // (a later commit of an offset must land after an earlier one), and the ones past their
    // timeout; then watches for the next.
    void drain() {
        if (gone) {
            return;
        }
        partition* p = leading();
        if (!p) {
            fail_writes(error_code::not_coordinator);
            return;
        }
        while (!waiting.empty() && !gone && waiting.front().committed_at <= p->high_watermark()) {
            auto done = std::move(waiting.front().done);
            waiting.pop_front();
            done(error_code::none);
        }
        // Timeouts come in append order too: every write waits as long.
        int64_t now = steady_ms();
        while (!waiting.empty() && !gone && waiting.front().deadline_ms <= now) {
            auto done = std::move(waiting.front().done);
            waiting.pop_front();
            done(error_code::request_timed_out);  // the records stay, and may still be committed
        }
        if (!waiting.empty() && !gone) {
            p->produce_watches().add(token, [p, at = waiting.front().committed_at, weak = weak_from_this(),
                                             ex = gc._pool.executor(core)] {
                if (p->high_watermark() < at) {
                    return false;
                }
                asio::post(ex, [weak] {
                    if (auto self = weak.lock()) {
                        self->drain();
                    }
                });
                return true;
            });
        }
    }

    void fail_writes(error_code err) {
        auto all = std::move(waiting);
        waiting.clear();
        for (auto& w : all) {
            if (!gone) {
                w.done(err);
            }
        }
    }

    struct write {
        offset committed_at;
        std::function<void(error_code)> done;
        int64_t deadline_ms;
    };

    group_coordinator& gc;
    topic_partition tp;
    int32_t epoch;
    size_t core;
    group_shard shard;
    std::shared_ptr<waiter> token;  // the produce watch's handle; nobody waits on it
    std::deque<write> waiting;
    offset load_position{-1};  // where loading reads next; -1: the log start
    bool load_retry = false;   // a read failed: load again from the log start at the next tick
    bool active = false;       // loaded
    bool gone = false;    // unloaded
    int64_t load_started_ms = 0;
    size_t records_loaded = 0;
    size_t records_unreadable = 0;
};

group_coordinator::group_coordinator(io_pool& pool, partition_manager& partitions, metadata_cache& metadata,
                                     const groups_config& cfg, const security::authorizer_config& authorizer)
  : _pool(pool)
  , _partitions(partitions)
  , _metadata(metadata)
  , _cfg(cfg)
  , _authorizer(authorizer)
  , _per_core(pool.size()) {}

group_coordinator::~group_coordinator() = default;

size_t group_coordinator::core_of(int32_t partition) const {
    return _partitions.owner(topic_partition{std::string(offsets_topic), partition});
}

bool group_coordinator::serves(const hosted& h) const { return h.active && !h.gone; }

group_shard& group_coordinator::shard_of(hosted& h) { return h.shard; }

group_shard* group_coordinator::serving(int32_t partition, error_code& err) {
    auto& shards = _per_core[_pool.current_core()].shards;
    auto it = shards.find(partition);
    if (it == shards.end() || it->second->gone || !it->second->leading()) {
        err = error_code::not_coordinator;
        return nullptr;
    }
    if (!it->second->active) {
        err = error_code::coordinator_load_in_progress;
        return nullptr;
    }
    return &it->second->shard;
}

void group_coordinator::on_role(const topic_partition& tp, partition* p) {
    if (tp.topic != offsets_topic) {
        return;
    }
    size_t core = _pool.current_core();
    auto& shards = _per_core[core].shards;
    auto it = shards.find(tp.partition);
    bool leads = p && p->is_leader();
    if (it != shards.end() && (!leads || it->second->epoch != p->epoch().value())) {
        unload(*it->second);
        shards.erase(it);
        it = shards.end();
    }
    if (leads && it == shards.end() && !_stopped) {
        auto h = std::make_shared<hosted>(*this, tp.partition, p->epoch().value(), core);
        shards.emplace(tp.partition, h);
        h->load_started_ms = partition::clock_ms();
        load(h);
    }
}

void group_coordinator::unload(hosted& h) {
    if (h.gone) {
        return;
    }
    // Writes in flight are answered first (the shard answers their requests), then every
    // request the shard still holds; after this nothing reaches the shard.
    h.fail_writes(error_code::not_coordinator);
    h.gone = true;
    h.shard.unload();
    if (h.active) {
        TLOG_INFO("{}-{}: no longer the group coordinator (epoch {})", h.tp.topic, h.tp.partition, h.epoch);
    }
}

// Reads the partition from its log start to the end it had when loading began, a chunk per
// turn of the core so requests for other partitions go on meanwhile.
void group_coordinator::load(const std::shared_ptr<hosted>& h) {
    asio::post(_pool.executor(h->core), [this, weak = std::weak_ptr<hosted>(h)] {
        auto h = weak.lock();
        if (!h || h->gone) {
            return;
        }
        partition* p = h->led();
        if (!p) {
            return;  // no longer the leader at this epoch: the role listener unloads it
        }
        if (!_partitions.leased()) {
            h->load_retry = true;  // at start-up, before the first heartbeat: at the next tick
            return;
        }
        auto& log = p->log();
        offset end = log.next_offset();
        offset from = h->load_position < log.log_start_offset() ? log.log_start_offset() : h->load_position;
        if (from < end) {
            auto data = log.read_bytes(from, load_chunk_bytes, end);
            if (!data) {
                TLOG_WARN("{}-{}: loading groups: cannot read at {}: {}; trying again", h->tp.topic, h->tp.partition,
                          from.value(), data.error().message());
                h->load_position = offset(-1);  // from the log start again, on the next tick
                h->load_retry = true;
                return;
            }
            protocol::record_set_iterator batches(*data);
            offset next = from;
            for (;;) {
                auto b = batches.next();
                if (!b || !*b) {
                    break;
                }
                const auto& hdr = (*b)->header;
                next = offset(hdr.last_offset() + 1);
                if (hdr.control()) {
                    continue;
                }
                auto reader = protocol::batch_reader::open((*b)->data);
                if (!reader) {
                    ++h->records_unreadable;
                    continue;
                }
                for (;;) {
                    auto rec = reader->next();
                    if (!rec) {
                        ++h->records_unreadable;
                        break;
                    }
                    if (!*rec) {
                        break;
                    }
                    if (!(*rec)->key) {
                        ++h->records_unreadable;
                        continue;
                    }
                    auto decoded = decode_offsets_record(*(*rec)->key, (*rec)->value);
                    if (std::holds_alternative<bad_record>(decoded)) {
                        ++h->records_unreadable;
                        if (h->records_unreadable == 1) {
                            TLOG_WARN("{}-{}: skipping an unreadable record at offset {}: {}", h->tp.topic,
                                      h->tp.partition, (*rec)->offset, std::get<bad_record>(decoded).reason);
                        }
                        continue;
                    }
                    h->shard.replay(decoded);
                    ++h->records_loaded;
                }
            }
            if (next == from) {
                TLOG_ERROR("{}-{}: loading groups: no whole batch at offset {}; trying again", h->tp.topic,
                           h->tp.partition, from.value());
                h->load_retry = true;
                return;
            }
            h->load_position = next;
            if (next < end) {
                load(h);
                return;
            }
        }
        h->shard.loaded();
        h->active = true;
        TLOG_INFO("{}-{}: group coordinator at epoch {}: loaded {} record(s) in {} ms{}", h->tp.topic,
                  h->tp.partition, h->epoch, h->records_loaded, partition::clock_ms() - h->load_started_ms,
                  h->records_unreadable ? fmt::format(" ({} unreadable, skipped)", h->records_unreadable) : "");
    });
}

void group_coordinator::start() {
    for (size_t core = 0; core < _per_core.size(); ++core) {
        asio::post(_pool.executor(core), [this, core] {
            _per_core[core].tick = std::make_unique<asio::steady_timer>(_pool.executor(core));
            schedule_tick(core);
        });
    }
}

void group_coordinator::schedule_tick(size_t core) {
    auto& t = *_per_core[core].tick;
    t.expires_after(tick_interval);
    t.async_wait([this, core](boost::system::error_code ec) {
        if (ec || _stopped) {
            return;
        }
        // Copies: a shard's poll may end in a leadership change that erases from the map.
        auto shards = _per_core[core].shards;
        int64_t now = partition::clock_ms();
        for (auto& [part, h] : shards) {
            if (h->gone) {
                continue;
            }
            if (h->load_retry && !h->active) {
                h->load_retry = false;
                load(h);
                continue;
            }
            if (!h->active) {
                continue;
            }
            if (h->shard.next_deadline_ms() <= now) {
                h->shard.poll();
            }
            h->drain();  // write timeouts, and a watch lost to a wake-up of every waiter
        }
        schedule_tick(core);
    });
}

void group_coordinator::stop() {
    _stopped = true;
    for (size_t core = 0; core < _per_core.size(); ++core) {
        auto done = std::make_shared<std::promise<void>>();
        auto f = done->get_future();
        asio::post(_pool.executor(core), [this, core, done] {
            if (_per_core[core].tick) {
                _per_core[core].tick->cancel();
            }
            for (auto& [part, h] : _per_core[core].shards) {
                unload(*h);
            }
            _per_core[core].shards.clear();
            done->set_value();
        });
        f.wait();
    }
}

} // namespace trib::broker::groups
