#pragma once

#include "storage/file.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace trib::storage {

// How far a log is known to be on stable storage, and whether its files still can be (see
// log::failed). Shared between the log's owner thread and the syncer thread, hence the mutex.
// `durable` only grows, except when the owner truncates the log: truncate lowers it and bumps
// `epoch`, and a sync request made before the truncation (older epoch) then completes without
// moving `durable` past data it never covered.
class sync_progress {
public:
    explicit sync_progress(int64_t durable) : _durable(durable) {}

    // Every offset < durable() has been fdatasync'ed (log data files only).
    int64_t durable() const {
        std::lock_guard g(_mu);
        return _durable;
    }
    uint64_t epoch() const {
        std::lock_guard g(_mu);
        return _epoch;
    }
    void advance(int64_t to, uint64_t epoch) {
        std::lock_guard g(_mu);
        if (epoch == _epoch && to > _durable) {
            _durable = to;
        }
    }
    // Truncation: forget durability at and above `to`.
    void lower(int64_t to) {
        std::lock_guard g(_mu);
        ++_epoch;
        if (to < _durable) {
            _durable = to;
        }
    }

    // A write or sync of the log's files failed: failed() from then on. The first call runs
    // the listener, on the calling thread, outside the lock; later ones do nothing.
    using failure_listener = std::function<void(const std::string& what)>;
    void set_failure_listener(failure_listener fn) {
        std::lock_guard g(_mu);
        _on_failure = std::move(fn);
    }
    void fail(const std::string& what) {
        failure_listener fn;
        {
            std::lock_guard g(_mu);
            if (_failed.exchange(true)) {
                return;
            }
            fn = _on_failure;
        }
        if (fn) {
            fn(what);
        }
    }
    bool failed() const noexcept { return _failed.load(std::memory_order_acquire); }

private:
    mutable std::mutex _mu;
    int64_t _durable;
    uint64_t _epoch = 0;
    std::atomic<bool> _failed{false};  // read on every append without the lock
    failure_listener _on_failure;
};

// One request: fdatasync `files`, then record that offsets < `durable_to` are durable and call
// `done`. The files are shared_ptrs so a segment deleted meanwhile stays open until synced.
struct sync_request {
    std::vector<std::shared_ptr<file>> files;
    std::shared_ptr<sync_progress> progress;
    int64_t durable_to = 0;
    uint64_t epoch = 0;
    std::function<void(std::error_code)> done;  // may be empty
};

// Group commit, and writeback started behind the writers. One background thread, shared by every log of a process (one fsync queue per
// disk is what matters; per-log threads would multiply threads by partitions). Requests queue
// up while an fsync is in progress; the next round takes all of them, fdatasyncs each distinct
// file once, and then completes every request of the round. So N requests arriving during one
// fsync cost one more fsync, not N.
//
// Callbacks run on the syncer thread and must not block for long: they typically post the
// acknowledgement back to the connection's io_context.
//
// start_writeback() asks the kernel to begin writing a range of a file to disk
// (sync_file_range with SYNC_FILE_RANGE_WRITE: no waiting for the device, no durability
// promise). Logs call it every log_config::writeback_bytes appended through the page cache, so
// dirty pages stay few and reach the disk steadily, rather than piling up to the kernel's
// dirty_background threshold (10% of memory) and being flushed in bursts that take the CPUs and
// stall appends and fetches. It runs on this thread because starting writeback can wait for
// the filesystem's block allocation, the journal or the device queue, which an owner core must
// not. Each round starts the queued writebacks before its fsyncs.
//
// Without start() (or after stop()), submit() and start_writeback() do the work inline on the
// caller's thread.
class syncer {
public:
    // `fsync` replaces ::fdatasync (tests count and delay calls through it); it returns 0 or
    // -1 with errno set, like the system call. `writeback` replaces sync_file_range(fd, from,
    // len, SYNC_FILE_RANGE_WRITE) likewise.
    using fsync_fn = std::function<int(int fd)>;
    using writeback_fn = std::function<int(int fd, uint64_t from, uint64_t len)>;
    explicit syncer(fsync_fn fsync = {}, writeback_fn writeback = {});
    syncer(const syncer&) = delete;
    syncer& operator=(const syncer&) = delete;
    ~syncer();

    void start();
    // Completes every queued request (with their fsyncs), then joins the thread.
    void stop();
    void submit(sync_request r);
    // Starts writing [from, from + len) of `f` back; `f` stays open until then. Past
    // writeback_queue_max requests waiting, a request is dropped: the kernel writes those pages
    // back itself.
    void start_writeback(std::shared_ptr<file> f, uint64_t from, uint64_t len);
    static constexpr size_t writeback_queue_max = 4096;

    // Runs the fsync function and counts the call. Logs use it for their synchronous flushes
    // so one hook sees every fsync.
    int fdatasync(int fd);
    uint64_t fsync_count() const noexcept { return _fsyncs.load(); }
    uint64_t round_count() const noexcept { return _rounds.load(); }
    uint64_t writeback_count() const noexcept { return _writebacks_done.load(); }

    // Processes a round synchronously with `fsync` (or ::fdatasync): what submit() does when
    // no thread runs, and what a log without a syncer uses.
    static void complete(std::vector<sync_request>& round, const std::function<int(int)>& fsync);

private:
    struct writeback_request {
        std::shared_ptr<file> f;
        uint64_t from = 0;
        uint64_t len = 0;
    };
    void run();
    void write_back(std::vector<writeback_request>& round);

    fsync_fn _fsync;
    writeback_fn _writeback;
    std::mutex _mu;
    std::condition_variable _cv;
    std::vector<sync_request> _queue;
    std::vector<writeback_request> _writebacks;
    bool _running = false;
    bool _stopping = false;
    std::thread _thread;
    std::atomic<uint64_t> _fsyncs{0};
    std::atomic<uint64_t> _rounds{0};
    std::atomic<uint64_t> _writebacks_done{0};
};

} // namespace trib::storage
