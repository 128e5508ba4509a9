#include "broker/lag_publisher.h"

#include "broker/timestamp_lookup.h"
#include "common/log.h"
#include "net/kafka_client.h"
#include "protocol/messages/fetch.h"
#include "protocol/messages/list_offsets.h"
#include "protocol/next_record_fetch.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace trib::broker {

namespace {

constexpr auto remote_timeout = std::chrono::milliseconds(2000);

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The timestamp of the record at `from` of `key`, as an earlier pass read it.
std::optional<int64_t> cached(const lag_publisher::timestamp_cache& cache, const lag::partition_key& key,
                              int64_t from) {
    auto t = cache.find(key);
    if (t == cache.end()) {
        return std::nullopt;
    }
    auto o = t->second.find(from);
    return o == t->second.end() ? std::nullopt : std::optional<int64_t>(o->second);
}

// One partition's step 2 on its owner core.
struct local_read {
    topic_partition tp;
    std::set<int64_t> wanted;  // committed offsets whose next record's timestamp is asked for
    bool led = false;
    lag::partition_ends ends;
};

} // namespace

lag_publisher::lag_publisher(io_pool& pool, const broker_config& cfg, metadata_cache& metadata,
                             partition_manager& partitions, const fetcher_manager& fetchers,
                             groups::group_coordinator& groups, prometheus::Registry& registry)
  : _pool(pool), _cfg(cfg), _metadata(metadata), _partitions(partitions), _fetchers(fetchers), _groups(groups),
    _families(registry), _interval_ms(cfg.lag_interval_ms) {}

lag_publisher::~lag_publisher() { stop(); }

void lag_publisher::start() {
    if (_interval_ms <= 0 || _started) {
        return;
    }
    _started = true;
    asio::co_spawn(_pool.executor(0), loop(), [this](std::exception_ptr e) {
        log_failed_coroutine(e, "consumer lag metrics");
        _done.set_value();
    });
}

void lag_publisher::stop() {
    if (!_started || _stopping.exchange(true)) {
        return;
    }
    asio::post(_pool.executor(0), [this] {
        if (_timer) {
            _timer->cancel();
        }
    });
    // A pass in flight ends by its calls' deadlines.
    _done.get_future().wait_for(std::chrono::seconds(15));
}

asio::awaitable<void> lag_publisher::loop() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    _timer = &timer;
    while (!_stopping) {
        boost::system::error_code ec;
        timer.expires_after(std::chrono::milliseconds(_interval_ms));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (_stopping) {
            break;
        }
        co_await pass();
    }
    _timer = nullptr;
    _remotes.clear();
}

asio::awaitable<void> lag_publisher::pass() {
    lag::input in;
    // 1. Committed offsets first.
    auto collect = [&in](groups::group_shard& shard) {
        for (auto& g : shard.groups()) {
            if (g.state == "Dead") {
                continue;
            }
            lag::group_commits c{g.group_id, g.members, {}};
            for (auto& o : g.offsets) {
                c.offsets.push_back({o.topic, o.partition, o.offset});
            }
            in.groups.push_back(std::move(c));
        }
    };
    co_await _groups.each_shard(collect);

    // 2. Then the ends: of every partition a group committed to, and every one led here.
    auto snapshot = _metadata.get();
    const auto self = _cfg.node_id;
    std::map<lag::partition_key, std::set<int64_t>> wanted;
    for (const auto& g : in.groups) {
        for (const auto& c : g.offsets) {
            if (c.offset >= 0) {
                wanted[{c.topic, c.partition}].insert(c.offset);
            }
        }
    }
    for (const auto& [name, t] : snapshot->topics) {
        in.topic_partitions[name] = int32_t(t.partitions.size());
        for (const auto& p : t.partitions) {
            if (p.leader.value() == self) {
                wanted.try_emplace({name, p.id.value()});
            }
        }
    }
    std::vector<local_read> reads;
    std::map<lag::partition_key, std::set<int64_t>> remote;
    for (const auto& [key, offsets] : wanted) {
        const auto* p = snapshot->partition(key.first, key.second);
        if (!p) {
            continue;  // topic deleted: its commits stay, with no end to compare them with
        }
        if (p->leader.value() == self) {
            reads.push_back(local_read{topic_partition{key.first, key.second}, offsets, false, {}});
        } else if (p->leader.value() >= 0) {
            remote.emplace(key, offsets);
        }
    }
    std::vector<local_read*> jobs;
    for (auto& r : reads) {
        jobs.push_back(&r);
    }
    const bool leased = _partitions.leased();
    // The cache is only read there, while this coroutine waits: nothing else touches it.
    const auto& cache = _timestamps;
    auto read_local = [leased, &cache](partition* p, local_read& r) {
        // As ListOffsets answers: nothing from a replica that doesn't lead, or whose high
        // watermark may still be below its predecessor's (KIP-207).
        if (!p || !leased || p->check_leader() != protocol::error_code::none ||
            p->high_watermark() < p->epoch_start()) {
            return;
        }
        r.led = true;
        r.ends.end = p->high_watermark().value();
        r.ends.oldest = p->log().log_start_offset().value();
        for (int64_t o : r.wanted) {
            int64_t from = std::max(o, r.ends.oldest);  // below the log start: the oldest record
            if (from >= r.ends.end) {
                continue;
            }
            if (auto known = cached(cache, {r.tp.topic, r.tp.partition}, from)) {
                r.ends.next_timestamp_ms[o] = *known;
                continue;
            }
            auto rec = record_at_or_after(p->log(), offset(from));
            if (rec && *rec) {
                r.ends.next_timestamp_ms[o] = (*rec)->timestamp;
            }
        }
    };
    co_await _partitions.on_owners(jobs, read_local);
    for (auto& r : reads) {
        lag::partition_key key{r.tp.topic, r.tp.partition};
        if (r.led) {
            in.publish_partitions.push_back(key);
            in.ends[key] = std::move(r.ends);
        }
    }
    co_await read_remote(*snapshot, in, remote);

    // The timestamps of this pass's next records are those of the next one, unless a commit
    // or the log start moved.
    _timestamps.clear();
    for (const auto& [key, e] : in.ends) {
        for (const auto& [o, ts] : e.next_timestamp_ms) {
            _timestamps[key][std::max(o, e.oldest)] = ts;
        }
    }

    // 3. Publish.
    in.now_ms = wall_ms();
    auto out = lag::compute(in);
    if (out.inverted.size() != _last_inverted && !out.inverted.empty()) {
        const auto& i = out.inverted.front();
        TLOG_WARN("consumer lag: {} committed offset(s) above their partition's end, e.g. group {} {}-{}: "
                  "committed {}, end {} (lag shown as 0)",
                  out.inverted.size(), i.group_id, i.tp.first, i.tp.second, i.committed, i.end);
    }
    _last_inverted = out.inverted.size();
    _families.publish(_series, {}, out.samples);
    _series.sweep();
}

asio::awaitable<void> lag_publisher::read_remote(const cluster_snapshot& s, lag::input& in,
                                                 const std::map<lag::partition_key, std::set<int64_t>>& wanted) {
    std::map<int32_t, std::vector<lag::partition_key>> by_leader;
    for (const auto& [key, offsets] : wanted) {
        by_leader[s.partition(key.first, key.second)->leader.value()].push_back(key);
    }
    for (const auto& [leader, keys] : by_leader) {
        auto addr = _fetchers.address_of(s, leader);
        if (!addr) {
            continue;
        }
        auto& client = _remotes[leader];
        if (!client || client->target().host != addr->host || client->target().port != addr->port) {
            net::kafka_client_options o;
            o.client_id = "tributary-lag";
            o.connect_timeout = remote_timeout;
            _cfg.secure_inter_broker(o);
            client = std::make_unique<net::kafka_client>(_pool.executor(0), *addr, o);
        }
        if (auto c = co_await client->connect(remote_timeout); !c) {
            TLOG_DEBUG("consumer lag: broker {}: {}", leader, client->last_error());
            continue;
        }
        auto version = client->version_for(protocol::list_offsets_request::api_key, 7);
        if (!version || *version < 1) {
            continue;
        }
        // Latest, then earliest; the ends only count when both answered, so none is older
        // than the commits by more than this pass.
        std::map<lag::partition_key, lag::partition_ends> got;
        for (int64_t ts : {int64_t(-1), int64_t(-2)}) {
            protocol::list_offsets_request req;
            req.replica_id = -1;
            for (const auto& key : keys) {
                if (req.topics.empty() || req.topics.back().name != key.first) {
                    req.topics.emplace_back().name = key.first;
                }
                auto& lp = req.topics.back().partitions.emplace_back();
                lp.partition_index = key.second;
                lp.timestamp = ts;
            }
            auto resp = co_await client->call<protocol::list_offsets_response>(req, *version, remote_timeout);
            if (!resp) {
                TLOG_DEBUG("consumer lag: ListOffsets to broker {}: {}", leader, resp.error().message());
                break;
            }
            for (const auto& t : resp->topics) {
                for (const auto& p : t.partitions) {
                    if (p.error_code != 0 || p.offset < 0) {
                        continue;
                    }
                    auto& e = got[{t.name, p.partition_index}];
                    (ts == -1 ? e.end : e.oldest) = p.offset;
                }
            }
        }
        co_await read_remote_timestamps(*client, leader, wanted, got);
        for (auto& [key, e] : got) {
            if (e.end >= 0) {
                in.ends[key] = std::move(e);
            }
        }
    }
}

// The timestamp of the record at each committed offset behind the end, from the leader: a
// Fetch at that offset of at most one batch (a partition appears once per Fetch, so a
// partition several groups committed to at different offsets takes several rounds).
asio::awaitable<void> lag_publisher::read_remote_timestamps(net::kafka_client& client, int32_t leader,
                                                            const std::map<lag::partition_key, std::set<int64_t>>& wanted,
                                                            std::map<lag::partition_key, lag::partition_ends>& got) {
    auto version = client.version_for(protocol::fetch_request::api_key, protocol::fetch_request::max_version);
    if (!version) {
        co_return;
    }
    std::map<lag::partition_key, std::vector<int64_t>> todo;  // offsets to fetch, by partition
    for (auto& [key, e] : got) {
        auto w = wanted.find(key);
        if (e.end < 0 || w == wanted.end()) {
            continue;
        }
        for (int64_t o : w->second) {
            int64_t from = std::max(o, e.oldest);
            if (from >= e.end) {
                continue;
            }
            if (auto known = cached(_timestamps, key, from)) {
                e.next_timestamp_ms[o] = *known;
            } else {
                todo[key].push_back(o);
            }
        }
    }
    protocol::next_record_fetch fetch;
    for (const auto& [key, offsets] : todo) {
        for (int64_t o : offsets) {
            fetch.want(key.first, key.second, std::max(o, got[key].oldest));
        }
    }
    for (size_t round = 0;; ++round) {
        auto req = fetch.request(round);
        if (!req) {
            break;
        }
        auto resp = co_await client.call<protocol::fetch_response>(*req, *version, remote_timeout);
        if (!resp) {
            TLOG_DEBUG("consumer lag: Fetch from broker {}: {}", leader, resp.error().message());
            break;
        }
        fetch.take(*resp, round);
    }
    for (const auto& [key, offsets] : todo) {
        auto& e = got[key];
        for (int64_t o : offsets) {
            if (auto ts = fetch.timestamp(key.first, key.second, std::max(o, e.oldest))) {
                e.next_timestamp_ms[o] = *ts;
            }
        }
    }
}

} // namespace trib::broker
