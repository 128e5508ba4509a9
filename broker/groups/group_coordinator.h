#pragma once

// The group coordinator of this broker: one group_shard (group_shard.h) for each partition of
// `__consumer_offsets` this broker leads, living on that partition's owner core. A shard is
// born when the broker becomes the partition's leader at an epoch, loads the partition's
// records (requests meanwhile get COORDINATOR_LOAD_IN_PROGRESS), serves, and dies when the
// leadership goes (its waiting requests get NOT_COORDINATOR); the next leader loads the same
// records, which the shard wrote through the partition's log and waited for its in-sync
// replicas to have (`shard_host::append`). A broker without its leadership lease
// (leader_lease.h) answers NOT_COORDINATOR, as for any leader request.
//
// Handlers reach a shard with immediate() (an answer computed there) or deferred() (an
// answer the shard gives later through a callback: JoinGroup, SyncGroup, writes), both from
// the request's coroutine on its connection's core.
#include "broker/broker_config.h"
#include "broker/cluster_metadata.h"
#include "broker/delayed.h"
#include "broker/groups/group_shard.h"
#include "broker/partition_manager.h"
#include "common/runtime.h"
#include "protocol/error_code.h"

#include <boost/asio/this_coro.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace trib::broker::groups {

inline constexpr std::string_view offsets_topic = "__consumer_offsets";

class group_coordinator {
public:
    // `authorizer`: whose rights a consumer group member's regex subscription resolves with.
    group_coordinator(io_pool& pool, partition_manager& partitions, metadata_cache& metadata, const groups_config& cfg,
                      const security::authorizer_config& authorizer);
    ~group_coordinator();
    group_coordinator(const group_coordinator&) = delete;
    group_coordinator& operator=(const group_coordinator&) = delete;

    // partition_manager's role listener: on the owner core of `tp`, after a change (p) or
    // before the replica goes (nullptr).
    void on_role(const topic_partition& tp, partition* p);
    // Starts each core's timer (sessions, rebalances, write timeouts); stop() ends them.
    void start();
    void stop();

    // The offsets partition of a group, when the topic has `partitions` partitions.
    static int32_t partition_for(std::string_view group_id, int32_t partitions) {
        return offsets_partition_for(group_id, partitions);
    }

    template<typename R>
    using or_error = std::variant<protocol::error_code, R>;

    // On the shard of offsets partition `partition`: f(group_shard&) -> R, or the error that
    // says why it isn't served here (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS).
    // f runs on another core while the caller waits: it may capture the caller's locals by
    // reference.
    template<typename F>
    auto immediate(int32_t partition, F& f) -> asio::awaitable<or_error<std::invoke_result_t<F&, group_shard&>>> {
        using R = std::invoke_result_t<F&, group_shard&>;
        co_return co_await run_on(_pool.executor(core_of(partition)), [this, partition, &f]() -> or_error<R> {
            protocol::error_code err = protocol::error_code::none;
            group_shard* s = serving(partition, err);
            if (!s) {
                return err;
            }
            return f(*s);
        });
    }

    // Same, for an answer the shard gives later: f(group_shard&, std::function<void(R)> done).
    // REQUEST_TIMED_OUT if no answer came within `guard` (a shard answers every request it
    // takes; the guard only bounds a request's life).
    template<typename R, typename F>
    asio::awaitable<or_error<R>> deferred(int32_t partition, F& f, std::chrono::milliseconds guard) {
        // Named, not temporaries of the co_await expressions: g++ 12 may relocate those
        // bitwise, and a shared_ptr moved so is freed twice (broker/README.md, g++ 12 note).
        auto ex = co_await asio::this_coro::executor;
        auto slot = std::make_shared<reply<R>>(ex);
        auto start = [this, partition, &f, &slot]() {
            protocol::error_code err = protocol::error_code::none;
            if (group_shard* s = serving(partition, err)) {
                f(*s, std::function<void(R)>([slot](R r) {
                      slot->value = std::move(r);
                      slot->ready.store(true, std::memory_order_release);
                      slot->w->wake();
                  }));
            }
            return err;
        };
        auto err = co_await run_on(_pool.executor(core_of(partition)), start);
        if (err != protocol::error_code::none) {
            co_return err;
        }
        auto deadline = waiter::clock::now() + guard;
        while (!slot->ready.load(std::memory_order_acquire)) {
            if (!co_await slot->w->wait_until(deadline)) {
                break;
            }
        }
        if (!slot->ready.load(std::memory_order_acquire)) {
            co_return protocol::error_code::request_timed_out;
        }
        co_return std::move(slot->value);
    }

    // f(group_shard&) on every shard this broker serves, core by core (ListGroups, lag).
    // Shards that are loading are skipped and counted in the result.
    template<typename F>
    asio::awaitable<size_t> each_shard(F& f) {
        size_t loading = 0;
        for (size_t core = 0; core < _per_core.size(); ++core) {
            loading += co_await run_on(_pool.executor(core), [this, core, &f]() {
                size_t n = 0;
                for (auto& [part, h] : _per_core[core].shards) {
                    if (serves(*h)) {
                        f(shard_of(*h));
                    } else {
                        ++n;
                    }
                }
                return n;
            });
        }
        co_return loading;
    }

    const groups_config& config() const noexcept { return _cfg; }

private:
    struct hosted;
    template<typename R>
    struct reply {
        explicit reply(asio::any_io_executor ex) : w(std::make_shared<waiter>(ex)) {}
        std::shared_ptr<waiter> w;
        R value{};
        std::atomic<bool> ready{false};
    };
    struct core_state {
        std::map<int32_t, std::shared_ptr<hosted>> shards;
        std::unique_ptr<asio::steady_timer> tick;
    };

    size_t core_of(int32_t partition) const;
    // On the partition's owner core: its shard if this broker serves it now, else nullptr and
    // the reason in `err`.
    group_shard* serving(int32_t partition, protocol::error_code& err);
    bool serves(const hosted& h) const;
    static group_shard& shard_of(hosted& h);
    void load(const std::shared_ptr<hosted>& h);
    void schedule_tick(size_t core);
    void unload(hosted& h);

    io_pool& _pool;
    partition_manager& _partitions;
    metadata_cache& _metadata;  // the topics consumer groups subscribe to
    groups_config _cfg;
    security::authorizer_config _authorizer;
    std::vector<core_state> _per_core;  // each touched only on its core
    std::atomic<bool> _stopped{false};
};

} // namespace trib::broker::groups
