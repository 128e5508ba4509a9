#pragma once

#include "broker/cluster_metadata.h"
#include "broker/dir_reaper.h"
#include "broker/leader_lease.h"
#include "broker/log_dirs.h"
#include "broker/metrics.h"
#include "broker/partition.h"
#include "common/runtime.h"
#include "coordinator/client/topic_config.h"
#include "storage/log.h"
#include "storage/syncer.h"
#include "storage/written_marks.h"

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace trib::broker {

// A request's work on one partition, for partition_manager::on_leaders. Handlers derive
// their jobs from it.
struct partition_job {
    topic_partition tp;
    int32_t client_epoch = -1;  // the client's current_leader_epoch (KIP-320); -1: unknown
    protocol::error_code error = protocol::error_code::none;
};

// A change to one partition this broker hosts (or hosted), worked out from a metadata delta
// and applied on the partition's owner core.
struct partition_change {
    topic_partition tp;
    protocol::uuid topic_id;
    // The partition's new state; nullopt: this broker holds no replica any more (topic
    // deleted, replica moved away): stop it and delete its log.
    std::optional<coordinator::partition_info> state;
    // The topic's effective log config, when it may have changed (always for a new replica).
    std::optional<storage::log_config> config;
    int32_t min_insync_replicas = 1;  // the topic's effective setting (with `config`)
    // Replication throttles (replication/quota.h), with `config`: the topic's
    // leader.replication.throttled.replicas / follower.replication.throttled.replicas name
    // this broker's replica of the partition.
    bool leader_throttled = false;
    bool follower_throttled = false;
};

// What the topic's effective configs say to a replica.
struct replica_config {
    storage::log_config log;
    int32_t min_insync_replicas = 1;
    coordinator::throttled_replicas leader_throttled;    // leader.replication.throttled.replicas
    coordinator::throttled_replicas follower_throttled;  // follower.replication.throttled.replicas
};

// A leader's wish to change an ISR, to be sent to the coordinator (AlterPartition).
struct isr_change {
    topic_partition tp;
    protocol::uuid topic_id;
    leader_epoch epoch;
    int32_t partition_epoch = 0;
    std::vector<int32_t> isr;
};

// The broker's answer to a failed log directory (partition_manager::dir_failure_listener):
// it logs why (the failed call, file and reason: storage::last_io_failure), writes it as the
// container's termination message (log::fatal), and halts, as Kafka does when it cannot take
// the directory offline on its own (KRaft before directory ids, KIP-858; or when every
// directory failed). Serving on would
// answer from files the kernel may have dropped pages of; the coordinator fences the broker
// once its heartbeats stop and elects new leaders from the other in-sync replicas.
[[noreturn]] void halt_for_failed_log_dir(const std::filesystem::path& dir, const topic_partition& tp,
                                          const std::string& what);

// Opens, owns and closes the partition logs this broker hosts. Each partition belongs to one
// core (by hash); operations on it run there, posted from whichever core received the request.
class partition_manager {
public:
    // `log_dirs`: log.dirs, the first one first (it also holds the broker's own files).
    partition_manager(io_pool& pool, std::vector<std::filesystem::path> log_dirs, node_id self,
                      broker_metrics& metrics);
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

    // The broker's leadership lease (broker/leader_lease.h), checked by on_leaders; without
    // one (unit tests of a lone partition manager) every leader request is served.
    void set_lease(const leader_lease* lease) noexcept { _lease = lease; }
    // Whether this broker holds its lease now (always, without one).
    bool leased() const { return !_lease || _lease->held(partition::clock_ms()); }

    // Called on a partition's owner core after a metadata change was applied to it, with the
    // partition, and before its replica is dropped, with nullptr: the group coordinator
    // follows leadership of the __consumer_offsets partitions this way. Set before the first
    // apply().
    using role_listener = std::function<void(const topic_partition&, partition*)>;
    void set_role_listener(role_listener fn) { _on_role = std::move(fn); }

    // A log of a replica in use here failed a write or a sync (storage::log::failed), or
    // could not be opened for an I/O error, with its directory, partition and what failed:
    // that directory's files can no longer be trusted. Called once per log, on the thread
    // that met the failure (an owner core, or the syncer's for a background sync). Set before
    // the first apply(); unset, the log just refuses writes (KAFKA_STORAGE_ERROR). A failed
    // future log (a move to another directory) is not reported: its move is abandoned, as
    // before.
    using dir_failure_listener =
        std::function<void(const std::filesystem::path& dir, const topic_partition&, const std::string& what)>;
    void set_dir_failure_listener(dir_failure_listener fn) { _on_dir_failure = std::move(fn); }

    // On the owner core of `tp` only: the replica hosted there, or nullptr.
    partition* local(const topic_partition& tp) { return find(owner(tp), tp); }

    // The loop of every request addressed to partition leaders (produce, fetch, list
    // offsets, delete records): each job's partition is looked up on its owner core, one hop
    // per core carrying all of that core's jobs; where this broker doesn't lead it at the
    // client's epoch, job.error says why (partition::check_leader; NOT_LEADER_OR_FOLLOWER
    // too while the broker holds no lease), else f(partition&, job) runs there. `f` is
    // called on other cores: it may capture references, nothing it changes outside its job.
    template<typename Job, typename F>
    asio::awaitable<void> on_leaders(std::vector<Job>& jobs, F& f) {
        std::vector<Job*> all;
        all.reserve(jobs.size());
        for (auto& j : jobs) {
            all.push_back(&j);
        }
        co_await on_leaders(all, f);
    }
    // Same, for jobs kept elsewhere.
    template<typename Job, typename F>
    asio::awaitable<void> on_leaders(std::vector<Job*>& jobs, F& f) {
        const bool leased = this->leased();
        auto checked = [&f, leased](partition* p, Job& j) {
            j.error = p ? p->check_leader(j.client_epoch) : protocol::error_code::not_leader_or_follower;
            if (j.error == protocol::error_code::none && !leased) {
                j.error = protocol::error_code::not_leader_or_follower;
            }
            if (j.error == protocol::error_code::none) {
                f(*p, j);
            }
        };
        co_await on_owners(jobs, checked);
    }

    // The loop under on_leaders, without the leadership check: f(partition* or nullptr, job)
    // for each job (anything with a `tp`) on its partition's owner core, one hop per core.
    template<typename Job, typename F>
    asio::awaitable<void> on_owners(std::vector<Job*>& jobs, F& f) {
        std::vector<std::vector<Job*>> by_core(cores());
        for (auto* j : jobs) {
            by_core[owner(j->tp)].push_back(j);
        }
        for (size_t core = 0; core < by_core.size(); ++core) {
            auto& mine = by_core[core];
            if (mine.empty()) {
                continue;
            }
            co_await on_core(core, [&mine, &f](const auto& find) {
                for (Job* j : mine) {
                    f(find(j->tp), *j);
                }
                return true;
            });
        }
    }

    // Applies `changes` on their owner cores, then runs after(core) on every core (the
    // metadata cache installs the snapshot the changes came from), and returns once every core
    // is done. Off the io threads only (the metadata apply thread, start-up).
    void apply(const std::vector<partition_change>& changes, const std::function<void(size_t)>& after);

    // Removes partition directories (those with a partition.metadata) that `snapshot` doesn't
    // give this broker: topics deleted while it was down. Call once the broker has caught up
    // with the metadata, never with a partial view. Returns how many went.
    size_t remove_strays(const cluster_snapshot& snapshot);

    // On every core: the ISR changes leaders want (partition::wanted_isr), each now marked in
    // flight on its partition. From a coroutine.
    asio::awaitable<std::vector<isr_change>> collect_isr_changes(int64_t lag_max_ms);
    // The coordinator refused or never answered these changes: they may be asked again in a
    // second.
    asio::awaitable<void> forget_isr_changes(const std::vector<isr_change>& changes);

    // Runs retention on every hosted log (on their cores).
    void run_retention();
    // One compaction pass (storage/cleaner.h) over the compacted log that is dirtiest now,
    // below its high watermark. Blocking, from the cleaner's thread only: the choice and the
    // swap run on the log's owner core, the cleaning itself on the calling thread, so appends
    // and fetches go on meanwhile. nullopt when no log is due.
    struct cleaned {
        topic_partition tp;
        storage::cleaning_result result;
        double seconds = 0;
    };
    struct cleaning_report {
        std::optional<cleaned> pass;
        double max_dirty_ratio = 0;  // among compacted logs, before the pass
    };
    // `stop` set: the pass ends early (shutdown), nothing changed.
    cleaning_report clean_one(const storage::record_codec& codec, uint64_t dedupe_buffer_bytes,
                              const std::atomic<bool>& stop);
    // Applies each log's flush policy (log.flush.interval.*) and refreshes the log size and
    // replication metrics; called every second or so.
    void periodic();
    // Flushes and closes every log (clean shutdown).
    void close_all();

    // Finds the partitions in every log directory and starts each one's written marks; once,
    // after the directories are locked (cluster_link::start; apply() calls it too, for a lone
    // partition manager). Throws, refusing start-up, when a partition is in two directories.
    // A future copy of a move that did not complete (the replica is still in its old
    // directory) is kept, and the move resumes from its end when apply() opens the replica
    // (unless its directory is not usable now: then it is discarded); one whose replica is
    // gone (the swap stopped between its two renames) becomes the replica (see
    // AlterReplicaLogDirs in broker/README.md).
    void open_dirs();

    const std::vector<std::filesystem::path>& log_dirs() const noexcept { return _dirs; }
    // The index in log_dirs() of the directory a client names (AlterReplicaLogDirs): the same
    // path, absolute or as configured. nullopt: not one of them.
    std::optional<size_t> find_log_dir(const std::string& path) const;

    // AlterReplicaLogDirs for one replica: moves its log to log directory `to` while it stays
    // online (broker/README.md, Log directories). The copy runs on the owner core a few MiB
    // at a time between other work; once it has caught up, the logs are swapped there in one
    // step, so no append falls between. Answers at once: none (the move started, is under way,
    // or the log already is there; naming the directory it is in cancels a move elsewhere),
    // LOG_DIR_NOT_FOUND, KAFKA_STORAGE_ERROR (the directory is not usable), or
    // REPLICA_NOT_AVAILABLE (not hosted here: `to` is remembered for when it comes, as Kafka
    // does). A plain function returning the awaitable: see on_partition.
    asio::awaitable<protocol::error_code> move_replica(const topic_partition& tp, size_t to) {
        size_t core = owner(tp);
        return run_on(_pool.executor(core), [this, core, tp, to] { return start_move(core, tp, to); });
    }
    // Bytes per second this broker's moves copy at most, together (nullopt: no limit; 0:
    // none); any thread, any time (a metadata change of the dynamic config): the copies under
    // way follow the new rate within a tenth of a second.
    void set_move_rate(std::optional<int64_t> bytes_per_second);
    // On the owner core of `tp`: its future log's directory, size and end, when it is moving.
    struct future_info {
        size_t dir = 0;
        int64_t size = 0;
        int64_t next_offset = 0;
    };
    std::optional<future_info> future_of(const topic_partition& tp);
    // The directory (index into log_dirs()) holding the log of `tp`, or nullopt when this
    // broker holds none. Any thread.
    std::optional<size_t> dir_index_of(const topic_partition& tp) const;
    // Whether log directory `d` can be used now (exists, is a directory, is writable).
    bool dir_usable(size_t d) const;

private:
    partition* find(size_t core, const topic_partition& tp);
    // Opens the log at `path` of the replica of `tp` in use, in log directory `d`: with that
    // directory's written marks, its failures reported to the dir failure listener.
    result<std::unique_ptr<storage::log>> open_replica_log(const std::filesystem::path& path, size_t d,
                                                           const topic_partition& tp, const storage::log_config& cfg);
    // Opens the log of `tp` for topic `id`, first removing a directory left by an earlier
    // topic of the same name (its partition.metadata names another id).
    std::unique_ptr<partition> open_partition(const topic_partition& tp, const protocol::uuid& id,
                                              const storage::log_config& cfg);
    struct open_summary {  // the logs apply() opened: for its start-up log line
        size_t logs = 0;
        size_t unclean = 0;
        size_t segments_scanned = 0;
        uint64_t bytes_scanned = 0;
        uint64_t bytes_trusted = 0;
    };
    void apply_one(size_t core, const partition_change& c, open_summary& opened);
    void drop(size_t core, std::map<topic_partition, std::unique_ptr<partition>>::iterator it);
    // Renames a replica's (or future log's) directory `<topic>-<p>.<id>-delete` and queues it
    // on the reaper.
    void discard(const std::filesystem::path& dir, const topic_partition& tp);

    io_pool& _pool;
    const leader_lease* _lease = nullptr;
    role_listener _on_role;
    dir_failure_listener _on_dir_failure;
    // The directory of the log of `tp`: where it is, or for a new replica the one Kafka's
    // rule picks (placed there from now on). nullopt: no usable directory.
    std::optional<std::filesystem::path> place(const topic_partition& tp);
    void unplace(const topic_partition& tp);
    protocol::error_code start_move(size_t core, const topic_partition& tp, size_t to);
    // One step of a move: copies a few MiB to the future log, swaps when it has caught up,
    // else posts the next step. `name`: the future log's directory, to tell a later move apart.
    void copy_step(size_t core, const topic_partition& tp, const std::string& name);
    void finish_move(partition& p);
    // A replica just opened by apply() whose move a stop interrupted (open_dirs found its
    // future log): the future log is opened again and the copy goes on from its end.
    void resume_move(size_t core, partition& p);
    // Ends a move without swapping: the future log is closed and deleted.
    void cancel_move(partition& p, const std::string& why);

    std::vector<std::filesystem::path> _dirs;  // log.dirs
    node_id _self;
    broker_metrics& _metrics;
    // Each log directory's written marks (storage/written_marks.h, `<dir>/written-marks`), so a
    // restart after a SIGKILL trusts what completed appends wrote. Made by open_dirs(), once
    // the directories are locked (cluster_link::start), so a second broker refused them never
    // writes there.
    std::once_flag _dirs_once;
    std::vector<std::unique_ptr<storage::written_marks>> _marks;
    // Which directory holds each replica's log: found by open_dirs(), added to when a new
    // replica is placed, removed from when one is dropped. Cores place their partitions
    // concurrently during apply(), hence the lock (never on a request path).
    mutable std::mutex _placement_mu;
    std::map<topic_partition, size_t> _placement;
    std::map<topic_partition, size_t> _moving;     // the directory of each future log
    std::map<topic_partition, size_t> _preferred;  // AlterReplicaLogDirs before the replica came
    // Future logs open_dirs() found beside their replica: (directory, entry name) of each,
    // taken by resume_move() when the replica opens.
    std::map<topic_partition, std::pair<size_t, std::string>> _resume;
    // replica.alter.log.dirs.io.max.bytes.per.second in force, over every move (log_dirs.h).
    std::mutex _quota_mu;
    move_quota _quota;
    // The logs' background disk thread (storage/syncer.h): a rolled segment's fdatasync and the
    // writeback started behind appends (tributary.log.writeback.bytes) run there, never on a
    // core. Declared before _shards, so it stops (finishing what is queued) after the logs.
    storage::syncer _disk;
    // Per core; each map is touched only on its core.
    std::vector<std::map<topic_partition, std::unique_ptr<partition>>> _shards;
    // Removes discarded replicas' directories off the cores (dir_reaper.h).
    dir_reaper _reaper;
};

} // namespace trib::broker
