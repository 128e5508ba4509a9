#pragma once

#include "broker/cluster_metadata.h"
#include "broker/metrics.h"
#include "broker/producer_state.h"
#include "common/runtime.h"
#include "storage/log.h"


#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace trib::broker {

struct topic_partition {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const topic_partition&) const = default;
};

// One partition replica hosted on this broker. Lives on its owner core, and is touched only
// from there.
class partition {
public:
    partition(topic_partition tp, protocol::uuid topic_id, std::unique_ptr<storage::log> log)
      : _tp(std::move(tp)), _topic_id(topic_id), _log(std::move(log)) {}

    const topic_partition& tp() const noexcept { return _tp; }
    // The topic this log belongs to: a topic deleted and created again under the same name
    // has a new id, and must not see the old topic's data.
    const protocol::uuid& topic_id() const noexcept { return _topic_id; }
    storage::log& log() noexcept { return *_log; }
    // Offsets below this are committed and visible to consumers. With a single replica it is
    // the log end; replication will move it by the ISR's progress.
    offset high_watermark() const { return _log->next_offset(); }

    // Fetches waiting for data register a wake-up; appends run them all once.
    void add_waiter(std::weak_ptr<std::function<void()>> w);
    void notify_waiters();

    producer_state& producers() noexcept { return _producers; }
    // Rebuilds the idempotent-producer state from the batch headers in the log.
    void rebuild_producer_state();

private:
    topic_partition _tp;
    protocol::uuid _topic_id;
    std::unique_ptr<storage::log> _log;
    std::vector<std::weak_ptr<std::function<void()>>> _waiters;
    producer_state _producers;
};

// Opens, owns and closes the partition logs this broker hosts. Each partition belongs to one
// core (by hash); operations on it run there, posted from whichever core received the request.
class partition_manager {
public:
    partition_manager(io_pool& pool, std::filesystem::path data_dir, broker_metrics& metrics);
    partition_manager(const partition_manager&) = delete;
    partition_manager& operator=(const partition_manager&) = delete;

    size_t owner(const topic_partition& tp) const noexcept;

    // Runs f(partition*) on the partition's core (nullptr if not hosted here) and returns its
    // result to the calling coroutine's core.
    //
    // Arguments are taken by reference and copied here, in a plain function: g++ 12 may move
    // a class temporary of a co_await expression bitwise, which breaks short strings, so
    // coroutines should pass named objects by reference to the functions they await.
    template<typename F>
    auto on_partition(const topic_partition& tp, F&& f)
        -> asio::awaitable<std::invoke_result_t<std::decay_t<F>&, partition*>> {
        size_t core = owner(tp);
        return run_on(_pool.executor(core), [this, core, tp, f = std::forward<F>(f)]() mutable {
            return f(find(core, tp));
        });
    }

    // Runs f(find) on `core`, where find(tp) gives the partition (or nullptr) hosted there:
    // one hop for a whole batch of partitions that core owns. Same rules as on_partition,
    // except that f runs at once, without a hop, when the caller is on `core` already (about
    // half of a request's partitions on two cores: two posts saved for each).
    template<typename F>
    auto on_core(size_t core, F&& f)
        -> asio::awaitable<std::invoke_result_t<std::decay_t<F>&, std::function<partition*(const topic_partition&)>>> {
        using finder = std::function<partition*(const topic_partition&)>;
        if (_pool.current_core() == core) {
            co_return f(finder([this, core](const topic_partition& tp) { return find(core, tp); }));
        }
        co_return co_await run_on(_pool.executor(core), [this, core, &f]() mutable {
            return f(finder([this, core](const topic_partition& tp) { return find(core, tp); }));
        });
    }
    size_t cores() const noexcept { return _shards.size(); }

    // Makes the hosted set match `snapshot` for node `self`: opens logs of new partitions
    // (with each topic's effective log config from `config_for`), closes and deletes those of
    // deleted topics, updates configs. Blocks until every core has applied it.
    using config_fn = std::function<storage::log_config(const topic_info&)>;
    void apply(const cluster_snapshot& snapshot, int32_t self, const config_fn& config_for);

    // Removes partition directories (those with a partition.metadata) that `snapshot` doesn't
    // give this broker: topics deleted while it was down. Call once the broker has caught up
    // with the metadata, never with a partial view. Returns how many went.
    size_t remove_strays(const cluster_snapshot& snapshot, int32_t self);

    // Runs retention on every hosted log (on their cores).
    void run_retention();
    // Applies each log's flush policy (log.flush.interval.*) and refreshes the log size
    // metrics; called every second or so.
    void periodic();
    // Flushes and closes every log (clean shutdown).
    void close_all();

    std::filesystem::path dir_of(const topic_partition& tp) const;

private:
    partition* find(size_t core, const topic_partition& tp);
    // Opens the log of `tp` for topic `id`, first removing a directory left by an earlier
    // topic of the same name (its partition.metadata names another id).
    std::unique_ptr<partition> open_partition(const topic_partition& tp, const protocol::uuid& id,
                                              const storage::log_config& cfg);
    void drop(size_t core, std::map<topic_partition, std::unique_ptr<partition>>::iterator it);

    io_pool& _pool;
    std::filesystem::path _data_dir;
    broker_metrics& _metrics;
    // Per core; each map is touched only on its core.
    std::vector<std::map<topic_partition, std::unique_ptr<partition>>> _shards;
};

} // namespace trib::broker
